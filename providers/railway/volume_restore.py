"""For restores only (never the audit): restore a Railway volume from one of Railway's own volume backups.

``describe_volume_restore`` is read-only (the audit's `RailwayGraphQL`, queries only): project ->
environment -> service -> the service's volume instance -> ``volumeInstanceBackupList``. Railway removes
every backup *newer* than the one restored, so the description lists them as ``will_be_lost``.

``restore_volume_backup`` is the only code in this provider that changes anything. It builds a
`RailwayMutationClient` (which sends exactly the two restore mutations and nothing else) inside the
call, and only there: ``volumeInstanceBackupRestore`` stages the restore, ``environmentPatchCommitStaged``
commits it, then ``workflowStatus`` (a query, through the read-only client) is polled until Complete/Error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
from graphql import FieldNode, GraphQLSyntaxError, OperationDefinitionNode, OperationType, parse

from auditor.errors import ProviderError
from auditor.http import ApiClient
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
    "describe_volume_restore",
    "restore_volume_backup",
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
  environmentPatchCommitStaged(environmentId: $environmentId, commitMessage: $commitMessage)
}
"""

WORKFLOW_STATUS = """
query BlastwallWorkflowStatus($workflowId: String!) {
  workflowStatus(workflowId: $workflowId) { status error }
}
"""

RESTORE_MUTATIONS = frozenset({"volumeInstanceBackupRestore", "environmentPatchCommitStaged"})
POLL_INTERVAL_S = 2.0
POLL_TIMEOUT_S = 900.0


class RailwayMutationClient:
    """Sends exactly one of the two restore mutations per request, nothing else (no queries either).

    Constructed only inside `restore_volume_backup`, i.e. only in an approved workflow action step.
    """

    def __init__(self, url: str, *, timeout_s: float = 15.0, scrub: Callable[[str], str] | None = None) -> None:
        parts = urlsplit(url)
        self._path = parts.path or "/graphql/v2"
        self._scrub = scrub or (lambda s: s)
        # No retries: a mutation is never sent twice by this client.
        self._api = ApiClient(f"{parts.scheme}://{parts.netloc}", provider="railway", timeout_s=timeout_s,
                              max_retries=0, user_agent="blastwall (railway volume restore)")

    def close(self) -> None:
        self._api.close()

    @staticmethod
    def check(document: str) -> str:
        try:
            doc = parse(document)
        except GraphQLSyntaxError as exc:
            raise ReadOnlyViolation(f"railway: refusing a GraphQL document that does not parse ({exc.message})") from None
        ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
        if len(ops) != 1 or ops[0].operation is not OperationType.MUTATION:
            raise ReadOnlyViolation("railway: the restore client sends exactly one mutation per request")
        selections = ops[0].selection_set.selections
        # Plain fields only: a fragment (inline or spread) could smuggle another mutation in.
        names = [str(s.name.value) for s in selections if isinstance(s, FieldNode)]
        if len(selections) != 1 or len(names) != 1 or names[0] not in RESTORE_MUTATIONS:
            raise ReadOnlyViolation(f"railway: the restore client refuses mutation field(s) {names or '?'}")
        return names[0]

    def mutate(self, document: str, variables: Mapping[str, Any], *, auth: httpx.Auth) -> Any:
        field = self.check(document)
        resp = self._api.request("POST", self._path, auth=auth, json={"query": document, "variables": dict(variables)},
                                 headers={"Content-Type": "application/json"})
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


def _locate(c: RailwayGraphQL, ref: Mapping[str, Any], token: Secret) -> tuple[_Resolver, dict[str, Any], dict[str, Any], dict[str, Any]]:
    r = _Resolver(c, token)
    workspaces = r.detect()
    project = r.project(str(ref["project"]), workspaces)
    env = r.environment(str(ref["environment"]), project)
    si = r.service(str(ref["service"]), project, env)
    return r, project, env, si


