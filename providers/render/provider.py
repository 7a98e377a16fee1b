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
from functools import partial
from typing import Any

from auditor.errors import BlastwallError, ProviderError
from auditor.http import ApiClient, BearerAuth
from auditor.model import Credential, Finding, Inventory, Severity, Status
from auditor.provider import ProviderContext
from auditor.provider_http import HttpProvider
from auditor.provider_kit import Denied, InventoryBuilder, Page, Verdict, get_json, paginate, root_verdict

from .recognisers import RECOGNISERS

__all__ = ["DEFAULT_URL", "RenderFacts", "RenderProvider", "judge_key"]

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
_REFRESH_TOKEN = (
    "A Render CLI refresh token mints new API keys for the logged-in user; it was not used (that would create a "
    "credential), so its reach is unknown, not safe."
)
_API_KEY = (
    "Not verified with Render: a Render API key may be a classic key with full access to every workspace of its user."
)


def get(api: ApiClient, path: str, cred: Credential, params: dict[str, Any] | None = None) -> Any:
    return get_json(api, path, auth=BearerAuth(cred.secret), params=params, denied="the key lacks this permission")


def _cursor_page(
    api: ApiClient, path: str, cred: Credential, item_key: str, params: dict[str, Any] | None, cursor: str | None
) -> Page[dict[str, Any]]:
    q = dict(params or {}, limit=PAGE)
    if cursor:
        q["cursor"] = cursor
    data = get(api, path, cred, q)
    if data is None:
        return Page([])
    if not isinstance(data, list):
        raise ProviderError(f"render: unexpected answer from {path}")
    items = [e[item_key] for e in data if isinstance(e, dict) and isinstance(e.get(item_key), dict)]
    last = data[-1] if len(data) >= PAGE else None
    nxt = last.get("cursor") if isinstance(last, dict) else None
    return Page(items, str(nxt) if nxt else None)


def paged(
    api: ApiClient, path: str, cred: Credential, item_key: str, params: dict[str, Any] | None = None
) -> Iterator[dict[str, Any]]:
    """Render's cursor pagination: a list of ``{"cursor": c, item_key: {...}}``."""
    return paginate(partial(_cursor_page, api, path, cred, item_key, params), max_pages=MAX_PAGES)


@dataclass(frozen=True)
class RenderFacts:
    """What the read-only calls showed about one key."""

    principal: str | None
    user_denied: bool
    workspaces: list[dict[str, str]] | None  # None: listing owners was refused
    allowed: list[str]  # resource types the key may list
    denied: list[str]  # resource types it may not list (HTTP 403)


def _fetch(api: ApiClient, cred: Credential, ctx: ProviderContext | None = None) -> RenderFacts:
    principal = None
    user_denied = False
    try:
        user = get(api, "/v1/users", cred)
        if isinstance(user, dict):
            principal = user.get("email") or user.get("name")
    except Denied:
        user_denied = True
    workspaces: list[dict[str, str]] | None = None
    try:
        workspaces = [
            {"id": str(o.get("id")), "name": str(o.get("name") or o.get("id")), "type": str(o.get("type") or "")}
            for o in paged(api, "/v1/owners", cred, "owner")
            if o.get("id")
        ]
    except Denied:
        pass
    allowed: list[str] = []
    denied: list[str] = []
    for path, (rtype, _item, _holds) in _KINDS.items():
        try:
            if get(api, path, cred, {"limit": 1}) is not None:
                allowed.append(rtype)
        except Denied:
            denied.append(rtype)
    return RenderFacts(principal, user_denied, workspaces, allowed, denied)


