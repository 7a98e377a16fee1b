"""Neon provider: tell the three API-key types apart read-only, inventory projects and their recovery paths.

Key types [neon.com/docs/manage/api-keys]:

* **Personal**: acts as the user on every project and organization the user belongs to; can delete
  projects and create more keys. ``GET /api/v2/users/me`` answers (neonctl ``getCurrentUserInfo``).
* **Organization**: "admin-level access to every project in the organization".
* **Project-scoped**: "member-level access to the specified project … cannot perform organization-related
  actions or destructive project operations like project deletion". It can still manage branches.

Read-only identification: ``/users/me`` → personal (the neonctl OAuth login behaves the same). Otherwise
``/projects`` tells what the key reaches, and an organization-level read (``/organizations/{id}/members``)
separates an organization key (answers) from a project-scoped key (403).

Recovery: deleted projects stay recoverable for 7 days (``POST /projects/{id}/recover``); the history window
(instant restore) and snapshots belong to the project and go when it is purged (⚠ UNVERIFIED detail).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from auditor.errors import BlastwallError, ProviderAuthError, ProviderError
from auditor.http import ApiClient, BearerAuth
from auditor.model import Credential, Finding, Inventory, Severity, Status
from auditor.provider import ProviderContext
from auditor.provider_http import HttpProvider
from auditor.provider_kit import Denied, InventoryBuilder, Page, Verdict, get_json, paginate, root_verdict

from .recognisers import RECOGNISERS

__all__ = ["DEFAULT_URL", "NeonFacts", "NeonProvider", "judge_key", "project_resource_id"]

NAME = "neon"
DEFAULT_URL = "https://console.neon.tech"
URL_ENV = "BLASTWALL_NEON_URL"
API = "/api/v2"
MAX_PAGES = 20
_ROOT_CAPS = (
    "delete:project",
    "delete:branch",
    "restore:branch",
    "delete:snapshot",
    "create:api_key",
    "read:connection_uri",
)
_MEMBER_CAPS = ("delete:branch", "restore:branch", "read:connection_uri")
_REFRESH_TOKEN = (
    "A neonctl refresh token mints access tokens for the logged-in user: it is as powerful as the user's login "
    "(every project, deletion included). It was not used, since that would create a new token."
)
_API_KEY = "Not verified with Neon: a personal or organization API key can delete projects."


def project_resource_id(pid: str) -> str:
    return f"neon:project:{pid}"


def _get(api: ApiClient, path: str, cred: Credential, params: dict[str, Any] | None = None) -> Any:
    return get_json(
        api, API + path, auth=BearerAuth(cred.secret), params=params, denied="the key may not make this call"
    )


def _project_page(api: ApiClient, cred: Credential, org_id: str | None, cursor: str | None) -> Page[dict[str, Any]]:
    params: dict[str, Any] = {"limit": 400}
    if org_id:
        params["org_id"] = org_id
    if cursor:
        params["cursor"] = cursor
    data = _get(api, "/projects", cred, params)
    if not isinstance(data, dict) or not isinstance(data.get("projects"), list):
        raise ProviderError("neon: unexpected answer from /projects")
    page = [p for p in data["projects"] if isinstance(p, dict) and p.get("id")]
    nxt = (data.get("pagination") or {}).get("cursor") if isinstance(data.get("pagination"), dict) else None
    return Page(page, str(nxt) if page and nxt else None)


def _all_projects(api: ApiClient, cred: Credential, personal: bool) -> list[dict[str, Any]]:
    """A personal key lists only personal projects unless ``org_id`` is given: add every organization's."""
    out = list(paginate(partial(_project_page, api, cred, None), max_pages=MAX_PAGES))
    if not personal:
        return out
    try:
        data = _get(api, "/users/me/organizations", cred)
    except Denied:
        return out
    orgs = data.get("organizations") if isinstance(data, dict) else None
    seen = {str(p["id"]) for p in out}
    for o in orgs if isinstance(orgs, list) else []:
        if not isinstance(o, dict) or not o.get("id"):
            continue
        for p in paginate(partial(_project_page, api, cred, str(o["id"])), max_pages=MAX_PAGES):
            if str(p["id"]) not in seen:
                seen.add(str(p["id"]))
                out.append(p)
    return out


@dataclass(frozen=True)
class NeonFacts:
    """What the read-only calls showed about one key."""

    user: dict[str, Any] | None  # /users/me, None when refused (not a personal key)
    projects: list[dict[str, Any]] | None  # None: /projects refused (HTTP 403)
    org_ok: bool | None  # the organization read answered (True), was refused (False), was not tried (None)


