"""Fly.io provider.

Offline: macaroon tokens (``FlyV1 fm2_…``, ``fm1a_``/``fm1r_``) are decoded locally and their caveats
(organisation and app scopes with r/w/c/d/C action masks, GraphQL mutation allow-lists, validity window)
give the verdict; legacy user tokens (``fo1_``) are all-powerful across every organisation of the user.
identify(): a GraphQL *query* (never a mutation) for ``viewer`` and ``organizations`` checks the token is
live and maps organisation ids to names. inventory(): apps and their volumes (bounded); every volume has
daily snapshots, and destroying the app deletes its volumes AND their snapshots.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from auditor._lazy import lazy_module
from auditor.errors import ProviderAuthError, ProviderError
from auditor.http import ApiClient, RequestAuth
from auditor.model import Candidate, Credential, Inventory, Status, Verdict
from auditor.provider import FileRule, ProviderContext, Recogniser
from auditor.provider_http import HttpProvider
from auditor.provider_kit import InventoryBuilder, call_json, cli_login, env_token, text_recognisers, unverified
from auditor.secrets import Secret

from .macaroon import MacaroonError, Scope, is_macaroon, scope_of, split_tokens

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")

NAME = "fly"
DEFAULT_URL = "https://api.fly.io"
URL_ENV = "BLASTWALL_FLY_URL"
FIRST = 50

_MAC = r"fm(?:1[ar]|2)_[A-Za-z0-9+/]{40,}={0,2}"
_WORD = "A-Za-z0-9_+/=-"  # a macaroon is base64: never inside a longer run of these
_USER = r"fo1_[A-Za-z0-9_-]{43}"
_VALUE = re.compile(rf"(?:(?:FlyV1|Bearer) )?(?:{_MAC}(?:,\s*{_MAC})*|{_USER}|[A-Za-z0-9_-]{{40,64}})")
ENV_NAMES = frozenset({"FLY_API_TOKEN", "FLY_ACCESS_TOKEN", "fly_api_token"})
CAPS = ("delete:app", "delete:volume", "delete:machine")

VIEWER_QUERY = (
    "query BlastwallIdentify { viewer { id email } organizations { nodes { id slug name internalNumericId } } }"
)
APPS_QUERY = (
    "query BlastwallInventory($first: Int!) { apps(first: $first) { totalCount nodes { id name internalNumericId "
    "organization { slug internalNumericId } volumes(first: $first) { totalCount nodes { id name sizeGb } } } } }"
)


class FlyAuth(RequestAuth):
    """``FlyV1 <macaroons>`` when the token holds macaroons, else ``Bearer <token>`` (fly-go's rule)."""

    def __init__(self, secret: Secret) -> None:
        self._secret = secret

    def __call__(self, request: httpx.Request) -> httpx.Request:
        toks = split_tokens(self._secret.reveal())
        macs = [t for t in toks if is_macaroon(t)]
        request.headers["Authorization"] = ("FlyV1 " + ",".join(macs)) if macs else ("Bearer " + ",".join(toks))
        return request

    def __repr__(self) -> str:
        return f"FlyAuth({self._secret!r})"


def _graphql(
    client: ApiClient, cred: Credential, query: str, variables: dict[str, Any] | None = None
) -> tuple[int, Any]:
    """(status, data). Only queries are ever sent. 401/UNAUTHORIZED raise ProviderAuthError."""
    if not query.lstrip().startswith("query ") or "mutation" in query.lower():
        raise ProviderError(f"{NAME}: refusing to send a GraphQL document that is not a plain query")
    doc = {"query": query, "variables": variables or {}}
    hint = "Fly returned something that is not JSON; try again later"
    reply = call_json(
        client,
        "POST",
        "/graphql",
        auth=FlyAuth(cred.secret),
        json=doc,
        rejected="token rejected",
        malformed_hint=hint,
        strict_json=True,
    )
    body, status = reply.body, reply.status
    errors = body.get("errors") if isinstance(body, dict) else None
    codes = {str((e.get("extensions") or {}).get("code", "")).upper() for e in errors or [] if isinstance(e, dict)}
    if "UNAUTHORIZED" in codes or "UNAUTHENTICATED" in codes:
        raise ProviderAuthError(f"{NAME}: token rejected (GraphQL UNAUTHORIZED)")
    if status == 403 or "FORBIDDEN" in codes:
        return 403, None
    if status != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        return status if status != 200 else 502, None
    return 200, body["data"]


def _mac_verdict(scope: Scope) -> tuple[bool | None, tuple[str, ...], tuple[str, ...]]:
    """(root_equivalent, capabilities, reasons) from decoded caveats."""
    orgs = ", ".join(str(o) for o in scope.orgs) if scope.orgs else "every organisation of its user"
    if scope.mutations is not None:
        muts = [m for m in scope.mutations if re.search(r"delete|destroy|remove", m, re.I)]
        return (
            False,
            (),
            (
                f"Macaroon limited to the GraphQL mutations {', '.join(scope.mutations) or '(none)'}"
                + (f"; destructive ones: {', '.join(muts)}." if muts else "; none is destructive."),
            ),
        )
    if scope.can("delete"):
        why = [
            f"Macaroon caveats allow deleting any app, volume and machine in organisation(s) {orgs}: it can "
            "destroy every app together with its volumes and their snapshots."
        ]
        if scope.unknown_caveats:
            why.append(
                f"It also carries caveat types {scope.unknown_caveats} this tool does not interpret; they "
                "can only narrow it."
            )
        return True, CAPS, tuple(why)
    if scope.apps is not None:
        deletable = sorted(a for a, m in scope.apps.items() if m & 8)
        if deletable and scope.can("delete", deletable[0]):
            return (
                False,
                CAPS,
                (
                    f"Macaroon limited to app(s) {', '.join(map(str, sorted(scope.apps)))}; it can "
                    f"destroy app(s) {', '.join(map(str, deletable))} with their volumes and snapshots, "
                    "nothing else in the organisation.",
                ),
            )
        return (
            False,
            (),
            (f"Macaroon limited to app(s) {', '.join(map(str, sorted(scope.apps)))} without delete permission.",),
        )
    if scope.orgs is not None and all(not (m & (2 | 4 | 8)) for m in scope.orgs.values()):
        return (False, (), (f"Read-only macaroon for organisation(s) {orgs}: it cannot delete or change anything.",))
    return False, (), (f"Macaroon for organisation(s) {orgs} without the delete action.",)


def judge_token(cred: Credential, answer: tuple[int, Any]) -> Verdict:
    """The verdict on a Fly token from its identity query's answer (HTTP status, GraphQL data); pure."""
    status, data = answer
    base = tuple(r for r in cred.reasons if not r.endswith("not yet verified with Fly."))
    if status == 403:
        return Verdict(
            status=Status.verified,
            reasons=base + ("Fly accepted the token but refused the identity query (forbidden).",),
        )
    if status != 200:
        return Verdict(
            status=Status.error,
            reasons=cred.reasons
            + (f"Could not verify: Fly answered the identity query with HTTP {status} and no data.",),
        )
    meta: dict[str, Any] = dict(cred.metadata)
    viewer = data.get("viewer") or {}
    orgs = [o for o in ((data.get("organizations") or {}).get("nodes") or []) if isinstance(o, dict)]
    meta["organizations"] = {str(o.get("internalNumericId")): o.get("slug") for o in orgs}
    names = ", ".join(str(o.get("slug")) for o in orgs) or "none listed"
    return Verdict(
        status=Status.verified,
        principal=viewer.get("email") or viewer.get("id"),
        metadata=meta,
        reasons=base + (f"Verified with Fly; organisations: {names}.",),
    )


class FlyProvider(HttpProvider, name=NAME, display_name="Fly.io", default_url=DEFAULT_URL):
    inventory_noun = "apps"

    def recognisers(self) -> Sequence[Recogniser]:
        bodies = [("macaroon", rf"(?:FlyV1 )?{_MAC}(?:,{_MAC})*"), ("user_token", _USER)]
        return [
            *text_recognisers(NAME, bodies, word=_WORD),
            env_token(NAME, "token", ENV_NAMES, _VALUE),
            cli_login(NAME, "token", FileRule(".fly/config.yml", "access_token"), priority=75, value_pattern=_VALUE),
        ]

    def classify(self, candidate: Candidate) -> Credential:
        value = candidate.secret.reveal()
        toks = split_tokens(value)
        if not any(is_macaroon(t) for t in toks):
            why = (
                "Fly user token (fo1_ / personal access token): all-powerful, it acts as the user in "
                "every organisation and can destroy any app, volume and snapshot."
            )
            return unverified(candidate, why, kind="user_token", root_equivalent=True, capabilities=CAPS)
        meta: dict[str, Any] = dict(candidate.hints)
        macaroon = partial(Credential.from_candidate, candidate, kind="macaroon", metadata=meta)
        try:
            scope = scope_of(value)
        except MacaroonError as exc:
            why = f"Fly macaroon that could not be decoded offline ({exc}); its scope is unknown."
            return macaroon(status=Status.unverified, possible_capabilities=CAPS, reasons=(why,))
        assert scope is not None
        meta["macaroon"] = {
            "orgs": sorted(scope.orgs) if scope.orgs is not None else None,
            "apps": {str(k): v for k, v in scope.apps.items()} if scope.apps is not None else None,
            "mutations": scope.mutations,
            "not_after": scope.not_after,
            "else_mask": scope.else_mask,
            "third_party": scope.third_party,
        }
        if scope.not_after:
            from datetime import UTC, datetime

            meta["expires_at"] = datetime.fromtimestamp(scope.not_after, UTC).isoformat()
        if scope.expired():
            why = f"Fly macaroon expired at {meta['expires_at']} (decoded offline)."
            return macaroon(status=Status.invalid, root_equivalent=False, reasons=(why,))
        root, caps, reasons = _mac_verdict(scope)
        reasons += ("Caveats decoded offline; not yet verified with Fly.",)
        return macaroon(status=Status.unverified, root_equivalent=root, capabilities=caps, reasons=reasons)

    # -- identify ----------------------------------------------------------------------------------------
    rejected_reason = "Fly rejected the token (unauthorized): revoked, expired or never valid."
    rejected_root = False
    errors_as_reasons = True
    judge = staticmethod(judge_token)

    @staticmethod
    def fetch(api: ApiClient, credential: Credential, ctx: ProviderContext | None = None) -> tuple[int, Any]:
        return _graphql(api, credential, VIEWER_QUERY)

    def identifiable(self, credential: Credential) -> bool:
        return credential.status != Status.invalid

    # -- inventory --------------------------------------------------------------------------------------
    @staticmethod
    def _can_delete(cred: Credential, app_numeric_id: Any) -> tuple[bool | None, str]:
        if cred.kind == "user_token":
            return True, "user token: full access"
        try:
            scope = scope_of(cred.secret.reveal())
        except MacaroonError:
            scope = None
        if scope is None:
            return None, "the token's caveats could not be decoded"
        try:
            app_id = int(app_numeric_id)
        except (TypeError, ValueError):
            app_id = None
        if app_id is None and scope.apps is not None:
            return None, "the app's internal id is unknown, so its caveat cannot be matched"
        ok = scope.can("delete", app_id)
        return (ok, "its caveats allow deleting this app" if ok else "its caveats do not allow deleting this app")

    # inventory() is HttpProvider's loop over the verified credentials; this is one credential's part.
    def _inventory_one(self, client: ApiClient, cred: Credential) -> Inventory:
        status, data = _graphql(client, cred, APPS_QUERY, {"first": FIRST})
        inv = InventoryBuilder(NAME)
        if status != 200:
            inv.gap(cred.id, f"could not list apps with {cred.label} (HTTP {status})")
            return inv.build()
        apps_conn = data.get("apps") or {}
        if (apps_conn.get("totalCount") or 0) > FIRST:
            inv.gap(cred.id, f"more than {FIRST} apps: only the first {FIRST} inspected")
        for app in apps_conn.get("nodes") or []:
            if not isinstance(app, dict) or not app.get("name"):
                continue
            aid = f"fly:app:{app['name']}"
            org = (app.get("organization") or {}).get("slug")
            inv.add_resource(aid, "app", app["name"], parent=f"fly:org:{org}" if org else None)
            verdict, why = self._can_delete(cred, app.get("internalNumericId"))
            inv.fact(cred.id, aid, verdict, why, "delete:app")
            vols = app.get("volumes") or {}
            if (vols.get("totalCount") or 0) > FIRST:
                inv.gap(aid, f"app {app['name']} has more than {FIRST} volumes")
            for vol in vols.get("nodes") or []:
                if not isinstance(vol, dict) or not vol.get("id"):
                    continue
                vid = f"fly:volume:{vol['id']}"
                inv.add_resource(
                    vid,
                    "volume",
                    str(vol.get("name") or vol["id"]),
                    parent=aid,
                    holds_data=True,
                    metadata={"size_gb": vol.get("sizeGb")},
                )
                inv.fact(cred.id, vid, verdict, why, "delete:volume")
                bid = f"fly:volume-snapshots:{vol['id']}"
                inv.add_backup(
                    bid,
                    vid,
                    "snapshot",
                    f"daily Fly snapshots of volume {vol.get('name')} (app {app['name']}, 5 days by default)",
                    dies_with_resource=False,
                    independent=False,
                    reasons=(
                        "Destroying the volume keeps its snapshots for their retention (findable for 24 h), "
                        "but destroying the app deletes its volumes and their snapshots.",
                    ),
                )
                inv.fact(cred.id, bid, verdict, f"app destroy deletes volume snapshots; {why}", "delete:app")
        caveat_denials(inv, cred)
        return inv.build()


def caveat_denials(inv: InventoryBuilder, cred: Credential) -> None:
    """A macaroon whose caveats grant the delete action on no app and no organisation (and that is not
    limited to a list of GraphQL mutations, which could include destructive ones) deletes no app or volume."""
    if cred.kind != "macaroon":
        return
    try:
        scope = scope_of(cred.secret.reveal())
    except MacaroonError:
        return
    if scope is None or scope.mutations is not None or _mac_verdict(scope)[1]:
        return
    for rtype, cap in (("app", "delete:app"), ("volume", "delete:volume")):
        inv.denial(cred.id, rtype, "its caveats grant the delete action on no app", cap)
