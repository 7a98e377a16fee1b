"""For restores only (never the audit): restore a Railway volume from one of Railway's own volume backups,
in the order Railway's own CLI uses (reference section 7):

1. refuse replicated (HA) services; 2. read the environment's staged changes (a commit applies them all);
3. ``volumeInstanceBackupRestore`` starts a workflow that copies the backup into a fresh volume and only
then stages the swap; 4. poll ``workflowStatus`` until it is no longer Running (Error/NotFound: nothing is
committed); 5. ``environmentPatchCommitStaged(environmentId, commitMessage, skipDeploys: false)``, whose
String result is ignored; 6. confirm the volume is READY and the service redeploys.

Each of those is a function here, called by one step of `restore_workflow`. The reads use the audit's
read-only `RailwayGraphQL`. `RailwayMutationClient` sends exactly the two restore mutations and nothing else
and is built only inside `stage_restore` and `commit_staged`, i.e. only in approved action steps.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from graphql import FieldNode, GraphQLSyntaxError, OperationDefinitionNode, OperationType, parse

from auditor.errors import ProviderError
from auditor.http import ApiClient, RequestAuth
from auditor.provider import ProviderContext
from auditor.secrets import Secret

from . import queries as Q
from .client import (
    RailwayGraphQL,
    RailwayNotAuthorized,
    RailwayNotFound,
    ReadOnlyViolation,
    _first_error,
    endpoint_from,
)
from .database_url import _Resolver

__all__ = [
    "COMMIT_STAGED",
    "RESTORE_MUTATIONS",
    "STAGE_RESTORE",
    "WORKFLOW_STATUS",
    "RailwayMutationClient",
    "commit_staged",
    "confirm_restore",
    "describe_volume_restore",
    "foreign_changes",
    "stage_restore",
    "staged_changes",
    "wait_for_workflow",
]

STAGE_RESTORE = """
mutation BlastwallVolumeBackupRestore($volumeInstanceId: String!, $volumeInstanceBackupId: String!) {
  volumeInstanceBackupRestore(volumeInstanceId: $volumeInstanceId, volumeInstanceBackupId: $volumeInstanceBackupId) {
    workflowId
  }
}
"""

COMMIT_STAGED = """
mutation BlastwallCommitStaged($environmentId: String!, $commitMessage: String) {
  environmentPatchCommitStaged(environmentId: $environmentId, commitMessage: $commitMessage, skipDeploys: false)
}
"""

STAGED_CHANGES = """
query BlastwallStagedChanges($environmentId: String!) {
  environmentStagedChanges(environmentId: $environmentId) { id status patch(decryptVariables: false) }
}
"""

SERVICE_STATE = """
query BlastwallServiceState($environmentId: String!, $serviceId: String!) {
  serviceInstance(environmentId: $environmentId, serviceId: $serviceId) {
    numReplicas latestDeployment { id status createdAt }
  }
}
"""

VOLUME_STATE = """
query BlastwallVolumeState($id: String!) {
  volumeInstance(id: $id) { id state currentSizeMB serviceId }
}
"""

WORKFLOW_STATUS = """
query BlastwallWorkflowStatus($workflowId: String!) {
  workflowStatus(workflowId: $workflowId) { status error }
}
"""

RESTORE_MUTATIONS = frozenset({"volumeInstanceBackupRestore", "environmentPatchCommitStaged"})
POLL_INTERVAL_S = 2.0  # [providers.railway] restore_poll_interval_s
MAX_POLLS = 1800  # as Railway's CLI; [providers.railway] restore_max_polls

log = logging.getLogger("blastwall.railway")


class RailwayMutationClient:
    """Sends exactly one of the two restore mutations per request, nothing else (no queries either).

    Constructed only inside `restore_volume_backup`, i.e. only in an approved workflow action step.
    """

    def __init__(self, url: str, *, timeout_s: float = 15.0, scrub: Callable[[str], str] | None = None) -> None:
        parts = urlsplit(url)
        self._path = parts.path or "/graphql/v2"
        self._scrub = scrub or (lambda s: s)
        # No retries: a mutation is never sent twice by this client.
        self._api = ApiClient(
            f"{parts.scheme}://{parts.netloc}",
            provider="railway",
            timeout_s=timeout_s,
            max_retries=0,
            user_agent="blastwall (railway volume restore)",
        )

    def close(self) -> None:
        self._api.close()

    @staticmethod
    def check(document: str) -> str:
        try:
            doc = parse(document)
        except GraphQLSyntaxError as exc:
            raise ReadOnlyViolation(
                f"railway: refusing a GraphQL document that does not parse ({exc.message})"
            ) from None
        ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
        if len(ops) != 1 or ops[0].operation is not OperationType.MUTATION:
            raise ReadOnlyViolation("railway: the restore client sends exactly one mutation per request")
        selections = ops[0].selection_set.selections
        # Plain fields only: a fragment (inline or spread) could smuggle another mutation in.
        names = [str(s.name.value) for s in selections if isinstance(s, FieldNode)]
        if len(selections) != 1 or len(names) != 1 or names[0] not in RESTORE_MUTATIONS:
            raise ReadOnlyViolation(f"railway: the restore client refuses mutation field(s) {names or '?'}")
        return names[0]

    def mutate(self, document: str, variables: Mapping[str, Any], *, auth: RequestAuth) -> Any:
        field = self.check(document)
        resp = self._api.request(
            "POST",
            self._path,
            auth=auth,
            json={"query": document, "variables": dict(variables)},
            headers={"Content-Type": "application/json"},
        )
        if resp.status_code in (401, 403):
            raise RailwayNotAuthorized(f"railway: credential refused (HTTP {resp.status_code})")
        try:
            payload = resp.json()
        except ValueError:
            raise ProviderError(f"railway: malformed response to {field} (HTTP {resp.status_code})") from None
        if not isinstance(payload, dict):
            raise ProviderError(f"railway: unexpected response shape to {field}")
        if payload.get("errors"):
            raise _first_error(payload["errors"], self._scrub)
        data = payload.get("data")
        if resp.status_code != 200 or not isinstance(data, dict):
            raise ProviderError(f"railway: HTTP {resp.status_code} without data for {field}")
        return data.get(field)


def _scrubber(token: Secret) -> Callable[[str], str]:
    tok = token.reveal()

    def scrub(text: str) -> str:
        return text.replace(tok, f"<secret {token.fingerprint}>") if len(tok) >= 6 else text

    return scrub


def _locate(
    c: RailwayGraphQL, ref: Mapping[str, Any], token: Secret
) -> tuple[_Resolver, dict[str, Any], dict[str, Any], dict[str, Any]]:
    r = _Resolver(c, token)
    workspaces = r.detect()
    project = r.project(str(ref["project"]), workspaces)
    env = r.environment(str(ref["environment"]), project)
    si = r.service(str(ref["service"]), project, env)
    return r, project, env, si


def _changes(patch: Any) -> list[dict[str, Any]]:
    """The staged patch (an `EnvironmentConfig`: {"services": {id: …}, "volumes": {id: …}, …}) as a sorted list
    of {section, id, config}: one entry per service, volume, … that a commit would change."""
    if isinstance(patch, str):
        try:
            patch = json.loads(patch)
        except ValueError:
            raise ProviderError("railway: environmentStagedChanges returned a patch that is not JSON") from None
    if not isinstance(patch, dict):
        return []
    out = []
    for section, entries in patch.items():
        if isinstance(entries, dict):
            out += [{"section": str(section), "id": str(k), "config": v} for k, v in entries.items()]
        elif entries not in (None, {}, []):
            out.append({"section": str(section), "id": None, "config": entries})
    return sorted(out, key=lambda ch: (ch["section"], str(ch["id"])))


def _staged(c: RailwayGraphQL, env_id: str, auth: RequestAuth) -> list[dict[str, Any]]:
    node = c.query(STAGED_CHANGES, {"environmentId": env_id}, auth=auth)["environmentStagedChanges"] or {}
    if str(node.get("status") or "STAGED") != "STAGED":
        # APPLYING: someone's commit is in flight; what it applies is not ours to judge
        raise ProviderError(
            f"railway: the environment's staged changes are {node.get('status')} (another commit is "
            "being applied); try again when it has finished"
        )
    return _changes(node.get("patch"))


def foreign_changes(
    changes: list[dict[str, Any]], volume_id: str | None, listed: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split staged changes into (the swap of ``volume_id``, changes that are neither it nor ``listed``)."""
    swap = [ch for ch in changes if ch["section"] == "volumes" and ch["id"] == volume_id and ch not in listed]
    other = [ch for ch in changes if ch not in swap and ch not in listed]
    return swap, other


