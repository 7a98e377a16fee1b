"""A small, careful HTTP client for provider APIs.

Timeouts, bounded retries on 429 (honouring ``Retry-After``) and transient 5xx, JSON decoding
with typed errors. Credentials are applied per request (`RequestAuth`, an httpx auth callable) so that no
long-lived client ever carries a token in its default headers.
"""

from __future__ import annotations

import email.utils
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ._lazy import lazy_module
from .errors import ProviderAuthError, ProviderError, ProviderUnavailable
from .secrets import Secret

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")

__all__ = ["ApiClient", "HeaderAuth", "BearerAuth", "BasicAuth", "RequestAuth", "RETRY_STATUSES"]

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 120.0


class RequestAuth(ABC):
    """Credentials applied to one request: an httpx auth callable (``auth=`` of a request), never a default
    header of a long-lived client. Not an ``httpx.Auth`` subclass, so that defining one does not import
    httpx (an offline audit never loads it); httpx applies a callable exactly as a one-step ``Auth`` flow."""

    @abstractmethod
    def __call__(self, request: httpx.Request) -> httpx.Request: ...


class HeaderAuth(RequestAuth):
    """Put a secret into one header of one request."""

    def __init__(self, header: str, secret: Secret, prefix: str = "") -> None:
        self._header, self._secret, self._prefix = header, secret, prefix

    def __call__(self, request: httpx.Request) -> httpx.Request:
        request.headers[self._header] = self._prefix + self._secret.reveal()
        return request

    def __repr__(self) -> str:
        return f"HeaderAuth({self._header}, {self._secret!r})"


class BearerAuth(HeaderAuth):
    def __init__(self, secret: Secret) -> None:
        super().__init__("Authorization", secret, "Bearer ")


class BasicAuth(RequestAuth):
    def __init__(self, user: Secret | str, password: Secret | str) -> None:
        self._user, self._password = user, password

    def __call__(self, request: httpx.Request) -> httpx.Request:
        u = self._user.reveal() if isinstance(self._user, Secret) else self._user
        p = self._password.reveal() if isinstance(self._password, Secret) else self._password
        return next(httpx.BasicAuth(u, p).auth_flow(request))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class ApiClient:
    """JSON-over-HTTP with retries. One instance per provider per audit."""

    def __init__(
        self,
        base_url: str,
        *,
        provider: str,
        timeout_s: float = 15.0,
        max_retries: int = 4,
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        user_agent: str = "blastwall",
        backoff_s: float = 0.5,
    ) -> None:
        self.provider = provider
        self.max_retries = max_retries
        self._sleep = sleep or time.sleep
        self._backoff = backoff_s
        self.requests_sent = 0
        self.methods_sent: list[str] = []
        self._client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
            headers={"User-Agent": user_agent, "Accept": "application/json"},
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        auth: RequestAuth | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        ok: frozenset[int] = frozenset({200}),
        content: bytes | None = None,
    ) -> httpx.Response:
        """Send with retries. Returns the response for statuses in ``ok`` and for 4xx other than 429.

        Raises ProviderUnavailable when the provider cannot be reached or keeps failing.
        """
        attempt = 0
        while True:
            attempt += 1
            try:
                self.requests_sent += 1
                self.methods_sent.append(method.upper())
                resp = self._client.request(
                    method, path, auth=auth, json=json, params=params, headers=headers, content=content
                )
            except httpx.TimeoutException:
                if attempt > self.max_retries:
                    raise ProviderUnavailable(
                        f"{self.provider}: request timed out after {attempt} attempts",
                        hint="check network access to the provider or raise the timeout",
                    ) from None
                self._sleep(self._backoff * 2 ** (attempt - 1))
                continue
            except httpx.HTTPError as exc:
                # a refused connection is rarely transient: one retry, not the full budget
                budget = 1 if isinstance(exc, httpx.ConnectError) else self.max_retries
                if attempt > budget:
                    raise ProviderUnavailable(
                        f"{self.provider}: cannot reach {self._client.base_url.host} ({type(exc).__name__})",
                        hint="check the endpoint URL and network access",
                    ) from None
                self._sleep(self._backoff * 2 ** (attempt - 1))
                continue
            if resp.status_code in ok:
                return resp
            if resp.status_code in RETRY_STATUSES:
                if attempt > self.max_retries:
                    raise ProviderUnavailable(
                        f"{self.provider}: HTTP {resp.status_code} after {attempt} attempts",
                        hint="the provider is rate-limiting or failing; try again later",
                    )
                wait = parse_retry_after(resp.headers.get("Retry-After"))
                if wait is None:
                    wait = self._backoff * 2 ** (attempt - 1)
                wait = min(wait, MAX_RETRY_AFTER_S)
                log.info("%s: HTTP %s, retrying in %.1fs", self.provider, resp.status_code, wait)
                self._sleep(wait)
                continue
            return resp

    def get_json(self, path: str, *, auth: RequestAuth | None = None, **kw: Any) -> Any:
        resp = self.request("GET", path, auth=auth, **kw)
        return self.decode(resp)

    def decode(self, resp: httpx.Response) -> Any:
        if resp.status_code in (401,):
            raise ProviderAuthError(f"{self.provider}: credential rejected (HTTP 401)")
        if resp.status_code >= 400:
            raise ProviderError(f"{self.provider}: HTTP {resp.status_code} from {resp.request.url.path}")
        try:
            return resp.json()
        except ValueError:
            raise ProviderError(
                f"{self.provider}: malformed JSON from {resp.request.url.path} (HTTP {resp.status_code})",
                hint="the provider returned something that is not JSON; try again later",
            ) from None
