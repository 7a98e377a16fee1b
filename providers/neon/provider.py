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

from collections.abc import Iterator, Sequence
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

__all__ = ["DEFAULT_URL", "NeonProvider", "project_resource_id"]

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


def project_resource_id(pid: str) -> str:
    return f"neon:project:{pid}"


class Denied(ProviderError):
    """HTTP 403: the key may not make this call."""


def _get(api: ApiClient, path: str, cred: Credential, params: dict[str, Any] | None = None) -> Any:
    resp = api.request("GET", API + path, auth=BearerAuth(cred.secret), params=params)
    if resp.status_code == 403:
        raise Denied(f"neon: HTTP 403 from {path} (the key may not make this call)")
    if resp.status_code == 404:
        return None
    return api.decode(resp)


def _projects(api: ApiClient, cred: Credential, org_id: str | None = None) -> Iterator[dict[str, Any]]:
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        params: dict[str, Any] = {"limit": 400}
        if org_id:
            params["org_id"] = org_id
        if cursor:
            params["cursor"] = cursor
        data = _get(api, "/projects", cred, params)
        if not isinstance(data, dict) or not isinstance(data.get("projects"), list):
            raise ProviderError("neon: unexpected answer from /projects")
        page = [p for p in data["projects"] if isinstance(p, dict) and p.get("id")]
        yield from page
        nxt = (
            (data.get("pagination") or {}).get("cursor") if isinstance(data.get("pagination"), dict) else None
        )
        if not page or not nxt or nxt == cursor:
            return
        cursor = str(nxt)


def _all_projects(api: ApiClient, cred: Credential, personal: bool) -> list[dict[str, Any]]:
    """A personal key lists only personal projects unless ``org_id`` is given: add every organization's."""
    out = list(_projects(api, cred))
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
        for p in _projects(api, cred, str(o["id"])):
            if str(p["id"]) not in seen:
                seen.add(str(p["id"]))
                out.append(p)
    return out


