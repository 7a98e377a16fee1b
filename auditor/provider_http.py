"""Shared plumbing for providers that talk to an HTTP API.

`HttpProvider` is a `Provider` that knows its endpoint (class attribute `default_url`, overridden by the
environment variable `url_env`, by default ``BLASTWALL_<NAME>_URL``)
and supplies what every HTTP provider otherwise writes again:

* `base_url(ctx)`: the endpoint from ``ctx.env[url_env]``, then ``ctx.settings["url"]``, then
  `default_url`; credentials go only over https, or plain http to a loopback test server
  (`require_safe_url`), else `ProviderError`.
* `client(ctx)`: an `ApiClient` for that endpoint (or for another URL of the same provider), with
  the context's timeout, retries and sleep, over one verified TLS context shared by the process.
* `recognisers()` and `classify()`: from the class attributes `recogniser_set` and `offline_verdicts` (the
  `Verdict` a credential of each kind gets from its format alone, ``"*"`` for any other kind).
* `identify()`: read-only, as fetch plus judgement: ``judge(cred, fetch(api, cred))`` over a fresh client
  gives a `Verdict` that `Credential.judged` applies (`fetch` asks the provider, `judge` is pure and testable
  without HTTP); a credential the provider refuses with HTTP 401 becomes `rejected(rejected_reason)`; kinds
  for which `identifiable()` is false (by default those in `unidentifiable_kinds`, e.g. refresh tokens)
  and offline runs are left as `classify()` made them.
* `rejected()` and `could_not_verify()`: what `identify()` returns when the provider refuses the
  credential or cannot be asked.
* `error_gap(cred)` and `verified_credentials()`: a credential whose verification failed becomes a
  `CoverageGap`; only verified credentials of this provider are inspected.
* `inventory()`: one inspection per verified credential (`inventory_credential`, by default
  `_inventory_one(client, cred)` over a fresh client); a `ProviderError` or an unexpected response
  shape becomes a `CoverageGap` about that credential and the loop goes on.

Providers whose inventory works differently override `inventory()` and use the other pieces.
Nothing here knows a concrete provider.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ._lazy import lazy_module
from .errors import ProviderAuthError, ProviderError
from .http import ApiClient
from .model import Candidate, CoverageGap, Credential, Inventory, Status, Verdict
from .provider import Provider, ProviderContext, Recogniser

if TYPE_CHECKING:
    import ssl

    import httpx
else:
    httpx = lazy_module("httpx")

__all__ = ["LOOPBACK_HOSTS", "SHAPE_ERRORS", "HttpProvider", "endpoint_url", "require_safe_url", "tls_transport"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
# what a provider's parsing raises when the API answers with an unexpected shape
SHAPE_ERRORS: tuple[type[Exception], ...] = (AttributeError, TypeError, KeyError, ValueError, IndexError)

_SSL: list[ssl.SSLContext] = []
_SSL_LOCK = threading.Lock()


def endpoint_url(ctx: ProviderContext, url_env: str, default_url: str) -> str:
    """The endpoint: ``ctx.env[url_env]``, else ``ctx.settings["url"]``, else the default (no trailing /)."""
    return (ctx.env.get(url_env) or str(ctx.settings.get("url") or "") or default_url).rstrip("/")


def require_safe_url(provider: str, url: str) -> str:
    """`url` itself if credentials may go there: https, or plain http to a loopback test server."""
    parts = httpx.URL(url)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.host in LOOPBACK_HOSTS):
        return url
    raise ProviderError(
        f"{provider}: refusing to send credentials to {parts.scheme}://{parts.host}",
        hint="endpoint overrides must use https (plain http only for loopback test servers)",
    )


def tls_transport() -> httpx.HTTPTransport:
    """A transport over the process's one verified TLS context (building one costs ~50-100 ms)."""
    with _SSL_LOCK:
        if not _SSL:
            _SSL.append(httpx.create_ssl_context())
    return httpx.HTTPTransport(verify=_SSL[0])