def _fetch(api: ApiClient, cred: Credential, ctx: ProviderContext | None = None) -> NeonFacts:
    user: dict[str, Any] | None = None
    try:
        data = _get(api, "/users/me", cred)
        user = data if isinstance(data, dict) else None
    except (ProviderAuthError, Denied):
        user = None  # organization and project keys may not read /users/me: decided by /projects below
    projects: list[dict[str, Any]] | None
    try:
        projects = _all_projects(api, cred, personal=user is not None)
    except Denied:
        projects = None
    org_ok: bool | None = None
    if user is None and projects is not None:
        for org in _orgs(projects)[:1]:
            try:
                _get(api, f"/organizations/{org}/members", cred)
                org_ok = True
            except Denied:
                org_ok = False
    return NeonFacts(user, projects, org_ok)


def _orgs(projects: list[dict[str, Any]] | None) -> list[str]:
    return sorted({str(p["org_id"]) for p in projects or [] if p.get("org_id")})


def judge_key(cred: Credential, seen: NeonFacts) -> Verdict:
    """The verdict on a Neon key from what the read-only calls showed (pure: no HTTP)."""
    meta: dict[str, Any] = dict(cred.metadata)
    projects = seen.projects
    # an organization or project key that /users/me refused and /projects rejects is simply invalid
    meta["projects"] = [str(p["id"]) for p in projects] if projects is not None else None
    orgs = _orgs(projects)
    meta["organizations"] = orgs
    n = len(projects or [])
    if seen.user is not None:
        meta["key_type"] = "login" if cred.kind == "cli_oauth_token" else "personal"
        who = seen.user.get("email") or seen.user.get("login") or seen.user.get("name")
        what = "neonctl login" if cred.kind == "cli_oauth_token" else "Personal API key"
        why = (
            f"{what} of {who or 'a Neon user'}: it acts as the user on every project and organization the "
            f"user belongs to ({n} project(s) visible), can delete projects and create more API keys."
        )
        return root_verdict(_ROOT_CAPS, why, metadata=meta, principal=who)
    if projects is None:
        return _unknown(
            meta,
            "Neon accepted the key but refused every read call (HTTP 403), so its type and reach are "
            "unknown; it is not treated as safe.",
        )
    if seen.org_ok:
        meta["key_type"] = "organization"
        why = (
            f"Organization API key of {orgs[0]}: admin-level access to every project in the organization "
            f"({n} visible); it can delete all of them."
        )
        return root_verdict(_ROOT_CAPS, why, metadata=meta, principal=f"organization {orgs[0]}")
    if seen.org_ok is False:
        meta["key_type"] = "project"
        pid = meta["projects"][0] if meta["projects"] else None
        return Verdict(
            status=Status.verified,
            metadata=meta,
            principal=f"project {pid}" if pid else None,
            root_equivalent=False,
            capabilities=_MEMBER_CAPS,
            possible_capabilities=(),
            reasons=(
                f"Project-scoped API key ({n} project visible; organization calls refused with HTTP 403): "
                "member-level access to one project. Neon documents that it cannot delete the project or act "
                "on the organization.",
                "It can still delete non-default branches, restore branches in place and read connection "
                "strings (and so drop data through SQL); the history window recovers that.",
            ),
        )
    return _unknown(
        meta,
        "Neon accepted the key (it is not a personal key: /users/me was refused) but it reaches no project, "
        "so whether it is an organization or a project key is unknown.",
    )


def _unknown(meta: dict[str, Any], why: str) -> Verdict:
    """Accepted, but of unknown type: possibly root (never "safe")."""
    meta["key_type"] = "unknown"
    return Verdict(
        status=Status.verified, metadata=meta, root_equivalent=None, possible_capabilities=_ROOT_CAPS, reasons=(why,)
    )


