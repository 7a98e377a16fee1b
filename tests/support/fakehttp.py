"""A tiny, real HTTP server on 127.0.0.1 for provider fakes.

Each fake registers routes ``(METHOD, path-regex) -> handler(request) -> (status, body, headers)``.
The server records every request (method, path, headers without values of auth headers) so
tests can prove that no write was sent. Modes simulate trouble: ``down`` (connection refused
after stop), ``rate_limit`` (429 with Retry-After for the next N requests), ``fail_5xx`` (N
times 503), ``malformed`` (non-JSON body).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeRequest", "FakeHTTPServer", "Reply"]

Reply = tuple[int, Any] | tuple[int, Any, dict[str, str]]


@dataclass
class FakeRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    match: re.Match[str] | None = None

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None


@dataclass
class _Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[FakeRequest], Reply]


@dataclass
class FakeHTTPServer:
    routes: list[_Route] = field(default_factory=list)
    log: list[tuple[str, str]] = field(default_factory=list)
    rate_limit_next: int = 0
    retry_after: int = 1
    fail_next_5xx: int = 0
    malformed_next: int = 0
    always_rate_limit: bool = False

    def route(
        self, method: str, pattern: str
    ) -> Callable[[Callable[[FakeRequest], Reply]], Callable[[FakeRequest], Reply]]:
        def deco(fn: Callable[[FakeRequest], Reply]) -> Callable[[FakeRequest], Reply]:
            self.routes.append(_Route(method.upper(), re.compile(pattern + r"\Z"), fn))
            return fn

        return deco

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> FakeHTTPServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                req = FakeRequest(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                status, payload, headers = fake._dispatch(req)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> FakeHTTPServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- behaviour ----------------------------------------------------------------------
    @property
    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.log if m not in ("GET", "HEAD", "OPTIONS")]

    def _dispatch(self, req: FakeRequest) -> tuple[int, Any, dict[str, str]]:
        self.log.append((req.method, req.path))
        if self.always_rate_limit or self.rate_limit_next > 0:
            self.rate_limit_next = max(0, self.rate_limit_next - 1)
            return 429, {"message": "rate limited"}, {"Retry-After": str(self.retry_after)}
        if self.fail_next_5xx > 0:
            self.fail_next_5xx -= 1
            return 503, {"message": "unavailable"}, {}
        if self.malformed_next > 0:
            self.malformed_next -= 1
            return 200, b"<html>not json", {"Content-Type": "text/html"}
        for r in self.routes:
            if r.method == req.method:
                m = r.pattern.match(req.path)
                if m:
                    req.match = m
                    out = r.handler(req)
                    if len(out) == 2:
                        return out[0], out[1], {}
                    return out[0], out[1], dict(out[2])  # type: ignore[misc]
        return 404, {"message": "not found", "path": req.path}, {}
