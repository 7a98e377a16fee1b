"""A read-only GraphQL client for Railway's public API.

Read-only by construction: every document is parsed with graphql-core before anything is sent,
and a document that contains anything but ``query`` operations (a mutation, a subscription) is
refused with `ReadOnlyViolation`. There is no other way to send a request through this class.

Errors: Railway answers GraphQL errors as HTTP 200 with an ``errors`` array. "Not Authorized"
means either a dead token or a resource outside the token's scope: the server does not tell the
two apart, so callers decide from context (`RailwayNotAuthorized`).
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from auditor._lazy import lazy_module
from auditor.errors import BlastwallError, ConfigError, ProviderAuthError, ProviderError, ProviderUnavailable
from auditor.http import ApiClient, BearerAuth, HeaderAuth, RequestAuth
from auditor.provider import ProviderContext
from auditor.provider_kit import json_object
from auditor.secrets import Secret

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")

__all__ = [
    "DEFAULT_URL",
    "ENV_URL",
    "RailwayGraphQL",
    "ReadOnlyViolation",
    "RailwayNotAuthorized",
    "RailwayNotFound",
    "RailwayQueryError",
    "assert_read_only",
    "auth_for",
    "endpoint_from",
]

log = logging.getLogger(__name__)

DEFAULT_URL = "https://backboard.railway.com/graphql/v2"
LEGACY_URL = "https://backboard.railway.app/graphql/v2"
ENV_URL = "BLASTWALL_RAILWAY_URL"

# GraphQL error texts that mean "slow down" (seen from Railway and the Terraform provider).
_RATE_LIMIT_TEXTS = ("too quickly", "try again in a sec", "rate limit", "whoa there")
MAX_RATE_WAIT_S = 60.0
MAX_PAGES = 10_000


class ReadOnlyViolation(BlastwallError):
    """The audit client was asked to send something that is not a query."""


class RailwayNotAuthorized(ProviderAuthError):
    """Railway said "Not Authorized": a dead token *or* a resource out of the token's scope."""


class RailwayNotFound(ProviderError):
    """ "Project Token not found", "Project not found", …"""


class RailwayQueryError(ProviderError):
    """Any other GraphQL error (including a query the server rejected as invalid)."""


@lru_cache(maxsize=256)
def _operation_types(document: str) -> tuple[str, ...]:
    from graphql import GraphQLSyntaxError, OperationDefinitionNode, parse  # graphql-core: only to send a query

    try:
        doc = parse(document)
    except GraphQLSyntaxError as exc:
        raise ReadOnlyViolation(
            f"railway: refusing to send a GraphQL document that does not parse ({exc.message})"
        ) from None
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    return tuple(op.operation.value for op in ops)


def assert_read_only(document: str) -> None:
    """Raise `ReadOnlyViolation` unless ``document`` holds exactly one operation and it is a query."""
    kinds = _operation_types(document)
    if len(kinds) != 1:
        raise ReadOnlyViolation(
            f"railway: refusing a GraphQL document with {len(kinds)} operations (exactly one query allowed)"
        )
    if kinds[0] != "query":  # graphql.OperationType.QUERY.value
        raise ReadOnlyViolation(
            f"railway: refusing to send a {kinds[0]}: the audit client only sends queries",
            hint="audits are read-only by construction; writes are never sent",
        )


def auth_for(kind: str, secret: Secret) -> RequestAuth:
    """The header Railway expects for this kind of token, applied per request."""
    if kind == "project_token":
        return HeaderAuth("Project-Access-Token", secret)
    return BearerAuth(secret)


def _is_loopback(host: str) -> bool:
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def endpoint_from(ctx: ProviderContext) -> str:
    """Endpoint: env var BLASTWALL_RAILWAY_URL, else config `[providers.railway] url`, else the default."""
    url = ctx.env.get(ENV_URL) or ctx.settings.get("url") or DEFAULT_URL
    if not isinstance(url, str):
        raise ConfigError("must be a string URL", key="providers.railway.url")
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"not an http(s) URL: {url!r}", key="providers.railway.url", hint=f"e.g. {DEFAULT_URL}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(
            "refusing to send Railway tokens over plain http to a non-local host",
            key="providers.railway.url",
            hint="use https",
        )
    return url


def _first_error(errors: Sequence[Any], scrub: Callable[[str], str]) -> ProviderError:
    first = errors[0] if errors else {}
    msg = str(first.get("message", "unknown error")) if isinstance(first, dict) else str(first)
    msg = scrub(msg)[:300]
    low = msg.lower()
    if "not authorized" in low or "unauthorized" in low or "unauthenticated" in low:
        return RailwayNotAuthorized(
            f"railway: Not Authorized ({msg})", hint="the token is dead, or this resource is outside its scope"
        )
    if "not found" in low:
        return RailwayNotFound(f"railway: {msg}")
    return RailwayQueryError(f"railway: GraphQL error: {msg}")


@dataclass
class Stats:
    requests: int = 0
    pages: int = 0