def _describe(c: RailwayGraphQL, ref: Mapping[str, Any], backup_id: str, token: Secret) -> dict[str, Any]:
    r, project, env, si = _locate(c, ref, token)
    where = f"{project['name']}/{env['name']}/{si.get('serviceName')}"
    vis = [
        v
        for v in c.paginate(
            Q.ENVIRONMENT_VOLUME_INSTANCES,
            {"id": env["id"], "projectId": project["id"]},
            ("environment", "volumeInstances"),
            auth=r.auth,
        )
        if v.get("serviceId") == si["serviceId"] and not v.get("deletedAt")
    ]
    if not vis:
        raise ProviderError(f"railway: service {where} has no volume")
    if len(vis) > 1:
        raise ProviderError(f"railway: service {where} has {len(vis)} volumes; cannot tell which to restore")
    vi = vis[0]
    backups = list(c.query(Q.BACKUPS, {"volumeInstanceId": vi["id"]}, auth=r.auth)["volumeInstanceBackupList"] or [])
    chosen = next((b for b in backups if b.get("id") == backup_id), None)
    if chosen is None:
        known = ", ".join(str(b.get("id")) for b in backups) or "none"
        raise ProviderError(f"railway: volume of {where} has no backup {backup_id!r} (backups: {known})")
    newer = sorted(
        (b for b in backups if str(b.get("createdAt")) > str(chosen.get("createdAt"))),
        key=lambda b: str(b.get("createdAt")),
    )
    state = (
        c.query(SERVICE_STATE, {"environmentId": env["id"], "serviceId": si["serviceId"]}, auth=r.auth)[
            "serviceInstance"
        ]
        or {}
    )
    deployment = state.get("latestDeployment") or {}

    def b_view(b: Mapping[str, Any]) -> dict[str, Any]:
        return {"id": b.get("id"), "name": b.get("name"), "created_at": b.get("createdAt")}

    volume = vi.get("volume") or {}
    return {
        "project": {"id": project["id"], "name": project["name"]},
        "environment": {"id": env["id"], "name": env["name"]},
        "service": {
            "id": si["serviceId"],
            "name": si.get("serviceName"),
            "replicas": state.get("numReplicas"),
            "deployment_before": deployment.get("id"),
        },
        "volume_instance": {
            "id": vi["id"],
            "volume_id": vi.get("volumeId"),
            "volume_name": volume.get("name"),
            "mount_path": vi.get("mountPath"),
            "size_mb": vi.get("sizeMB"),
            "current_size_mb": vi.get("currentSizeMB"),
            "state": vi.get("state"),
        },
        "backup": b_view(chosen),
        "will_be_lost": [b_view(b) for b in newer],
        "staged_changes": _staged(c, env["id"], r.auth),
    }


