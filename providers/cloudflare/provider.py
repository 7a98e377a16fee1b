"""Cloudflare provider.

Credentials: scannable API tokens (``cfut_`` user, ``cfat_`` account), the Global API Key (``cfk_`` or
legacy 37 hex, used with the account e-mail), legacy 40-character API tokens bound to
``CLOUDFLARE_API_TOKEN``, and wrangler's OAuth login.
identify(): ``GET /user/tokens/verify`` (user tokens) or ``/accounts/{id}/tokens/verify`` (account
tokens); then ``GET /user/tokens/{id}`` for the token's policies, which works only when the token may
read API tokens. Unreadable policies leave the verdict unknown (never "safe"). Global key: ``GET /user``.
inventory(): per account (bounded): D1 databases (Time Travel is inside the database and is assumed
to die with it), R2 buckets and KV namespaces (no built-in backup).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from auditor._lazy import lazy_module
from auditor.errors import ProviderAuthError, ProviderError
from auditor.http import ApiClient, BearerAuth, RequestAuth
from auditor.model import Candidate, Credential, Inventory, Status, Verdict
from auditor.provider import FileRule, McpServerRule, ProviderContext, Recogniser
from auditor.provider_http import HttpProvider
from auditor.provider_kit import (
    InventoryBuilder,
    call_json,
    cli_login,
    env_token,
    secret_pattern,
    text_recognisers,
    unverified,
)
from auditor.secrets import Secret
from auditor.storage_platform import StorageLocation, StoragePlatform

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")

NAME = "cloudflare"
DEFAULT_URL = "https://api.cloudflare.com/client/v4"
URL_ENV = "BLASTWALL_CLOUDFLARE_URL"
MAX_ACCOUNTS = 10
PAGE = 100

_TOKEN_VALUE = re.compile(r"(?:cfut_|cfat_)[A-Za-z0-9]{40}[a-f0-9]{8}|[A-Za-z0-9_-]{40}")
_KEY_VALUE = re.compile(r"cfk_[A-Za-z0-9]{40}[a-f0-9]{8}|[a-f0-9]{37}")

# write permission group name -> capability
WRITE_GROUPS: dict[str, str] = {
    "D1 Write": "delete:d1-database",
    "Workers R2 Storage Write": "delete:r2-bucket",
    "Workers KV Storage Write": "delete:kv-namespace",
    "Workers Scripts Write": "delete:worker",
    "Zone Write": "delete:zone",
    "DNS Write": "delete:dns-record",
    "Pages Write": "delete:pages-project",
    "API Tokens Write": "create:api-token",
    "Account API Tokens Write": "create:api-token",
}
DATA_CAPS = ("delete:d1-database", "delete:r2-bucket", "delete:kv-namespace")
ALL_CAPS = tuple(dict.fromkeys(WRITE_GROUPS.values()))
# wrangler OAuth scope -> capability
OAUTH_SCOPES: dict[str, str] = {
    "d1:write": "delete:d1-database",
    "workers_kv:write": "delete:kv-namespace",
    "workers_scripts:write": "delete:worker",
    "workers:write": "delete:worker",
    "pages:write": "delete:pages-project",
}
ENV_TOKEN = frozenset({"CLOUDFLARE_API_TOKEN", "CF_API_TOKEN", "cloudflare_api_token"})
ENV_KEY = frozenset({"CLOUDFLARE_API_KEY", "CF_API_KEY", "cloudflare_api_key"})
EMAIL_KEYS = ("CLOUDFLARE_EMAIL", "CF_API_EMAIL", "CLOUDFLARE_API_EMAIL", "cloudflare_email")
WRANGLER_FILES = (
    ".wrangler/config/default.toml",
    ".config/.wrangler/config/default.toml",
    "Library/Preferences/.wrangler/config/default.toml",
    "AppData/Roaming/xdg.config/.wrangler/config/default.toml",
)


class GlobalKeyAuth(RequestAuth):
    """X-Auth-Email + X-Auth-Key, applied per request."""

    def __init__(self, email: Secret, key: Secret) -> None:
        self._email, self._key = email, key

    def __call__(self, request: httpx.Request) -> httpx.Request:
        request.headers["X-Auth-Email"] = self._email.reveal()
        request.headers["X-Auth-Key"] = self._key.reveal()
        return request

    def __repr__(self) -> str:
        return f"GlobalKeyAuth({self._key!r})"


def kind_of(value: str, hint: str) -> str:
    if value.startswith("cfk_"):
        return "global_api_key"
    if value.startswith("cfut_"):
        return "user_api_token"
    if value.startswith("cfat_"):
        return "account_api_token"
    if re.fullmatch(r"[a-f0-9]{37}", value) and hint in ("global_api_key", "api_key"):
        return "global_api_key"
    return hint if hint in ("oauth_token", "oauth_refresh_token", "global_api_key") else "api_token"


def _get(client: ApiClient, path: str, auth: RequestAuth, **params: Any) -> tuple[int, Any]:
    """(status, envelope or None). 401 raises ProviderAuthError; malformed JSON raises ProviderError."""
    hint = "Cloudflare returned something that is not JSON; try again later"
    r = call_json(client, "GET", path, auth=auth, params=params, strict_json=True, malformed_hint=hint)
    if r.status == 200 and not (isinstance(r.body, dict) and r.body.get("success") is not False):
        return 502, r.body
    return r.status, r.body


def _auth(cred: Credential) -> RequestAuth | None:
    if cred.kind == "global_api_key":
        email = cred.companions.get("email")
        return GlobalKeyAuth(email, cred.secret) if email else None
    return BearerAuth(cred.secret)


def _policy_caps(policies: list[Any]) -> tuple[list[str], dict[str, list[str]]]:
    """Capabilities from allow policies, and for each capability the account ids it covers ('*' = all)."""
    caps: dict[str, list[str]] = {}
    for pol in policies:
        if not isinstance(pol, dict) or pol.get("effect", "allow") != "allow":
            continue
        accounts: list[str] = []
        for res in pol.get("resources") or {}:
            if res.startswith("com.cloudflare.api.account."):
                accounts.append(res.rsplit(".", 1)[1])
            elif res.startswith("com.cloudflare.api.user.") or res == "com.cloudflare.api.account.zone.*":
                accounts.append("*")
            else:
                accounts.append("?")
        for g in pol.get("permission_groups") or []:
            cap = WRITE_GROUPS.get(g.get("name", "") if isinstance(g, dict) else "")
            if cap:
                caps.setdefault(cap, []).extend(accounts or ["?"])
    return list(caps), caps


@dataclass
class CloudflareFacts:
    """What the read-only calls showed about one credential: (HTTP status, envelope) per call made."""

    account_id: str | None = None  # an account token's account (recorded or looked up)
    user: tuple[int, Any] | None = None  # GET /user (Global API Key)
    accounts: tuple[int, Any] | None = None  # GET /accounts (OAuth login)
    verify: tuple[int, Any] | None = None  # GET .../tokens/verify
    token: tuple[int, Any] | None = None  # GET .../tokens/{id}: its policies


def _fetch(client: ApiClient, cred: Credential, ctx: ProviderContext | None = None) -> CloudflareFacts:
    auth = _auth(cred)
    if auth is None:
        raise ProviderError(f"{NAME}: a Global API Key needs its e-mail")
    seen = CloudflareFacts(account_id=cred.metadata.get("account_id"))
    if cred.kind == "global_api_key":
        status, body = seen.user = _get(client, "/user", auth)
        errors = body.get("errors") if isinstance(body, dict) else None
        codes = {e.get("code") for e in errors or [] if isinstance(e, dict)}
        if status in (400, 403) and codes & {9103, 6003, 9106}:  # unknown X-Auth-Key / X-Auth-Email
            raise ProviderAuthError(f"{NAME}: Global API Key or e-mail rejected (HTTP {status})")
        if status != 200:
            raise ProviderError(f"{NAME}: HTTP {status} from /user")
        return seen
    if cred.kind == "oauth_token":
        seen.accounts = _get(client, "/accounts", auth, per_page=50)
        return seen
    if cred.kind == "account_api_token":
        if not seen.account_id:
            status, body = _get(client, "/accounts", auth, per_page=5)
            accts = body.get("result") if status == 200 and isinstance(body, dict) else None
            seen.account_id = accts[0].get("id") if accts else None
        if not seen.account_id:
            return seen
        base = f"/accounts/{seen.account_id}/tokens"
    else:
        base = "/user/tokens"
    status, body = seen.verify = _get(client, f"{base}/verify", auth)
    if status not in (200, 403):
        raise ProviderError(f"{NAME}: HTTP {status} from token verify")
    result = (body.get("result") or {}) if status == 200 else {}
    if status == 200 and not (result.get("status") and result.get("status") != "active"):
        seen.token = _get(client, f"{base}/{result.get('id')}", auth)
    return seen


def judge_credential(cred: Credential, seen: CloudflareFacts) -> Verdict:
    """The verdict on a Cloudflare credential from what the read-only calls showed (pure: no HTTP)."""
    meta: dict[str, Any] = dict(cred.metadata)
    judged = partial(Verdict, status=Status.verified, metadata=meta)
    if seen.user is not None:
        user = seen.user[1].get("result") or {}
        return Verdict(
            status=Status.verified,
            principal=user.get("email"),
            metadata=meta,
            reasons=cred.reasons + (f"Verified: acts as {user.get('email')}.",),
        )
    if seen.accounts is not None:
        return _judge_oauth(cred, seen.accounts, meta)
    if seen.verify is None:
        return Verdict(
            status=Status.unverified,
            reasons=cred.reasons + ("Account token: its account could not be determined, so it was not verified.",),
        )
    if cred.kind == "account_api_token":
        meta["account_id"] = seen.account_id
    status, body = seen.verify
    if status != 200:
        return judged(
            root_equivalent=None,
            reasons=cred.reasons + (f"Token verify was refused (HTTP {status}); what it can delete is unknown.",),
        )
    result = body.get("result") or {}
    token_id, state = result.get("id"), result.get("status")
    meta.update(token_id=token_id, token_status=state, expires_at=result.get("expires_on"))
    if seen.token is None:
        return Verdict(
            status=Status.invalid,
            metadata=meta,
            root_equivalent=False,
            capabilities=(),
            possible_capabilities=(),
            reasons=(f"Cloudflare reports the token as {state}.",),
        )
    reasons = [f"Verified: token {token_id} is active."]
    status, body = seen.token
    if status != 200:
        reasons.append(
            f"Its policies are not readable (HTTP {status}: the token lacks API Tokens Read), so "
            "what it can delete is unknown."
        )
        return judged(root_equivalent=None, possible_capabilities=ALL_CAPS, reasons=tuple(reasons))
    policies = (body.get("result") or {}).get("policies") or []
    caps, per_account = _policy_caps(policies)
    meta["account_caps"] = per_account
    root: bool | None
    if "create:api-token" in caps:
        root = True
        reasons.append("It can create API tokens, and so mint a token with any permission: root-equivalent.")
    elif (
        all(c in caps for c in DATA_CAPS)
        and "delete:zone" in caps
        and all("*" in per_account[c] for c in (*DATA_CAPS, "delete:zone"))
    ):
        root = True
        reasons.append("It can delete D1 databases, R2 buckets, KV namespaces and zones in every account.")
    else:
        root = False
        reasons.append(
            "Policies: "
            + (", ".join(caps) if caps else "no write permissions")
            + "; it cannot mint tokens: not root-equivalent."
        )
    return judged(capabilities=tuple(caps), possible_capabilities=(), root_equivalent=root, reasons=tuple(reasons))


def _judge_oauth(cred: Credential, accounts: tuple[int, Any], meta: dict[str, Any]) -> Verdict:
    status, body = accounts
    judged = partial(Verdict, status=Status.verified, metadata=meta)
    if status != 200:
        return judged(
            reasons=cred.reasons + (f"Cloudflare accepted the login but refused to list accounts (HTTP {status}).",)
        )
    meta["accounts"] = [a.get("id") for a in body.get("result") or [] if isinstance(a, dict)][:MAX_ACCOUNTS]
    scopes = str(meta.get("scopes") or "").split()
    caps = [OAUTH_SCOPES[s] for s in scopes if s in OAUTH_SCOPES]
    reasons = list(cred.reasons) + [f"Verified: reaches {len(meta['accounts'])} account(s)."]
    if caps:
        meta["account_caps"] = {c: ["*"] for c in caps}
        reasons.append("Its OAuth scopes allow deleting: " + ", ".join(dict.fromkeys(caps)) + ".")
        return judged(
            capabilities=tuple(dict.fromkeys(caps)),
            possible_capabilities=(),
            root_equivalent=False,
            reasons=tuple(reasons) + ("OAuth scopes cannot delete zones or mint API tokens: not root-equivalent.",),
        )
    reasons.append(
        "Its OAuth scopes were not recorded next to it; assume wrangler's defaults (Workers, D1, KV and Pages write)."
    )
    return judged(root_equivalent=None, reasons=tuple(reasons))


class CloudflareProvider(HttpProvider, StoragePlatform, name=NAME, display_name="Cloudflare", default_url=DEFAULT_URL):
    def storage_at(self, endpoint_host: str) -> StorageLocation | None:
        """R2's S3 API: ``<account id>.r2.cloudflarestorage.com`` (also the ``.eu.`` jurisdiction form)."""
        h = endpoint_host.lower()
        if h.endswith(".r2.cloudflarestorage.com"):
            return StorageLocation("Cloudflare R2", h.split(".", 1)[0])
        return None

    def recognisers(self) -> Sequence[Recogniser]:
        comp = {"email": EMAIL_KEYS}
        tail = r"_[A-Za-z0-9]{40}[a-f0-9]{8}"
        return [
            *text_recognisers(NAME, [("user_api_token", "cfut" + tail), ("account_api_token", "cfat" + tail)]),
            Recogniser(
                NAME,
                "global_api_key",
                priority=80,
                companions=comp,
                text_pattern=secret_pattern("cfk" + tail),
                text_companions={
                    "email": re.compile(
                        r"(?:CLOUDFLARE_EMAIL|CF_API_EMAIL|X-Auth-Email)[\"']?\s*[:=]\s*[\"']?"
                        r"(?P<secret>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
                    )
                },
            ),
            # Legacy unprefixed 40-character tokens only when bound to the variable name.
            env_token(NAME, "api_token", ENV_TOKEN, _TOKEN_VALUE),
            Recogniser(
                NAME, "global_api_key", key_names=ENV_KEY, value_pattern=_KEY_VALUE, companions=comp, priority=70
            ),
            cli_login(
                NAME,
                "oauth_token",
                *(FileRule(p, "oauth_token", hints=("expiration_time",)) for p in WRANGLER_FILES),
                priority=75,
                # the local @cloudflare/mcp-server-cloudflare (0.x) reads wrangler's stored login
                mcp_servers=(
                    McpServerRule(
                        "Cloudflare MCP server (uses the wrangler login)",
                        packages=("@cloudflare/mcp-server-cloudflare",),
                        destructive_tools=("worker_delete", "kv_delete", "r2_delete_bucket", "d1_delete_database"),
                        token_env=("CLOUDFLARE_API_TOKEN",),
                    ),
                ),
            ),
            cli_login(
                NAME, "oauth_refresh_token", *(FileRule(p, "refresh_token") for p in WRANGLER_FILES), priority=75
            ),
        ]

    def classify(self, candidate: Candidate) -> Credential:
        kind = kind_of(candidate.secret.reveal(), candidate.kind)
        if kind == "global_api_key":
            extra = (
                ()
                if "email" in candidate.companions
                else ("No CLOUDFLARE_EMAIL found next to it, so it cannot be verified.",)
            )
            why = (
                "Global API Key: full access to every account and zone of its user; it cannot be scoped "
                "(root-equivalent)."
            )
            return unverified(candidate, why, *extra, kind=kind, root_equivalent=True, capabilities=ALL_CAPS)
        text = {
            "user_api_token": "User API token: its policies decide what it can delete.",
            "account_api_token": "Account API token (owned by the account, not a user): its policies decide "
            "what it can delete.",
            "api_token": "API token: its policies decide what it can delete.",
            "oauth_token": "Wrangler OAuth login: by default it can write Workers, D1, KV and Pages.",
            "oauth_refresh_token": "Wrangler OAuth refresh token: mints new wrangler access tokens.",
        }[kind]
        return unverified(candidate, text, kind=kind, possible_capabilities=ALL_CAPS)

    # -- identify ----------------------------------------------------------------------------------------

    rejected_root = False
    errors_as_reasons = True
    fetch = staticmethod(_fetch)
    judge = staticmethod(judge_credential)

    unidentifiable_kinds = frozenset({"oauth_refresh_token"})

    def identifiable(self, credential: Credential) -> bool:
        # a global API key without its e-mail cannot be used
        return super().identifiable(credential) and _auth(credential) is not None

    # -- inventory --------------------------------------------------------------------------------------
    def inventory_credential(self, cred: Credential, ctx: ProviderContext) -> Inventory:
        auth = _auth(cred)
        if auth is None:  # a global API key without its email cannot be used
            return Inventory()
        with self.client(ctx) as client:
            return self._inventory_auth(client, cred, auth)

    def _verdict(self, cred: Credential, cap: str, account: str) -> tuple[bool | None, str]:
        if cred.kind == "global_api_key":
            return True, "Global API Key: full access"
        per_account = cred.metadata.get("account_caps")
        if per_account is None:
            if cred.capabilities and cap not in cred.capabilities and not cred.possible_capabilities:
                return False, f"lacks {cap}"
            return None, "the token's policies are not known"
        covers = per_account.get(cap)
        if not covers:
            return False, f"its policies do not grant {cap}"
        if "*" in covers or account in covers:
            return True, f"its policies grant {cap} on this account"
        if "?" in covers:
            return None, f"it grants {cap} on resources that could not be mapped to accounts"
        return False, f"it grants {cap} only on other accounts"

    def _inventory_auth(self, client: ApiClient, cred: Credential, auth: RequestAuth) -> Inventory:
        inv = InventoryBuilder(NAME)
        status, body = _get(client, "/accounts", auth, per_page=MAX_ACCOUNTS)
        if status != 200:
            inv.gap(cred.id, f"could not list accounts with {cred.label} (HTTP {status})")
            return inv.build()
        accounts = [a for a in body.get("result") or [] if isinstance(a, dict) and a.get("id")][:MAX_ACCOUNTS]
        for acct in accounts:
            aid, aname = acct["id"], acct.get("name") or acct["id"]
            parent = f"cloudflare:account:{aid}"
            inv.add_resource(parent, "account", aname)
            for kind, path, cap, key_id, key_name in (
                ("d1-database", f"/accounts/{aid}/d1/database", "delete:d1-database", "uuid", "name"),
                ("r2-bucket", f"/accounts/{aid}/r2/buckets", "delete:r2-bucket", "name", "name"),
                ("kv-namespace", f"/accounts/{aid}/storage/kv/namespaces", "delete:kv-namespace", "id", "title"),
            ):
                status, body = _get(client, path, auth, per_page=PAGE)
                if status != 200:
                    why = f"{kind}s of account {aname} could not be listed with {cred.label} (HTTP {status})"
                    inv.gap(parent, why)
                    continue
                items = body.get("result") or []
                if isinstance(items, dict):  # R2 answers {"result": {"buckets": [...]}}
                    items = items.get("buckets") or []
                for it in items[:PAGE]:
                    if not isinstance(it, dict) or not it.get(key_id):
                        continue
                    rid = f"cloudflare:{kind}:{aid}:{it[key_id]}"
                    inv.add_resource(rid, kind, str(it.get(key_name) or it[key_id]), parent=parent, holds_data=True)
                    verdict, why = self._verdict(cred, cap, aid)
                    inv.fact(cred.id, rid, verdict, why, cap)
                    if kind == "d1-database":
                        bid = f"cloudflare:d1-time-travel:{aid}:{it[key_id]}"
                        inv.add_backup(
                            bid,
                            rid,
                            "point-in-time",
                            f"D1 Time Travel inside database {it.get('name')} (30 days)",
                            dies_with_resource=True,
                            reasons=(
                                "Time Travel lives inside the D1 database; Cloudflare does not say it survives "
                                "deleting the database, so it is assumed to be deleted with it.",
                            ),
                        )
                if len(items) > PAGE:
                    inv.gap(parent, f"more than {PAGE} {kind}s: only the first {PAGE} inspected")
        policy_denials(inv, cred)
        return inv.build()


def policy_denials(inv: InventoryBuilder, cred: Credential) -> None:
    """Resource types a token's policies (or OAuth scopes) grant no delete permission for, on any account."""
    per_account = cred.metadata.get("account_caps")
    if cred.kind == "global_api_key" or not isinstance(per_account, dict):
        return
    for kind, cap in (
        ("d1-database", "delete:d1-database"),
        ("r2-bucket", "delete:r2-bucket"),
        ("kv-namespace", "delete:kv-namespace"),
    ):
        if not per_account.get(cap):
            inv.denial(cred.id, kind, f"its policies do not grant {cap} on any account", cap)
