"""Render provider: identify a key with read-only calls, inventory workspaces, databases, disks, backups.

Render has no endpoint that returns an API key's permissions. What can be learnt read-only:

* ``GET /v1/users`` (the key's user) and ``GET /v1/owners`` (the workspaces it reaches). Scoped API keys are
  bound to **one** workspace [render.com/docs/scoped-api-keys], so a key that reaches several workspaces is a
  classic key, and classic keys have full access to every workspace of their user.
* ``GET`` on the list endpoints (services, Postgres, disks, Key Value): a 403 on some of them while others
  answer proves a scoped key with restricted permissions.
* Anything else (one workspace, every list allowed) stays unknown: a classic key, or a scoped key with
  read-only or full permissions, look the same to read-only calls.

Backups (PITR, logical exports, disk snapshots) are all stored by Render inside the same workspace; whether
they survive deleting the database or disk is not documented (⚠ UNVERIFIED), so they are reported with
``dies_with_resource=None`` and the reasons say so.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.errors import BlastwallError, ProviderAuthError, ProviderError
from auditor.http import ApiClient, BearerAuth
from auditor.model import (
    Backup,
    CannotDestroyType,
    CoverageGap,
    Credential,
    DestroyFact,
    Finding,
    Inventory,
    Resource,
    Severity,
    Status,
)
from auditor.provider import ProviderContext, Recogniser
from auditor.provider_http import HttpProvider

from .recognisers import RECOGNISERS

__all__ = ["DEFAULT_URL", "RenderProvider"]

NAME = "render"
DEFAULT_URL = "https://api.render.com"
URL_ENV = "BLASTWALL_RENDER_URL"
MAX_PAGES = 20
PAGE = 100

# list endpoint -> (resource type, key of the object in each list item, holds data)
_KINDS: dict[str, tuple[str, str, bool]] = {
    "/v1/services": ("service", "service", False),
    "/v1/postgres": ("postgres", "postgres", True),
    "/v1/disks": ("disk", "disk", True),
    "/v1/key-value": ("key_value", "keyValue", True),
}
_FULL_CAPS = (
    "delete:service",
    "delete:postgres",
    "delete:disk",
    "delete:key_value",
    "delete:project",
    "delete:env_group",
    "read:env_vars",
    "restore:disk_snapshot",
    "export:postgres",
)


class Denied(ProviderError):
    """HTTP 403: the key is valid but lacks the permission for this call."""


def get(api: ApiClient, path: str, cred: Credential, params: dict[str, Any] | None = None) -> Any:
    resp = api.request("GET", path, auth=BearerAuth(cred.secret), params=params)
    if resp.status_code == 403:
        raise Denied(f"render: HTTP 403 from {path} (the key lacks this permission)")
    if resp.status_code == 404:
        return None
    return api.decode(resp)


def paged(
    api: ApiClient, path: str, cred: Credential, item_key: str, params: dict[str, Any] | None = None
) -> Iterator[dict[str, Any]]:
    """Render's cursor pagination: a list of ``{"cursor": c, item_key: {...}}``."""
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        q = dict(params or {}, limit=PAGE)
        if cursor:
            q["cursor"] = cursor
        data = get(api, path, cred, q)
        if data is None:
            return
        if not isinstance(data, list):
            raise ProviderError(f"render: unexpected answer from {path}")
        for entry in data:
            if isinstance(entry, dict) and isinstance(entry.get(item_key), dict):
                yield entry[item_key]
        if len(data) < PAGE:
            return
        last = data[-1]
        cursor = last.get("cursor") if isinstance(last, dict) else None
        if not cursor:
            return


@dataclass
class _Reach:
    """What one identified key reaches (from credential metadata)."""

    cred: Credential
    workspaces: set[str] = field(default_factory=set)
    denied: set[str] = field(default_factory=set)  # resource types the key may not list
    known: bool = False


def _reach(c: Credential) -> _Reach:
    ws = c.metadata.get("workspaces")
    r = _Reach(c, denied=set(c.metadata.get("denied_types") or ()))
    if isinstance(ws, list):
        r.workspaces = {w["id"] for w in ws if isinstance(w, dict) and "id" in w}
        r.known = True
    return r


