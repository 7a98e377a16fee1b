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
from typing import Any

from auditor.errors import BlastwallError, ProviderAuthError, ProviderError
from auditor.http import ApiClient, BearerAuth
from auditor.model import (
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

__all__ = ["DEFAULT_URL", "VercelProvider"]

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
_FULL_CAPS = (
    "delete:project",
    "delete:deployment",
    "delete:domain",
    "read:env_vars",
    "write:env_vars",
    "remove:integration",
    "create:token",
)
_TEAM_CAPS = (
    "delete:project",
    "delete:deployment",
    "delete:domain",
    "read:env_vars",
    "write:env_vars",
    "remove:integration",
)
_PROJECT_CAPS = ("delete:deployment", "read:env_vars", "write:env_vars")
# Marketplace integrations that provision databases. Removing one may delete the provider-side resource.
_CASCADE = {
    "supabase": ("supabase", "supabase:project:{}", True),
    "neon": ("neon", "neon:project:{}", None),
}
_MANAGERS = {"OWNER"}
_NON_MANAGERS = {"VIEWER", "VIEWER_FOR_PLUS", "BILLING", "DEVELOPER", "CONTRIBUTOR", "SECURITY"}
_NO_ENV_READ = {"VIEWER", "VIEWER_FOR_PLUS", "BILLING"}  # roles that cannot read environment variable values


class Denied(ProviderError):
    """HTTP 403 that is not a dead token: the token may not make this call."""


def _get(api: ApiClient, path: str, cred: Credential, params: dict[str, Any] | None = None) -> Any:
    resp = api.request("GET", path, auth=BearerAuth(cred.secret), params=params)
    if resp.status_code == 403:
        try:
            body = resp.json()
        except ValueError:
            body = None
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict) and (err.get("invalidToken") or err.get("missingToken")):
            raise ProviderAuthError("vercel: credential rejected (HTTP 403, invalid token)")
        raise Denied(f"vercel: HTTP 403 from {path} (the token may not make this call)")
    if resp.status_code == 404:
        return None
    return api.decode(resp)


def _ms(ts: Any) -> str | None:
    if isinstance(ts, (int, float)) and ts > 0:
        return datetime.fromtimestamp(ts / 1000, UTC).isoformat()
    return None


@dataclass
class _Notes:
    """What one inventory collects for its aggregated findings (one per credential, not per team)."""

    env_reach: dict[str, list[str]] = field(default_factory=dict)
    cascades: dict[tuple[str, str, str, bool | None], tuple[bool | None, list[str]]] = field(
        default_factory=dict
    )


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