class RailwayGraphQL:
    """Query-only GraphQL over `auditor.http.ApiClient` (timeouts, 429/5xx retries, typed errors)."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 15.0,
        max_retries: int = 4,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        transport: httpx.BaseTransport | None = None,
        scrub: Callable[[str], str] | None = None,
    ) -> None:
        parts = urlsplit(url)
        base = f"{parts.scheme}://{parts.netloc}"
        self._path = parts.path or "/graphql/v2"
        self._sleep = sleep or time.sleep
        self._now = clock or time.time
        self._max_retries = max_retries
        self._scrub = scrub or (lambda s: s)
        self.url = url
        self.stats = Stats()
        self._api = ApiClient(
            base,
            provider="railway",
            timeout_s=timeout_s,
            max_retries=max_retries,
            sleep=self._sleep,
            transport=transport,
            user_agent="blastwall (railway audit)",
        )

    @classmethod
    def from_context(cls, ctx: ProviderContext, **kw: Any) -> RailwayGraphQL:
        return cls(endpoint_from(ctx), timeout_s=ctx.timeout_s, max_retries=ctx.max_retries, sleep=ctx.sleep, **kw)

    def close(self) -> None:
        self._api.close()

    def __enter__(self) -> RailwayGraphQL:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the only way out ------------------------------------------------------------------
    def query(self, document: str, variables: Mapping[str, Any] | None = None, *, auth: RequestAuth) -> dict[str, Any]:
        """Send one query; return ``data``. Raises typed errors; never sends a mutation."""
        assert_read_only(document)
        body: dict[str, Any] = {"query": document}
        if variables:
            body["variables"] = dict(variables)
        soft_retries = 0
        while True:
            self.stats.requests += 1
            resp = self._api.request(
                "POST", self._path, auth=auth, json=body, headers={"Content-Type": "application/json"}
            )
            self._respect_rate_headers(resp)
            if resp.status_code in (401, 403):
                raise RailwayNotAuthorized(
                    f"railway: credential refused (HTTP {resp.status_code})",
                    hint="the token is dead, or this resource is outside its scope",
                )
            payload = json_object(
                resp,
                malformed=f"railway: malformed response (HTTP {resp.status_code}, not JSON)",
                malformed_hint="the endpoint may not be Railway's GraphQL API",
                not_object=f"railway: unexpected response shape (HTTP {resp.status_code})",
            )
            errors = payload.get("errors") or []
            if errors:
                err = _first_error(errors, self._scrub)
                if isinstance(err, RailwayQueryError) and any(t in err.message.lower() for t in _RATE_LIMIT_TEXTS):
                    soft_retries += 1
                    if soft_retries > self._max_retries:
                        raise ProviderUnavailable(
                            "railway: still rate-limited after retries",
                            hint="Railway is rate-limiting this token; try again later",
                        )
                    self._sleep(min(MAX_RATE_WAIT_S, 1.0 * 2 ** (soft_retries - 1)))
                    continue
                raise err
            if resp.status_code != 200:
                raise ProviderError(f"railway: HTTP {resp.status_code} from the GraphQL endpoint")
            data = payload.get("data")
            if not isinstance(data, dict):
                raise ProviderError("railway: response without data")
            return data

    def paginate(
        self,
        document: str,
        variables: Mapping[str, Any] | None,
        path: Sequence[str],
        *,
        auth: RequestAuth,
        page_size: int = 100,
    ) -> Iterator[dict[str, Any]]:
        """Follow a Relay connection at ``path`` (keys from ``data``) to its last page; yield nodes.

        ``document`` must declare ``$first: Int`` and ``$after: String`` and pass them to the connection.
        """
        after: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            data = self.query(document, {**(variables or {}), "first": page_size, "after": after}, auth=auth)
            self.stats.pages += 1
            conn: Any = data
            for key in path:
                conn = conn.get(key) if isinstance(conn, dict) else None
            if not isinstance(conn, dict):
                raise ProviderError(f"railway: missing connection {'.'.join(path)} in response")
            for edge in conn.get("edges") or ():
                node = edge.get("node") if isinstance(edge, dict) else None
                if isinstance(node, dict):
                    yield node
            info = conn.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return
            after = info.get("endCursor")
            if not after or after in seen:
                raise ProviderError(f"railway: pagination of {'.'.join(path)} did not advance")
            seen.add(after)
        raise ProviderError(f"railway: more than {MAX_PAGES} pages of {'.'.join(path)}")

    # -- rate limit headers ------------------------------------------------------------------
    def _respect_rate_headers(self, resp: httpx.Response) -> None:
        """When the budget is exhausted (X-RateLimit-Remaining: 0), wait until it resets (bounded)."""
        remaining = resp.headers.get("X-RateLimit-Remaining")
        if remaining is None or resp.status_code == 429:
            return
        try:
            if int(float(remaining)) > 0:
                return
        except ValueError:
            return
        reset = resp.headers.get("X-RateLimit-Reset")
        wait = 1.0
        if reset:
            try:
                value = float(reset)
            except ValueError:
                value = None
            if value is not None:
                if value > 1e12:  # epoch milliseconds
                    value = value / 1000 - self._now()
                elif value > 1e9:  # epoch seconds
                    value = value - self._now()
                wait = value
        wait = max(0.0, min(wait, MAX_RATE_WAIT_S))
        if wait:
            log.info("railway: rate-limit budget exhausted, waiting %.1fs", wait)
            self._sleep(wait)