class NeonProvider(HttpProvider, name="neon", display_name="Neon", default_url=DEFAULT_URL):
    recogniser_set = RECOGNISERS
    offline_verdicts = {
        "cli_refresh_token": Verdict(root_equivalent=True, capabilities=_ROOT_CAPS, reasons=(_REFRESH_TOKEN,)),
        "*": Verdict(possible_capabilities=_ROOT_CAPS, reasons=(_API_KEY,)),
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
        known = [c for c in credentials if c.status == Status.verified and c.metadata.get("projects") is not None]
        for c in credentials:
            if c.status == Status.verified and c.metadata.get("projects") is None:
                inv.gap(
                    c.id,
                    "not inspected: Neon refused to list the projects this key reaches "
                    "(HTTP 403); its projects and backups are unknown",
                )
        with self.client(ctx) as api:
            for c in known:
                try:
                    personal = c.metadata.get("key_type") in ("personal", "login")
                    projects = _all_projects(api, c, personal)
                except BlastwallError as exc:
                    inv.gap(f"neon projects ({c.fingerprint})", f"not inspected: {exc.message}")
                    continue
                for p in projects:
                    self._project(api, c, p, inv)
        self._facts(known, inv)
        for r in list(inv.resources.values()):
            if r.type == "project":
                hours = r.metadata.get("history_hours")
                inv.finding(
                    Finding.make(
                        "neon-recovery-inside-project",
                        Severity.medium,
                        r.id,
                        f"Neon project {r.name}: its history window ({hours if hours is not None else '?'} h) and "
                        "snapshots live inside the project, and a deleted project is recoverable for only 7 days.",
                        "Run pg_dump on a schedule to storage outside Neon (Neon offers no other off-platform export).",
                        provider="neon",
                    )
                )
        # Neon documents that a project-scoped key cannot delete a project or act on an organization
        for c in known:
            if c.metadata.get("key_type") == "project":
                for t in ("project", "organization"):
                    inv.denial(
                        c.id,
                        t,
                        "project-scoped keys cannot delete projects or organizations (Neon docs)",
                        f"delete:{t}",
                    )
        return inv.build()

    def _project(self, api: ApiClient, c: Credential, p: dict[str, Any], inv: InventoryBuilder) -> None:
        pid = str(p["id"])
        rid = project_resource_id(pid)
        org = p.get("org_id")
        if org:
            oid = f"neon:organization:{org}"
            inv.add_resource(oid, "organization", str(org), once=True)
        secs = p.get("history_retention_seconds")
        hours = round(secs / 3600, 1) if isinstance(secs, (int, float)) else None
        inv.add_resource(
            rid,
            "project",
            str(p.get("name") or pid),
            parent=f"neon:organization:{org}" if org else None,
            holds_data=True,
            metadata={"region": p.get("region_id"), "history_hours": hours},
        )
        if hours:
            inv.add_backup(
                f"neon:history:{pid}",
                rid,
                "history",
                f"Neon history window ({hours} h of WAL for instant restore), inside project {pid}",
                dies_with_resource=True,
                reasons=(
                    "The history window belongs to the project and is purged with it (after the 7-day "
                    "recovery period).",
                ),
            )
        inv.add_backup(
            f"neon:recoverable:{pid}",
            rid,
            "soft_delete",
            f"Neon soft delete: a deleted project stays recoverable for 7 days (POST /projects/{pid}/recover)",
            dies_with_resource=False,
            independent=None,
            reasons=(
                "Neon keeps a deleted project recoverable for 7 days, then purges it with its history and snapshots.",
            ),
        )
        try:
            snaps = _get(api, f"/projects/{pid}/snapshots", c)
        except BlastwallError as exc:
            inv.gap(rid, f"snapshots not inspected: {exc.message}")
            return
        for s in (snaps or {}).get("snapshots") or [] if isinstance(snaps, dict) else []:
            if not isinstance(s, dict) or not s.get("id"):
                continue
            inv.add_backup(
                f"neon:snapshot:{pid}:{s['id']}",
                rid,
                "snapshot",
                f"Neon snapshot {s.get('name') or s['id']}, inside project {pid}",
                dies_with_resource=True,
                reasons=("Snapshots belong to the project and go when it is purged (unverified detail).",),
                metadata={k: s[k] for k in ("created_at", "expires_at") if isinstance(s.get(k), str)},
            )

    @staticmethod
    def _facts(creds: Sequence[Credential], inv: InventoryBuilder) -> None:
        outside = "the key does not reach this project"
        for c in creds:
            reach = {project_resource_id(p) for p in c.metadata.get("projects") or []}
            root = c.root_equivalent
            for r in inv.resources.values():
                if r.type != "project":
                    continue
                if r.id not in reach:
                    inv.fact(c.id, r.id, False, outside)
                elif root is True:
                    inv.fact(c.id, r.id, True, "personal or organization key: can delete the project", "delete:project")
                elif c.metadata.get("key_type") == "project":
                    inv.fact(
                        c.id,
                        r.id,
                        False,
                        "project-scoped keys cannot delete their project (Neon docs)",
                        "delete:project",
                    )
                else:
                    inv.fact(c.id, r.id, None, "key type unknown", "delete:project")
            for b in list(inv.backups.values()):
                if b.protects not in reach:
                    inv.fact(c.id, b.id, False, outside)
                elif b.kind == "soft_delete":
                    inv.fact(
                        c.id, b.id, None, "whether a key can purge a deleted project before 7 days is not documented"
                    )
                elif b.kind == "snapshot":
                    inv.fact(
                        c.id,
                        b.id,
                        True if root else None,
                        "can delete snapshots of the project"
                        if root
                        else "member-level key: snapshot deletion not documented",
                        "delete:snapshot",
                    )