class _Session:
    """A read-only client and the resolved auth for one step; closed by the caller."""

    def __init__(
        self, ref: Mapping[str, Any], token: Secret, ctx: ProviderContext, client: RailwayGraphQL | None = None
    ) -> None:
        self.scrub = _scrubber(token)
        self.own = client is None
        self.c = client or RailwayGraphQL.from_context(ctx, scrub=self.scrub)
        self.ref, self.token, self.ctx = ref, token, ctx
        self._auth: RequestAuth | None = None

    @property
    def auth(self) -> RequestAuth:
        if self._auth is None:
            r = _Resolver(self.c, self.token)
            r.detect()
            self._auth = r.auth
        return self._auth

    def close(self) -> None:
        if self.own:
            self.c.close()

    def where(self) -> str:
        return f"{self.ref.get('project')}/{self.ref.get('environment')}/{self.ref.get('service')}"


def describe_volume_restore(
    ref: Mapping[str, Any], backup_id: str, token: Secret, ctx: ProviderContext, client: RailwayGraphQL | None = None
) -> dict[str, Any]:
    """Read-only: the service (and whether it is replicated), its volume instance, the backup, the newer backups
    a restore drops, and the environment's staged changes."""
    s = _Session(ref, token, ctx, client)
    try:
        return _describe(s.c, ref, backup_id, token)
    except (RailwayNotAuthorized, RailwayNotFound) as exc:
        raise ProviderError(
            f"{exc.message} while looking up {s.where()}", hint="check the target's ref = {...} and the token's reach"
        ) from None
    finally:
        s.close()


def _writer(ctx: ProviderContext, scrub: Callable[[str], str]) -> RailwayMutationClient:
    return RailwayMutationClient(endpoint_from(ctx), timeout_s=ctx.timeout_s, scrub=scrub)


def stage_restore(
    ref: Mapping[str, Any], token: Secret, ctx: ProviderContext, *, volume_instance_id: str, backup_id: str
) -> str:
    """The one ``volumeInstanceBackupRestore``: returns Railway's workflow id. Not idempotent: never retried."""
    s = _Session(ref, token, ctx)
    try:
        writer = _writer(ctx, s.scrub)
        try:
            staged = writer.mutate(
                STAGE_RESTORE,
                {"volumeInstanceId": volume_instance_id, "volumeInstanceBackupId": backup_id},
                auth=s.auth,
            )
        finally:
            writer.close()
    finally:
        s.close()
    workflow_id = staged.get("workflowId") if isinstance(staged, dict) else None
    if not isinstance(workflow_id, str) or not workflow_id:
        raise ProviderError("railway: volumeInstanceBackupRestore returned no workflow id")
    return workflow_id


