"""Heroku provider: identify a token read-only, inventory apps, Postgres add-ons and their PGBackups.

Identify, as ``heroku auth:token`` does it [HCLI ``src/commands/auth/token.ts``]:

1. ``GET /account``: the user (allowed for ``global`` and ``identity`` scopes).
2. ``GET /oauth/authorizations`` and find the entry whose ``access_token.token`` is the token in hand: its
   ``scope`` and expiry. The list contains the token values of the user's other authorizations, so a token
   that may read it can take over every other token: it is root-equivalent whatever its own entry says.
   Only ``global`` tokens may list authorizations; a 403 there while other reads succeed proves a scoped
   token (``identity``/``read``/``write``/``read-protected``/``write-protected``).
3. ``GET /apps`` and ``GET /apps/{app}/config-vars`` show ``read`` and ``read-protected``; whether a scoped
   token also holds ``write`` (which can delete apps) cannot be learnt without a write, so it stays possible.

Backups: PGBackups (logical) are stored by Heroku and keyed by app on ``postgres-api.heroku.com``
``/client/v11/apps/{app}/transfers``; they are downloadable (``pg:backups:download``). Whether they survive
destroying the add-on or the app is not documented (⚠ UNVERIFIED) → ``dies_with_resource=None``. Certain:
the same global token can delete them one by one (``pg:backups:delete``).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from auditor.errors import BlastwallError, ProviderError
from auditor.http import ApiClient, BearerAuth
from auditor.model import Credential, Finding, Inventory, Severity, Status, Verdict
from auditor.provider import ProviderContext
from auditor.provider_http import HttpProvider
from auditor.provider_kit import (
    Denied,
    InventoryBuilder,
    Page,
    get_json,
    get_response,
    paginate,
    root_verdict,
    unverified,
)

from .recognisers import RECOGNISERS

__all__ = ["DEFAULT_POSTGRES_URL", "DEFAULT_URL", "HerokuFacts", "HerokuProvider", "judge_token"]

NAME = "heroku"
DEFAULT_URL = "https://api.heroku.com"
DEFAULT_POSTGRES_URL = "https://postgres-api.heroku.com"
URL_ENV = "BLASTWALL_HEROKU_URL"
POSTGRES_URL_ENV = "BLASTWALL_HEROKU_POSTGRES_URL"
ACCEPT = {"Accept": "application/vnd.heroku+json; version=3"}
MAX_PAGES = 20

_GLOBAL_CAPS = (
    "read:app",
    "delete:app",
    "delete:addon",
    "delete:backup",
    "read:config_vars",
    "write:config_vars",
    "create:token",
    "read:tokens",
)
_WRITE_CAPS = ("delete:app", "delete:addon", "delete:backup")
_DATA_ADDONS = {"heroku-postgresql": "postgres", "heroku-redis": "key_value"}
_CP_TIERS = ("standard", "premium", "private", "shield", "essential")


def _urls(ctx: ProviderContext) -> tuple[str, str]:
    """Two endpoints (platform API, Postgres API); each is checked by HttpProvider.client(ctx, url)."""
    main = ctx.env.get(URL_ENV) or ctx.settings.get("url")
    pg = ctx.env.get(POSTGRES_URL_ENV) or ctx.settings.get("postgres_url") or main or DEFAULT_POSTGRES_URL
    return str(main or DEFAULT_URL).rstrip("/"), str(pg).rstrip("/")


_DENIED = "the token lacks the scope for it"
_OK = frozenset({200, 206})


def _get(api: ApiClient, path: str, cred: Credential) -> Any:
    return get_json(api, path, auth=BearerAuth(cred.secret), headers=ACCEPT, ok=_OK, denied=_DENIED)


def _range_page(api: ApiClient, path: str, cred: Credential, rng: str | None) -> Page[dict[str, Any]]:
    headers = dict(ACCEPT, Range=rng) if rng else ACCEPT
    resp = get_response(api, path, auth=BearerAuth(cred.secret), headers=headers, ok=_OK, denied=_DENIED)
    data = api.decode(resp) if resp is not None else None
    if resp is None or not isinstance(data, list):
        raise ProviderError(f"heroku: unexpected answer from {path}")
    nxt = resp.headers.get("Next-Range")
    return Page([d for d in data if isinstance(d, dict)], nxt if resp.status_code == 206 and nxt else None)


def _list(api: ApiClient, path: str, cred: Credential) -> Iterator[dict[str, Any]]:
    """Heroku's Range pagination: 206 Partial Content with a ``Next-Range`` header."""
    return paginate(partial(_range_page, api, path, cred), max_pages=MAX_PAGES)