class RenderProvider(HttpProvider):
    name = "render"
    url_env = URL_ENV
    default_url = DEFAULT_URL
    display_name = "Render"

    def recognisers(self) -> Sequence[Recogniser]:
        return RECOGNISERS

    # -- offline -------------------------------------------------------------------------------------------
    def classify(self, candidate: Any) -> Credential:
        if candidate.kind == "cli_refresh_token":
            return Credential.from_candidate(
                candidate,
                status=Status.unverified,
                root_equivalent=None,
                possible_capabilities=_FULL_CAPS,
                reasons=(
                    (
                        "A Render CLI refresh token mints new API keys for the logged-in user; it was not used "
                        "(that would create a credential), so its reach is unknown, not safe."
                    ),
                ),
            )
        return Credential.from_candidate(
            candidate,
            status=Status.unverified,
            root_equivalent=None,
            possible_capabilities=_FULL_CAPS,
            reasons=(
                (
                    "Not verified with Render: a Render API key may be a classic key with full access to every "
                    "workspace of its user."
                ),
            ),
        )

    # -- identify (read-only) ------------------------------------------------------------------------------
    def identify(self, credential: Credential, ctx: ProviderContext) -> Credential:
        if ctx.offline or credential.kind == "cli_refresh_token":
            return credential
        with self.client(ctx) as api:
            try:
                return self._identify(api, credential)
            except ProviderAuthError:
                return self.rejected(
                    credential,
                    "Render rejected the key (HTTP 401): it is revoked, expired or mistyped.",
                    root_equivalent=None,
                )

    def _identify(self, api: ApiClient, cred: Credential) -> Credential:
        reasons: list[str] = []
        meta: dict[str, Any] = dict(cred.metadata)
        principal = None
        user_denied = owners_denied = False
        try:
            user = get(api, "/v1/users", cred)
            if isinstance(user, dict):
                principal = user.get("email") or user.get("name")
        except Denied:
            user_denied = True
        workspaces: list[dict[str, str]] | None = None
        try:
            workspaces = [
                {
                    "id": str(o.get("id")),
                    "name": str(o.get("name") or o.get("id")),
                    "type": str(o.get("type") or ""),
                }
                for o in paged(api, "/v1/owners", cred, "owner")
                if o.get("id")
            ]
        except Denied:
            owners_denied = True
        allowed: list[str] = []
        denied: list[str] = []
        for path, (rtype, _item, _holds) in _KINDS.items():
            try:
                if get(api, path, cred, {"limit": 1}) is not None:
                    allowed.append(rtype)
            except Denied:
                denied.append(rtype)
        if workspaces is not None:
            meta["workspaces"] = workspaces
        meta["denied_types"] = denied
        meta["key_type"] = "unknown"
        upd: dict[str, Any] = {"status": Status.verified, "principal": principal, "metadata": meta}

        if user_denied and owners_denied and not allowed:
            reasons.append(
                "Render accepted the key but refused every read call (HTTP 403), so what it can do "
                "is unknown; it is not treated as safe."
            )
            return cred.model_copy(
                update={
                    **upd,
                    "root_equivalent": None,
                    "capabilities": (),
                    "possible_capabilities": _FULL_CAPS,
                    "reasons": tuple(reasons),
                }
            )
        n = len(workspaces or [])
        if workspaces is not None and n == 0 and not owners_denied:
            reasons.append("Render accepted the key but it reaches no workspace.")
        names = ", ".join(w["name"] for w in (workspaces or [])[:5])
        if denied:
            meta["key_type"] = "scoped"
            caps = tuple(f"read:{t}" for t in allowed)
            possible = tuple(f"delete:{t}" for t in allowed)
            reasons.append(
                f"Scoped API key: Render refused to list {', '.join(denied)} (HTTP 403) while it "
                f"answered for {', '.join(allowed) or 'nothing else'}; a full-access key can list all of "
                "them, so this key is limited."
            )
            if possible:
                reasons.append(
                    "Render exposes no read-only way to tell whether the permitted resource types are "
                    f"read-only or read-write; it may still delete {', '.join(allowed)}."
                )
            return cred.model_copy(
                update={
                    **upd,
                    "root_equivalent": False,
                    "capabilities": caps,
                    "possible_capabilities": possible,
                    "reasons": tuple(reasons),
                }
            )
        if n > 1:
            meta["key_type"] = "classic"
            reasons.append(
                f"It reaches {n} workspaces ({names}); Render scoped API keys are bound to a single "
                "workspace, so this is a classic API key."
            )
            reasons.append(
                "A classic Render API key has full access to every workspace its user belongs to: it "
                "can delete services, Postgres databases, disks and Key Value stores, and read "
                "environment variables."
            )
            return cred.model_copy(
                update={
                    **upd,
                    "root_equivalent": True,
                    "capabilities": _FULL_CAPS,
                    "possible_capabilities": (),
                    "reasons": tuple(reasons),
                }
            )
        reasons.append(
            (
                f"It reaches one workspace ({names or 'unknown'})"
                if workspaces is not None
                else "Render refused to list the workspaces it reaches (HTTP 403)"
            )
            + " and may list every resource type. A "
            "classic key (full access) and a scoped key (read-only or full) look the same to read-only "
            "calls, and Render has no endpoint that returns a key's permissions."
        )
        return cred.model_copy(
            update={
                **upd,
                "root_equivalent": None,
                "capabilities": tuple(f"read:{t}" for t in allowed),
                "possible_capabilities": _FULL_CAPS,
                "reasons": tuple(reasons),
            }
        )

    # -- inventory (read-only) -----------------------------------------------------------------------------
    def inventory(self, credentials: Sequence[Credential], ctx: ProviderContext) -> Inventory:
        if ctx.offline:
            return Inventory()
        resources: dict[str, Resource] = {}
        backups: dict[str, Backup] = {}
        gaps: list[CoverageGap] = []
        findings: list[Finding] = []
        reaches = [_reach(c) for c in credentials if c.status == Status.verified]
        with self.client(ctx) as api:
            for r in reaches:
                if not r.known:
                    gaps.append(
                        CoverageGap(
                            subject=r.cred.id,
                            provider="render",
                            reason="not inspected: Render refused to list the workspaces this key "
                            "reaches (HTTP 403); its resources and backups are unknown",
                        )
                    )
                    continue
                for ws in r.cred.metadata.get("workspaces") or []:
                    wid = f"render:workspace:{ws['id']}"
                    resources.setdefault(
                        wid,
                        Resource(
                            id=wid,
                            provider="render",
                            type="workspace",
                            name=ws["name"],
                            metadata={"owner_type": ws.get("type")},
                        ),
                    )
                    self._list_workspace(api, r.cred, ws, wid, resources, backups, gaps)
        facts = self._facts(reaches, resources, backups)
        for res in resources.values():
            if res.type == "postgres":
                protecting = [b for b in backups.values() if b.protects == res.id]
                findings.append(
                    Finding.make(
                        "render-backups-same-workspace",
                        Severity.medium,
                        res.id,
                        f"Every backup of Render Postgres {res.name} ({len(protecting)} found: PITR and exports) is "
                        "stored by Render in the same workspace; Render does not document whether they survive "
                        "deleting the database.",
                        "Export the database (POST /v1/postgres/{id}/export, then download the file) or run pg_dump on "
                        "a schedule, and keep the copy outside Render.",
                        provider="render",
                    )
                )
        return Inventory(
            resources=tuple(resources.values()),
            backups=tuple(backups.values()),
            facts=tuple(facts),
            findings=tuple(findings),
            gaps=tuple(gaps),
            # a scoped key refused a whole resource type: bound to one workspace, it can delete none anywhere
            denials=tuple(
                CannotDestroyType(credential=r.cred.id, provider="render", resource_type=t, capability=f"delete:{t}",
                                  reason=f"scoped key without permission on {t}")
                for r in reaches
                for t in sorted(r.denied)
            ),
        )

    def _list_workspace(
        self,
        api: ApiClient,
        cred: Credential,
        ws: dict[str, str],
        wid: str,
        resources: dict[str, Resource],
        backups: dict[str, Backup],
        gaps: list[CoverageGap],
    ) -> None:
        for path, (rtype, item_key, holds) in _KINDS.items():
            if rtype in (cred.metadata.get("denied_types") or ()):
                gaps.append(
                    CoverageGap(
                        subject=f"{wid} {rtype}",
                        provider="render",
                        reason=f"not inspected: key {cred.fingerprint} may not list {rtype} (HTTP 403)",
                    )
                )
                continue
            try:
                items = list(paged(api, path, cred, item_key, {"ownerId": ws["id"]}))
            except BlastwallError as exc:
                gaps.append(
                    CoverageGap(
                        subject=f"{wid} {rtype}", provider="render", reason=f"not inspected: {exc.message}"
                    )
                )
                continue
            for it in items:
                if not it.get("id"):
                    continue
                rid = f"render:{rtype}:{it['id']}"
                resources[rid] = Resource(
                    id=rid,
                    provider="render",
                    type=rtype,
                    name=str(it.get("name") or it["id"]),
                    parent=wid,
                    holds_data=holds,
                    metadata={
                        k: it[k]
                        for k in ("plan", "region", "version", "sizeGB")
                        if k in it and isinstance(it[k], (str, int))
                    },
                )
                try:
                    if rtype == "postgres":
                        self._postgres_backups(api, cred, it, rid, backups)
                    elif rtype == "disk":
                        self._disk_snapshots(api, cred, it, rid, backups)
                except BlastwallError as exc:
                    gaps.append(
                        CoverageGap(
                            subject=rid, provider="render", reason=f"backups not inspected: {exc.message}"
                        )
                    )

    _UNKNOWN_FATE = (
        "Render does not document whether this backup survives deleting what it protects (the API "
        "says deletion is irreversible and all data will be lost); treat it as dying with it."
    )

    def _postgres_backups(
        self, api: ApiClient, cred: Credential, pg: dict[str, Any], rid: str, backups: dict[str, Backup]
    ) -> None:
        rec = get(api, f"/v1/postgres/{pg['id']}/recovery", cred)
        if isinstance(rec, dict):
            status = str(rec.get("recoveryStatus") or rec.get("availabilityStatus") or "")
            if status.upper() == "AVAILABLE":
                bid = f"render:pitr:{pg['id']}"
                backups[bid] = Backup(
                    id=bid,
                    provider="render",
                    protects=rid,
                    kind="pitr",
                    location=f"Render point-in-time recovery for {pg.get('name') or pg['id']}, in the same workspace",
                    dies_with_resource=None,
                    reasons=(self._UNKNOWN_FATE,),
                    metadata={"starts_at": rec.get("startsAt")} if rec.get("startsAt") else {},
                )
        exports = get(api, f"/v1/postgres/{pg['id']}/export", cred)
        for ex in exports if isinstance(exports, list) else []:
            if not isinstance(ex, dict) or not ex.get("id"):
                continue
            bid = f"render:export:{pg['id']}:{ex['id']}"
            # The export's download URL is a bearer link: never copied into the report.
            backups[bid] = Backup(
                id=bid,
                provider="render",
                protects=rid,
                kind="logical_export",
                location="Render-hosted logical export (kept 7 days; download it to take it off-platform)",
                dies_with_resource=None,
                reasons=(self._UNKNOWN_FATE,),
                metadata={"created_at": ex.get("createdAt")} if ex.get("createdAt") else {},
            )

    def _disk_snapshots(
        self, api: ApiClient, cred: Credential, disk: dict[str, Any], rid: str, backups: dict[str, Backup]
    ) -> None:
        snaps = get(api, f"/v1/disks/{disk['id']}/snapshots", cred)
        for s in snaps if isinstance(snaps, list) else []:
            if not isinstance(s, dict) or not (s.get("snapshotKey") or s.get("createdAt")):
                continue
            key = str(s.get("snapshotKey") or s.get("createdAt"))
            bid = f"render:disk-snapshot:{disk['id']}:{key}"
            backups[bid] = Backup(
                id=bid,
                provider="render",
                protects=rid,
                kind="snapshot",
                location=f"Render disk snapshot of {disk.get('name') or disk['id']}, in the same workspace",
                dies_with_resource=None,
                reasons=("Render does not document whether disk snapshots survive deleting the disk.",),
                metadata={"created_at": s.get("createdAt")} if s.get("createdAt") else {},
            )

    @staticmethod
    def _facts(
        reaches: Sequence[_Reach], resources: dict[str, Resource], backups: dict[str, Backup]
    ) -> list[DestroyFact]:
        facts: list[DestroyFact] = []
        ws_of = {rid: (r.parent or rid) for rid, r in resources.items()}
        for r in reaches:
            if not r.known:
                continue  # nothing learnt about this key: no fact, the engine keeps it unknown
            root = r.cred.root_equivalent
            for res in resources.values():
                if res.type == "workspace":
                    continue
                if ws_of[res.id] not in {f"render:workspace:{w}" for w in r.workspaces}:
                    facts.append(
                        DestroyFact(
                            credential=r.cred.id,
                            target=res.id,
                            verdict=False,
                            reason="the key does not reach this workspace",
                        )
                    )
                    continue
                cap = f"delete:{res.type}"
                if root is True:
                    facts.append(
                        DestroyFact(
                            credential=r.cred.id,
                            target=res.id,
                            verdict=True,
                            capability=cap,
                            reason="classic API key with full access to the workspace",
                        )
                    )
                elif res.type in r.denied:
                    facts.append(
                        DestroyFact(
                            credential=r.cred.id,
                            target=res.id,
                            verdict=False,
                            capability=cap,
                            reason=f"scoped key without permission on {res.type}",
                        )
                    )
                else:
                    facts.append(
                        DestroyFact(
                            credential=r.cred.id,
                            target=res.id,
                            verdict=None,
                            capability=cap,
                            reason="the key's permissions on this resource cannot be read",
                        )
                    )
            for b in backups.values():
                parent = resources.get(b.protects)
                if parent is None:
                    continue
                if ws_of[parent.id] not in {f"render:workspace:{w}" for w in r.workspaces}:
                    facts.append(
                        DestroyFact(
                            credential=r.cred.id,
                            target=b.id,
                            verdict=False,
                            reason="the key does not reach this workspace",
                        )
                    )
                else:
                    facts.append(
                        DestroyFact(
                            credential=r.cred.id,
                            target=b.id,
                            verdict=None,
                            reason="Render has no documented call that deletes this backup, but "
                            "it may go with the resource",
                        )
                    )
        return facts
