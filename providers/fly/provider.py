"""Fly.io provider.

Offline: macaroon tokens (``FlyV1 fm2_…``, ``fm1a_``/``fm1r_``) are decoded locally and their caveats
(organisation and app scopes with r/w/c/d/C action masks, GraphQL mutation allow-lists, validity window)
give the verdict; legacy user tokens (``fo1_``) are all-powerful across every organisation of the user.
identify(): a GraphQL *query* (never a mutation) for ``viewer`` and ``organizations`` checks the token is
live and maps organisation ids to names. inventory(): apps and their volumes (bounded); every volume has
daily snapshots, and destroying the app deletes its volumes AND their snapshots.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Generator, Sequence
from typing import Any

import httpx

from auditor.errors import ProviderAuthError, ProviderError
from auditor.http import ApiClient
from auditor.model import (
    Backup,
    CannotDestroyType,
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

from .macaroon import MacaroonError, Scope, is_macaroon, scope_of, split_tokens

log = logging.getLogger(__name__)

NAME = "fly"
DEFAULT_URL = "https://api.fly.io"
URL_ENV = "BLASTWALL_FLY_URL"
FIRST = 50

_MAC = r"fm(?:1[ar]|2)_[A-Za-z0-9+/]{40,}={0,2}"
_B = r"(?<![A-Za-z0-9_+/=-])"
_E = r"(?![A-Za-z0-9_+/=-])"
_USER = r"fo1_[A-Za-z0-9_-]{43}"
_VALUE = re.compile(rf"(?:(?:FlyV1|Bearer) )?(?:{_MAC}(?:,\s*{_MAC})*|{_USER}|[A-Za-z0-9_-]{{40,64}})")
ENV_NAMES = frozenset({"FLY_API_TOKEN", "FLY_ACCESS_TOKEN", "fly_api_token"})
CAPS = ("delete:app", "delete:volume", "delete:machine")

VIEWER_QUERY = "query BlastwallIdentify { viewer { id email } organizations { nodes { id slug name internalNumericId } } }"
APPS_QUERY = (
    "query BlastwallInventory($first: Int!) { apps(first: $first) { totalCount nodes { id name internalNumericId "
    "organization { slug internalNumericId } volumes(first: $first) { totalCount nodes { id name sizeGb } } } } }"
)


class FlyAuth(httpx.Auth):
    """``FlyV1 <macaroons>`` when the token holds macaroons, else ``Bearer <token>`` (fly-go's rule)."""

    def __init__(self, secret: Secret) -> None:
        self._secret = secret

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        toks = split_tokens(self._secret.reveal())
        macs = [t for t in toks if is_macaroon(t)]
        request.headers["Authorization"] = (
            ("FlyV1 " + ",".join(macs)) if macs else ("Bearer " + ",".join(toks))
        )
        yield request

    def __repr__(self) -> str:
        return f"FlyAuth({self._secret!r})"


def _graphql(
    client: ApiClient, cred: Credential, query: str, variables: dict[str, Any] | None = None
) -> tuple[int, Any]:
    """(status, data). Only queries are ever sent. 401/UNAUTHORIZED raise ProviderAuthError."""
    if not query.lstrip().startswith("query ") or "mutation" in query.lower():
        raise ProviderError(f"{NAME}: refusing to send a GraphQL document that is not a plain query")
    resp = client.request(
        "POST", "/graphql", auth=FlyAuth(cred.secret), json={"query": query, "variables": variables or {}}
    )
    if resp.status_code == 401:
        raise ProviderAuthError(f"{NAME}: token rejected (HTTP 401)")
    try:
        body = resp.json()
    except ValueError:
        raise ProviderError(
            f"{NAME}: malformed JSON from /graphql (HTTP {resp.status_code})",
            hint="Fly returned something that is not JSON; try again later",
        ) from None
    errors = body.get("errors") if isinstance(body, dict) else None
    codes = {
        str((e.get("extensions") or {}).get("code", "")).upper() for e in errors or [] if isinstance(e, dict)
    }
    if "UNAUTHORIZED" in codes or "UNAUTHENTICATED" in codes:
        raise ProviderAuthError(f"{NAME}: token rejected (GraphQL UNAUTHORIZED)")
    if resp.status_code == 403 or "FORBIDDEN" in codes:
        return 403, None
    if resp.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        return resp.status_code if resp.status_code != 200 else 502, None
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
            (
                f"Macaroon limited to app(s) {', '.join(map(str, sorted(scope.apps)))} without delete "
                "permission.",
            ),
        )
    if scope.orgs is not None and all(not (m & (2 | 4 | 8)) for m in scope.orgs.values()):
        return (
            False,
            (),
            (f"Read-only macaroon for organisation(s) {orgs}: it cannot delete or change anything.",),
        )
    return False, (), (f"Macaroon for organisation(s) {orgs} without the delete action.",)