def _same_token(entry: dict[str, Any], secret: str) -> bool:
    tok = entry.get("access_token")
    value = tok.get("token") if isinstance(tok, dict) else None
    return isinstance(value, str) and hmac.compare_digest(value.encode(), secret.encode())


@dataclass(frozen=True)
class HerokuFacts:
    """What the read-only calls showed about one token."""

    account: dict[str, Any] | None  # GET /account, None when refused or odd
    account_denied: bool
    authorizations: list[dict[str, Any]] | None  # None: listing them was refused (not a global token)
    apps_answered: bool = False  # GET /apps was not refused (probed only for a non-global token)
    apps_ok: bool = False  # GET /apps answered with a list
    config_vars_ok: bool = False  # the first app's config vars were readable


def _fetch(api: ApiClient, cred: Credential, ctx: ProviderContext | None = None) -> HerokuFacts:
    acct: dict[str, Any] | None = None
    denied = False
    try:
        data = _get(api, "/account", cred)
        acct = data if isinstance(data, dict) else None
    except Denied:
        denied = True
    authorizations: list[dict[str, Any]] | None = None
    try:
        authorizations = list(_list(api, "/oauth/authorizations", cred))
    except Denied:
        pass
    if authorizations is not None:  # a global token needs no further probing
        return HerokuFacts(acct, denied, authorizations)
    answered = apps_ok = vars_ok = False
    try:
        first = _get(api, "/apps", cred)  # one page is enough to learn the read scope
        apps = [a for a in first if isinstance(a, dict)] if isinstance(first, list) else []
        answered, apps_ok = True, first is not None
    except Denied:
        apps = []
    if apps_ok and apps:
        try:
            path = f"/apps/{apps[0].get('id') or apps[0].get('name')}/config-vars"
            vars_ok = _get(api, path, cred) is not None
        except Denied:
            pass
    return HerokuFacts(acct, denied, None, answered, apps_ok, vars_ok)


def judge_token(cred: Credential, seen: HerokuFacts) -> Verdict:
    """The verdict on a Heroku token from what the read-only calls showed (pure: no HTTP)."""
    meta: dict[str, Any] = dict(cred.metadata)
    reasons: list[str] = []
    principal = cred.principal
    ok_calls = 0
    if seen.account is not None:
        principal = seen.account.get("email") or principal
        meta["account_id"] = seen.account.get("id")
        ok_calls += 1
    if seen.account_denied:
        reasons.append("Heroku refused GET /account (HTTP 403): the token lacks the identity scope.")
    authorizations = seen.authorizations
    if authorizations is not None:
        mine = next((a for a in authorizations if _same_token(a, cred.secret.reveal())), None)
        scope = [str(s) for s in (mine or {}).get("scope") or []]
        meta["scope"] = scope or None
        meta["scope_known"] = True
        if mine is not None:
            exp = (mine.get("access_token") or {}).get("expires_in")
            if exp is not None:
                meta["expires_in_s"] = exp
            if mine.get("description"):
                meta["description"] = str(mine["description"])[:80]
        if "global" in scope:
            reasons.append(
                "Its OAuth authorization has the global scope: full access to the account, "
                "equivalent to the account's API key."
            )
        reasons.append(
            f"It can list the user's {len(authorizations)} OAuth authorization(s) including their "
            "token values, so it can act with any of them: root-equivalent."
        )
        reasons.append("It can delete apps, destroy Postgres add-ons and delete their logical backups.")
        return root_verdict(_GLOBAL_CAPS, *reasons, principal=principal, metadata=meta)
    if not ok_calls and not seen.apps_answered:
        reasons.append(
            "Heroku accepted the token but refused every read call (HTTP 403), so its scope is "
            "unknown; it is not treated as safe."
        )
        meta["scope_known"] = False
        return Verdict(
            status=Status.verified,
            principal=principal,
            metadata=meta,
            root_equivalent=None,
            capabilities=(),
            possible_capabilities=_GLOBAL_CAPS,
            reasons=tuple(reasons),
        )
    caps: list[str] = []
    if seen.apps_ok:
        caps.append("read:app")
        if seen.config_vars_ok:
            caps.append("read:config_vars")
    meta["scope"] = None
    meta["scope_known"] = False
    reasons.append(
        "Not a global token: Heroku refused to list OAuth authorizations (HTTP 403), which every "
        "global-scope token may do, and answered other read calls; it is a scoped OAuth token "
        f"(readable: {', '.join(caps) or 'account identity only'})."
    )
    reasons.append(
        "Heroku has no read-only call that reveals whether it also holds the write scope, which "
        "can delete apps, destroy add-ons and delete backups."
    )
    return Verdict(
        status=Status.verified,
        principal=principal,
        metadata=meta,
        root_equivalent=False,
        capabilities=tuple(caps),
        possible_capabilities=_WRITE_CAPS if seen.apps_ok else (),
        reasons=tuple(reasons),
    )


