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
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from auditor._lazy import lazy_module
from auditor.errors import BlastwallError, ProviderError
from auditor.http import ApiClient, BearerAuth
from auditor.model import Credential, Finding, Inventory, Severity, Status
from auditor.provider import ProviderContext
from auditor.provider_http import HttpProvider
from auditor.provider_kit import Denied, InventoryBuilder, Verdict, get_json, root_verdict, unverified

from .recognisers import RECOGNISERS

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")

__all__ = ["DEFAULT_URL", "SupabaseFacts", "SupabaseProvider", "judge_token", "org_resource_id", "project_resource_id"]

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


def _forbidden(resp: httpx.Response, path: str) -> Denied:
    """HTTP 403 with the permissions a scoped token lacks (names only)."""
    missing: list[str] = []
    try:
        body = resp.json()
        raw = body.get("missing_permissions") if isinstance(body, dict) else None
        missing = [str(m) for m in raw if isinstance(m, str) and _PERM.match(m)][:20] if isinstance(raw, list) else []
    except ValueError:
        pass
    return Denied(f"supabase: HTTP 403 from {path}" + (f" (missing {', '.join(missing)})" if missing else ""), missing)


def _get(api: ApiClient, path: str, cred: Credential) -> Any:
    return get_json(api, path, auth=BearerAuth(cred.secret), forbidden=_forbidden)


@dataclass(frozen=True)
class SupabaseFacts:
    """What the read-only calls showed about one management token."""

    projects: list[dict[str, Any]]
    orgs: list[dict[str, Any]]
    ok: list[str]  # paths that answered
    denied: list[str]  # paths refused with HTTP 403
    missing: list[str]  # permissions Supabase named as missing


def _fetch(api: ApiClient, cred: Credential, ctx: ProviderContext | None = None) -> SupabaseFacts:
    seen = SupabaseFacts([], [], [], [], [])

    def ask(path: str) -> Any:
        try:
            data = _get(api, path, cred)
            seen.ok.append(path)
            return data
        except Denied as exc:
            seen.denied.append(path)
            seen.missing.extend(exc.missing)
            return None

    for path, into in (("/v1/projects", seen.projects), ("/v1/organizations", seen.orgs)):
        data = ask(path)
        if path in seen.ok and not isinstance(data, list):
            raise ProviderError(f"supabase: unexpected answer from {path}")
        into.extend(d for d in data or [] if isinstance(d, dict))
    if seen.projects:
        first = seen.projects[0]
        ask(f"/v1/projects/{first.get('ref') or first.get('id')}/database/backups")
    return seen


def judge_token(cred: Credential, seen: SupabaseFacts) -> Verdict:
    """The verdict on a Supabase management token from what the read-only calls showed (pure: no HTTP)."""
    meta: dict[str, Any] = dict(cred.metadata)
    refs = [str(p.get("ref") or p.get("id")) for p in seen.projects if p.get("ref") or p.get("id")]
    meta["projects"] = refs if "/v1/projects" in seen.ok else None
    meta["organizations"] = (
        [str(o.get("slug") or o.get("id")) for o in seen.orgs] if "/v1/organizations" in seen.ok else None
    )
    if seen.missing:
        meta["missing_permissions"] = sorted(set(seen.missing))
    judged = partial(Verdict, status=Status.verified, metadata=meta)
    reach = f"{len(refs)} project(s) in {len(seen.orgs) or 'an unknown number of'} organization(s)"
    if not seen.ok:
        meta["token_type"] = "unknown"
        return judged(
            root_equivalent=None,
            possible_capabilities=_CLASSIC_CAPS,
            reasons=(
                "Supabase accepted the token but refused every read call (HTTP 403), so what it can do is "
                "unknown; it is not treated as safe.",
            ),
        )
    if seen.denied:
        meta["token_type"] = "scoped"
        what = ", ".join(sorted(set(seen.missing))) or ", ".join(seen.denied)
        return judged(
            root_equivalent=False,
            capabilities=("read:project",) if refs else (),
            possible_capabilities=("delete:project", "run:sql") if refs else (),
            reasons=(
                f"Scoped access token: Supabase refused some calls with HTTP 403 and lists missing "
                f"permissions ({what}); a classic token has them all.",
                f"It reaches {reach}. Supabase has no call that returns a scoped token's grants, so "
                "whether it may delete those projects or run SQL in them is unknown.",
            ),
        )
    value = cred.secret.reveal()
    if value.startswith("sbp_oauth_") or value.startswith("sbp_fc"):
        oauth = value.startswith("sbp_oauth_")
        meta["token_type"] = "oauth" if oauth else "scoped?"
        why = (
            f"An OAuth-app token reaching {reach}: its grants are those of the OAuth app and "
            "cannot be read; every read call succeeded, so it may have full access."
            if oauth
            else f"It reaches {reach} and every read call succeeded, but its prefix (sbp_fc) is reported "
            "for scoped tokens (unverified); whether it may delete projects is unknown."
        )
        return judged(
            root_equivalent=None, capabilities=("read:project",), possible_capabilities=_CLASSIC_CAPS, reasons=(why,)
        )
    meta["token_type"] = "classic"
    return root_verdict(
        _CLASSIC_CAPS,
        f"Classic personal access token: full access to every organization and project of the "
        f"account ({reach}), including ones created later; it can delete projects (and with them "
        "their backups), run SQL and read project API keys.",
        "Judged from its format (sbp_ + 40 hex) and from Supabase answering every read call with "
        "no missing permissions; Supabase has no call that returns a token's grants.",
        metadata=meta,
    )


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