def _describe(c: RailwayGraphQL, ref: Mapping[str, Any], backup_id: str, token: Secret) -> dict[str, Any]:
    r, project, env, si = _locate(c, ref, token)
    where = f"{project['name']}/{env['name']}/{si.get('serviceName')}"
    vis = [v for v in c.paginate(Q.ENVIRONMENT_VOLUME_INSTANCES, {"id": env["id"], "projectId": project["id"]},
                                 ("environment", "volumeInstances"), auth=r.auth)
           if v.get("serviceId") == si["serviceId"] and not v.get("deletedAt")]
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
    newer = sorted((b for b in backups if str(b.get("createdAt")) > str(chosen.get("createdAt"))),
                   key=lambda b: str(b.get("createdAt")))

    def b_view(b: Mapping[str, Any]) -> dict[str, Any]:
        return {"id": b.get("id"), "name": b.get("name"), "created_at": b.get("createdAt")}

    volume = vi.get("volume") or {}
    return {
        "project": {"id": project["id"], "name": project["name"]},
        "environment": {"id": env["id"], "name": env["name"]},
        "service": {"id": si["serviceId"], "name": si.get("serviceName")},
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
    }


def describe_volume_restore(ref: Mapping[str, Any], backup_id: str, token: Secret, ctx: ProviderContext,
                            client: RailwayGraphQL | None = None) -> dict[str, Any]:
    own = client is None
    c = client or RailwayGraphQL.from_context(ctx, scrub=_scrubber(token))
    try:
        return _describe(c, ref, backup_id, token)
    except (RailwayNotAuthorized, RailwayNotFound) as exc:
        raise ProviderError(f"{exc.message} while looking up {ref.get('project')}/{ref.get('environment')}/"
                            f"{ref.get('service')}", hint="check the target's railway = {...} and the token's reach") from None
    finally:
        if own:
            c.close()


def restore_volume_backup(ref: Mapping[str, Any], backup_id: str, token: Secret, ctx: ProviderContext, *,
                          volume_instance_id: str, commit_message: str) -> dict[str, Any]:
    scrub = _scrubber(token)
    reader = RailwayGraphQL.from_context(ctx, scrub=scrub)
    sleep = ctx.sleep or time.sleep
    try:
        r, _project, env, _si = _locate(reader, ref, token)
        writer = RailwayMutationClient(endpoint_from(ctx), timeout_s=ctx.timeout_s, scrub=scrub)
        try:
            staged = writer.mutate(STAGE_RESTORE, {"volumeInstanceId": volume_instance_id,
                                                   "volumeInstanceBackupId": backup_id}, auth=r.auth)
            staged_id = (staged or {}).get("workflowId") if isinstance(staged, dict) else None
            committed = writer.mutate(COMMIT_STAGED, {"environmentId": env["id"], "commitMessage": commit_message},
                                      auth=r.auth)
        finally:
            writer.close()
        workflow_id = committed if isinstance(committed, str) and committed else staged_id
        status, error = "Unknown", None
        if workflow_id:
            waited = 0.0
            while True:
                st = reader.query(WORKFLOW_STATUS, {"workflowId": workflow_id}, auth=r.auth)["workflowStatus"]
                status, error = str(st.get("status")), st.get("error")
                if status in ("Complete", "Error") or waited >= POLL_TIMEOUT_S:
                    break
                sleep(POLL_INTERVAL_S)
                waited += POLL_INTERVAL_S
        if status != "Complete":
            raise ProviderError(f"railway: the volume restore workflow ended as {status}"
                                + (f": {scrub(str(error))[:300]}" if error else ""))
        return {"staged_workflow_id": staged_id, "commit_workflow_id": committed if isinstance(committed, str) else None,
                "status": status, "environment_id": env["id"], "volume_instance_id": volume_instance_id,
                "backup_id": backup_id}
    finally:
        reader.close()
