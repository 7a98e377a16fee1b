"""Shared base for the provider fakes."""

from __future__ import annotations

from tests.support.fakehttp import FakeHTTPServer

__all__ = ["ProviderFake"]


class ProviderFake(FakeHTTPServer):
    """A FakeHTTPServer with Nagle's algorithm off on accepted sockets.

    FakeHTTPServer writes headers and body in two sends; with Nagle on, each response waits for
    the client's delayed ACK (~40 ms). Turning it off makes a fake answer in well under a millisecond.
    Subclasses keep a token table: ``add_token(secret, profile)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.tokens: dict[str, str] = {}

    def start(self) -> ProviderFake:
        super().start()
        self._httpd.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
        return self

    def __enter__(self) -> ProviderFake:
        return self.start()

    def add_token(self, secret: str, profile: str) -> str:
        self.tokens[secret] = profile
        return secret