class SupabaseProvider(HttpProvider, name="supabase", display_name="Supabase", default_url=DEFAULT_URL):
    recogniser_set = RECOGNISERS

    # -- offline -------------------------------------------------------------------------------------------
    def classify(self, candidate: Any) -> Credential:
        value = candidate.secret.reveal()
        if candidate.kind in ("service_role_key", "secret_key"):
            return self._classify_project_key(candidate, value)
        kind = "oauth_token" if value.startswith("sbp_oauth_") else "personal_access_token"
        why = (
            "Not verified with Supabase: a classic personal access token has full access to every "
            "organization and project of the account."
        )
        return unverified(candidate, why, kind=kind, possible_capabilities=_CLASSIC_CAPS)

    def _classify_project_key(self, candidate: Any, value: str) -> Credential:
        caps = ("bypass:rls", "delete:rows", "delete:storage_objects")
        if value.startswith("sb_secret_"):
            why = (
                "A Supabase secret API key (sb_secret_) acts with the service role on one project's data "
                "API: it bypasses row-level security and can delete every row and stored object, but it "
                "cannot delete the project or its backups. Which project is not encoded in the key."
            )
            return unverified(candidate, why, kind="secret_key", root_equivalent=False, capabilities=caps)
        claims = _jwt_claims(value) or {}
        role, ref = claims.get("role"), claims.get("ref")
        meta = {k: v for k, v in (("project_ref", ref), ("role", role), ("exp", claims.get("exp"))) if v}
        principal = f"project {ref}" if isinstance(ref, str) else None
        decoded = partial(unverified, candidate, metadata={**candidate.hints, **meta})
        if role == "service_role":
            why = (
                f"A service_role key of Supabase project {ref or '(unknown)'} (decoded offline): it bypasses "
                "row-level security and can delete every row and stored object through the data API, but "
                "cannot delete the project or its backups."
            )
            return decoded(why, root_equivalent=False, capabilities=caps, principal=principal)
        if role == "anon":
            why = (
                "An anon key (decoded offline): public by design, limited by row-level security; it sits "
                "where a service_role key is expected, so check the variable's value."
            )
            return decoded(why, kind="anon_key", root_equivalent=False, principal=principal)
        why = (
            "A JWT bound to a Supabase service-role variable whose role could not be read; it may bypass "
            "row-level security."
        )
        return decoded(why, possible_capabilities=caps)

    # -- identify (read-only) ------------------------------------------------------------------------------
    fetch = staticmethod(_fetch)
    judge = staticmethod(judge_token)

    def identifiable(self, credential: Credential) -> bool:
        return credential.kind in ("personal_access_token", "oauth_token")

    # -- inventory (read-only) -----------------------------------------------------------------------------
    def inventory(self, credentials: Sequence[Credential], ctx: ProviderContext) -> Inventory:
        if ctx.offline:
            return Inventory()
        inv = InventoryBuilder(NAME)
        mgmt = [
            c for c in credentials if c.status == Status.verified and c.kind in ("personal_access_token", "oauth_token")
        ]
        with self.client(ctx) as api:
            for c in mgmt:
                if c.metadata.get("projects") is None:
                    inv.gap(
                        c.id,
                        "not inspected: Supabase refused to list the projects this token "
                        "reaches (HTTP 403); its projects and backups are unknown",
                    )
                    continue
                self._list(api, c, inv)
        for c in mgmt:
            self._mgmt_facts(c, inv)
        for c in credentials:
            if c.kind not in ("service_role_key", "secret_key", "anon_key") or c.status == Status.invalid:
                continue
            # a project API key talks to one project's data API only: no management API, no other project
            inv.denial(c.id, "organization", "a project API key cannot use the management API", "delete:organization")
            own = c.metadata.get("project_ref")
            if isinstance(own, str) and own:
                for r in list(inv.resources.values()):
                    if r.type == "project" and r.id != project_resource_id(own):
                        inv.fact(c.id, r.id, False, f"a project API key works only on project {own}")
        for c in credentials:
            if c.kind == "service_role_key" and c.metadata.get("role") == "service_role":
                ref = str(c.metadata.get("project_ref") or "")
                target = project_resource_id(ref) if ref else None
                if target:
                    inv.fact(
                        c.id,
                        target,
                        None,
                        "bypasses row-level security: can delete every row and object, "
                        "but not the project; its backups would survive",
                        "delete:rows",
                    )
                    for b in list(inv.backups.values()):
                        if b.protects == target:
                            inv.fact(c.id, b.id, False, "a data-API key cannot delete platform backups")
                inv.finding(
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
        return inv.build()

    def _list(self, api: ApiClient, c: Credential, inv: InventoryBuilder) -> None:
        try:
            projects = _get(api, "/v1/projects", c)
            if not isinstance(projects, list):
                raise ProviderError("supabase: unexpected answer from /v1/projects")
        except BlastwallError as exc:
            inv.gap(f"supabase projects ({c.fingerprint})", f"not inspected: {exc.message}")
            return
        try:
            orgs = _get(api, "/v1/organizations", c)
        except BlastwallError:
            orgs = None
        for o in orgs if isinstance(orgs, list) else []:
            slug = str(o.get("slug") or o.get("id") or "")
            if slug:
                oid = org_resource_id(slug)
                inv.add_resource(oid, "organization", str(o.get("name") or slug), once=True)
        for p in projects:
            if not isinstance(p, dict):
                continue
            ref = str(p.get("ref") or p.get("id") or "")
            if not ref:
                continue
            org = str(p.get("organization_slug") or p.get("organization_id") or "")
            rid = project_resource_id(ref)
            inv.add_resource(
                rid,
                "project",
                str(p.get("name") or ref),
                parent=org_resource_id(org) if org else None,
                holds_data=True,
                metadata={
                    **{k: p[k] for k in ("region", "status") if isinstance(p.get(k), str)},
                    # matched against database URL hosts (db.<ref>.supabase.co, the pooler's user name)
                    "endpoints": [f"supabase-project:{ref}", f"db.{ref}.supabase.co:5432"],
                },
            )
            try:
                info = _get(api, f"/v1/projects/{ref}/database/backups", c)
            except BlastwallError as exc:
                inv.gap(rid, f"backups not inspected: {exc.message}")
                continue
            info = info if isinstance(info, dict) else {}
            listed = [b for b in info.get("backups") or [] if isinstance(b, dict)]
            done = [b for b in listed if str(b.get("status") or "COMPLETED").upper() == "COMPLETED"]
            if done:
                latest = max(str(b.get("inserted_at") or "") for b in done) or None
                bid = f"supabase:backup:{ref}:daily"
                inv.add_backup(
                    bid,
                    rid,
                    "daily",
                    f"Supabase-managed S3 ({info.get('region') or 'project region'}), inside project {ref}",
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
                inv.add_backup(
                    bid,
                    rid,
                    "pitr",
                    f"Supabase point-in-time recovery (WAL-G), inside project {ref}",
                    dies_with_resource=True,
                    reasons=(_BACKUP_FATE,),
                )
            if not done and not info.get("pitr_enabled"):
                inv.finding(
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
    def _mgmt_facts(c: Credential, inv: InventoryBuilder) -> None:
        reach = c.metadata.get("projects")
        if reach is None:
            return  # nothing learnt: no fact, the engine keeps it unknown
        for r in list(inv.resources.values()):
            if r.type != "project":
                continue
            if r.id.rsplit(":", 1)[-1] not in reach:
                inv.fact(c.id, r.id, False, "the token does not reach this project")
            elif c.root_equivalent is True:
                inv.fact(c.id, r.id, True, "classic token with full account access", "delete:project")
            else:
                inv.fact(c.id, r.id, None, "its grants on this project cannot be read", "delete:project")