class HttpProvider(Provider):
    """Base class for providers with an HTTP API at one configurable endpoint."""

    url_env: ClassVar[str]  # BLASTWALL_<NAME>_URL unless a subclass names another
    default_url: ClassVar[str]
    # what the per-credential inventory inspects, as named in its coverage gaps
    inventory_noun: ClassVar[str] = "resources"

    def __init_subclass__(cls, *, name: str = "", display_name: str = "", default_url: str = "", **kwargs: Any) -> None:
        """``class GitHubProvider(HttpProvider, name="github", display_name="GitHub", default_url=...)``:
        the endpoint variable defaults to ``BLASTWALL_<NAME>_URL``, the 401 reason names the provider."""
        super().__init_subclass__(**kwargs)
        for attr, value in (("name", name), ("display_name", display_name), ("default_url", default_url)):
            if value:
                setattr(cls, attr, value)
        if "url_env" not in cls.__dict__ and (name or "name" in cls.__dict__):
            cls.url_env = f"BLASTWALL_{cls.name.upper()}_URL"
        if "rejected_reason" not in cls.__dict__ and display_name:
            cls.rejected_reason = (
                f"{display_name} rejected the credential (HTTP 401): it is revoked, expired or never valid."
            )

    # -- endpoint and client -------------------------------------------------------------------------------
    def base_url(self, ctx: ProviderContext) -> str:
        return require_safe_url(self.name, endpoint_url(ctx, self.url_env, self.default_url))

    def client(self, ctx: ProviderContext, url: str | None = None) -> ApiClient:
        """An `ApiClient` for `base_url(ctx)`, or for `url` (checked the same way) when given."""
        return ApiClient(
            self.base_url(ctx) if url is None else require_safe_url(self.name, url),
            provider=self.name,
            timeout_s=ctx.timeout_s,
            max_retries=ctx.max_retries,
            sleep=ctx.sleep,
            transport=tls_transport(),
        )

    # -- offline -------------------------------------------------------------------------------------------
    recogniser_set: ClassVar[Sequence[Recogniser]] = ()
    # what a credential's kind alone shows ("*": every other kind); none: `Provider.classify`
    offline_verdicts: ClassVar[Mapping[str, Verdict]] = {}

    def recognisers(self) -> Sequence[Recogniser]:
        return self.recogniser_set

    def classify(self, candidate: Candidate) -> Credential:
        verdict = self.offline_verdicts.get(candidate.kind) or self.offline_verdicts.get("*")
        if verdict is None:
            return super().classify(candidate)
        return Credential.from_candidate(candidate, status=Status.unverified).judged(verdict)

    # -- identify: fetch, then a pure judgement ------------------------------------------------------------
    # what `identify` says when the provider refuses the credential with HTTP 401, and the root_equivalent
    # it then records (None: unknown; False where a refused credential can destroy nothing)
    rejected_reason: ClassVar[str] = "The provider rejected the credential (HTTP 401): it is revoked or expired."
    rejected_root: ClassVar[bool | None] = None
    # True: a provider error or an odd answer while verifying leaves the credential in error with the reason
    # (`could_not_verify`); False: the error goes up to the audit, which records it as a coverage gap
    errors_as_reasons: ClassVar[bool] = False
    # kinds `identify` never asks the provider about (e.g. refresh tokens, which the API does not accept)
    unidentifiable_kinds: ClassVar[frozenset[str]] = frozenset()

    def identifiable(self, credential: Credential) -> bool:
        """Whether `identify` asks the provider about this credential (False: left as `classify` made it);
        by default every kind but those in `unidentifiable_kinds`."""
        return credential.kind not in self.unidentifiable_kinds

    def identify(self, credential: Credential, ctx: ProviderContext) -> Credential:
        if ctx.offline or not self.identifiable(credential):
            return credential
        try:
            with self.client(ctx) as api:
                return credential.judged(self.judge(credential, self.fetch(api, credential, ctx)))
        except ProviderAuthError:
            return self.rejected(credential, self.rejected_reason, root_equivalent=self.rejected_root)
        except ProviderError as exc:
            if not self.errors_as_reasons:
                raise
            return self.could_not_verify(credential, exc.message)
        except SHAPE_ERRORS as exc:
            if not self.errors_as_reasons:
                raise
            return self.could_not_verify(credential, f"unexpected response shape ({type(exc).__name__}).")

    @staticmethod
    def fetch(api: ApiClient, credential: Credential, ctx: ProviderContext, /) -> Any:
        """What the provider's calls show about `credential` (the provider's own facts record)."""
        raise NotImplementedError("implement fetch and judge, or override identify")

    @staticmethod
    def judge(credential: Credential, seen: Any, /) -> Verdict:
        """The verdict from what `fetch` saw: pure, no HTTP."""
        raise NotImplementedError("implement fetch and judge, or override identify")

    # -- identify outcomes ---------------------------------------------------------------------------------
    @staticmethod
    def rejected(credential: Credential, reason: str, *, root_equivalent: bool | None) -> Credential:
        """The provider refused the credential: invalid, no capabilities, `reason` as its only reason."""
        return credential.judged(
            Verdict(
                status=Status.invalid,
                root_equivalent=root_equivalent,
                capabilities=(),
                possible_capabilities=(),
                reasons=(reason,),
            )
        )

    @staticmethod
    def could_not_verify(credential: Credential, why: str) -> Credential:
        """Verification failed (provider unreachable, garbage answer): status error, reason appended."""
        return credential.judged(
            Verdict(status=Status.error, reasons=credential.reasons + (f"Could not verify: {why}",))
        )

    # -- credentials to inspect ----------------------------------------------------------------------------
    def error_gap(self, cred: Credential) -> CoverageGap:
        """A credential that could not be verified (provider down, rate-limiting, garbage) is a gap."""
        why = cred.reasons[-1] if cred.reasons else "it could not be verified"
        reason = f"{cred.label} was not inspected: {why}"
        return CoverageGap(subject=cred.id, provider=self.name, reason=reason)

    def verified_credentials(
        self, credentials: Iterable[Credential], on_gap: Callable[[CoverageGap], Any]
    ) -> Iterator[Credential]:
        """This provider's verified credentials, in order; each of its credentials in error goes to `on_gap`
        (as `error_gap`) when the iteration reaches it."""
        for cred in credentials:
            if cred.provider != self.name:
                continue
            if cred.status == Status.error:
                on_gap(self.error_gap(cred))
            if cred.status == Status.verified:
                yield cred

    # -- inventory -----------------------------------------------------------------------------------------
    def inventory(self, credentials: Sequence[Credential], ctx: ProviderContext) -> Inventory:
        """One `inventory_credential` per verified credential; its failure is a gap about that credential."""
        if ctx.offline:
            return Inventory()
        parts: list[Inventory] = []
        for cred in self.verified_credentials(credentials, lambda gap: parts.append(Inventory(gaps=(gap,)))):
            try:
                parts.append(self.inventory_credential(cred, ctx))
            except ProviderError as exc:
                parts.append(self._not_inspected(cred, exc.message))
            except SHAPE_ERRORS as exc:
                parts.append(self._not_inspected(cred, f"unexpected response shape ({type(exc).__name__})"))
        return functools.reduce(Inventory.merge, parts, Inventory())

    def inventory_credential(self, cred: Credential, ctx: ProviderContext) -> Inventory:
        """What one verified credential reaches. The default: `_inventory_one` over a fresh client."""
        with self.client(ctx) as client:
            return self._inventory_one(client, cred)

    def _inventory_one(self, client: ApiClient, cred: Credential) -> Inventory:
        raise NotImplementedError(f"{type(self).__name__}: implement _inventory_one or inventory_credential")

    def _not_inspected(self, cred: Credential, why: str) -> Inventory:
        reason = f"{self.inventory_noun} reachable with {cred.label} were not inspected: {why}"
        return Inventory(gaps=(CoverageGap(subject=cred.id, provider=self.name, reason=reason),))
