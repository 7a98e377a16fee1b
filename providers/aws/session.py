"""boto3 plumbing: one session per credential, cached clients, call counting, error classes.

Secrets go into boto3 sessions only; nothing here formats a secret, and botocore's own error
messages (which never carry the secret key) are reduced to their error code before use.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

# boto3/botocore load on first use (a session, a client, an AWS error to classify): an offline audit,
# whose recognisers and classify need none of them, starts without them.
if TYPE_CHECKING:
    import boto3

__all__ = [
    "CallStats",
    "AwsSession",
    "error_class",
    "error_code",
    "paginate",
    "DENIED",
    "AUTH",
    "UNSUPPORTED",
    "UNAVAILABLE",
    "NOT_FOUND",
    "OTHER",
]

DENIED, AUTH, UNSUPPORTED, UNAVAILABLE, NOT_FOUND, OTHER = (
    "denied",
    "auth",
    "unsupported",
    "unavailable",
    "not_found",
    "other",
)

_DENIED_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedAccess",
    "AuthorizationError",
    "Forbidden",
    "403",
    "AuthFailure",
    "UnauthorizedException",
    "NotAuthorized",
}
_AUTH_CODES = {
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "ExpiredTokenException",
    "UnrecognizedClientException",
    "InvalidAccessKeyId",
    "InvalidToken",
    "IncompleteSignature",
    "RequestExpired",
    "TokenRefreshRequired",
}
_UNSUPPORTED_CODES = {
    "404",
    "500",
    "501",
    "NotImplemented",
    "InternalFailure",
    "InternalError",
    "InvalidAction",
    "UnknownOperationException",
    "OptInRequired",
}


class CallStats:
    """Counts API calls per ``service.Operation`` (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()

    def hook(self, model: Any = None, **_: Any) -> None:
        name = f"{model.service_model.endpoint_prefix}.{model.name}" if model is not None else "?"
        with self._lock:
            self.calls[name] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.calls.values())


def error_code(exc: BaseException) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {}) or {}
        code = str(err.get("Code") or "")
        if not code:
            code = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        return code
    return type(exc).__name__


def error_class(exc: BaseException) -> str:
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in _AUTH_CODES:
            return AUTH
        if code in _DENIED_CODES or code.endswith("AccessDenied") or code.endswith("AccessDeniedException"):
            return DENIED
        if "NotFound" in code or code.startswith("NoSuch"):
            return NOT_FOUND
        if code in _UNSUPPORTED_CODES or status in (404, 500, 501):
            return UNSUPPORTED
        if status == 403:
            return DENIED
        return OTHER
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError)):
        return UNAVAILABLE
    if isinstance(exc, NoCredentialsError):
        return AUTH
    if isinstance(exc, BotoCoreError):
        return UNAVAILABLE
    return OTHER


def paginate(client: Any, op: str, key: str, **kw: Any) -> list[Any]:
    out: list[Any] = []
    if client.can_paginate(op):
        for page in client.get_paginator(op).paginate(**kw):
            out.extend(page.get(key, []) or [])
    else:
        out.extend(getattr(client, op)(**kw).get(key, []) or [])
    return out


@dataclass(frozen=True)
class _Key:
    service: str
    region: str


class AwsSession:
    """Clients for one credential. Client creation is serialised (boto3 sessions are not thread-safe)."""

    def __init__(
        self,
        session: boto3.Session,
        *,
        endpoint_url: str | None,
        stats: CallStats,
        timeout_s: float = 15.0,
        max_retries: int = 4,
        default_region: str = "us-east-1",
    ) -> None:
        self._session = session
        self._endpoint = endpoint_url
        self._stats = stats
        self._lock = threading.Lock()
        self._clients: dict[_Key, Any] = {}
        self.default_region = default_region
        from botocore.config import Config

        self._config = Config(
            connect_timeout=min(timeout_s, 10.0),
            read_timeout=timeout_s,
            retries={"mode": "standard", "max_attempts": max(1, max_retries)},
            max_pool_connections=32,
            user_agent_extra="blastwall",
        )

    @classmethod
    def from_keys(cls, key_id: str, secret: str, token: str | None, **kw: Any) -> AwsSession:
        import boto3
        import botocore.session

        bs = botocore.session.Session()
        bs.set_config_variable("config_file", "/nonexistent/blastwall-no-aws-config")
        bs.set_config_variable("credentials_file", "/nonexistent/blastwall-no-aws-credentials")
        s = boto3.Session(
            aws_access_key_id=key_id, aws_secret_access_key=secret, aws_session_token=token, botocore_session=bs
        )
        return cls(s, **kw)

    def __repr__(self) -> str:
        return "AwsSession(<credentials hidden>)"

    def client(self, service: str, region: str | None = None) -> Any:
        k = _Key(service, region or self.default_region)
        c = self._clients.get(k)
        if c is not None:
            return c
        with self._lock:
            c = self._clients.get(k)
            if c is None:
                c = self._session.client(
                    service, region_name=k.region, endpoint_url=self._endpoint, config=self._config
                )
                c.meta.events.register("before-call", self._stats.hook)
                self._clients[k] = c
        return c


def endpoint_from(env: Mapping[str, str], settings: Mapping[str, Any]) -> str | None:
    url = settings.get("endpoint_url") or env.get("AWS_ENDPOINT_URL") or env.get("BLASTWALL_AWS_URL")
    return str(url) if url else None
