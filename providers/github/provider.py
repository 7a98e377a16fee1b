"""GitHub provider.

identify(): ``GET /user``. Classic PATs and OAuth tokens carry their scopes in ``X-OAuth-Scopes``;
fine-grained and app tokens do not, and GitHub offers no read-only way to list their permissions,
so their power to delete repositories stays unknown (never "safe").
inventory(): repositories the principal owns (one bounded page) and, with ``admin:org``, the
organisations it administers. GitHub keeps no customer backup: clones are the backup.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import httpx

from auditor.errors import ProviderAuthError, ProviderError, ProviderUnavailable
from auditor.http import ApiClient, BearerAuth
from auditor.model import (
    CannotDestroyType,
    Candidate,
    CoverageGap,
    Credential,
    DestroyFact,
    Finding,
    Inventory,
    Resource,
    Severity,
    Status,
)
from auditor.provider import FileRule, ProviderContext, Recogniser
from auditor.provider_http import SHAPE_ERRORS, HttpProvider

log = logging.getLogger(__name__)

NAME = "github"
DEFAULT_URL = "https://api.github.com"
URL_ENV = "BLASTWALL_GITHUB_URL"
PAGE = 100

_B = r"(?<![A-Za-z0-9_])"
_E = r"(?![A-Za-z0-9_])"
# prefix -> kind. Lengths: 36 today; GitHub reserves the right to grow tokens (up to 255).
PREFIXES: dict[str, str] = {
    "ghp": "classic_pat",
    "gho": "oauth_token",
    "ghu": "user_to_server_token",
    "ghs": "installation_token",
    "ghr": "refresh_token",
}
FINE_GRAINED = "fine_grained_pat"
_TOKEN_VALUE = re.compile(r"(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{36,244}|[0-9a-f]{40})")

ENV_NAMES = frozenset(
    {
        "GH_TOKEN",
        "GITHUB_TOKEN",
        "GH_ENTERPRISE_TOKEN",
        "GITHUB_ENTERPRISE_TOKEN",
        "GITHUB_PERSONAL_ACCESS_TOKEN",
        "GITHUB_PAT",
    }
)

DESTRUCTIVE = ("delete:repo", "write:contents", "delete:org", "write:workflow", "delete:packages")

# classic scope -> capabilities it grants (destructive ones only)
SCOPE_CAPS: dict[str, tuple[str, ...]] = {
    "delete_repo": ("delete:repo",),
    "repo": ("write:contents",),
    "public_repo": ("write:contents",),
    "admin:org": ("delete:org",),
    "workflow": ("write:workflow",),
    "delete:packages": ("delete:packages",),
}


def kind_of(value: str) -> str:
    if value.startswith("github_pat_"):
        return FINE_GRAINED
    return PREFIXES.get(value[:3], "token") if value[3:4] == "_" else "legacy_token"


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        raise ProviderError(
            f"{NAME}: malformed JSON from {resp.request.url.path} (HTTP {resp.status_code})",
            hint="GitHub returned something that is not JSON; try again later",
        ) from None


def _get(client: ApiClient, path: str, auth: httpx.Auth, **params: Any) -> tuple[int, Any, httpx.Headers]:
    """(status, body or None, headers); raises ProviderAuthError on 401, typed errors otherwise."""
    resp = client.request("GET", path, auth=auth, params=params or None)
    if resp.status_code == 401:
        raise ProviderAuthError(f"{NAME}: credential rejected (HTTP 401)")
    if resp.status_code == 403 and resp.headers.get("x-ratelimit-remaining") == "0":
        raise ProviderUnavailable(
            f"{NAME}: rate limit exhausted (HTTP 403)",
            hint="GitHub's hourly rate limit is used up; try again after it resets",
        )
    if resp.status_code == 200:
        return 200, _json(resp), resp.headers
    return resp.status_code, None, resp.headers


class GitHubProvider(HttpProvider):
    name = NAME
    url_env = URL_ENV
    default_url = DEFAULT_URL
    inventory_noun = "repositories"
    display_name = "GitHub"

    # -- recognition ------------------------------------------------------------------------------------
    def recognisers(self) -> Sequence[Recogniser]:
        recs = [
            Recogniser(
                NAME,
                kind,
                text_pattern=re.compile(_B + rf"(?P<secret>{p}_[A-Za-z0-9]{{36,251}})" + _E),
                priority=80,
            )
            for p, kind in PREFIXES.items()
        ]
        recs.append(
            Recogniser(
                NAME,
                FINE_GRAINED,
                text_pattern=re.compile(_B + r"(?P<secret>github_pat_[A-Za-z0-9_]{36,244})" + _E),
                priority=80,
            )
        )
        recs.append(Recogniser(NAME, "token", key_names=ENV_NAMES, value_pattern=_TOKEN_VALUE, priority=70))
        recs.append(
            Recogniser(
                NAME,
                "oauth_token",
                value_pattern=_TOKEN_VALUE,
                category="cli_config",
                priority=75,
                files=(
                    FileRule(".config/gh/hosts.yml", "*.oauth_token", hints=("user",)),
                    FileRule("AppData/Roaming/GitHub CLI/hosts.yml", "*.oauth_token", hints=("user",)),
                ),
            )
        )
        return recs

    # -- offline ----------------------------------------------------------------------------------------
    def classify(self, candidate: Candidate) -> Credential:
        kind = kind_of(candidate.secret.reveal())
        reasons = {
            "classic_pat": "Classic personal access token: its scopes are known only by asking GitHub.",
            "oauth_token": "OAuth token: its scopes are known only by asking GitHub.",
            FINE_GRAINED: "Fine-grained token: GitHub does not report its permissions; "
            "whether it can delete repositories cannot be read without trying.",
            "user_to_server_token": "GitHub App user token: acts as the user within the app's permissions.",
            "installation_token": "GitHub App installation token (e.g. Actions GITHUB_TOKEN): short-lived, "
            "limited to the installation's repositories and permissions.",
            "refresh_token": "GitHub App refresh token: cannot call the API itself, but mints new user tokens.",
        }.get(kind, "GitHub token of unknown type.")
        return Credential.from_candidate(
            candidate,
            kind=kind,
            status=Status.unverified,
            possible_capabilities=DESTRUCTIVE,
            reasons=(reasons,),
        )

    # -- identify ----------------------------------------------------------------------------------------
    def identify(self, credential: Credential, ctx: ProviderContext) -> Credential:
        if ctx.offline:
            return credential
        if credential.kind == "refresh_token":
            return credential.model_copy(
                update={
                    "reasons": credential.reasons
                    + (
                        "Not verified: refresh tokens cannot be checked without exchanging them, which is a write.",
                    )
                }
            )
        auth = BearerAuth(credential.secret)
        try:
            with self.client(ctx) as client:
                status, body, headers = _get(client, "/user", auth)
        except ProviderAuthError:
            return self.rejected(
                credential,
                "GitHub rejected the token (HTTP 401): it is revoked, expired or was never valid.",
                root_equivalent=False,
            )
        except ProviderError as exc:
            return self.could_not_verify(credential, exc.message)
        except SHAPE_ERRORS as exc:
            return self.could_not_verify(credential, f"unexpected response shape ({type(exc).__name__}).")
        meta = dict(credential.metadata)
        expiry = headers.get("github-authentication-token-expiration")
        if expiry:
            meta["expires_at"] = expiry
        if status != 200 and status != 403:
            return credential.model_copy(
                update={
                    "status": Status.error,
                    "reasons": credential.reasons
                    + (f"Could not verify: GitHub answered HTTP {status} for /user.",),
                }
            )
        if status != 200:
            return credential.model_copy(
                update={
                    "status": Status.verified,
                    "root_equivalent": None,
                    "metadata": meta,
                    "reasons": credential.reasons
                    + (
                        f"GitHub accepted the token but refused to describe its user (HTTP {status}); "
                        "what it can delete is unknown.",
                    ),
                }
            )
        login = body.get("login") if isinstance(body, dict) else None
        meta["login"] = login
        scopes_header = headers.get("x-oauth-scopes")
        if scopes_header is None:
            return credential.model_copy(
                update={
                    "status": Status.verified,
                    "principal": login,
                    "metadata": meta,
                    "root_equivalent": None,
                    "possible_capabilities": DESTRUCTIVE,
                    "reasons": (
                        f"Acts as {login}.",
                        "No X-OAuth-Scopes header: a fine-grained or app token. GitHub does not report its "
                        "permissions, so whether it holds Administration: write (repository deletion) or "
                        "Contents: write (force-push) is unknown.",
                    ),
                }
            )
        scopes = tuple(s.strip() for s in scopes_header.split(",") if s.strip())
        meta["scopes"] = list(scopes)
        caps: list[str] = []
        for s in scopes:
            caps += SCOPE_CAPS.get(s, ())
        caps = list(dict.fromkeys(caps))
        reasons = [f"Acts as {login}; scopes: {', '.join(scopes) or 'none (public read-only)'}."]
        possible: tuple[str, ...] = ()
        if "delete_repo" in scopes:
            root: bool | None = True
            reasons.append(
                "delete_repo: can delete every repository this account administers "
                "(GitHub restores deleted repositories only within about 90 days, and not always)."
            )
        else:
            root = False
            reasons.append("No delete_repo scope: cannot delete repositories.")
        if "write:contents" in caps:
            reasons.append("repo scope: can force-push and delete branches, rewriting history.")
        if "delete:org" in caps:
            possible = ("delete:org",)
            caps.remove("delete:org")
            reasons.append(
                "admin:org: can delete organisations where this user is an owner "
                "(deleted organisations cannot be restored)."
            )
            if root is False:
                root = None
                reasons.append(
                    "Whether it is root-equivalent depends on organisation ownership (see the inventory)."
                )
        return credential.model_copy(
            update={
                "status": Status.verified,
                "principal": login,
                "metadata": meta,
                "capabilities": tuple(caps),
                "possible_capabilities": possible,
                "root_equivalent": root,
                "reasons": tuple(reasons),
            }
        )

    # -- inventory --------------------------------------------------------------------------------------
    # inventory() is HttpProvider's loop over the verified credentials; this is one credential's part.
    def _inventory_one(self, client: ApiClient, cred: Credential) -> Inventory:
        auth = BearerAuth(cred.secret)
        resources: list[Resource] = []
        facts: list[DestroyFact] = []
        gaps: list[CoverageGap] = []
        findings: list[Finding] = []
        scopes = cred.metadata.get("scopes")
        classic = scopes is not None
        status, body, headers = _get(
            client, "/user/repos", auth, per_page=PAGE, affiliation="owner,organization_member", sort="pushed"
        )
        if status != 200 or not isinstance(body, list):
            gaps.append(
                CoverageGap(
                    subject=cred.id,
                    provider=NAME,
                    reason=f"could not list repositories (HTTP {status}); which ones "
                    f"{cred.label} can delete is unknown",
                )
            )
            body = []
        elif 'rel="next"' in headers.get("link", ""):
            gaps.append(
                CoverageGap(
                    subject=cred.id,
                    provider=NAME,
                    reason=f"more than {PAGE} repositories: only the {PAGE} most recently pushed "
                    "were inspected",
                )
            )
        for repo in body:
            if not isinstance(repo, dict) or not repo.get("full_name"):
                continue
            rid = f"github:repo:{repo['full_name']}"
            resources.append(
                Resource(
                    id=rid,
                    provider=NAME,
                    type="repository",
                    name=repo["full_name"],
                    parent=f"github:account:{repo.get('owner', {}).get('login', '')}",
                    holds_data=True,
                    metadata={
                        "private": bool(repo.get("private")),
                        "archived": bool(repo.get("archived")),
                        "fork": bool(repo.get("fork")),
                    },
                )
            )
            admin = bool((repo.get("permissions") or {}).get("admin"))
            if not admin:
                facts.append(
                    DestroyFact(
                        credential=cred.id,
                        target=rid,
                        verdict=False,
                        capability="delete:repo",
                        reason="the user is not an admin of this repository",
                    )
                )
            elif classic:
                ok = "delete_repo" in scopes
                facts.append(
                    DestroyFact(
                        credential=cred.id,
                        target=rid,
                        verdict=ok,
                        capability="delete:repo",
                        reason="admin of the repository and the token has delete_repo"
                        if ok
                        else "the token lacks the delete_repo scope",
                    )
                )
            else:
                facts.append(
                    DestroyFact(
                        credential=cred.id,
                        target=rid,
                        verdict=None,
                        capability="delete:repo",
                        reason="fine-grained/app token: Administration permission not reported",
                    )
                )
        if classic and "admin:org" in scopes:
            status, orgs, _ = _get(client, "/user/memberships/orgs", auth, state="active", per_page=PAGE)
            if status != 200 or not isinstance(orgs, list):
                gaps.append(
                    CoverageGap(
                        subject=cred.id,
                        provider=NAME,
                        reason=f"could not list organisation memberships (HTTP {status})",
                    )
                )
                orgs = []
            for m in orgs:
                login = (m.get("organization") or {}).get("login") if isinstance(m, dict) else None
                if not login:
                    continue
                oid = f"github:org:{login}"
                owner = m.get("role") == "admin"
                resources.append(
                    Resource(id=oid, provider=NAME, type="organization", name=login, holds_data=True)
                )
                facts.append(
                    DestroyFact(
                        credential=cred.id,
                        target=oid,
                        verdict=owner,
                        capability="delete:org",
                        reason="organisation owner with admin:org"
                        if owner
                        else "not an owner of this organisation",
                    )
                )
        if cred.root_equivalent:
            findings.append(
                Finding.make(
                    "github.token-can-delete-repositories",
                    Severity.high,
                    cred.id,
                    f"{cred.label} can delete repositories of {cred.principal or 'its user'}; GitHub keeps no backup "
                    "you control.",
                    "Replace it with a fine-grained token limited to the repositories and permissions needed, "
                    "and keep mirror clones (git clone --mirror) outside GitHub.",
                    provider=NAME,
                )
            )
        return Inventory(
            resources=tuple(resources),
            facts=tuple(facts),
            gaps=tuple(gaps),
            findings=tuple(findings),
            denials=scope_denials(cred),
        )


def scope_denials(cred: Credential) -> tuple[CannotDestroyType, ...]:
    """What a classic token's scopes rule out for every repository and organisation, also those only
    another token listed: deleting a repository needs delete_repo, deleting an organisation admin:org."""
    scopes = cred.metadata.get("scopes")
    if scopes is None:  # fine-grained / app token: permissions not reported
        return ()
    out = []
    for rtype, scope, cap in (("repository", "delete_repo", "delete:repo"), ("organization", "admin:org", "delete:org")):
        if scope not in scopes:
            out.append(CannotDestroyType(credential=cred.id, provider=NAME, resource_type=rtype, capability=cap,
                                         reason=f"the token lacks the {scope} scope"))
    return tuple(out)
