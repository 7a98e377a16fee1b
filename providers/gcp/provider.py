"""Google Cloud provider: service-account keys, gcloud logins / ADC files and impersonation configs.

identify(): exchange the credential for an access token (`auth`), name the principal, find the projects
it sees (Resource Manager ``projects:search``, else the key's own project), and ask Google per project
which destructive or escalating permissions it holds (``projects:testIamPermissions``). For each service
account in a project it asks the same about that account (``serviceAccounts:testIamPermissions``): a key
or token it may mint for an account is an escalation edge. Root-equivalent: ``setIamPolicy`` on a
project, Owner's core permissions, or an edge to an account that is itself root-equivalent (known when
that account's own credential is audited too; otherwise the verdict stays unknown, never "safe").
inventory(): Cloud SQL instances and their backup runs, Cloud Storage buckets (retention policy, lock),
destroy facts from the tested permissions, edges resolved across the audited credentials (`inventory`).
Every request is a GET or a read-only POST (token exchange, testIamPermissions; generateAccessToken only
for an impersonation config).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from auditor._lazy import lazy_module
from auditor.errors import ProviderAuthError, ProviderError
from auditor.model import Candidate, CoverageGap, Credential, Inventory, Status
from auditor.provider import FileRule, ProviderContext, Recogniser
from auditor.provider_http import SHAPE_ERRORS, HttpProvider
from auditor.secrets import Secret

if TYPE_CHECKING:
    from . import api as _gapi
    from . import auth as _auth
    from . import inventory as _inv
    from . import permissions as _perm
else:  # loaded by the first call that talks to the platform: an offline audit only recognises and classifies
    _gapi = lazy_module("providers.gcp.api")
    _auth = lazy_module("providers.gcp.auth")
    _inv = lazy_module("providers.gcp.inventory")
    _perm = lazy_module("providers.gcp.permissions")


__all__ = ["GcpProvider"]

log = logging.getLogger(__name__)
NAME = "gcp"
MAX_PROJECTS = 200
_ADC = (
    ".config/gcloud/application_default_credentials.json",
    ".config/gcloud/legacy_credentials/*/adc.json",
    "AppData/Roaming/gcloud/application_default_credentials.json",
)
_IMPERSONATION_URL = re.compile(r"/serviceAccounts/([^/:]+):generateAccessToken$")


def _impersonation(candidate: Candidate) -> dict[str, str]:
    """Target and delegates of an ``impersonated_service_account`` file whose source credential this is."""
    src = candidate.sources[0] if candidate.sources else None
    if src is None or not src.locator.startswith("source_credentials.") or src.path == "env":
        return {}
    try:
        doc = json.loads(Path(src.path).read_text(encoding="utf-8"))
        m = _IMPERSONATION_URL.search(str(doc.get("service_account_impersonation_url") or ""))
    except (OSError, ValueError, AttributeError):
        return {}
    if not m:
        return {}
    delegates = [str(d).rsplit("/", 1)[-1] for d in doc.get("delegates") or () if isinstance(d, str)]
    return {"impersonate": m.group(1), "delegates": ",".join(delegates)}


class GcpProvider(
    HttpProvider, name=NAME, display_name="Google Cloud", default_url="https://cloudresourcemanager.googleapis.com"
):
    inventory_noun = "Google Cloud resources"

    def __init__(self) -> None:
        self._tokens: dict[str, Secret] = {}  # in memory only, per audit: never written anywhere
        self._audited_accounts: list[str] = []

    def recognisers(self) -> Sequence[Recogniser]:
        user_comp = {"client_id": ("client_id",), "client_secret": ("client_secret",)}
        return (
            Recogniser(
                provider=NAME,
                kind="service_account_key",
                key_names=frozenset({"private_key"}),
                value_pattern=re.compile(r"-----BEGIN (?:RSA )?PRIVATE KEY-----.+", re.S),
                companions={
                    "client_email": ("client_email",),
                    "private_key_id": ("private_key_id",),
                    "project_id": ("project_id",),
                    "token_uri": ("token_uri",),
                },
                required_companions=("client_email",),
                priority=60,
            ),
            Recogniser(
                provider=NAME,
                kind="user_refresh_token",
                files=tuple(
                    FileRule(p, loc, hints=("account", "quota_project_id"))
                    for p in _ADC
                    for loc in ("refresh_token", "source_credentials.refresh_token")
                ),
                companions=user_comp,
                category="cli_config",
            ),
            Recogniser(  # a Google refresh token (1//…) next to its OAuth client, in any JSON/YAML/env file
                provider=NAME,
                kind="user_refresh_token",
                key_names=frozenset({"refresh_token"}),
                value_pattern=re.compile(r"1//[0-9A-Za-z_\-]{20,}"),
                companions=user_comp,
                required_companions=("client_id", "client_secret"),
                priority=55,
            ),
            Recogniser(
                provider=NAME,
                kind="api_key",
                text_pattern=re.compile(r"\b(?P<secret>AIza[0-9A-Za-z_\-]{35})(?![0-9A-Za-z_\-])"),
            ),
        )

    def classify(self, candidate: Candidate) -> Credential:
        hints = _impersonation(candidate) if candidate.kind != "api_key" else {}
        meta = {**candidate.hints, **hints}
        if candidate.kind == "service_account_key":
            email = candidate.companions["client_email"].reveal() if "client_email" in candidate.companions else None
            project = candidate.companions["project_id"].reveal() if "project_id" in candidate.companions else None
            meta.update({k: v for k, v in (("project_id", project),) if v})
            return Credential.from_candidate(
                candidate,
                status=Status.unverified,
                root_equivalent=None,
                principal=email,
                metadata=meta,
                possible_capabilities=("delete:project", "delete:database", "delete:bucket"),
                reasons=(
                    "A service-account key acts with every IAM role granted to that account, in every "
                    "project; until Google is asked its reach is unknown, not safe.",
                )
                + ((f"Impersonation config: acts as {hints['impersonate']}.",) if hints else ()),
            )
        if candidate.kind == "user_refresh_token":
            return Credential.from_candidate(
                candidate,
                status=Status.unverified,
                root_equivalent=None,
                metadata=meta,
                principal=meta.get("account") or None,
                possible_capabilities=("delete:project",),
                reasons=("A gcloud user login acts as the user across every project the user can reach.",)
                + ((f"Impersonation config: acts as {hints['impersonate']}.",) if hints else ()),
            )
        return Credential.from_candidate(
            candidate,
            status=Status.unverified,
            root_equivalent=False,
            reasons=("A Google API key identifies a project for quota and billing; it does not grant IAM roles.",),
        )

    # -- token ---------------------------------------------------------------------------------------------
    def _api(self, cred: Credential, ctx: ProviderContext, client: Any) -> _gapi.GcpApi:
        endpoints = _auth.Endpoints.from_context(ctx)
        token = self._tokens.get(cred.id)
        if token is None:
            token = _auth.mint_token(cred, client, endpoints)
            self._tokens[cred.id] = token
        return _gapi.GcpApi(client, endpoints, token)

    # -- identify ------------------------------------------------------------------------------------------
    def identify(self, credential: Credential, ctx: ProviderContext) -> Credential:
        if ctx.offline or credential.kind == "api_key":
            return credential
        try:
            endpoints = _auth.Endpoints.from_context(ctx)
        except ProviderError as exc:
            return self.could_not_verify(credential, exc.message)
        try:
            with _auth.token_client(ctx) as client:
                self._tokens.pop(credential.id, None)
                api = self._api(credential, ctx, client)
                return self._identify(credential, api, endpoints)
        except _auth.LoginStale as exc:
            return credential.model_copy(
                update={
                    "status": Status.error,
                    "root_equivalent": None,
                    "reasons": credential.reasons
                    + (f"Not verified: {exc.message}; the login is stale, not proven revoked.",),
                }
            )
        except ProviderAuthError as exc:
            return self.rejected(
                credential,
                f"Google refused the credential: {exc.message.removeprefix('gcp: ')} "
                "(revoked, deleted, disabled or never valid).",
                root_equivalent=False,
            )
        except ProviderError as exc:
            return self.could_not_verify(credential, exc.message)
        except SHAPE_ERRORS as exc:
            return self.could_not_verify(credential, f"unexpected response shape ({type(exc).__name__}).")

    def _principal(self, cred: Credential, api: _gapi.GcpApi) -> str | None:
        if cred.metadata.get("impersonate"):
            return str(cred.metadata["impersonate"])
        if cred.principal:
            return cred.principal
        try:  # a user login: who is it (needs the email scope gcloud asks for)
            email = api.get("userinfo", "/v1/userinfo", "userinfo").get("email")
            return str(email) if email else None
        except (_gapi.Forbidden, _gapi.NotFound, ProviderAuthError):
            return None

    def _projects(self, cred: Credential, api: _gapi.GcpApi, gaps: list[str]) -> list[str]:
        projects: list[str] = []
        try:
            for p in api.pages("crm", "/v3/projects:search", "projects", "projects:search", {"pageSize": 100}):
                if p.get("state", "ACTIVE") == "ACTIVE" and p.get("projectId"):
                    projects.append(str(p["projectId"]))
                if len(projects) >= MAX_PROJECTS:
                    gaps.append(f"more than {MAX_PROJECTS} projects: only the first {MAX_PROJECTS} were inspected")
                    break
        except (_gapi.Forbidden, _gapi.NotFound) as exc:
            gaps.append(f"projects it can see were not listed ({exc.message})")
        home = str(cred.metadata.get("project_id") or "")
        if home and home not in projects:
            projects.insert(0, home)
        return projects

    def _identify(self, cred: Credential, api: _gapi.GcpApi, endpoints: _auth.Endpoints) -> Credential:
        principal = self._principal(cred, api)
        gaps: list[str] = []
        projects = self._projects(cred, api, gaps)
        granted: dict[str, list[str]] = {}
        for p in projects:
            try:
                granted[p] = sorted(
                    api.test_permissions(
                        "crm", f"/v3/projects/{p}", _perm.PROJECT_PERMISSIONS, f"permissions in project {p}"
                    )
                )
            except (_gapi.Forbidden, _gapi.NotFound) as exc:
                gaps.append(f"permissions in project {p} were not tested ({exc.message})")
        edges = self._edges(api, principal, granted, gaps)
        root, reasons = _perm.judge(granted, complete=not gaps and bool(projects))
        own = root  # before escalation edges: what its own grants make it
        kind = "service account" if cred.kind == "service_account_key" or cred.metadata.get("impersonate") else "user"
        head = [
            f"Verified with Google: {kind} {principal or '(e-mail not disclosed)'}"
            + (f", {len(projects)} project(s) visible." if projects else ", no project visible.")
        ]
        if cred.metadata.get("impersonate"):
            head.append(f"Impersonation: the source credential obtained a token for {principal} (generateAccessToken).")
        for p, perms in sorted(granted.items()):
            caps = sorted({_perm.CAPABILITY[x] for x in perms})
            head.append(f"Project {p}: " + (", ".join(caps) if caps else "none of the destructive permissions") + ".")
        if root is not True:
            for e in edges:
                if set(e.via) & _perm.KEY_OR_TOKEN:
                    root = None
                    reasons.append(
                        f"Can become service account {e.target} ({', '.join(e.via)}): as powerful as "
                        "that account, whose own permissions were not inspected here."
                    )
        if root is False:
            reasons.append(
                "Not root-equivalent: no setIamPolicy, no Owner-equivalent permissions and no key or "
                "token minting for another account in any visible project."
            )
        reasons += [f"Not inspected: {g}." for g in gaps]
        caps_all = sorted({_perm.CAPABILITY[x] for perms in granted.values() for x in perms})
        # a project whose permissions were not tested may hold anything: possible, never "safe"
        untested = any(g.startswith(("permissions in project", "projects it can see")) for g in gaps)
        possible = tuple(c for c in cred.possible_capabilities if c not in caps_all) if untested else ()
        meta = dict(cred.metadata)
        meta.update(
            projects=projects,
            permissions=granted,
            edges=[e.as_json() for e in edges],
            identify_gaps=gaps,
            own_verdict=own,
        )
        return cred.model_copy(
            update={
                "status": Status.verified,
                "principal": principal,
                "root_equivalent": root,
                "capabilities": tuple(caps_all),
                "possible_capabilities": possible,
                "reasons": tuple(head + reasons),
                "metadata": meta,
            }
        )

    def _edges(
        self, api: _gapi.GcpApi, principal: str | None, granted: dict[str, list[str]], gaps: list[str]
    ) -> list[_perm.Edge]:
        """Service accounts this credential may become (keys, tokens, signed JWTs) or attach (actAs)."""
        edges: list[_perm.Edge] = []
        for p in granted:
            try:
                accounts = list(
                    api.pages(
                        "iam",
                        f"/v1/projects/{p}/serviceAccounts",
                        "accounts",
                        f"service accounts of {p}",
                        {"pageSize": 100},
                    )
                )
            except (_gapi.Forbidden, _gapi.NotFound) as exc:
                gaps.append(
                    f"service accounts of project {p} were not listed, so escalation through them was "
                    f"not tested ({exc.message})"
                )
                continue
            for a in accounts:
                email = str(a.get("email") or "")
                if not email or email == principal or a.get("disabled"):
                    continue
                try:
                    via = api.test_permissions(
                        "iam",
                        f"/v1/projects/{p}/serviceAccounts/{email}",
                        _perm.SA_PERMISSIONS,
                        f"permissions on {email}",
                    )
                except (_gapi.Forbidden, _gapi.NotFound) as exc:
                    gaps.append(f"permissions on {email} were not tested ({exc.message})")
                    continue
                if via:
                    edges.append(_perm.Edge(project=p, target=email, via=tuple(sorted(via))))
        return edges

    # -- inventory -----------------------------------------------------------------------------------------
    def inventory(self, credentials: Sequence[Credential], ctx: ProviderContext) -> Inventory:
        mine = [c for c in credentials if c.provider == NAME]
        # service accounts whose own credentials are audited: edges to them are tested even where the
        # account list is hidden (a grant on one account does not show the project's accounts)
        self._audited_accounts = sorted(
            {
                c.principal
                for c in mine
                if c.principal
                and c.status == Status.verified
                and (c.kind == "service_account_key" or c.metadata.get("impersonate"))
            }
        )
        try:
            inv = super().inventory(credentials, ctx)
        finally:
            self._tokens.clear()  # one audit's tokens: a later audit exchanges the credential again
        refined = {c.id: c for c in inv.credentials}
        inv = Inventory(
            resources=tuple({r.id: r for r in inv.resources}.values()),
            backups=tuple({b.id: b for b in inv.backups}.values()),
            facts=inv.facts,
            findings=tuple({f.id: f for f in inv.findings}.values()),
            gaps=inv.gaps,
            credentials=inv.credentials,
        )
        current = [refined.get(c.id, c) for c in mine]
        inv = inv.merge(Inventory(facts=_inv.facts_from_project_permissions(current, inv)))
        more = _inv.escalation_refinements(current, inv)
        final = {**refined, **{c.id: c for c in more.credentials}}
        return Inventory(
            resources=inv.resources,
            backups=inv.backups,
            facts=inv.facts + more.facts,
            findings=inv.findings,
            gaps=inv.gaps,
            credentials=tuple(final.values()),
        )

    def inventory_credential(self, cred: Credential, ctx: ProviderContext) -> Inventory:
        parts: list[Inventory] = [
            Inventory(
                gaps=tuple(
                    CoverageGap(subject=cred.id, provider=NAME, reason=f"{cred.label}: {g}")
                    for g in cred.metadata.get("identify_gaps") or ()
                )
            )
        ]
        with _auth.token_client(ctx) as client:
            api = self._api(cred, ctx, client)
            parts.append(self._edges_to_audited(api, cred))
            for project, perms in (cred.metadata.get("permissions") or {}).items():
                parts.append(_inv.inventory_project(api, cred, str(project), frozenset(perms)))
        return functools.reduce(Inventory.merge, parts, Inventory())

    def _edges_to_audited(self, api: _gapi.GcpApi, cred: Credential) -> Inventory:
        edges = list(cred.metadata.get("edges") or ())
        seen = {e.get("target") for e in edges}
        added: list[_perm.Edge] = []
        gaps: list[CoverageGap] = []
        for email in self._audited_accounts:
            if email == cred.principal or email in seen:
                continue
            try:
                via = api.test_permissions(
                    "iam", f"/v1/projects/-/serviceAccounts/{email}", _perm.SA_PERMISSIONS, f"permissions on {email}"
                )
            except (_gapi.Forbidden, _gapi.NotFound) as exc:
                gaps.append(
                    CoverageGap(
                        subject=cred.id,
                        provider=NAME,
                        reason=f"{cred.label}: permissions on {email} were not tested ({exc.message})",
                    )
                )
                continue
            if via:
                added.append(_perm.Edge(project="-", target=email, via=tuple(sorted(via))))
        if not added:
            return Inventory(gaps=tuple(gaps))
        meta = dict(cred.metadata)
        meta["edges"] = edges + [e.as_json() for e in added]
        return Inventory(gaps=tuple(gaps), credentials=(cred.model_copy(update={"metadata": meta}),))
