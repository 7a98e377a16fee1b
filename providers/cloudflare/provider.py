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

import logging
import re
from collections.abc import Generator, Sequence
from typing import Any

import httpx

from auditor.errors import ProviderAuthError, ProviderError
from auditor.http import ApiClient, BearerAuth
from auditor.model import (
    CannotDestroyType,
    Backup,
    Candidate,
    CoverageGap,
    Credential,
    DestroyFact,
    Inventory,
    Resource,
    Status,
)
from auditor.provider import FileRule, ProviderContext, Recogniser
from auditor.provider_http import SHAPE_ERRORS, HttpProvider
from auditor.secrets import Secret

log = logging.getLogger(__name__)

NAME = "cloudflare"
DEFAULT_URL = "https://api.cloudflare.com/client/v4"
URL_ENV = "BLASTWALL_CLOUDFLARE_URL"
MAX_ACCOUNTS = 10
PAGE = 100

_B = r"(?<![A-Za-z0-9_])"
_E = r"(?![A-Za-z0-9_])"
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


class GlobalKeyAuth(httpx.Auth):
    """X-Auth-Email + X-Auth-Key, applied per request."""

    def __init__(self, email: Secret, key: Secret) -> None:
        self._email, self._key = email, key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-Auth-Email"] = self._email.reveal()
        request.headers["X-Auth-Key"] = self._key.reveal()
        yield request

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


def _get(client: ApiClient, path: str, auth: httpx.Auth, **params: Any) -> tuple[int, Any]:
    """(status, envelope or None). 401 raises ProviderAuthError; malformed JSON raises ProviderError."""
    resp = client.request("GET", path, auth=auth, params=params or None)
    if resp.status_code == 401:
        raise ProviderAuthError(f"{NAME}: credential rejected (HTTP 401)")
    try:
        body = resp.json()
    except ValueError:
        raise ProviderError(
            f"{NAME}: malformed JSON from {resp.request.url.path} (HTTP {resp.status_code})",
            hint="Cloudflare returned something that is not JSON; try again later",
        ) from None
    if resp.status_code == 200 and not (isinstance(body, dict) and body.get("success") is not False):
        return 502, body
    return resp.status_code, body


def _auth(cred: Credential) -> httpx.Auth | None:
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