class NeonProvider(HttpProvider):
    name = "neon"
    url_env = URL_ENV
    default_url = DEFAULT_URL
    display_name = "Neon"

    def recognisers(self) -> Sequence[Recogniser]:
        return RECOGNISERS

    def classify(self, candidate: Any) -> Credential:
        if candidate.kind == "cli_refresh_token":
            return Credential.from_candidate(
                candidate,
                status=Status.unverified,
                root_equivalent=True,
                capabilities=_ROOT_CAPS,
                reasons=(
                    (
                        "A neonctl refresh token mints access tokens for the logged-in user: it is as powerful as "
                        "the user's login (every project, deletion included). It was not used, since that would "
                        "create a new token."
                    ),
                ),
            )
        return Credential.from_candidate(
            candidate,
            status=Status.unverified,
            root_equivalent=None,
            possible_capabilities=_ROOT_CAPS,
            reasons=("Not verified with Neon: a personal or organization API key can delete projects.",),
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
                    "Neon rejected the key (HTTP 401): it is revoked, expired or mistyped.",
                    root_equivalent=None,
                )

    def _identify(self, api: ApiClient, cred: Credential) -> Credential:
        meta: dict[str, Any] = dict(cred.metadata)
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
        # an organization or project key that /users/me refused and /projects rejects is simply invalid
        meta["projects"] = [str(p["id"]) for p in projects] if projects is not None else None
        orgs = sorted({str(p["org_id"]) for p in projects or [] if p.get("org_id")})
        meta["organizations"] = orgs
        upd: dict[str, Any] = {"status": Status.verified, "metadata": meta}
        n = len(projects or [])
        if user is not None:
            meta["key_type"] = "login" if cred.kind == "cli_oauth_token" else "personal"
            who = user.get("email") or user.get("login") or user.get("name")
            what = "neonctl login" if cred.kind == "cli_oauth_token" else "Personal API key"
            return cred.model_copy(
                update={
                    **upd,
                    "principal": who,
                    "root_equivalent": True,
                    "capabilities": _ROOT_CAPS,
                    "possible_capabilities": (),
                    "reasons": (
                        (
                            f"{what} of {who or 'a Neon user'}: it acts as the user on every project and "
                            f"organization the user belongs to ({n} project(s) visible), can delete projects and "
                            "create more API keys."
                        ),
                    ),
                }
            )
        if projects is None:
            meta["key_type"] = "unknown"
            return cred.model_copy(
                update={
                    **upd,
                    "root_equivalent": None,
                    "possible_capabilities": _ROOT_CAPS,
                    "reasons": (
                        (
                            "Neon accepted the key but refused every read call (HTTP 403), so its type and reach are "
                            "unknown; it is not treated as safe."
                        ),
                    ),
                }
            )
        org_ok: bool | None = None
        for org in orgs[:1]:
            try:
                _get(api, f"/organizations/{org}/members", cred)
                org_ok = True
            except Denied:
                org_ok = False
        if org_ok:
            meta["key_type"] = "organization"
            return cred.model_copy(
                update={
                    **upd,
                    "principal": f"organization {orgs[0]}",
                    "root_equivalent": True,
                    "capabilities": _ROOT_CAPS,
                    "possible_capabilities": (),
                    "reasons": (
                        (
                            f"Organization API key of {orgs[0]}: admin-level access to every project in the "
                            f"organization ({n} visible); it can delete all of them."
                        ),
                    ),
                }
            )
        if org_ok is False:
            meta["key_type"] = "project"
            pid = meta["projects"][0] if meta["projects"] else None
            return cred.model_copy(
                update={
                    **upd,
                    "principal": f"project {pid}" if pid else None,
                    "root_equivalent": False,
                    "capabilities": _MEMBER_CAPS,
                    "possible_capabilities": (),
                    "reasons": (
                        (
                            f"Project-scoped API key ({n} project visible; organization calls refused with HTTP 403): "
                            "member-level access to one project. Neon documents that it cannot delete the project "
                            "or act on the organization."
                        ),
                        (
                            "It can still delete non-default branches, restore branches in place and read "
                            "connection strings (and so drop data through SQL); the history window recovers that."
                        ),
                    ),
                }
            )
        meta["key_type"] = "unknown"
        return cred.model_copy(
            update={
                **upd,
                "root_equivalent": None,
                "possible_capabilities": _ROOT_CAPS,
                "reasons": (
                    (
                        "Neon accepted the key (it is not a personal key: /users/me was refused) but it reaches no "
                        "project, so whether it is an organization or a project key is unknown."
                    ),
                ),
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
        known = [
            c for c in credentials if c.status == Status.verified and c.metadata.get("projects") is not None
        ]
        for c in credentials:
            if c.status == Status.verified and c.metadata.get("projects") is None:
                gaps.append(
                    CoverageGap(
                        subject=c.id,
                        provider="neon",
                        reason="not inspected: Neon refused to list the projects this key reaches "
                        "(HTTP 403); its projects and backups are unknown",
                    )
                )
        with self.client(ctx) as api:
            for c in known:
                try:
                    personal = c.metadata.get("key_type") in ("personal", "login")
                    projects = _all_projects(api, c, personal)
                except BlastwallError as exc:
                    gaps.append(
                        CoverageGap(
                            subject=f"neon projects ({c.fingerprint})",
                            provider="neon",
                            reason=f"not inspected: {exc.message}",
                        )
                    )
                    continue
                for p in projects:
                    self._project(api, c, p, resources, backups, gaps)
        facts = self._facts(known, resources, backups)
        for r in resources.values():
            if r.type == "project":
                hours = r.metadata.get("history_hours")
                findings.append(
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
        return Inventory(
            resources=tuple(resources.values()),
            backups=tuple(backups.values()),
            facts=tuple(facts),
            findings=tuple(findings),
            gaps=tuple(gaps),
            # Neon documents that a project-scoped key cannot delete a project or act on an organization
            denials=tuple(
                CannotDestroyType(credential=c.id, provider="neon", resource_type=t, capability=f"delete:{t}",
                                  reason="project-scoped keys cannot delete projects or organizations (Neon docs)")
                for c in known
                if c.metadata.get("key_type") == "project"
                for t in ("project", "organization")
            ),
        )

    def _project(
        self,
        api: ApiClient,
        c: Credential,
        p: dict[str, Any],
        resources: dict[str, Resource],
        backups: dict[str, Backup],
        gaps: list[CoverageGap],
    ) -> None:
        pid = str(p["id"])
        rid = project_resource_id(pid)
        org = p.get("org_id")
        if org:
            oid = f"neon:organization:{org}"
            resources.setdefault(oid, Resource(id=oid, provider="neon", type="organization", name=str(org)))
        secs = p.get("history_retention_seconds")
        hours = round(secs / 3600, 1) if isinstance(secs, (int, float)) else None
        resources[rid] = Resource(
            id=rid,
            provider="neon",
            type="project",
            name=str(p.get("name") or pid),
            parent=f"neon:organization:{org}" if org else None,
            holds_data=True,
            metadata={"region": p.get("region_id"), "history_hours": hours},
        )
        if hours:
            bid = f"neon:history:{pid}"
            backups[bid] = Backup(
                id=bid,
                provider="neon",
                protects=rid,
                kind="history",
                location=f"Neon history window ({hours} h of WAL for instant restore), inside project {pid}",
                dies_with_resource=True,
                reasons=(
                    (
                        "The history window belongs to the project and is purged with it (after the 7-day "
                        "recovery period)."
                    ),
                ),
            )
        bid = f"neon:recoverable:{pid}"
        backups[bid] = Backup(
            id=bid,
            provider="neon",
            protects=rid,
            kind="soft_delete",
            location=f"Neon soft delete: a deleted project stays recoverable for 7 days (POST /projects/{pid}/recover)",
            dies_with_resource=False,
            independent=None,
            reasons=(
                (
                    "Neon keeps a deleted project recoverable for 7 days, then purges it with its history and "
                    "snapshots."
                ),
            ),
        )
        try:
            snaps = _get(api, f"/projects/{pid}/snapshots", c)
        except BlastwallError as exc:
            gaps.append(
                CoverageGap(subject=rid, provider="neon", reason=f"snapshots not inspected: {exc.message}")
            )
            return
        for s in (snaps or {}).get("snapshots") or [] if isinstance(snaps, dict) else []:
            if not isinstance(s, dict) or not s.get("id"):
                continue
            sid = f"neon:snapshot:{pid}:{s['id']}"
            backups[sid] = Backup(
                id=sid,
                provider="neon",
                protects=rid,
                kind="snapshot",
                location=f"Neon snapshot {s.get('name') or s['id']}, inside project {pid}",
                dies_with_resource=True,
                reasons=("Snapshots belong to the project and go when it is purged (unverified detail).",),
                metadata={k: s[k] for k in ("created_at", "expires_at") if isinstance(s.get(k), str)},
            )

    @staticmethod
    def _facts(
        creds: Sequence[Credential], resources: dict[str, Resource], backups: dict[str, Backup]
    ) -> list[DestroyFact]:
        facts: list[DestroyFact] = []
        for c in creds:
            reach = {project_resource_id(p) for p in c.metadata.get("projects") or []}
            root = c.root_equivalent
            for r in resources.values():
                if r.type != "project":
                    continue
                if r.id not in reach:
                    facts.append(
                        DestroyFact(
                            credential=c.id,
                            target=r.id,
                            verdict=False,
                            reason="the key does not reach this project",
                        )
                    )
                elif root is True:
                    facts.append(
                        DestroyFact(
                            credential=c.id,
                            target=r.id,
                            verdict=True,
                            capability="delete:project",
                            reason="personal or organization key: can delete the project",
                        )
                    )
                elif c.metadata.get("key_type") == "project":
                    facts.append(
                        DestroyFact(
                            credential=c.id,
                            target=r.id,
                            verdict=False,
                            capability="delete:project",
                            reason="project-scoped keys cannot delete their project (Neon docs)",
                        )
                    )
                else:
                    facts.append(
                        DestroyFact(
                            credential=c.id,
                            target=r.id,
                            verdict=None,
                            capability="delete:project",
                            reason="key type unknown",
                        )
                    )
            for b in backups.values():
                if b.protects not in reach:
                    facts.append(
                        DestroyFact(
                            credential=c.id,
                            target=b.id,
                            verdict=False,
                            reason="the key does not reach this project",
                        )
                    )
                elif b.kind == "soft_delete":
                    facts.append(
                        DestroyFact(
                            credential=c.id,
                            target=b.id,
                            verdict=None,
                            reason="whether a key can purge a deleted project before 7 days is not "
                            "documented",
                        )
                    )
                elif b.kind == "snapshot":
                    facts.append(
                        DestroyFact(
                            credential=c.id,
                            target=b.id,
                            verdict=True if root else None,
                            capability="delete:snapshot",
                            reason="can delete snapshots of the project"
                            if root
                            else "member-level key: snapshot deletion not documented",
                        )
                    )
        return facts