class FlyProvider(HttpProvider):
    name = NAME
    url_env = URL_ENV
    default_url = DEFAULT_URL
    inventory_noun = "apps"
    display_name = "Fly.io"

    def recognisers(self) -> Sequence[Recogniser]:
        return [
            Recogniser(
                NAME,
                "macaroon",
                priority=80,
                text_pattern=re.compile(_B + rf"(?P<secret>(?:FlyV1 )?{_MAC}(?:,{_MAC})*)" + _E),
            ),
            Recogniser(
                NAME, "user_token", priority=80, text_pattern=re.compile(_B + rf"(?P<secret>{_USER})" + _E)
            ),
            Recogniser(NAME, "token", key_names=ENV_NAMES, value_pattern=_VALUE, priority=70),
            Recogniser(
                NAME,
                "token",
                value_pattern=_VALUE,
                category="cli_config",
                priority=75,
                files=(FileRule(".fly/config.yml", "access_token"),),
            ),
        ]

    def classify(self, candidate: Candidate) -> Credential:
        value = candidate.secret.reveal()
        toks = split_tokens(value)
        if not any(is_macaroon(t) for t in toks):
            return Credential.from_candidate(
                candidate,
                kind="user_token",
                status=Status.unverified,
                root_equivalent=True,
                capabilities=CAPS,
                reasons=(
                    "Fly user token (fo1_ / personal access token): all-powerful, it acts as the user in every "
                    "organisation and can destroy any app, volume and snapshot.",
                ),
            )
        meta = dict(candidate.hints)
        try:
            scope = scope_of(value)
        except MacaroonError as exc:
            return Credential.from_candidate(
                candidate,
                kind="macaroon",
                status=Status.unverified,
                possible_capabilities=CAPS,
                metadata=meta,
                reasons=(f"Fly macaroon that could not be decoded offline ({exc}); its scope is unknown.",),
            )
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
            return Credential.from_candidate(
                candidate,
                kind="macaroon",
                status=Status.invalid,
                root_equivalent=False,
                metadata=meta,
                reasons=(f"Fly macaroon expired at {meta['expires_at']} (decoded offline).",),
            )
        root, caps, reasons = _mac_verdict(scope)
        return Credential.from_candidate(
            candidate,
            kind="macaroon",
            status=Status.unverified,
            root_equivalent=root,
            capabilities=caps,
            metadata=meta,
            reasons=reasons + ("Caveats decoded offline; not yet verified with Fly.",),
        )

    # -- identify ----------------------------------------------------------------------------------------
    def identify(self, credential: Credential, ctx: ProviderContext) -> Credential:
        if ctx.offline or credential.status == Status.invalid:
            return credential
        base = tuple(r for r in credential.reasons if not r.endswith("not yet verified with Fly."))
        meta = dict(credential.metadata)
        try:
            with self.client(ctx) as client:
                status, data = _graphql(client, credential, VIEWER_QUERY)
        except ProviderAuthError:
            return self.rejected(
                credential,
                "Fly rejected the token (unauthorized): revoked, expired or never valid.",
                root_equivalent=False,
            )
        except ProviderError as exc:
            return self.could_not_verify(credential, exc.message)
        except SHAPE_ERRORS as exc:
            return self.could_not_verify(credential, f"unexpected response shape ({type(exc).__name__}).")
        if status == 403:
            return credential.model_copy(
                update={
                    "status": Status.verified,
                    "reasons": base + ("Fly accepted the token but refused the identity query (forbidden).",),
                }
            )
        if status != 200:
            return credential.model_copy(
                update={
                    "status": Status.error,
                    "reasons": credential.reasons
                    + (f"Could not verify: Fly answered the identity query with HTTP {status} and no data.",),
                }
            )
        viewer = data.get("viewer") or {}
        orgs = [o for o in ((data.get("organizations") or {}).get("nodes") or []) if isinstance(o, dict)]
        meta["organizations"] = {str(o.get("internalNumericId")): o.get("slug") for o in orgs}
        names = ", ".join(str(o.get("slug")) for o in orgs) or "none listed"
        return credential.model_copy(
            update={
                "status": Status.verified,
                "principal": viewer.get("email") or viewer.get("id"),
                "metadata": meta,
                "reasons": base + (f"Verified with Fly; organisations: {names}.",),
            }
        )

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
        return (
            ok,
            "its caveats allow deleting this app" if ok else "its caveats do not allow deleting this app",
        )

    # inventory() is HttpProvider's loop over the verified credentials; this is one credential's part.
    def _inventory_one(self, client: ApiClient, cred: Credential) -> Inventory:
        status, data = _graphql(client, cred, APPS_QUERY, {"first": FIRST})
        if status != 200:
            return Inventory(
                gaps=(
                    CoverageGap(
                        subject=cred.id,
                        provider=NAME,
                        reason=f"could not list apps with {cred.label} (HTTP {status})",
                    ),
                )
            )
        apps_conn = data.get("apps") or {}
        resources: list[Resource] = []
        backups: list[Backup] = []
        facts: list[DestroyFact] = []
        gaps: list[CoverageGap] = []
        if (apps_conn.get("totalCount") or 0) > FIRST:
            gaps.append(
                CoverageGap(
                    subject=cred.id,
                    provider=NAME,
                    reason=f"more than {FIRST} apps: only the first {FIRST} inspected",
                )
            )
        for app in apps_conn.get("nodes") or []:
            if not isinstance(app, dict) or not app.get("name"):
                continue
            aid = f"fly:app:{app['name']}"
            org = (app.get("organization") or {}).get("slug")
            resources.append(
                Resource(
                    id=aid,
                    provider=NAME,
                    type="app",
                    name=app["name"],
                    parent=f"fly:org:{org}" if org else None,
                )
            )
            verdict, why = self._can_delete(cred, app.get("internalNumericId"))
            facts.append(
                DestroyFact(
                    credential=cred.id, target=aid, verdict=verdict, reason=why, capability="delete:app"
                )
            )
            vols = app.get("volumes") or {}
            if (vols.get("totalCount") or 0) > FIRST:
                gaps.append(
                    CoverageGap(
                        subject=aid, provider=NAME, reason=f"app {app['name']} has more than {FIRST} volumes"
                    )
                )
            for vol in vols.get("nodes") or []:
                if not isinstance(vol, dict) or not vol.get("id"):
                    continue
                vid = f"fly:volume:{vol['id']}"
                resources.append(
                    Resource(
                        id=vid,
                        provider=NAME,
                        type="volume",
                        name=str(vol.get("name") or vol["id"]),
                        parent=aid,
                        holds_data=True,
                        metadata={"size_gb": vol.get("sizeGb")},
                    )
                )
                facts.append(
                    DestroyFact(
                        credential=cred.id,
                        target=vid,
                        verdict=verdict,
                        reason=why,
                        capability="delete:volume",
                    )
                )
                bid = f"fly:volume-snapshots:{vol['id']}"
                backups.append(
                    Backup(
                        id=bid,
                        provider=NAME,
                        protects=vid,
                        kind="snapshot",
                        location=f"daily Fly snapshots of volume {vol.get('name')} (app {app['name']}, 5 days by default)",
                        dies_with_resource=False,
                        independent=False,
                        reasons=(
                            "Destroying the volume keeps its snapshots for their retention (findable for 24 h), "
                            "but destroying the app deletes its volumes and their snapshots.",
                        ),
                    )
                )
                facts.append(
                    DestroyFact(
                        credential=cred.id,
                        target=bid,
                        verdict=verdict,
                        reason=f"app destroy deletes volume snapshots; {why}",
                        capability="delete:app",
                    )
                )
        return Inventory(
            resources=tuple(resources),
            backups=tuple(backups),
            facts=tuple(facts),
            gaps=tuple(gaps),
            denials=caveat_denials(cred),
        )


def caveat_denials(cred: Credential) -> tuple[CannotDestroyType, ...]:
    """A macaroon whose caveats grant the delete action on no app and no organisation (and that is not
    limited to a list of GraphQL mutations, which could include destructive ones) deletes no app or volume."""
    if cred.kind != "macaroon":
        return ()
    try:
        scope = scope_of(cred.secret.reveal())
    except MacaroonError:
        return ()
    if scope is None or scope.mutations is not None or _mac_verdict(scope)[1]:
        return ()
    return tuple(
        CannotDestroyType(credential=cred.id, provider=NAME, resource_type=rtype, capability=cap,
                          reason="its caveats grant the delete action on no app")
        for rtype, cap in (("app", "delete:app"), ("volume", "delete:volume"))
    )
