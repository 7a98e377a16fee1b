"""GitHub provider.

identify(): ``GET /user``. Classic PATs and OAuth tokens carry their scopes in ``X-OAuth-Scopes``;
fine-grained and app tokens do not, and GitHub offers no read-only way to list their permissions,
so their power to delete repositories stays unknown (never "safe").
inventory(): repositories the principal owns (one bounded page) and, with ``admin:org``, the
organisations it administers. GitHub keeps no customer backup: clones are the backup.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeAlias

from auditor._lazy import lazy_module
from auditor.errors import ProviderUnavailable
from auditor.http import ApiClient, BearerAuth, RequestAuth
from auditor.model import Candidate, Credential, Finding, Inventory, Severity, Status, Verdict
from auditor.provider import FileRule, McpServerRule, ProviderContext, Recogniser
from auditor.provider_http import HttpProvider
from auditor.provider_kit import (
    InventoryBuilder,
    call_json,
    cli_login,
    env_token,
    next_link,
    text_recognisers,
    unverified,
)

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")

NAME = "github"
DEFAULT_URL = "https://api.github.com"
URL_ENV = "BLASTWALL_GITHUB_URL"
PAGE = 100

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


_Reply: TypeAlias = "tuple[int, Any, httpx.Headers]"  # a string: httpx is imported on first use


def _get(client: ApiClient, path: str, auth: RequestAuth, **params: Any) -> _Reply:
    """(status, body or None, headers); raises ProviderAuthError on 401, typed errors otherwise."""
    hint = "GitHub returned something that is not JSON; try again later"
    r = call_json(client, "GET", path, auth=auth, params=params, malformed_hint=hint)
    if r.status == 403 and r.headers.get("x-ratelimit-remaining") == "0":
        raise ProviderUnavailable(
            f"{NAME}: rate limit exhausted (HTTP 403)",
            hint="GitHub's hourly rate limit is used up; try again after it resets",
        )
    return r.status, r.body if r.status == 200 else None, r.headers


def judge_token(cred: Credential, user: _Reply) -> Verdict:
    """The verdict on a GitHub token from its ``GET /user`` answer (status, body, headers); pure: no HTTP."""
    status, body, headers = user
    meta: dict[str, Any] = dict(cred.metadata)
    expiry = headers.get("github-authentication-token-expiration")
    if expiry:
        meta["expires_at"] = expiry
    if status != 200 and status != 403:
        return Verdict(
            status=Status.error, reasons=cred.reasons + (f"Could not verify: GitHub answered HTTP {status} for /user.",)
        )
    judged = partial(Verdict, status=Status.verified, metadata=meta)
    if status != 200:
        return judged(
            root_equivalent=None,
            reasons=cred.reasons
            + (
                f"GitHub accepted the token but refused to describe its user (HTTP {status}); "
                "what it can delete is unknown.",
            ),
        )
    login = body.get("login") if isinstance(body, dict) else None
    meta["login"] = login
    scopes_header = headers.get("x-oauth-scopes")
    if scopes_header is None:
        return judged(
            principal=login,
            root_equivalent=None,
            possible_capabilities=DESTRUCTIVE,
            reasons=(
                f"Acts as {login}.",
                "No X-OAuth-Scopes header: a fine-grained or app token. GitHub does not report its "
                "permissions, so whether it holds Administration: write (repository deletion) or "
                "Contents: write (force-push) is unknown.",
            ),
        )
    scopes = tuple(s.strip() for s in scopes_header.split(",") if s.strip())
    meta["scopes"] = list(scopes)
    caps: list[str] = []
    for s in scopes:
        caps += SCOPE_CAPS.get(s, ())
    caps = list(dict.fromkeys(caps))
    reasons = [f"Acts as {login}; scopes: {', '.join(scopes) or 'none (public read-only)'}."]
    possible: tuple[str, ...] = ()
    root: bool | None
    if "delete_repo" in scopes:
        root = True
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
            reasons.append("Whether it is root-equivalent depends on organisation ownership (see the inventory).")
    return judged(
        principal=login,
        capabilities=tuple(caps),
        possible_capabilities=possible,
        root_equivalent=root,
        reasons=tuple(reasons),
    )


class GitHubProvider(HttpProvider, name=NAME, display_name="GitHub", default_url=DEFAULT_URL):
    inventory_noun = "repositories"

    # -- recognition ------------------------------------------------------------------------------------
    def recognisers(self) -> Sequence[Recogniser]:
        bodies = [(kind, rf"{p}_[A-Za-z0-9]{{36,251}}") for p, kind in PREFIXES.items()]
        recs = text_recognisers(NAME, [*bodies, (FINE_GRAINED, r"github_pat_[A-Za-z0-9_]{36,244}")])
        recs.append(env_token(NAME, "token", ENV_NAMES, _TOKEN_VALUE))
        # octocode-mcp uses the GitHub CLI's login when its entry has no token (read-only tools)
        octocode = McpServerRule(
            "Octocode MCP server (uses the gh login)",
            packages=("octocode-mcp",),
            token_env=("GITHUB_TOKEN", "GH_TOKEN"),
        )
        hosts = (".config/gh/hosts.yml", "AppData/Roaming/GitHub CLI/hosts.yml")
        recs.append(
            cli_login(
                NAME,
                "oauth_token",
                *(FileRule(h, "*.oauth_token", hints=("user",)) for h in hosts),
                priority=75,
                value_pattern=_TOKEN_VALUE,
                mcp_servers=(octocode,),
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
        return unverified(candidate, reasons, kind=kind, possible_capabilities=DESTRUCTIVE)

    # -- identify ----------------------------------------------------------------------------------------
    rejected_root = False
    errors_as_reasons = True
    judge = staticmethod(judge_token)

    @staticmethod
    def fetch(api: ApiClient, credential: Credential, ctx: ProviderContext | None = None) -> _Reply:
        return _get(api, "/user", BearerAuth(credential.secret))

    def identify(self, credential: Credential, ctx: ProviderContext) -> Credential:
        if credential.kind == "refresh_token" and not ctx.offline:
            why = "Not verified: refresh tokens cannot be checked without exchanging them, which is a write."
            return credential.judged(Verdict(reasons=credential.reasons + (why,)))
        return super().identify(credential, ctx)

    # -- inventory --------------------------------------------------------------------------------------
    # inventory() is HttpProvider's loop over the verified credentials; this is one credential's part.
    def _inventory_one(self, client: ApiClient, cred: Credential) -> Inventory:
        auth = BearerAuth(cred.secret)
        inv = InventoryBuilder(NAME)
        classic = cred.metadata.get("scopes") is not None
        scopes: list[str] = cred.metadata.get("scopes") or []
        status, body, headers = _get(
            client, "/user/repos", auth, per_page=PAGE, affiliation="owner,organization_member", sort="pushed"
        )
        if status != 200 or not isinstance(body, list):
            inv.gap(
                cred.id, f"could not list repositories (HTTP {status}); which ones {cred.label} can delete is unknown"
            )
            body = []
        elif next_link(headers):
            inv.gap(cred.id, f"more than {PAGE} repositories: only the {PAGE} most recently pushed were inspected")
        for repo in body:
            if not isinstance(repo, dict) or not repo.get("full_name"):
                continue
            rid = f"github:repo:{repo['full_name']}"
            inv.add_resource(
                rid,
                "repository",
                repo["full_name"],
                parent=f"github:account:{repo.get('owner', {}).get('login', '')}",
                holds_data=True,
                metadata={
                    "private": bool(repo.get("private")),
                    "archived": bool(repo.get("archived")),
                    "fork": bool(repo.get("fork")),
                },
            )
            admin = bool((repo.get("permissions") or {}).get("admin"))
            if not admin:
                inv.fact(cred.id, rid, False, "the user is not an admin of this repository", "delete:repo")
            elif classic:
                ok = "delete_repo" in scopes
                why = (
                    "admin of the repository and the token has delete_repo"
                    if ok
                    else "the token lacks the delete_repo scope"
                )
                inv.fact(cred.id, rid, ok, why, "delete:repo")
            else:
                why = "fine-grained/app token: Administration permission not reported"
                inv.fact(cred.id, rid, None, why, "delete:repo")
        if classic and "admin:org" in scopes:
            status, orgs, _ = _get(client, "/user/memberships/orgs", auth, state="active", per_page=PAGE)
            if status != 200 or not isinstance(orgs, list):
                inv.gap(cred.id, f"could not list organisation memberships (HTTP {status})")
                orgs = []
            for m in orgs:
                login = (m.get("organization") or {}).get("login") if isinstance(m, dict) else None
                if not login:
                    continue
                oid = f"github:org:{login}"
                owner = m.get("role") == "admin"
                inv.add_resource(oid, "organization", login, holds_data=True)
                why = "organisation owner with admin:org" if owner else "not an owner of this organisation"
                inv.fact(cred.id, oid, owner, why, "delete:org")
        if cred.root_equivalent:
            inv.finding(
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
        scope_denials(inv, cred)
        return inv.build()


def scope_denials(inv: InventoryBuilder, cred: Credential) -> None:
    """What a classic token's scopes rule out for every repository and organisation, also those only
    another token listed: deleting a repository needs delete_repo, deleting an organisation admin:org."""
    scopes = cred.metadata.get("scopes")
    if scopes is None:  # fine-grained / app token: permissions not reported
        return
    for rtype, scope, cap in (
        ("repository", "delete_repo", "delete:repo"),
        ("organization", "admin:org", "delete:org"),
    ):
        if scope not in scopes:
            inv.denial(cred.id, rtype, f"the token lacks the {scope} scope", cap)