class HerokuProvider(HttpProvider, name="heroku", display_name="Heroku", default_url=DEFAULT_URL):
    recogniser_set = RECOGNISERS

    def classify(self, candidate: Any) -> Credential:
        login = candidate.hints.get("login") or candidate.hints.get("username") or candidate.hints.get(":username")
        cli = any(s.category == "cli_config" for s in candidate.sources)
        reasons = ["Not verified with Heroku."]
        if cli:
            reasons.append("Heroku CLI logins are global-scope tokens (full account access), valid for a year.")
        if cli:
            return unverified(candidate, *reasons, principal=login, root_equivalent=True, capabilities=_GLOBAL_CAPS)
        return unverified(candidate, *reasons, principal=login, possible_capabilities=_GLOBAL_CAPS)

    # -- identify (read-only) ------------------------------------------------------------------------------
    fetch = staticmethod(_fetch)
    judge = staticmethod(judge_token)

    # -- inventory (read-only) -----------------------------------------------------------------------------
    def inventory(self, credentials: Sequence[Credential], ctx: ProviderContext) -> Inventory:
        if ctx.offline:
            return Inventory()
        inv = InventoryBuilder(NAME)
        seen_by: dict[str, set[str]] = {}  # credential id -> resource/backup ids it could list
        inspected: list[Credential] = []
        main, pgurl = _urls(ctx)
        with self.client(ctx, main) as api, self.client(ctx, pgurl) as pg:
            for c in credentials:
                if c.status != Status.verified:
                    continue
                if "read:app" not in c.capabilities:
                    inv.gap(
                        c.id,
                        "not inspected: the token may not list apps (HTTP 403); its "
                        "apps, databases and backups are unknown",
                    )
                    continue
                inspected.append(c)
                seen_by[c.id] = self._list_account(api, pg, c, inv)
        self._facts(inspected, seen_by, inv)
        for res in list(inv.resources.values()):
            if res.type != "postgres":
                continue
            logical = [b for b in inv.backups.values() if b.protects == res.id and b.kind == "logical"]
            if logical:
                inv.finding(
                    Finding.make(
                        "heroku-backups-same-account",
                        Severity.medium,
                        res.id,
                        f"The {len(logical)} PGBackups of Heroku Postgres {res.name} are stored by Heroku and keyed by "
                        "the app; a global token can delete them, and whether they survive destroying the app is not "
                        "documented.",
                        "Download them on a schedule (heroku pg:backups:download, or pg:backups:url) to storage outside "
                        "Heroku that no Heroku token can delete.",
                        provider="heroku",
                    )
                )
        for c in credentials:
            scope_denials(inv, c)
        return inv.build()

    def _list_account(self, api: ApiClient, pg: ApiClient, c: Credential, inv: InventoryBuilder) -> set[str]:
        seen: set[str] = set()
        try:
            apps = list(_list(api, "/apps", c))
        except BlastwallError as exc:
            inv.gap(f"heroku apps ({c.fingerprint})", f"not inspected: {exc.message}")
            return seen
        for app in apps:
            if not app.get("id"):
                continue
            aid = f"heroku:app:{app['id']}"
            app_name = str(app.get("name") or app["id"])
            inv.add_resource(
                aid, "app", app_name, metadata={"team": (app.get("team") or {}).get("name")} if app.get("team") else {}
            )
            seen.add(aid)
            try:
                addons = list(_list(api, f"/apps/{app['id']}/addons", c))
            except BlastwallError as exc:
                inv.gap(aid, f"add-ons not inspected: {exc.message}")
                continue
            dbs: list[tuple[dict[str, Any], str]] = []
            for ad in addons:
                service = str((ad.get("addon_service") or {}).get("name") or "")
                rtype = _DATA_ADDONS.get(service)
                if rtype is None or not ad.get("id"):
                    continue
                rid = f"heroku:{rtype}:{ad['id']}"
                plan = str((ad.get("plan") or {}).get("name") or "")
                inv.add_resource(
                    rid,
                    rtype,
                    str(ad.get("name") or ad["id"]),
                    parent=aid,
                    holds_data=True,
                    metadata={"plan": plan, "app": app_name},
                )
                seen.add(rid)
                if rtype == "postgres":
                    dbs.append((ad, rid))
                    if any(t in plan.split(":")[-1] for t in _CP_TIERS):
                        bid = f"heroku:continuous-protection:{ad['id']}"
                        inv.add_backup(
                            bid,
                            rid,
                            "pitr",
                            f"Heroku Continuous Protection (WAL archive) of {ad.get('name')}",
                            dies_with_resource=None,
                            reasons=(
                                (
                                    "Heroku does not document whether Continuous Protection outlives destroying "
                                    "the add-on; it is usable only for rollback or fork inside Heroku."
                                ),
                            ),
                        )
                        seen.add(bid)
            if dbs:
                try:
                    transfers = _get(pg, f"/client/v11/apps/{app_name}/transfers", c)
                except BlastwallError as exc:
                    inv.gap(aid, f"PGBackups not inspected: {exc.message}")
                    continue
                for t in transfers if isinstance(transfers, list) else []:
                    if not isinstance(t, dict) or t.get("to_type") != "gof3r" or not t.get("succeeded"):
                        continue
                    target = self._db_of(t, dbs)
                    bid = f"heroku:pgbackup:{app_name}:{t.get('num')}"
                    inv.add_backup(
                        bid,
                        target,
                        "logical",
                        f"Heroku PGBackups storage (S3, keyed by app {app_name}); downloadable",
                        dies_with_resource=None,
                        reasons=(
                            (
                                "Heroku keeps logical backups per app; whether they survive destroying the add-on "
                                "or the app is not documented."
                            ),
                        ),
                        metadata={
                            "num": t.get("num"),
                            "downloadable": True,
                            **({"created_at": t["created_at"]} if t.get("created_at") else {}),
                        },
                    )
                    seen.add(bid)
        return seen

    @staticmethod
    def _db_of(t: dict[str, Any], dbs: list[tuple[dict[str, Any], str]]) -> str:
        src = str(t.get("from_name") or "")
        for ad, rid in dbs:
            if src and (src == ad.get("name") or f"{src}_URL" in (ad.get("config_vars") or [])):
                return rid
        return dbs[0][1]

    @staticmethod
    def _facts(creds: Sequence[Credential], seen_by: dict[str, set[str]], inv: InventoryBuilder) -> None:
        resources, backups = dict(inv.resources), dict(inv.backups)
        for c in creds:
            seen = seen_by.get(c.id, set())
            for tid in list(resources) + list(backups):
                if tid not in seen:
                    continue  # other accounts' objects: unknown, no fact (a token may be another user's)
                is_backup = tid in backups
                kind = backups[tid].kind if is_backup else resources[tid].type
                if c.root_equivalent is not True:
                    inv.fact(c.id, tid, None, "scoped token: whether it holds the write scope is unknown")
                elif is_backup and kind == "pitr":
                    inv.fact(c.id, tid, None, "no API deletes Continuous Protection directly")
                else:
                    cap = "delete:backup" if is_backup else ("delete:app" if kind == "app" else "delete:addon")
                    inv.fact(c.id, tid, True, "global-scope token", cap)


def scope_denials(inv: InventoryBuilder, c: Credential) -> None:
    """A verified token judged to hold no write scope at all (identify found it cannot even read apps, and
    Heroku's write scope includes read) deletes no app, add-on or backup of any account."""
    if c.status != Status.verified or c.root_equivalent is not False or c.possible_capabilities:
        return
    if any(cap in _WRITE_CAPS for cap in c.capabilities):
        return
    for t, cap in [("app", "delete:app")] + [(rt, "delete:addon") for rt in _DATA_ADDONS.values()]:
        inv.denial(c.id, t, "scoped token without the write scope", cap)
