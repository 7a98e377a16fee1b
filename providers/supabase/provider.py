"""Supabase provider: identify management-API tokens read-only, inventory orgs, projects and backups.

Supabase has no endpoint that returns a token's own grants. What read-only calls tell:

* ``GET /v1/projects`` and ``GET /v1/organizations``: what the token reaches.
* A **scoped** token (GA 2026-09-28, the dashboard default) answers a call it may not make with 403 and a
  ``missing_permissions`` array [supabase.com/changelog/scoped-personal-access-tokens-ga]. Any such 403 while
  other calls succeed proves a scoped token → not root-equivalent.
* A **classic** token ("Legacy" badge) has full access to every organization and project of the account,
  including ones created later. A ``sbp_`` + 40-hex token whose reads all succeed is judged classic; that
  rests on the absence of a 403 (scoped tokens reportedly start ``sbp_fc``, ⚠ UNVERIFIED, and those stay
  unknown), and the reasons say so.

Backups: "When you delete a project, we permanently remove all associated data, including any backups stored
in S3" [supabase.com/docs/guides/platform/backups] → ``dies_with_resource=True``.

Project keys (``service_role`` JWT, ``sb_secret_``) are classified offline: they bypass row-level security of
one project's data API but cannot delete the project or its backups.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
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

__all__ = ["DEFAULT_URL", "SupabaseProvider", "org_resource_id", "project_resource_id"]

NAME = "supabase"
DEFAULT_URL = "https://api.supabase.com"
URL_ENV = "BLASTWALL_SUPABASE_URL"
_PERM = re.compile(r"^[A-Za-z0-9_:.\-]{1,64}$")
_CLASSIC_CAPS = (
    "delete:project",
    "delete:organization",
    "run:sql",
    "read:api_keys",
    "delete:storage_bucket",
    "delete:edge_function",
    "create:project",
)
_BACKUP_FATE = (
    'Supabase: "When you delete a project, we permanently remove all associated data, including any '
    'backups stored in S3."'
)


def project_resource_id(ref: str) -> str:
    """The Resource id of a Supabase project (other providers' cross-provider facts point at it)."""
    return f"supabase:project:{ref}"


def org_resource_id(slug: str) -> str:
    return f"supabase:organization:{slug}"


class Denied(ProviderError):
    """HTTP 403; ``missing`` lists the permissions a scoped token lacks (names only, never values)."""

    def __init__(self, message: str, missing: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.missing = tuple(missing)


def _get(api: ApiClient, path: str, cred: Credential) -> Any:
    resp = api.request("GET", path, auth=BearerAuth(cred.secret))
    if resp.status_code == 403:
        missing: list[str] = []
        try:
            body = resp.json()
            raw = body.get("missing_permissions") if isinstance(body, dict) else None
            missing = (
                [str(m) for m in raw if isinstance(m, str) and _PERM.match(m)][:20]
                if isinstance(raw, list)
                else []
            )
        except ValueError:
            pass
        raise Denied(
            f"supabase: HTTP 403 from {path}" + (f" (missing {', '.join(missing)})" if missing else ""),
            missing,
        )
    if resp.status_code == 404:
        return None
    return api.decode(resp)


def _jwt_claims(token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        raw = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


class SupabaseProvider(HttpProvider):
    name = "supabase"
    url_env = URL_ENV
    default_url = DEFAULT_URL
    display_name = "Supabase"

    def recognisers(self) -> Sequence[Recogniser]:
        return RECOGNISERS

    # -- offline -------------------------------------------------------------------------------------------
    def classify(self, candidate: Any) -> Credential:
        value = candidate.secret.reveal()
        if candidate.kind in ("service_role_key", "secret_key"):
            return self._classify_project_key(candidate, value)
        kind = "oauth_token" if value.startswith("sbp_oauth_") else "personal_access_token"
        return Credential.from_candidate(
            candidate,
            kind=kind,
            status=Status.unverified,
            root_equivalent=None,
            possible_capabilities=_CLASSIC_CAPS,
            reasons=(
                (
                    "Not verified with Supabase: a classic personal access token has full access to every "
                    "organization and project of the account."
                ),
            ),
        )

    def _classify_project_key(self, candidate: Any, value: str) -> Credential:
        caps = ("bypass:rls", "delete:rows", "delete:storage_objects")
        if value.startswith("sb_secret_"):
            return Credential.from_candidate(
                candidate,
                kind="secret_key",
                status=Status.unverified,
                root_equivalent=False,
                capabilities=caps,
                reasons=(
                    (
                        "A Supabase secret API key (sb_secret_) acts with the service role on one project's data "
                        "API: it bypasses row-level security and can delete every row and stored object, but it "
                        "cannot delete the project or its backups. Which project is not encoded in the key."
                    ),
                ),
            )
        claims = _jwt_claims(value) or {}
        role, ref = claims.get("role"), claims.get("ref")
        meta = {k: v for k, v in (("project_ref", ref), ("role", role), ("exp", claims.get("exp"))) if v}
        principal = f"project {ref}" if isinstance(ref, str) else None
        if role == "service_role":
            return Credential.from_candidate(
                candidate,
                status=Status.unverified,
                root_equivalent=False,
                capabilities=caps,
                principal=principal,
                metadata={**candidate.hints, **meta},
                reasons=(
                    (
                        f"A service_role key of Supabase project {ref or '(unknown)'} (decoded offline): it bypasses "
                        "row-level security and can delete every row and stored object through the data API, but "
                        "cannot delete the project or its backups."
                    ),
                ),
            )
        if role == "anon":
            return Credential.from_candidate(
                candidate,
                kind="anon_key",
                status=Status.unverified,
                root_equivalent=False,
                principal=principal,
                metadata={**candidate.hints, **meta},
                reasons=(
                    (
                        "An anon key (decoded offline): public by design, limited by row-level security; it sits "
                        "where a service_role key is expected, so check the variable's value."
                    ),
                ),
            )
        return Credential.from_candidate(
            candidate,
            status=Status.unverified,
            root_equivalent=None,
            possible_capabilities=caps,
            metadata={**candidate.hints, **meta},
            reasons=(
                (
                    "A JWT bound to a Supabase service-role variable whose role could not be read; it may bypass "
                    "row-level security."
                ),
            ),
        )

    # -- identify (read-only) ------------------------------------------------------------------------------
    def identify(self, credential: Credential, ctx: ProviderContext) -> Credential:
        if ctx.offline or credential.kind not in ("personal_access_token", "oauth_token"):
            return credential
        with self.client(ctx) as api:
            try:
                return self._identify(api, credential)
            except ProviderAuthError:
                return self.rejected(
                    credential,
                    "Supabase rejected the token (HTTP 401): it is revoked, expired or mistyped.",
                    root_equivalent=None,
                )

    def _identify(self, api: ApiClient, cred: Credential) -> Credential:
        meta: dict[str, Any] = dict(cred.metadata)
        missing: list[str] = []
        denied: list[str] = []
        ok: list[str] = []
        projects: list[dict[str, Any]] = []
        orgs: list[dict[str, Any]] = []
        for path in ("/v1/projects", "/v1/organizations"):
            try:
                data = _get(api, path, cred)
                if not isinstance(data, list):
                    raise ProviderError(f"supabase: unexpected answer from {path}")
                (projects if path == "/v1/projects" else orgs).extend(d for d in data if isinstance(d, dict))
                ok.append(path)
            except Denied as exc:
                denied.append(path)
                missing += exc.missing
        if projects:
            ref = projects[0].get("ref") or projects[0].get("id")
            path = f"/v1/projects/{ref}/database/backups"
            try:
                _get(api, path, cred)
                ok.append(path)
            except Denied as exc:
                denied.append(path)
                missing += exc.missing
        refs = [str(p.get("ref") or p.get("id")) for p in projects if p.get("ref") or p.get("id")]
        meta["projects"] = refs if "/v1/projects" in ok else None
        meta["organizations"] = (
            [str(o.get("slug") or o.get("id")) for o in orgs] if "/v1/organizations" in ok else None
        )
        if missing:
            meta["missing_permissions"] = sorted(set(missing))
        upd: dict[str, Any] = {"status": Status.verified, "metadata": meta}
        reach = f"{len(refs)} project(s) in {len(orgs) or 'an unknown number of'} organization(s)"
        if not ok:
            meta["token_type"] = "unknown"
            return cred.model_copy(
                update={
                    **upd,
                    "root_equivalent": None,
                    "possible_capabilities": _CLASSIC_CAPS,
                    "reasons": (
                        (
                            "Supabase accepted the token but refused every read call "
                            "(HTTP 403), so what it can do is unknown; it is not treated "
                            "as safe."
                        ),
                    ),
                }
            )
        if denied:
            meta["token_type"] = "scoped"
            what = ", ".join(sorted(set(missing))) or ", ".join(denied)
            return cred.model_copy(
                update={
                    **upd,
                    "root_equivalent": False,
                    "capabilities": ("read:project",) if refs else (),
                    "possible_capabilities": ("delete:project", "run:sql") if refs else (),
                    "reasons": (
                        (
                            f"Scoped access token: Supabase refused some calls with HTTP 403 and lists missing "
                            f"permissions ({what}); a classic token has them all."
                        ),
                        (
                            f"It reaches {reach}. Supabase has no call that returns a scoped token's grants, so "
                            "whether it may delete those projects or run SQL in them is unknown."
                        ),
                    ),
                }
            )
        value = cred.secret.reveal()
        if value.startswith("sbp_oauth_"):
            meta["token_type"] = "oauth"
            return cred.model_copy(
                update={
                    **upd,
                    "root_equivalent": None,
                    "capabilities": ("read:project",),
                    "possible_capabilities": _CLASSIC_CAPS,
                    "reasons": (
                        (
                            f"An OAuth-app token reaching {reach}: its grants are those of the OAuth app and "
                            "cannot be read; every read call succeeded, so it may have full access."
                        ),
                    ),
                }
            )
        if value.startswith("sbp_fc"):
            meta["token_type"] = "scoped?"
            return cred.model_copy(
                update={
                    **upd,
                    "root_equivalent": None,
                    "capabilities": ("read:project",),
                    "possible_capabilities": _CLASSIC_CAPS,
                    "reasons": (
                        (
                            f"It reaches {reach} and every read call succeeded, but its prefix (sbp_fc) is reported "
                            "for scoped tokens (unverified); whether it may delete projects is unknown."
                        ),
                    ),
                }
            )
        meta["token_type"] = "classic"
        return cred.model_copy(
            update={
                **upd,
                "root_equivalent": True,
                "capabilities": _CLASSIC_CAPS,
                "possible_capabilities": (),
                "reasons": (
                    (
                        f"Classic personal access token: full access to every organization and project of the "
                        f"account ({reach}), including ones created later; it can delete projects (and with them "
                        "their backups), run SQL and read project API keys."
                    ),
                    (
                        "Judged from its format (sbp_ + 40 hex) and from Supabase answering every read call with "
                        "no missing permissions; Supabase has no call that returns a token's grants."
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
        facts: list[DestroyFact] = []
        mgmt = [
            c
            for c in credentials
            if c.status == Status.verified and c.kind in ("personal_access_token", "oauth_token")
        ]
        with self.client(ctx) as api:
            for c in mgmt:
                if c.metadata.get("projects") is None:
                    gaps.append(
                        CoverageGap(
                            subject=c.id,
                            provider="supabase",
                            reason="not inspected: Supabase refused to list the projects this token "
                            "reaches (HTTP 403); its projects and backups are unknown",
                        )
                    )
                    continue
                self._list(api, c, resources, backups, gaps, findings)
        for c in mgmt:
            facts += self._mgmt_facts(c, resources)
        denials: list[CannotDestroyType] = []
        for c in credentials:
            if c.kind not in ("service_role_key", "secret_key", "anon_key") or c.status == Status.invalid:
                continue
            # a project API key talks to one project's data API only: no management API, no other project
            denials.append(
                CannotDestroyType(credential=c.id, provider="supabase", resource_type="organization",
                                  capability="delete:organization",
                                  reason="a project API key cannot use the management API")
            )
            own = c.metadata.get("project_ref")
            if isinstance(own, str) and own:
                facts += [
                    DestroyFact(credential=c.id, target=r.id, verdict=False,
                                reason=f"a project API key works only on project {own}")
                    for r in resources.values()
                    if r.type == "project" and r.id != project_resource_id(own)
                ]
        for c in credentials:
            if c.kind == "service_role_key" and c.metadata.get("role") == "service_role":
                ref = str(c.metadata.get("project_ref") or "")
                target = project_resource_id(ref) if ref else None
                if target:
                    facts.append(
                        DestroyFact(
                            credential=c.id,
                            target=target,
                            verdict=None,
                            capability="delete:rows",
                            reason="bypasses row-level security: can delete every row and object, "
                            "but not the project; its backups would survive",
                        )
                    )
                    for b in backups.values():
                        if b.protects == target:
                            facts.append(
                                DestroyFact(
                                    credential=c.id,
                                    target=b.id,
                                    verdict=False,
                                    reason="a data-API key cannot delete platform backups",
                                )
                            )
                findings.append(
                    Finding.make(
                        "supabase-service-role-key",
                        Severity.high,
                        c.id,
                        f"A Supabase service_role key{' of project ' + ref if ref else ''} is readable where it was "
                        "found: it bypasses row-level security and can read or delete all of the project's data.",
                        "Keep it server-side only (never in agent configs or client code), and rotate it in the "
                        "project's API settings.",
                        provider="supabase",
                    )
                )
        return Inventory(
            resources=tuple(resources.values()),
            backups=tuple(backups.values()),
            facts=tuple(facts),
            findings=tuple(findings),
            gaps=tuple(gaps),
            denials=tuple(denials),
        )

    def _list(
        self,
        api: ApiClient,
        c: Credential,
        resources: dict[str, Resource],
        backups: dict[str, Backup],
        gaps: list[CoverageGap],
        findings: list[Finding],
    ) -> None:
        try:
            projects = _get(api, "/v1/projects", c)
            if not isinstance(projects, list):
                raise ProviderError("supabase: unexpected answer from /v1/projects")
        except BlastwallError as exc:
            gaps.append(
                CoverageGap(
                    subject=f"supabase projects ({c.fingerprint})",
                    provider="supabase",
                    reason=f"not inspected: {exc.message}",
                )
            )
            return
        try:
            orgs = _get(api, "/v1/organizations", c)
        except BlastwallError:
            orgs = None
        for o in orgs if isinstance(orgs, list) else []:
            slug = str(o.get("slug") or o.get("id") or "")
            if slug:
                resources.setdefault(
                    org_resource_id(slug),
                    Resource(
                        id=org_resource_id(slug),
                        provider="supabase",
                        type="organization",
                        name=str(o.get("name") or slug),
                    ),
                )
        for p in projects:
            if not isinstance(p, dict):
                continue
            ref = str(p.get("ref") or p.get("id") or "")
            if not ref:
                continue
            org = str(p.get("organization_slug") or p.get("organization_id") or "")
            rid = project_resource_id(ref)
            resources[rid] = Resource(
                id=rid,
                provider="supabase",
                type="project",
                name=str(p.get("name") or ref),
                parent=org_resource_id(org) if org else None,
                holds_data=True,
                metadata={k: p[k] for k in ("region", "status") if isinstance(p.get(k), str)},
            )
            try:
                info = _get(api, f"/v1/projects/{ref}/database/backups", c)
            except BlastwallError as exc:
                gaps.append(
                    CoverageGap(
                        subject=rid, provider="supabase", reason=f"backups not inspected: {exc.message}"
                    )
                )
                continue
            info = info if isinstance(info, dict) else {}
            listed = [b for b in info.get("backups") or [] if isinstance(b, dict)]
            done = [b for b in listed if str(b.get("status") or "COMPLETED").upper() == "COMPLETED"]
            if done:
                latest = max(str(b.get("inserted_at") or "") for b in done) or None
                bid = f"supabase:backup:{ref}:daily"
                backups[bid] = Backup(
                    id=bid,
                    provider="supabase",
                    protects=rid,
                    kind="daily",
                    location=f"Supabase-managed S3 ({info.get('region') or 'project region'}), inside project {ref}",
                    dies_with_resource=True,
                    reasons=(_BACKUP_FATE,),
                    metadata={
                        "count": len(done),
                        **({"latest": latest} if latest else {}),
                        "physical": any(b.get("is_physical_backup") for b in done),
                    },
                )
            if info.get("pitr_enabled"):
                bid = f"supabase:pitr:{ref}"
                backups[bid] = Backup(
                    id=bid,
                    provider="supabase",
                    protects=rid,
                    kind="pitr",
                    location=f"Supabase point-in-time recovery (WAL-G), inside project {ref}",
                    dies_with_resource=True,
                    reasons=(_BACKUP_FATE,),
                )
            if not done and not info.get("pitr_enabled"):
                findings.append(
                    Finding.make(
                        "supabase-no-platform-backups",
                        Severity.medium,
                        rid,
                        f"Supabase project {p.get('name') or ref} has no platform backups (free plan or none yet).",
                        "Run `supabase db dump` on a schedule and keep the dumps outside Supabase.",
                        provider="supabase",
                    )
                )

    @staticmethod
    def _mgmt_facts(c: Credential, resources: dict[str, Resource]) -> list[DestroyFact]:
        reach = c.metadata.get("projects")
        if reach is None:
            return []  # nothing learnt: no fact, the engine keeps it unknown
        facts = []
        for r in resources.values():
            if r.type != "project":
                continue
            ref = r.id.rsplit(":", 1)[-1]
            if ref not in reach:
                facts.append(
                    DestroyFact(
                        credential=c.id,
                        target=r.id,
                        verdict=False,
                        reason="the token does not reach this project",
                    )
                )
            elif c.root_equivalent is True:
                facts.append(
                    DestroyFact(
                        credential=c.id,
                        target=r.id,
                        verdict=True,
                        capability="delete:project",
                        reason="classic token with full account access",
                    )
                )
            else:
                facts.append(
                    DestroyFact(
                        credential=c.id,
                        target=r.id,
                        verdict=None,
                        capability="delete:project",
                        reason="its grants on this project cannot be read",
                    )
                )
        return facts
