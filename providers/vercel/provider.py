"""Vercel provider: read a token's own scopes, inventory teams, projects and Marketplace integrations.

Identify: ``GET /v5/user/tokens/current`` returns the metadata of the token the request is authenticated
with, including ``scopes[]`` (``type: user`` = full account, ``type: team`` + ``teamId``; project-scoped
tokens exist since 2026-07-30) and ``expiresAt`` [vercel.com/docs/rest-api/authentication/
get-auth-token-metadata]. ``GET /v2/user`` and ``GET /v2/teams`` add the user and their team roles.
Vercel answers a dead token with ``403 {"error": {"invalidToken": true}}`` (and sometimes 401): both are
treated as rejection.

Cross-provider cascade (supabase/discussions 52275, [V-3p]): uninstalling the Supabase Marketplace
integration from a Vercel account deleted the Supabase organization and its projects. A token that can
manage a Supabase Marketplace integration is therefore reported as able to destroy those Supabase projects
(``DestroyFact`` on ``supabase:project:<partnerId>``; Supabase backups die with their project). Whether the
same holds for other Marketplace databases (Neon, …) is not documented → verdict unknown.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from auditor._lazy import lazy_module
from auditor.errors import BlastwallError, ProviderAuthError, ProviderError
from auditor.http import ApiClient, BearerAuth
from auditor.model import Credential, Finding, Inventory, Severity, Status
from auditor.provider import ProviderContext
from auditor.provider_http import HttpProvider
from auditor.provider_kit import Denied, InventoryBuilder, Page, Verdict, get_json, paginate, root_verdict, unverified

from .recognisers import RECOGNISERS

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")

__all__ = ["DEFAULT_URL", "VercelFacts", "VercelProvider", "judge_token"]

NAME = "vercel"
DEFAULT_URL = "https://api.vercel.com"
URL_ENV = "BLASTWALL_VERCEL_URL"
MAX_PAGES = 20
_API_KINDS = ("access_token", "integration_token", "app_access_token", "api_key")
_PREFIX_KIND = {
    "vcp_": "access_token",
    "vci_": "integration_token",
    "vca_": "app_access_token",
    "vcr_": "app_refresh_token",
    "vck_": "api_key",
}
_TEAM_CAPS = (
    "delete:project",
    "delete:deployment",
    "delete:domain",
    "read:env_vars",
    "write:env_vars",
    "remove:integration",
)
_FULL_CAPS = (*_TEAM_CAPS, "create:token")
_PROJECT_CAPS = ("delete:deployment", "read:env_vars", "write:env_vars")
# Marketplace integrations that provision databases. Removing one may delete the provider-side resource.
_CASCADE = {"supabase": ("supabase", "supabase:project:{}", True), "neon": ("neon", "neon:project:{}", None)}
_MANAGERS = {"OWNER"}
_NON_MANAGERS = {"VIEWER", "VIEWER_FOR_PLUS", "BILLING", "DEVELOPER", "CONTRIBUTOR", "SECURITY"}
_NO_ENV_READ = {"VIEWER", "VIEWER_FOR_PLUS", "BILLING"}  # roles that cannot read environment variable values


def _forbidden(resp: httpx.Response, path: str) -> ProviderError:
    """Vercel answers a dead token with 403 too: that one is a rejection, any other 403 a refusal."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and (err.get("invalidToken") or err.get("missingToken")):
        return ProviderAuthError("vercel: credential rejected (HTTP 403, invalid token)")
    return Denied(f"vercel: HTTP 403 from {path} (the token may not make this call)")


def _get(api: ApiClient, path: str, cred: Credential, params: dict[str, Any] | None = None) -> Any:
    return get_json(api, path, auth=BearerAuth(cred.secret), params=params, forbidden=_forbidden)