class VercelProvider(HttpProvider):
    name = "vercel"
    url_env = URL_ENV
    default_url = DEFAULT_URL
    display_name = "Vercel"

    def recognisers(self) -> Sequence[Recogniser]:
        return RECOGNISERS

    # -- offline -------------------------------------------------------------------------------------------
    def classify(self, candidate: Any) -> Credential:
        value = candidate.secret.reveal()
        if candidate.kind == "blob_rw_token":
            store = value.split("_")[3] if value.count("_") >= 4 else None
            return Credential.from_candidate(
                candidate,
                status=Status.unverified,
                root_equivalent=False,
                principal=f"blob store {store}",
                capabilities=("delete:blob", "write:blob"),
                reasons=(
                    (
                        f"A Vercel Blob read-write token for store {store}: it can overwrite and delete every "
                        "object in that store, but nothing else."
                    ),
                ),
            )
        kind = next((k for p, k in _PREFIX_KIND.items() if value.startswith(p)), candidate.kind)
        if kind == "app_refresh_token":
            return Credential.from_candidate(
                candidate,
                kind=kind,
                status=Status.unverified,
                root_equivalent=None,
                possible_capabilities=_FULL_CAPS,
                reasons=(
                    (
                        "A Vercel app refresh token mints access tokens for the app's grants; it was not used (that "
                        "would create a token), so its reach is unknown, not safe."
                    ),
                ),
            )
        return Credential.from_candidate(
            candidate,
            kind=kind,
            status=Status.unverified,
            root_equivalent=None,
            possible_capabilities=_FULL_CAPS,
            reasons=(
                (
                    "Not verified with Vercel: a full-account token can delete every project and remove "
                    "Marketplace integrations."
                ),
            ),
        )

    # -- identify (read-only) ------------------------------------------------------------------------------
    def identify(self, credential: Credential, ctx: ProviderContext) -> Credential:
        if ctx.offline or credential.kind not in _API_KINDS:
            return credential
        with self.client(ctx) as api:
            try:
                return self._identify(api, credential)
            except ProviderAuthError:
                return self.rejected(
                    credential,
                    "Vercel rejected the token (invalid token): it is revoked, expired or mistyped.",
                    root_equivalent=None,
                )

    def _identify(self, api: ApiClient, cred: Credential) -> Credential:
        meta: dict[str, Any] = dict(cred.metadata)
        upd: dict[str, Any] = {"status": Status.verified, "metadata": meta}
        try:
            data = _get(api, "/v5/user/tokens/current", cred)
        except Denied:
            data = None
            meta["scope_known"] = False
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
            teams = (
                [x for x in (t or {}).get("teams") or [] if isinstance(x, dict)]
                if isinstance(t, dict)
                else []
            )
        except Denied:
            pass
        principal = (user or {}).get("email") or (user or {}).get("username")
        upd["principal"] = principal
        if token is None:
            return cred.model_copy(
                update={
                    **upd,
                    "root_equivalent": None,
                    "possible_capabilities": _FULL_CAPS,
                    "reasons": (
                        (
                            "Vercel refused to describe this token (GET /v5/user/tokens/current answered HTTP 403 "
                            "or nothing), so its scope is unknown; it is not treated as safe."
                        ),
                    ),
                }
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
            return cred.model_copy(
                update={
                    **upd,
                    "root_equivalent": True,
                    "capabilities": _FULL_CAPS,
                    "possible_capabilities": (),
                    "reasons": (
                        (
                            f"Full-account token (scope: user){' with sudo' if sudo else ''}: it acts as "
                            f"{principal or 'the user'} on the personal account and on every team they belong to "
                            f"({len(teams)}), with their role there."
                        ),
                        (
                            "It can delete projects, deployments and domains, read every environment variable (which "
                            "often hold other providers' root tokens), create tokens, and remove Marketplace "
                            "integrations, which can delete the linked Supabase organization and projects."
                        ),
                    ),
                }
            )
        team_ids = [str(s.get("teamId")) for s in scopes if s.get("type") == "team" and s.get("teamId")]
        if team_ids:
            accounts = [_Account(t, names.get(t, t), roles.get(t) or None) for t in team_ids]
            meta["accounts"] = [a.__dict__ for a in accounts]
            meta["token_scope"] = "team"
            owner = any(a.role in _MANAGERS for a in accounts)
            return cred.model_copy(
                update={
                    **upd,
                    "root_equivalent": False,
                    "capabilities": _TEAM_CAPS if owner else ("read:project",),
                    "possible_capabilities": () if owner else _TEAM_CAPS,
                    "reasons": (
                        (
                            f"Team-scoped token: limited to {', '.join(a.name for a in accounts)}; it cannot reach "
                            "the personal account or other teams, nor create tokens."
                        ),
                        "Inside the team it has the user's role "
                        f"({', '.join(a.role or 'unknown' for a in accounts)})"
                        + (
                            ": as an owner it can still delete projects and remove integrations."
                            if owner
                            else "; what that role may delete is not read from the API."
                        ),
                    ),
                }
            )
        projects = [
            str(s.get("projectId")) for s in scopes if s.get("type") == "project" and s.get("projectId")
        ]
        if projects:
            meta["token_scope"] = "project"
            meta["projects"] = projects
            return cred.model_copy(
                update={
                    **upd,
                    "root_equivalent": False,
                    "capabilities": _PROJECT_CAPS,
                    "possible_capabilities": (),
                    "reasons": (
                        (
                            f"Project-scoped token: it can only read and write resources of project(s) "
                            f"{', '.join(projects)} (deployments, environment variables); it cannot delete other "
                            "projects or manage integrations."
                        ),
                    ),
                }
            )
        meta["token_scope"] = "unknown"
        return cred.model_copy(
            update={
                **upd,
                "root_equivalent": None,
                "possible_capabilities": _FULL_CAPS,
                "reasons": (
                    (
                        f"Vercel described the token but its scopes ({', '.join(sorted(types)) or 'none'}) are not "
                        "ones Blastwall knows; it is not treated as safe."
                    ),
                ),
            }
        )

    # -- inventory (read-only) -----------------------------------------------------------------------------
    def inventory(self, credentials: Sequence[Credential], ctx: ProviderContext) -> Inventory:
        if ctx.offline:
            return Inventory()
        notes = _Notes()
        resources: dict[str, Resource] = {}
        facts: list[DestroyFact] = []
        findings: list[Finding] = []
        gaps: list[CoverageGap] = []
        verified = [c for c in credentials if c.status == Status.verified and c.kind in _API_KINDS]
        with self.client(ctx) as api:
            for c in verified:
                accounts = [_Account(**a) for a in c.metadata.get("accounts") or []]
                if c.metadata.get("token_scope") == "project":
                    gaps.append(
                        CoverageGap(
                            subject=c.id,
                            provider="vercel",
                            reason="project-scoped token: team resources and integrations not "
                            "inspected with it",
                        )
                    )
                    continue
                if not accounts:
                    gaps.append(
                        CoverageGap(
                            subject=c.id,
                            provider="vercel",
                            reason="not inspected: the token's scope could not be read, so the "
                            "teams and projects it reaches are unknown",
                        )
                    )
                    continue
                for acct in accounts:
                    self._account(api, c, acct, resources, facts, notes, gaps)
        for c in verified:
            if c.metadata.get("token_scope") == "project":
                own = {f"vercel:project:{p}" for p in c.metadata.get("projects") or ()}
                facts += [
                    DestroyFact(credential=c.id, target=rid, verdict=False,
                                reason="project-scoped token of another project")
                    for rid, r in resources.items()
                    if r.type == "project" and rid not in own
                ]
        labels = {c.id: c.label for c in verified}
        for cid, where in notes.env_reach.items():
            findings.append(
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
            findings.append(
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
            gaps.append(
                CoverageGap(
                    subject="vercel blob stores and edge config",
                    provider="vercel",
                    reason="not inspected: Blob stores and Edge Config are not listed yet; Vercel "
                    "documents no backup or undelete for them",
                )
            )
        return Inventory(
            resources=tuple(resources.values()),
            facts=tuple(facts),
            findings=tuple(findings),
            gaps=tuple(gaps),
            # A project-scoped token acts on its own project(s) only: no team, account or integration (and so
            # no Marketplace database). Whether it may delete its own project is not documented: other
            # projects get a per-project "cannot", its own stay unknown.
            denials=tuple(
                CannotDestroyType(credential=c.id, provider="vercel", resource_type=t,
                                  reason="project-scoped token: it cannot manage teams or integrations")
                for c in verified
                if c.metadata.get("token_scope") == "project"
                for t in ("team", "account", "integration", "marketplace_database")
            ),
        )

    def _account(
        self,
        api: ApiClient,
        c: Credential,
        acct: _Account,
        resources: dict[str, Resource],
        facts: list[DestroyFact],
        notes: _Notes,
        gaps: list[CoverageGap],
    ) -> None:
        resources.setdefault(
            acct.rid,
            Resource(
                id=acct.rid, provider="vercel", type="team" if acct.team_id else "account", name=acct.name
            ),
        )
        manage: bool | None = (
            True if acct.role in _MANAGERS else False if acct.role in _NON_MANAGERS else None
        )
        n_projects = 0
        try:
            until: Any = None
            for _ in range(MAX_PAGES):
                params = dict(acct.params, limit="100")
                if until:
                    params["until"] = str(until)
                data = _get(api, "/v9/projects", c, params)
                if not isinstance(data, dict) or not isinstance(data.get("projects"), list):
                    raise ProviderError("vercel: unexpected answer from /v9/projects")
                for p in data["projects"]:
                    if isinstance(p, dict) and p.get("id"):
                        rid = f"vercel:project:{p['id']}"
                        n_projects += 1
                        resources[rid] = Resource(
                            id=rid,
                            provider="vercel",
                            type="project",
                            name=str(p.get("name") or p["id"]),
                            parent=acct.rid,
                        )
                        facts.append(
                            DestroyFact(
                                credential=c.id,
                                target=rid,
                                verdict=manage,
                                capability="delete:project",
                                reason=f"role {acct.role or 'unknown'} in {acct.name}",
                            )
                        )
                until = (
                    (data.get("pagination") or {}).get("next")
                    if isinstance(data.get("pagination"), dict)
                    else None
                )
                if not until:
                    break
        except BlastwallError as exc:
            gaps.append(
                CoverageGap(
                    subject=f"{acct.rid} projects", provider="vercel", reason=f"not inspected: {exc.message}"
                )
            )
        if n_projects and acct.role not in _NO_ENV_READ:
            notes.env_reach.setdefault(c.id, []).append(f"{acct.name} ({n_projects})")
        try:
            configs = _get(api, "/v1/integrations/configurations", c, dict(acct.params, view="account"))
        except BlastwallError as exc:
            gaps.append(
                CoverageGap(
                    subject=f"{acct.rid} integrations",
                    provider="vercel",
                    reason=f"not inspected: {exc.message}; a Marketplace integration's removal can "
                    "delete the linked provider's resources",
                )
            )
            return
        if isinstance(configs, dict):
            configs = configs.get("configurations")
        for cfg in configs if isinstance(configs, list) else []:
            if not isinstance(cfg, dict) or not cfg.get("id"):
                continue
            slug = str(cfg.get("slug") or cfg.get("integrationSlug") or "")
            iid = f"vercel:integration:{cfg['id']}"
            resources[iid] = Resource(
                id=iid,
                provider="vercel",
                type="integration",
                name=slug or str(cfg["id"]),
                parent=acct.rid,
                metadata={"slug": slug, "installation_type": cfg.get("installationType")},
            )
            if slug not in _CASCADE:
                continue
            self._cascade(api, c, acct, cfg, slug, iid, manage, resources, facts, notes, gaps)

    def _cascade(
        self,
        api: ApiClient,
        c: Credential,
        acct: _Account,
        cfg: dict[str, Any],
        slug: str,
        iid: str,
        manage: bool | None,
        resources: dict[str, Resource],
        facts: list[DestroyFact],
        notes: _Notes,
        gaps: list[CoverageGap],
    ) -> None:
        partner, target_fmt, cascades = _CASCADE[slug]
        try:
            data = _get(api, f"/v1/installations/{cfg['id']}/resources", c)
        except BlastwallError as exc:
            gaps.append(
                CoverageGap(
                    subject=iid,
                    provider="vercel",
                    reason=f"Marketplace resources not inspected: {exc.message}; removing the "
                    f"{slug} integration may delete {partner} resources",
                )
            )
            return
        items = (
            [r for r in (data or {}).get("resources") or [] if isinstance(r, dict)]
            if isinstance(data, dict)
            else []
        )
        facts.append(
            DestroyFact(
                credential=c.id,
                target=iid,
                verdict=manage,
                capability="remove:integration",
                reason=f"role {acct.role or 'unknown'} in {acct.name}",
            )
        )
        # verdict on the partner's resources: removal cascades (Supabase, user report) or may (others)
        verdict: bool | None = manage if cascades else (None if manage is not False else False)
        doomed: list[str] = []
        for it in items:
            pid, internal = it.get("partnerId"), it.get("internalId")
            if not pid or not internal:
                continue
            mid = f"vercel:marketplace-resource:{internal}"
            target = target_fmt.format(pid)
            resources[mid] = Resource(
                id=mid,
                provider="vercel",
                type="marketplace_database",
                name=str(it.get("name") or internal),
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
                facts.append(
                    DestroyFact(
                        credential=c.id,
                        target=t,
                        verdict=verdict,
                        capability="remove:integration",
                        reason=why,
                    )
                )
            doomed.append(f"{it.get('name') or pid} ({target})")
        if doomed and verdict is not False:
            key = (c.id, slug, partner, cascades)
            old = notes.cascades.get(key)
            notes.cascades[key] = (
                verdict if old is None else (True if True in (old[0], verdict) else None),
                (old[1] if old else []) + [f"{acct.name}: {d}" for d in doomed],
            )