class CloudflareProvider(HttpProvider):
    name = NAME
    url_env = URL_ENV
    default_url = DEFAULT_URL
    display_name = "Cloudflare"

    def recognisers(self) -> Sequence[Recogniser]:
        comp = {"email": EMAIL_KEYS}
        return [
            Recogniser(
                NAME,
                "user_api_token",
                priority=80,
                text_pattern=re.compile(_B + r"(?P<secret>cfut_[A-Za-z0-9]{40}[a-f0-9]{8})" + _E),
            ),
            Recogniser(
                NAME,
                "account_api_token",
                priority=80,
                text_pattern=re.compile(_B + r"(?P<secret>cfat_[A-Za-z0-9]{40}[a-f0-9]{8})" + _E),
            ),
            Recogniser(
                NAME,
                "global_api_key",
                priority=80,
                companions=comp,
                text_pattern=re.compile(_B + r"(?P<secret>cfk_[A-Za-z0-9]{40}[a-f0-9]{8})" + _E),
                text_companions={
                    "email": re.compile(
                        r"(?:CLOUDFLARE_EMAIL|CF_API_EMAIL|X-Auth-Email)[\"']?\s*[:=]\s*[\"']?"
                        r"(?P<secret>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
                    )
                },
            ),
            # Legacy unprefixed 40-character tokens only when bound to the variable name.
            Recogniser(NAME, "api_token", key_names=ENV_TOKEN, value_pattern=_TOKEN_VALUE, priority=70),
            Recogniser(
                NAME,
                "global_api_key",
                key_names=ENV_KEY,
                value_pattern=_KEY_VALUE,
                companions=comp,
                priority=70,
            ),
            Recogniser(
                NAME,
                "oauth_token",
                category="cli_config",
                priority=75,
                files=tuple(FileRule(p, "oauth_token", hints=("expiration_time",)) for p in WRANGLER_FILES),
            ),
            Recogniser(
                NAME,
                "oauth_refresh_token",
                category="cli_config",
                priority=75,
                files=tuple(FileRule(p, "refresh_token") for p in WRANGLER_FILES),
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
            return Credential.from_candidate(
                candidate,
                kind=kind,
                status=Status.unverified,
                root_equivalent=True,
                capabilities=ALL_CAPS,
                reasons=(
                    "Global API Key: full access to every account and zone of its user; it cannot be "
                    "scoped (root-equivalent).",
                )
                + extra,
            )
        text = {
            "user_api_token": "User API token: its policies decide what it can delete.",
            "account_api_token": "Account API token (owned by the account, not a user): its policies decide "
            "what it can delete.",
            "api_token": "API token: its policies decide what it can delete.",
            "oauth_token": "Wrangler OAuth login: by default it can write Workers, D1, KV and Pages.",
            "oauth_refresh_token": "Wrangler OAuth refresh token: mints new wrangler access tokens.",
        }[kind]
        return Credential.from_candidate(
            candidate, kind=kind, status=Status.unverified, possible_capabilities=ALL_CAPS, reasons=(text,)
        )

    # -- identify ----------------------------------------------------------------------------------------
    def identify(self, credential: Credential, ctx: ProviderContext) -> Credential:
        if ctx.offline or credential.kind == "oauth_refresh_token":
            return credential
        auth = _auth(credential)
        if auth is None:
            return credential
        meta = dict(credential.metadata)
        try:
            with self.client(ctx) as client:
                if credential.kind == "global_api_key":
                    return self._identify_global(client, credential, auth, meta)
                if credential.kind == "oauth_token":
                    return self._identify_oauth(client, credential, auth, meta)
                return self._identify_token(client, credential, auth, meta)
        except ProviderAuthError:
            return self.rejected(
                credential,
                "Cloudflare rejected the credential (HTTP 401): revoked, expired or never valid.",
                root_equivalent=False,
            )
        except ProviderError as exc:
            return self.could_not_verify(credential, exc.message)
        except SHAPE_ERRORS as exc:
            return self.could_not_verify(credential, f"unexpected response shape ({type(exc).__name__}).")

    def _identify_global(
        self, client: ApiClient, cred: Credential, auth: httpx.Auth, meta: dict[str, Any]
    ) -> Credential:
        status, body = _get(client, "/user", auth)
        codes = (
            {e.get("code") for e in (body.get("errors") or []) if isinstance(e, dict)}
            if isinstance(body, dict)
            else set()
        )
        if status in (400, 403) and codes & {9103, 6003, 9106}:  # unknown X-Auth-Key / X-Auth-Email
            raise ProviderAuthError(f"{NAME}: Global API Key or e-mail rejected (HTTP {status})")
        if status != 200:
            raise ProviderError(f"{NAME}: HTTP {status} from /user")
        user = body.get("result") or {}
        return cred.model_copy(
            update={
                "status": Status.verified,
                "principal": user.get("email"),
                "metadata": meta,
                "reasons": cred.reasons + (f"Verified: acts as {user.get('email')}.",),
            }
        )

    def _identify_oauth(
        self, client: ApiClient, cred: Credential, auth: httpx.Auth, meta: dict[str, Any]
    ) -> Credential:
        status, body = _get(client, "/accounts", auth, per_page=50)
        if status != 200:
            return cred.model_copy(
                update={
                    "status": Status.verified,
                    "metadata": meta,
                    "reasons": cred.reasons
                    + (f"Cloudflare accepted the login but refused to list accounts (HTTP {status}).",),
                }
            )
        meta["accounts"] = [a.get("id") for a in body.get("result") or [] if isinstance(a, dict)][
            :MAX_ACCOUNTS
        ]
        scopes = str(meta.get("scopes") or "").split()
        caps = [OAUTH_SCOPES[s] for s in scopes if s in OAUTH_SCOPES]
        reasons = list(cred.reasons) + [f"Verified: reaches {len(meta['accounts'])} account(s)."]
        if caps:
            meta["account_caps"] = {c: ["*"] for c in caps}
            reasons.append("Its OAuth scopes allow deleting: " + ", ".join(dict.fromkeys(caps)) + ".")
            return cred.model_copy(
                update={
                    "status": Status.verified,
                    "metadata": meta,
                    "capabilities": tuple(dict.fromkeys(caps)),
                    "possible_capabilities": (),
                    "root_equivalent": False,
                    "reasons": tuple(reasons)
                    + ("OAuth scopes cannot delete zones or mint API tokens: not root-equivalent.",),
                }
            )
        reasons.append(
            "Its OAuth scopes were not recorded next to it; assume wrangler's defaults (Workers, D1, KV "
            "and Pages write)."
        )
        return cred.model_copy(
            update={
                "status": Status.verified,
                "metadata": meta,
                "root_equivalent": None,
                "reasons": tuple(reasons),
            }
        )

    def _identify_token(
        self, client: ApiClient, cred: Credential, auth: httpx.Auth, meta: dict[str, Any]
    ) -> Credential:
        account_id = meta.get("account_id")
        if cred.kind == "account_api_token":
            if not account_id:
                status, body = _get(client, "/accounts", auth, per_page=5)
                accts = body.get("result") if status == 200 and isinstance(body, dict) else None
                account_id = accts[0].get("id") if accts else None
            if not account_id:
                return cred.model_copy(
                    update={
                        "status": Status.unverified,
                        "reasons": cred.reasons
                        + ("Account token: its account could not be determined, so it was not verified.",),
                    }
                )
            meta["account_id"] = account_id
            base = f"/accounts/{account_id}/tokens"
        else:
            base = "/user/tokens"
        status, body = _get(client, f"{base}/verify", auth)
        if status not in (200, 403):
            raise ProviderError(f"{NAME}: HTTP {status} from token verify")
        if status != 200:
            return cred.model_copy(
                update={
                    "status": Status.verified,
                    "metadata": meta,
                    "root_equivalent": None,
                    "reasons": cred.reasons
                    + (f"Token verify was refused (HTTP {status}); what it can delete is unknown.",),
                }
            )
        result = body.get("result") or {}
        token_id, state = result.get("id"), result.get("status")
        meta.update(token_id=token_id, token_status=state, expires_at=result.get("expires_on"))
        if state and state != "active":
            return cred.model_copy(
                update={
                    "status": Status.invalid,
                    "metadata": meta,
                    "root_equivalent": False,
                    "capabilities": (),
                    "possible_capabilities": (),
                    "reasons": (f"Cloudflare reports the token as {state}.",),
                }
            )
        reasons = [f"Verified: token {token_id} is active."]
        status, body = _get(client, f"{base}/{token_id}", auth)
        if status != 200:
            reasons.append(
                f"Its policies are not readable (HTTP {status}: the token lacks API Tokens Read), so "
                "what it can delete is unknown."
            )
            return cred.model_copy(
                update={
                    "status": Status.verified,
                    "metadata": meta,
                    "root_equivalent": None,
                    "possible_capabilities": ALL_CAPS,
                    "reasons": tuple(reasons),
                }
            )
        policies = (body.get("result") or {}).get("policies") or []
        caps, per_account = _policy_caps(policies)
        meta["account_caps"] = per_account
        if "create:api-token" in caps:
            root: bool | None = True
            reasons.append(
                "It can create API tokens, and so mint a token with any permission: root-equivalent."
            )
        elif (
            all(c in caps for c in DATA_CAPS)
            and "delete:zone" in caps
            and all("*" in per_account[c] for c in (*DATA_CAPS, "delete:zone"))
        ):
            root = True
            reasons.append(
                "It can delete D1 databases, R2 buckets, KV namespaces and zones in every account."
            )
        else:
            root = False
            reasons.append(
                "Policies: "
                + (", ".join(caps) if caps else "no write permissions")
                + "; it cannot mint tokens: not root-equivalent."
            )
        return cred.model_copy(
            update={
                "status": Status.verified,
                "metadata": meta,
                "capabilities": tuple(caps),
                "possible_capabilities": (),
                "root_equivalent": root,
                "reasons": tuple(reasons),
            }
        )

    # -- inventory --------------------------------------------------------------------------------------
    def inventory_credential(self, cred: Credential, ctx: ProviderContext) -> Inventory:
        auth = _auth(cred)
        if auth is None:  # a global API key without its email cannot be used
            return Inventory()
        with self.client(ctx) as client:
            return self._inventory_one(client, cred, auth)

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

    def _inventory_one(self, client: ApiClient, cred: Credential, auth: httpx.Auth) -> Inventory:
        resources: list[Resource] = []
        backups: list[Backup] = []
        facts: list[DestroyFact] = []
        gaps: list[CoverageGap] = []
        status, body = _get(client, "/accounts", auth, per_page=MAX_ACCOUNTS)
        if status != 200:
            return Inventory(
                gaps=(
                    CoverageGap(
                        subject=cred.id,
                        provider=NAME,
                        reason=f"could not list accounts with {cred.label} (HTTP {status})",
                    ),
                )
            )
        accounts = [a for a in body.get("result") or [] if isinstance(a, dict) and a.get("id")][:MAX_ACCOUNTS]
        for acct in accounts:
            aid, aname = acct["id"], acct.get("name") or acct["id"]
            parent = f"cloudflare:account:{aid}"
            resources.append(Resource(id=parent, provider=NAME, type="account", name=aname))
            for kind, path, cap, key_id, key_name in (
                ("d1-database", f"/accounts/{aid}/d1/database", "delete:d1-database", "uuid", "name"),
                ("r2-bucket", f"/accounts/{aid}/r2/buckets", "delete:r2-bucket", "name", "name"),
                (
                    "kv-namespace",
                    f"/accounts/{aid}/storage/kv/namespaces",
                    "delete:kv-namespace",
                    "id",
                    "title",
                ),
            ):
                status, body = _get(client, path, auth, per_page=PAGE)
                if status != 200:
                    gaps.append(
                        CoverageGap(
                            subject=parent,
                            provider=NAME,
                            reason=f"{kind}s of account {aname} could not be listed with "
                            f"{cred.label} (HTTP {status})",
                        )
                    )
                    continue
                items = body.get("result") or []
                if isinstance(items, dict):  # R2 answers {"result": {"buckets": [...]}}
                    items = items.get("buckets") or []
                for it in items[:PAGE]:
                    if not isinstance(it, dict) or not it.get(key_id):
                        continue
                    rid = f"cloudflare:{kind}:{aid}:{it[key_id]}"
                    resources.append(
                        Resource(
                            id=rid,
                            provider=NAME,
                            type=kind,
                            name=str(it.get(key_name) or it[key_id]),
                            parent=parent,
                            holds_data=True,
                        )
                    )
                    verdict, why = self._verdict(cred, cap, aid)
                    facts.append(
                        DestroyFact(
                            credential=cred.id, target=rid, verdict=verdict, reason=why, capability=cap
                        )
                    )
                    if kind == "d1-database":
                        bid = f"cloudflare:d1-time-travel:{aid}:{it[key_id]}"
                        backups.append(
                            Backup(
                                id=bid,
                                provider=NAME,
                                protects=rid,
                                kind="point-in-time",
                                location=f"D1 Time Travel inside database {it.get('name')} (30 days)",
                                dies_with_resource=True,
                                reasons=(
                                    "Time Travel lives inside the D1 database; Cloudflare does not say it survives "
                                    "deleting the database, so it is assumed to be deleted with it.",
                                ),
                            )
                        )
                if len(items) > PAGE:
                    gaps.append(
                        CoverageGap(
                            subject=parent,
                            provider=NAME,
                            reason=f"more than {PAGE} {kind}s: only the first {PAGE} inspected",
                        )
                    )
        return Inventory(
            resources=tuple(resources),
            backups=tuple(backups),
            facts=tuple(facts),
            gaps=tuple(gaps),
            denials=policy_denials(cred),
        )


def policy_denials(cred: Credential) -> tuple[CannotDestroyType, ...]:
    """Resource types a token's policies (or OAuth scopes) grant no delete permission for, on any account."""
    per_account = cred.metadata.get("account_caps")
    if cred.kind == "global_api_key" or not isinstance(per_account, dict):
        return ()
    return tuple(
        CannotDestroyType(credential=cred.id, provider=NAME, resource_type=kind, capability=cap,
                          reason=f"its policies do not grant {cap} on any account")
        for kind, cap in (("d1-database", "delete:d1-database"), ("r2-bucket", "delete:r2-bucket"),
                          ("kv-namespace", "delete:kv-namespace"))
        if not per_account.get(cap)
    )