def _project_page(api: ApiClient, cred: Credential, acct: _Account, until: str | None) -> Page[dict[str, Any]]:
    params = dict(acct.params, limit="100")
    if until:
        params["until"] = until
    data = _get(api, "/v9/projects", cred, params)
    if not isinstance(data, dict) or not isinstance(data.get("projects"), list):
        raise ProviderError("vercel: unexpected answer from /v9/projects")
    nxt = (data.get("pagination") or {}).get("next") if isinstance(data.get("pagination"), dict) else None
    return Page([p for p in data["projects"] if isinstance(p, dict) and p.get("id")], str(nxt) if nxt else None)


def _ms(ts: Any) -> str | None:
    if isinstance(ts, (int, float)) and ts > 0:
        return datetime.fromtimestamp(ts / 1000, UTC).isoformat()
    return None


@dataclass
class _Notes:
    """What one inventory collects for its aggregated findings (one per credential, not per team)."""

    env_reach: dict[str, list[str]] = field(default_factory=dict)
    cascades: dict[tuple[str, str, str, bool | None], tuple[bool | None, list[str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Account:
    team_id: str | None  # None: the personal account
    name: str
    role: str | None  # the user's role in the team; "OWNER" for the personal account

    @property
    def rid(self) -> str:
        return f"vercel:team:{self.team_id}" if self.team_id else "vercel:account:personal"

    @property
    def params(self) -> dict[str, str]:
        return {"teamId": self.team_id} if self.team_id else {}


@dataclass(frozen=True)
class VercelFacts:
    """What the read-only calls showed about one token."""

    token: dict[str, Any] | None  # GET /v5/user/tokens/current, None when refused or empty
    token_denied: bool
    user: dict[str, Any] | None
    teams: list[dict[str, Any]]


def _fetch(api: ApiClient, cred: Credential, ctx: ProviderContext | None = None) -> VercelFacts:
    denied = False
    try:
        data = _get(api, "/v5/user/tokens/current", cred)
    except Denied:
        data, denied = None, True
    token = data.get("token") if isinstance(data, dict) else None
    if data is not None and not isinstance(token, dict):
        raise ProviderError("vercel: unexpected answer from /v5/user/tokens/current")
    user: dict[str, Any] | None = None
    try:
        u = _get(api, "/v2/user", cred)
        user = u.get("user") if isinstance(u, dict) and isinstance(u.get("user"), dict) else None
    except Denied:
        pass
    teams: list[dict[str, Any]] = []
    try:
        t = _get(api, "/v2/teams", cred)
        teams = [x for x in (t or {}).get("teams") or [] if isinstance(x, dict)] if isinstance(t, dict) else []
    except Denied:
        pass
    return VercelFacts(token, denied, user, teams)


def judge_token(cred: Credential, seen: VercelFacts) -> Verdict:
    """The verdict on a Vercel token from what the read-only calls showed (pure: no HTTP)."""
    meta: dict[str, Any] = dict(cred.metadata)
    if seen.token_denied:
        meta["scope_known"] = False
    token, user, teams = seen.token, seen.user, seen.teams
    principal = (user or {}).get("email") or (user or {}).get("username")
    judged = partial(Verdict, status=Status.verified, metadata=meta, principal=principal)
    if token is None:
        return judged(
            root_equivalent=None,
            possible_capabilities=_FULL_CAPS,
            reasons=(
                "Vercel refused to describe this token (GET /v5/user/tokens/current answered HTTP 403 "
                "or nothing), so its scope is unknown; it is not treated as safe.",
            ),
        )
    scopes = [s for s in token.get("scopes") or [] if isinstance(s, dict)]
    meta["scope_known"] = True
    meta["token_type"] = token.get("type")
    meta["origin"] = token.get("origin")
    if _ms(token.get("expiresAt")):
        meta["expires_at"] = _ms(token.get("expiresAt"))
    roles = {str(t.get("id")): str((t.get("membership") or {}).get("role") or "").upper() for t in teams}
    names = {str(t.get("id")): str(t.get("slug") or t.get("name") or t.get("id")) for t in teams}
    types = {str(s.get("type")) for s in scopes}
    if "user" in types:
        accounts = [_Account(None, "personal account", "OWNER")] + [
            _Account(tid, names[tid], roles.get(tid) or None) for tid in roles
        ]
        meta["accounts"] = [a.__dict__ for a in accounts]
        meta["token_scope"] = "full_account"
        sudo = any(isinstance(s.get("sudo"), dict) for s in scopes)
        return root_verdict(
            _FULL_CAPS,
            f"Full-account token (scope: user){' with sudo' if sudo else ''}: it acts as "
            f"{principal or 'the user'} on the personal account and on every team they belong to "
            f"({len(teams)}), with their role there.",
            "It can delete projects, deployments and domains, read every environment variable (which "
            "often hold other providers' root tokens), create tokens, and remove Marketplace "
            "integrations, which can delete the linked Supabase organization and projects.",
            metadata=meta,
            principal=principal,
        )
    team_ids = [str(s.get("teamId")) for s in scopes if s.get("type") == "team" and s.get("teamId")]
    if team_ids:
        accounts = [_Account(t, names.get(t, t), roles.get(t) or None) for t in team_ids]
        meta["accounts"] = [a.__dict__ for a in accounts]
        meta["token_scope"] = "team"
        owner = any(a.role in _MANAGERS for a in accounts)
        return judged(
            root_equivalent=False,
            capabilities=_TEAM_CAPS if owner else ("read:project",),
            possible_capabilities=() if owner else _TEAM_CAPS,
            reasons=(
                f"Team-scoped token: limited to {', '.join(a.name for a in accounts)}; it cannot reach "
                "the personal account or other teams, nor create tokens.",
                "Inside the team it has the user's role "
                f"({', '.join(a.role or 'unknown' for a in accounts)})"
                + (
                    ": as an owner it can still delete projects and remove integrations."
                    if owner
                    else "; what that role may delete is not read from the API."
                ),
            ),
        )
    projects = [str(s.get("projectId")) for s in scopes if s.get("type") == "project" and s.get("projectId")]
    if projects:
        meta["token_scope"] = "project"
        meta["projects"] = projects
        return judged(
            root_equivalent=False,
            capabilities=_PROJECT_CAPS,
            possible_capabilities=(),
            reasons=(
                f"Project-scoped token: it can only read and write resources of project(s) "
                f"{', '.join(projects)} (deployments, environment variables); it cannot delete other "
                "projects or manage integrations.",
            ),
        )
    meta["token_scope"] = "unknown"
    return judged(
        root_equivalent=None,
        possible_capabilities=_FULL_CAPS,
        reasons=(
            f"Vercel described the token but its scopes ({', '.join(sorted(types)) or 'none'}) are not "
            "ones Blastwall knows; it is not treated as safe.",
        ),
    )


class VercelProvider(HttpProvider, name="vercel", display_name="Vercel", default_url=DEFAULT_URL):
    recogniser_set = RECOGNISERS

    # -- offline -------------------------------------------------------------------------------------------
    def classify(self, candidate: Any) -> Credential:
        value = candidate.secret.reveal()
        if candidate.kind == "blob_rw_token":
            store = value.split("_")[3] if value.count("_") >= 4 else None
            blob = (
                f"A Vercel Blob read-write token for store {store}: it can overwrite and delete every "
                "object in that store, but nothing else."
            )
            return unverified(
                candidate,
                blob,
                root_equivalent=False,
                principal=f"blob store {store}",
                capabilities=("delete:blob", "write:blob"),
            )
        kind = next((k for p, k in _PREFIX_KIND.items() if value.startswith(p)), candidate.kind)
        why = (
            "A Vercel app refresh token mints access tokens for the app's grants; it was not used (that would "
            "create a token), so its reach is unknown, not safe."
            if kind == "app_refresh_token"
            else "Not verified with Vercel: a full-account token can delete every project and remove "
            "Marketplace integrations."
        )
        return unverified(candidate, why, kind=kind, possible_capabilities=_FULL_CAPS)

    # -- identify (read-only) ------------------------------------------------------------------------------
    rejected_reason = "Vercel rejected the token (invalid token): it is revoked, expired or mistyped."
    fetch = staticmethod(_fetch)
    judge = staticmethod(judge_token)

    def identifiable(self, credential: Credential) -> bool:
        return credential.kind in _API_KINDS

    # -- inventory (read-only) -----------------------------------------------------------------------------
    def inventory(self, credentials: Sequence[Credential], ctx: ProviderContext) -> Inventory:
        if ctx.offline:
            return Inventory()
        notes = _Notes()
        inv = InventoryBuilder(NAME)
        verified = [c for c in credentials if c.status == Status.verified and c.kind in _API_KINDS]
        with self.client(ctx) as api:
            for c in verified:
                accounts = [_Account(**a) for a in c.metadata.get("accounts") or []]
                if c.metadata.get("token_scope") == "project":
                    inv.gap(c.id, "project-scoped token: team resources and integrations not inspected with it")
                    continue
                if not accounts:
                    inv.gap(
                        c.id,
                        "not inspected: the token's scope could not be read, so the "
                        "teams and projects it reaches are unknown",
                    )
                    continue
                for acct in accounts:
                    self._account(api, c, acct, inv, notes)
        for c in verified:
            if c.metadata.get("token_scope") == "project":
                own = {f"vercel:project:{p}" for p in c.metadata.get("projects") or ()}
                for rid, r in list(inv.resources.items()):
                    if r.type == "project" and rid not in own:
                        inv.fact(c.id, rid, False, "project-scoped token of another project")
        labels = {c.id: c.label for c in verified}
        for cid, where in notes.env_reach.items():
            inv.finding(
                Finding.make(
                    "vercel-env-vars-readable",
                    Severity.medium,
                    cid,
                    f"{labels[cid]} can read the environment variables of the projects in {', '.join(where)}; they "
                    "often hold other providers' tokens and database URLs.",
                    "Give automation a project-scoped token, and keep provider root tokens out of Vercel "
                    "environment variables.",
                    provider="vercel",
                )
            )
        for (cid, slug, partner, cascades), (verdict, doomed) in notes.cascades.items():
            inv.finding(
                Finding.make(
                    f"vercel-{slug}-integration-cascade",
                    Severity.high if verdict else Severity.medium,
                    cid,
                    f"{labels[cid]} {'can' if verdict else 'may be able to'} remove the {slug} Marketplace "
                    f"integration; removing it {'deleted' if cascades else 'may delete'} the linked {partner} "
                    f"resources with their backups: {'; '.join(doomed[:5])}"
                    + (f" and {len(doomed) - 5} more." if len(doomed) > 5 else "."),
                    "Keep tokens that can manage integrations out of agents' reach, use project-scoped tokens for "
                    f"deployments, and keep off-platform dumps of the {partner} databases.",
                    provider="vercel",
                )
            )
        if verified:
            inv.gap(
                "vercel blob stores and edge config",
                "not inspected: Blob stores and Edge Config are not listed yet; Vercel "
                "documents no backup or undelete for them",
            )
        # A project-scoped token acts on its own project(s) only: no team, account or integration (and so
        # no Marketplace database). Whether it may delete its own project is not documented: other
        # projects get a per-project "cannot", its own stay unknown.
        for c in verified:
            if c.metadata.get("token_scope") == "project":
                for t in ("team", "account", "integration", "marketplace_database"):
                    inv.denial(c.id, t, "project-scoped token: it cannot manage teams or integrations")
        return inv.build()

    def _account(self, api: ApiClient, c: Credential, acct: _Account, inv: InventoryBuilder, notes: _Notes) -> None:
        inv.add_resource(acct.rid, "team" if acct.team_id else "account", acct.name, once=True)
        manage: bool | None = True if acct.role in _MANAGERS else False if acct.role in _NON_MANAGERS else None
        n_projects = 0
        try:
            for p in paginate(partial(_project_page, api, c, acct), max_pages=MAX_PAGES):
                rid = f"vercel:project:{p['id']}"
                n_projects += 1
                inv.add_resource(rid, "project", str(p.get("name") or p["id"]), parent=acct.rid)
                inv.fact(c.id, rid, manage, f"role {acct.role or 'unknown'} in {acct.name}", "delete:project")
        except BlastwallError as exc:
            inv.gap(f"{acct.rid} projects", f"not inspected: {exc.message}")
        if n_projects and acct.role not in _NO_ENV_READ:
            notes.env_reach.setdefault(c.id, []).append(f"{acct.name} ({n_projects})")
        try:
            configs = _get(api, "/v1/integrations/configurations", c, dict(acct.params, view="account"))
        except BlastwallError as exc:
            inv.gap(
                f"{acct.rid} integrations",
                f"not inspected: {exc.message}; a Marketplace integration's removal can "
                "delete the linked provider's resources",
            )
            return
        if isinstance(configs, dict):
            configs = configs.get("configurations")
        for cfg in configs if isinstance(configs, list) else []:
            if not isinstance(cfg, dict) or not cfg.get("id"):
                continue
            slug = str(cfg.get("slug") or cfg.get("integrationSlug") or "")
            iid = f"vercel:integration:{cfg['id']}"
            inv.add_resource(
                iid,
                "integration",
                slug or str(cfg["id"]),
                parent=acct.rid,
                metadata={"slug": slug, "installation_type": cfg.get("installationType")},
            )
            if slug not in _CASCADE:
                continue
            self._cascade(api, c, acct, cfg, slug, iid, manage, inv, notes)

    def _cascade(
        self,
        api: ApiClient,
        c: Credential,
        acct: _Account,
        cfg: dict[str, Any],
        slug: str,
        iid: str,
        manage: bool | None,
        inv: InventoryBuilder,
        notes: _Notes,
    ) -> None:
        partner, target_fmt, cascades = _CASCADE[slug]
        try:
            data = _get(api, f"/v1/installations/{cfg['id']}/resources", c)
        except BlastwallError as exc:
            inv.gap(
                iid,
                f"Marketplace resources not inspected: {exc.message}; removing the "
                f"{slug} integration may delete {partner} resources",
            )
            return
        items = (
            [r for r in (data or {}).get("resources") or [] if isinstance(r, dict)] if isinstance(data, dict) else []
        )
        inv.fact(c.id, iid, manage, f"role {acct.role or 'unknown'} in {acct.name}", "remove:integration")
        # verdict on the partner's resources: removal cascades (Supabase, user report) or may (others)
        verdict: bool | None = manage if cascades else (None if manage is not False else False)
        doomed: list[str] = []
        for it in items:
            pid, internal = it.get("partnerId"), it.get("internalId")
            if not pid or not internal:
                continue
            mid = f"vercel:marketplace-resource:{internal}"
            target = target_fmt.format(pid)
            inv.add_resource(
                mid,
                "marketplace_database",
                str(it.get("name") or internal),
                parent=iid,
                holds_data=True,
                metadata={"partner": partner, "partner_id": str(pid), "same_data_as": target},
            )
            why = (
                f"removing the {slug} Marketplace integration deleted the linked {partner} organization and projects "
                "(user report, supabase discussion 52275)"
                if cascades
                else f"removing the {slug} Marketplace integration may delete the linked {partner} resource "
                "(not documented)"
            )
            for t in (mid, target):
                inv.fact(c.id, t, verdict, why, "remove:integration")
            doomed.append(f"{it.get('name') or pid} ({target})")
        if doomed and verdict is not False:
            key = (c.id, slug, partner, cascades)
            old = notes.cascades.get(key)
            notes.cascades[key] = (
                verdict if old is None else (True if True in (old[0], verdict) else None),
                (old[1] if old else []) + [f"{acct.name}: {d}" for d in doomed],
            )