def wait_for_workflow(ref: Mapping[str, Any], token: Secret, ctx: ProviderContext, workflow_id: str) -> dict[str, Any]:
    """Poll ``workflowStatus`` until it is no longer Running (bounded). Complete: returns; Error or NotFound:
    `ProviderError` with Railway's error text; still Running after the last poll: `ProviderError` too."""
    s = _Session(ref, token, ctx)
    sleep = ctx.sleep or time.sleep
    interval = float(ctx.settings.get("restore_poll_interval_s", POLL_INTERVAL_S))
    max_polls = int(ctx.settings.get("restore_max_polls", MAX_POLLS))
    try:
        for n in range(1, max_polls + 1):
            st = s.c.query(WORKFLOW_STATUS, {"workflowId": workflow_id}, auth=s.auth)["workflowStatus"] or {}
            status, error = str(st.get("status")), st.get("error")
            log.info("railway: restore workflow %s is %s (poll %d of at most %d)", workflow_id, status, n, max_polls)
            if status == "Complete":
                return {"workflow_id": workflow_id, "status": status, "polls": n}
            if status != "Running":
                raise ProviderError(
                    f"railway: the restore workflow ended as {status}"
                    + (f": {s.scrub(str(error))[:500]}" if error else "")
                    + "; nothing was committed"
                )
            if n < max_polls:
                sleep(interval)
        raise ProviderError(
            f"railway: the restore workflow was still Running after {max_polls} polls; nothing was committed",
            hint="check the restore in Railway's dashboard; its staged swap, if any, is not committed",
        )
    finally:
        s.close()


def staged_changes(
    ref: Mapping[str, Any], token: Secret, ctx: ProviderContext, environment_id: str
) -> list[dict[str, Any]]:
    s = _Session(ref, token, ctx)
    try:
        return _staged(s.c, environment_id, s.auth)
    finally:
        s.close()


def commit_staged(
    ref: Mapping[str, Any], token: Secret, ctx: ProviderContext, *, environment_id: str, commit_message: str
) -> None:
    """The one ``environmentPatchCommitStaged(…, skipDeploys: false)``. Its String result is ignored: nothing
    documents it as a workflow id."""
    s = _Session(ref, token, ctx)
    try:
        writer = _writer(ctx, s.scrub)
        try:
            writer.mutate(
                COMMIT_STAGED, {"environmentId": environment_id, "commitMessage": commit_message}, auth=s.auth
            )
        finally:
            writer.close()
    finally:
        s.close()


def confirm_restore(
    ref: Mapping[str, Any],
    token: Secret,
    ctx: ProviderContext,
    *,
    environment_id: str,
    service_id: str,
    volume_instance_id: str,
    deployment_before: str | None,
) -> dict[str, Any]:
    """After the commit: the volume instance is READY and the service has a new deployment (bounded polls)."""
    s = _Session(ref, token, ctx)
    sleep = ctx.sleep or time.sleep
    interval = float(ctx.settings.get("restore_poll_interval_s", POLL_INTERVAL_S))
    max_polls = int(ctx.settings.get("restore_confirm_polls", 60))
    vi: dict[str, Any] = {}
    dep: dict[str, Any] = {}
    try:
        for n in range(1, max_polls + 1):
            vi = s.c.query(VOLUME_STATE, {"id": volume_instance_id}, auth=s.auth)["volumeInstance"] or {}
            si = (
                s.c.query(SERVICE_STATE, {"environmentId": environment_id, "serviceId": service_id}, auth=s.auth)[
                    "serviceInstance"
                ]
                or {}
            )
            dep = si.get("latestDeployment") or {}
            redeployed = bool(dep.get("id")) and dep.get("id") != deployment_before
            if vi.get("state") == "READY" and redeployed:
                return {
                    "volume_state": vi.get("state"),
                    "current_size_mb": vi.get("currentSizeMB"),
                    "deployment": {"id": dep.get("id"), "status": dep.get("status")},
                    "polls": n,
                }
            if n < max_polls:
                sleep(interval)
        raise ProviderError(
            f"railway: the restore was committed, but after {max_polls} checks the volume is "
            f"{vi.get('state')} and the service's deployment "
            f"{'has not started' if dep.get('id') in (None, deployment_before) else dep.get('status')}",
            hint="check the service in Railway's dashboard",
        )
    finally:
        s.close()