def judge_key(cred: Credential, seen: RenderFacts) -> Verdict:
    """The verdict on a Render key from what the read-only calls showed (pure: no HTTP)."""
    reasons: list[str] = []
    meta: dict[str, Any] = dict(cred.metadata)
    workspaces, allowed, denied = seen.workspaces, seen.allowed, seen.denied
    owners_denied = workspaces is None
    if workspaces is not None:
        meta["workspaces"] = workspaces
    meta["denied_types"] = denied
    meta["key_type"] = "unknown"
    judged = partial(Verdict, status=Status.verified, principal=seen.principal, metadata=meta)
    if seen.user_denied and owners_denied and not allowed:
        reasons.append(
            "Render accepted the key but refused every read call (HTTP 403), so what it can do "
            "is unknown; it is not treated as safe."
        )
        return judged(root_equivalent=None, capabilities=(), possible_capabilities=_FULL_CAPS, reasons=tuple(reasons))
    n = len(workspaces or [])
    if workspaces is not None and n == 0:
        reasons.append("Render accepted the key but it reaches no workspace.")
    names = ", ".join(w["name"] for w in (workspaces or [])[:5])
    if denied:
        meta["key_type"] = "scoped"
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
        return judged(
            root_equivalent=False,
            capabilities=tuple(f"read:{t}" for t in allowed),
            possible_capabilities=possible,
            reasons=tuple(reasons),
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
        return root_verdict(_FULL_CAPS, *reasons, principal=seen.principal, metadata=meta)
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
    return judged(
        root_equivalent=None,
        capabilities=tuple(f"read:{t}" for t in allowed),
        possible_capabilities=_FULL_CAPS,
        reasons=tuple(reasons),
    )


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


class RenderProvider(HttpProvider, name="render", display_name="Render", default_url=DEFAULT_URL):
    recogniser_set = RECOGNISERS
    offline_verdicts = {
        kind: Verdict(possible_capabilities=_FULL_CAPS, reasons=(why,))
        for kind, why in (("cli_refresh_token", _REFRESH_TOKEN), ("*", _API_KEY))
    }

    # -- identify (read-only) ------------------------------------------------------------------------------
    fetch = staticmethod(_fetch)
    judge = staticmethod(judge_key)
    unidentifiable_kinds = frozenset({"cli_refresh_token"})

    # -- inventory (read-only) -----------------------------------------------------------------------------
    def inventory(self, credentials: Sequence[Credential], ctx: ProviderContext) -> Inventory:
        if ctx.offline:
            return Inventory()
        inv = InventoryBuilder(NAME)
        reaches = [_reach(c) for c in credentials if c.status == Status.verified]
        with self.client(ctx) as api:
            for r in reaches:
                if not r.known:
                    inv.gap(
                        r.cred.id,
                        "not inspected: Render refused to list the workspaces this key "
                        "reaches (HTTP 403); its resources and backups are unknown",
                    )
                    continue
                for ws in r.cred.metadata.get("workspaces") or []:
                    wid = f"render:workspace:{ws['id']}"
                    inv.add_resource(wid, "workspace", ws["name"], metadata={"owner_type": ws.get("type")}, once=True)
                    self._list_workspace(api, r.cred, ws, wid, inv)
        self._facts(reaches, inv)
        for res in list(inv.resources.values()):
            if res.type == "postgres":
                protecting = [b for b in inv.backups.values() if b.protects == res.id]
                inv.finding(
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
        # a scoped key refused a whole resource type: bound to one workspace, it can delete none anywhere
        for r in reaches:
            for t in sorted(r.denied):
                inv.denial(r.cred.id, t, f"scoped key without permission on {t}", f"delete:{t}")
        return inv.build()

    def _list_workspace(
        self, api: ApiClient, cred: Credential, ws: dict[str, str], wid: str, inv: InventoryBuilder
    ) -> None:
        for path, (rtype, item_key, holds) in _KINDS.items():
            if rtype in (cred.metadata.get("denied_types") or ()):
                inv.gap(f"{wid} {rtype}", f"not inspected: key {cred.fingerprint} may not list {rtype} (HTTP 403)")
                continue
            try:
                items = list(paged(api, path, cred, item_key, {"ownerId": ws["id"]}))
            except BlastwallError as exc:
                inv.gap(f"{wid} {rtype}", f"not inspected: {exc.message}")
                continue
            for it in items:
                if not it.get("id"):
                    continue
                rid = f"render:{rtype}:{it['id']}"
                meta = {k: it[k] for k in ("plan", "region", "version", "sizeGB") if isinstance(it.get(k), (str, int))}
                inv.add_resource(
                    rid, rtype, str(it.get("name") or it["id"]), parent=wid, holds_data=holds, metadata=meta
                )
                try:
                    if rtype == "postgres":
                        self._postgres_backups(api, cred, it, rid, inv)
                    elif rtype == "disk":
                        self._disk_snapshots(api, cred, it, rid, inv)
                except BlastwallError as exc:
                    inv.gap(rid, f"backups not inspected: {exc.message}")

    _UNKNOWN_FATE = (
        "Render does not document whether this backup survives deleting what it protects (the API "
        "says deletion is irreversible and all data will be lost); treat it as dying with it."
    )

    def _postgres_backups(
        self, api: ApiClient, cred: Credential, pg: dict[str, Any], rid: str, inv: InventoryBuilder
    ) -> None:
        rec = get(api, f"/v1/postgres/{pg['id']}/recovery", cred)
        if isinstance(rec, dict):
            status = str(rec.get("recoveryStatus") or rec.get("availabilityStatus") or "")
            if status.upper() == "AVAILABLE":
                bid = f"render:pitr:{pg['id']}"
                inv.add_backup(
                    bid,
                    rid,
                    "pitr",
                    f"Render point-in-time recovery for {pg.get('name') or pg['id']}, in the same workspace",
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
            inv.add_backup(
                bid,
                rid,
                "logical_export",
                "Render-hosted logical export (kept 7 days; download it to take it off-platform)",
                dies_with_resource=None,
                reasons=(self._UNKNOWN_FATE,),
                metadata={"created_at": ex.get("createdAt")} if ex.get("createdAt") else {},
            )

    def _disk_snapshots(
        self, api: ApiClient, cred: Credential, disk: dict[str, Any], rid: str, inv: InventoryBuilder
    ) -> None:
        snaps = get(api, f"/v1/disks/{disk['id']}/snapshots", cred)
        for s in snaps if isinstance(snaps, list) else []:
            if not isinstance(s, dict) or not (s.get("snapshotKey") or s.get("createdAt")):
                continue
            key = str(s.get("snapshotKey") or s.get("createdAt"))
            bid = f"render:disk-snapshot:{disk['id']}:{key}"
            inv.add_backup(
                bid,
                rid,
                "snapshot",
                f"Render disk snapshot of {disk.get('name') or disk['id']}, in the same workspace",
                dies_with_resource=None,
                reasons=("Render does not document whether disk snapshots survive deleting the disk.",),
                metadata={"created_at": s.get("createdAt")} if s.get("createdAt") else {},
            )

    @staticmethod
    def _facts(reaches: Sequence[_Reach], inv: InventoryBuilder) -> None:
        resources = dict(inv.resources)
        ws_of = {rid: (r.parent or rid) for rid, r in resources.items()}
        outside = "the key does not reach this workspace"
        for r in reaches:
            if not r.known:
                continue  # nothing learnt about this key: no fact, the engine keeps it unknown
            root = r.cred.root_equivalent
            mine = {f"render:workspace:{w}" for w in r.workspaces}
            for res in resources.values():
                if res.type == "workspace":
                    continue
                cap = f"delete:{res.type}"
                if ws_of[res.id] not in mine:
                    inv.fact(r.cred.id, res.id, False, outside)
                elif root is True:
                    inv.fact(r.cred.id, res.id, True, "classic API key with full access to the workspace", cap)
                elif res.type in r.denied:
                    inv.fact(r.cred.id, res.id, False, f"scoped key without permission on {res.type}", cap)
                else:
                    inv.fact(r.cred.id, res.id, None, "the key's permissions on this resource cannot be read", cap)
            for b in list(inv.backups.values()):
                parent = resources.get(b.protects)
                if parent is None:
                    continue
                if ws_of[parent.id] not in mine:
                    inv.fact(r.cred.id, b.id, False, outside)
                else:
                    inv.fact(
                        r.cred.id,
                        b.id,
                        None,
                        "Render has no documented call that deletes this backup, but it may go with the resource",
                    )
