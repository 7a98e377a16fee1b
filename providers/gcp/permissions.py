"""The IAM permissions that destroy data or escalate, and the verdict they add up to.

Google answers `testIamPermissions` with the subset of the asked permissions the caller holds on that
resource: read-only, and exactly what the credential may do (no guessing from role names: Editor, for
one, holds ``cloudsql.instances.delete`` although the docs name only Owner and Cloud SQL Admin).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = [
    "PROJECT_PERMISSIONS",
    "SA_PERMISSIONS",
    "BUCKET_PERMISSIONS",
    "CAPABILITY",
    "KEY_OR_TOKEN",
    "OWNER_CORE",
    "Edge",
    "judge",
]

# capability name (Blastwall's vocabulary) for each permission that matters
CAPABILITY: dict[str, str] = {
    "resourcemanager.projects.delete": "delete:project",
    "resourcemanager.projects.setIamPolicy": "set-iam-policy:project",
    "cloudsql.instances.delete": "delete:database",
    "cloudsql.instances.update": "update:database",
    "cloudsql.backupRuns.delete": "delete:backup",
    "storage.buckets.delete": "delete:bucket",
    "storage.buckets.update": "update:bucket",
    "storage.objects.delete": "delete:object",
    "spanner.databases.drop": "delete:spanner-database",
    "spanner.backups.delete": "delete:spanner-backup",
    "datastore.databases.delete": "delete:firestore-database",
    "datastore.backups.delete": "delete:firestore-backup",
    "iam.serviceAccountKeys.create": "create:service-account-key",
    "iam.serviceAccounts.actAs": "act-as:service-account",
    "iam.serviceAccounts.getAccessToken": "impersonate:service-account",
    "iam.serviceAccounts.signJwt": "impersonate:service-account",
    "iam.serviceAccounts.setIamPolicy": "set-iam-policy:service-account",
    "iam.roles.update": "update:iam-role",
}
PROJECT_PERMISSIONS: tuple[str, ...] = tuple(CAPABILITY)
# on one service account: what lets the caller become it
SA_PERMISSIONS: tuple[str, ...] = (
    "iam.serviceAccountKeys.create",
    "iam.serviceAccounts.getAccessToken",
    "iam.serviceAccounts.signJwt",
    "iam.serviceAccounts.signBlob",
    "iam.serviceAccounts.implicitDelegation",
    "iam.serviceAccounts.actAs",
    "iam.serviceAccounts.setIamPolicy",
)
# minting a key or a token makes the caller the account, everywhere the account reaches
KEY_OR_TOKEN = frozenset(SA_PERMISSIONS) - {"iam.serviceAccounts.actAs"}
BUCKET_PERMISSIONS: tuple[str, ...] = ("storage.buckets.delete", "storage.objects.delete", "storage.buckets.update")
# what Owner holds and nothing narrower does: delete the project and everything in it, mint keys
OWNER_CORE = frozenset(
    {
        "resourcemanager.projects.delete",
        "cloudsql.instances.delete",
        "storage.buckets.delete",
        "iam.serviceAccountKeys.create",
    }
)


@dataclass(frozen=True)
class Edge:
    """The credential can become `target` (a service account) through `via` (permissions on it)."""

    project: str
    target: str
    via: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        return {"project": self.project, "target": self.target, "via": list(self.via)}


def judge(granted: Mapping[str, Iterable[str]], complete: bool) -> tuple[bool | None, list[str]]:
    """(root_equivalent, reasons) from the permissions granted per project.

    True: ``setIamPolicy`` on a project (grant itself Owner) or Owner's core permissions. False only
    when every visible project was tested (`complete`) and none has either. Escalation edges are
    judged by the caller, which may know the target account's verdict.
    """
    reasons: list[str] = []
    root: bool | None = None
    for project, perms in sorted(granted.items()):
        held = set(perms)
        if "resourcemanager.projects.setIamPolicy" in held:
            root = True
            reasons.append(
                f"Root-equivalent in project {project}: holds resourcemanager.projects.setIamPolicy, "
                "so it can grant itself (or anyone) Owner."
            )
        elif OWNER_CORE <= held:
            root = True
            reasons.append(
                f"Owner-equivalent in project {project}: can delete the project, every Cloud SQL "
                "instance and bucket, and mint service-account keys."
            )
    if root:
        return True, reasons
    if complete:
        return False, reasons
    return None, reasons
