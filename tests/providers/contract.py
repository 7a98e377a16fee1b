"""The shared provider contract suite: every provider plugin's tests run it.

Usage (one test module per provider, e.g. ``tests/providers/test_render.py``)::

    from tests.providers.contract import ProviderContract, make_candidate
    from tests.support.fakes.render import FakeRender
    from providers.render import RenderProvider

    class TestRenderContract(ProviderContract):
        provider_cls = RenderProvider
        url_env = "BLASTWALL_RENDER_URL"
        prose_decoys = ["the rnd_ prefix marks Render keys", ...]

        @classmethod
        def make_fake(cls):                      # started once per test class
            return FakeRender().start()

        def candidate(self, fake, canaries, profile):
            # profile is one of PROFILES; plant the secret in the fake and return a Candidate
            value = canaries.mint("rnd_{r}")
            if profile != "invalid":             # unknown tokens get the provider's 401
                fake.add_token(value, profile)
            return make_candidate("render", "api_key", value, locator="RENDER_API_KEY")

        def recognition_samples(self, canaries):  # (text, expected secret, expected kind)
            v = canaries.mint("rnd_{r}")
            return [(f"RENDER_API_KEY={v}", v, "api_key")]

Profiles the fake must support:
  * ``full``: a full-access credential, must be judged ``root_equivalent is True`` with reasons;
  * ``scoped``: a scoped or read-only credential, must be judged ``root_equivalent is False`` with reasons;
  * ``invalid``: the provider answers 401 -> ``Status.invalid``;
  * ``forbidden``: the endpoints that need a permission answer the provider's 403 (missing permissions;
    a token may still be allowed to verify itself) -> never judged safe (``root_equivalent`` is not False),
    and inventory reports at least one ``CoverageGap``.

Providers whose scopes can only be learnt by probing set ``verdict_options = {"probe_writes": True}``: the
full/scoped verdict tests then run with it; every other test (zero writes, secrets, faults) runs without.

Fault injection uses the FakeHTTPServer modes (``rate_limit_next``/``retry_after``, ``malformed_next``);
timeouts use a local socket that accepts connections and never answers. When some POSTs are reads
(GraphQL queries), the fake overrides ``writes`` to count only mutations and other writes (see
``tests/support/fakes/fly.py``), or the test class overrides ``writes_sent(fake)``.
Build fakes on ``tests/support/fakes/_base.ProviderFake``: it turns Nagle off (a plain FakeHTTPServer answer
waits ~40 ms for the client's delayed ACK) and keeps a ``tokens`` table with ``add_token(secret, profile)``.

What the suite checks (each is one test, inherited by the subclass):
  secrets never in repr/JSON of credentials and inventories, nor in logs or error messages; 401 -> invalid;
  403 -> CoverageGap / unknown, never "safe"; timeouts -> typed error (``BlastwallError``) or status error /
  gap; 429 honours Retry-After (asserted through the injected ``ctx.sleep``); malformed JSON -> typed error
  or status error, never a crash; valid JSON of an unexpected shape never crashes; zero writes without
  ``probe_writes``; ``offline`` sends nothing;
  the base URL can be overridden through ``ctx.env[url_env]`` and ``ctx.settings['url']``;
  recognisers find their formats and not the prose decoys; CLI file rules are ``cli_config``.
"""

from __future__ import annotations

import fnmatch
import logging
import socket
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import pytest

from auditor.errors import BlastwallError
from auditor.model import Candidate, Credential, Inventory, Source, SourceCategory, Status
from auditor.provider import Provider, ProviderContext, Recogniser
from auditor.registry import BUILTIN_PROVIDERS
from auditor.secrets import Secret
from tests.support.fakehttp import FakeHTTPServer

__all__ = [
    "ProviderContract",
    "PROFILES",
    "make_candidate",
    "recognise_text",
    "recognise_key",
    "recognise_file",
    "Blackhole",
    "run_all",
]

PROFILES = ("full", "scoped", "invalid", "forbidden")


def make_candidate(
    provider: str,
    kind: str,
    value: str,
    *,
    locator: str = "TOKEN",
    path: str = "env",
    companions: dict[str, str] | None = None,
    hints: dict[str, str] | None = None,
    category: SourceCategory = SourceCategory.environment,
) -> Candidate:
    """A Candidate as discovery would produce it (one source)."""
    return Candidate(
        provider=provider,
        kind=kind,
        secret=Secret(value),
        companions={k: Secret(v) for k, v in (companions or {}).items()},
        sources=(Source(path=path, locator=locator, category=category),),
        hints=dict(hints or {}),
    )


# -- minimal recogniser evaluation (the real matching lives in auditor/discovery) -------------------------


def _unwrap(value: str) -> str:
    v = value.strip()
    for prefix in ("Bearer ", "bearer ", "--token=", "token "):
        if v.startswith(prefix):
            return v[len(prefix) :].strip()
    return v


def recognise_text(recognisers: Sequence[Recogniser], text: str) -> list[tuple[str, str]]:
    """(kind, secret) for every text_pattern hit, highest priority first per secret."""
    hits: dict[str, tuple[int, str]] = {}
    for r in recognisers:
        if r.text_pattern is None:
            continue
        for m in r.text_pattern.finditer(text):
            secret = m.group("secret") if "secret" in r.text_pattern.groupindex else m.group(0)
            old = hits.get(secret)
            if old is None or r.priority > old[0]:
                hits[secret] = (r.priority, r.kind)
    return [(kind, s) for s, (_, kind) in hits.items()]


def recognise_key(recognisers: Sequence[Recogniser], locator: str, value: str) -> str | None:
    """The kind of the best recogniser whose key_names match the last locator segment."""
    last = locator.rsplit(".", 1)[-1]
    value = _unwrap(value)
    best: tuple[int, str] | None = None
    for r in recognisers:
        if last in r.key_names and (r.value_pattern is None or r.value_pattern.fullmatch(value)):
            if best is None or r.priority > best[0]:
                best = (r.priority, r.kind)
    return best[1] if best else None


def recognise_file(recognisers: Sequence[Recogniser], rel_path: str, locator: str) -> Recogniser | None:
    for r in sorted(recognisers, key=lambda r: -r.priority):
        for rule in r.files:
            if fnmatch.fnmatchcase(rel_path, rule.path) and fnmatch.fnmatchcase(locator, rule.locator):
                return r
    return None


class Blackhole:
    """A TCP listener that accepts connections (via the backlog) and never answers: a read timeout."""

    def __enter__(self) -> Blackhole:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        return self

    @property
    def url(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def __exit__(self, *exc: object) -> None:
        self._sock.close()


def run_all(
    provider: Provider, candidates: Sequence[Candidate], ctx: ProviderContext
) -> tuple[list[Credential], Inventory]:
    creds = [provider.identify(provider.classify(c), ctx) for c in candidates]
    return creds, provider.inventory(creds, ctx)


def _texts(creds: Sequence[Credential], inv: Inventory | None = None) -> list[str]:
    out = []
    for c in creds:
        out += [repr(c), str(c), c.model_dump_json(), repr(c.model_dump())]
    if inv is not None:
        out += [inv.model_dump_json(), repr(inv)]
    return out


class ProviderContract:
    """Subclass as ``Test<Name>Contract``; see the module docstring."""

    provider_cls: ClassVar[type[Provider]]
    url_env: ClassVar[str]
    prose_decoys: ClassVar[Sequence[str]] = ()
    timeout_s: ClassVar[float] = 0.3
    # Extra ProviderContext options for the full/scoped verdict tests only, e.g. {"probe_writes": True}
    # for providers whose scopes can only be learnt by (safe) probing. Every other test runs without them.
    verdict_options: ClassVar[dict[str, Any]] = {}

    # -- hooks ---------------------------------------------------------------------------------------------
    @classmethod
    def make_fake(cls) -> FakeHTTPServer:
        raise NotImplementedError

    def candidate(self, fake: Any, canaries: Any, profile: str) -> Candidate:
        raise NotImplementedError

    def recognition_samples(self, canaries: Any) -> Sequence[tuple[str, str, str]]:
        return ()

    def base_url(self, fake: Any) -> str:
        return fake.url

    def writes_sent(self, fake: Any) -> list[Any]:
        return list(fake.writes)

    def reset_fake(self, fake: Any) -> None:
        fake.rate_limit_next = 0
        fake.fail_next_5xx = 0
        fake.malformed_next = 0
        fake.always_rate_limit = False
        fake.retry_after = 1
        fake.log.clear()
        if hasattr(fake, "reset"):
            fake.reset()

    # -- fixtures ------------------------------------------------------------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def _fake_server(cls) -> Iterator[Any]:
        server = cls.make_fake()
        try:
            yield server
        finally:
            server.stop()

    @pytest.fixture
    def fake(self, _fake_server: Any) -> Any:
        self.reset_fake(_fake_server)
        return _fake_server

    @pytest.fixture
    def provider(self) -> Provider:
        return self.provider_cls()

    def ctx(self, fake: Any = None, *, url: str | None = None, via: str = "env", **kw: Any) -> ProviderContext:
        self.sleeps: list[float] = getattr(self, "sleeps", [])
        base = url if url is not None else (self.base_url(fake) if fake is not None else "http://127.0.0.1:9")
        opts: dict[str, Any] = dict(timeout_s=2.0, max_retries=2, sleep=self.sleeps.append)
        if via == "env":
            opts["env"] = {self.url_env: base}
        else:
            opts["settings"] = {"url": base}
        opts.update(kw)
        return ProviderContext(**opts)

    # -- registry and recognisers -------------------------------------------------------------------------
    def test_registered_under_its_name(self) -> None:
        spec = BUILTIN_PROVIDERS[self.provider_cls.name]
        module, _, attr = spec.partition(":")
        import importlib

        assert getattr(importlib.import_module(module), attr) is self.provider_cls

    def test_recognisers_well_formed(self, provider: Provider) -> None:
        recs = list(provider.recognisers())
        assert recs, "a provider must recognise its credentials"
        for r in recs:
            assert r.provider == provider.name
            assert r.key_names or r.text_pattern is not None or r.files
            if r.files:
                assert r.category == "cli_config", f"{r.kind}: CLI file rules use category='cli_config'"
            if r.text_pattern is not None and "secret" in r.text_pattern.groupindex:
                assert r.text_pattern.groupindex

    def test_recognises_its_formats(self, provider: Provider, canaries: Any) -> None:
        """Every provider supplies samples (a provider without them fails), and discovery's own matcher finds
        each one, as a free-text format or as a `KEY=value` assignment of a known variable."""
        from auditor.discovery.matcher import Matcher

        samples = list(self.recognition_samples(canaries))
        assert samples, f"{type(self).__name__}: recognition_samples() supplies no sample, so nothing is checked"
        matcher = Matcher(list(provider.recognisers()))
        for text, secret, kind in samples:
            hits = {(h.kind, h.secret) for h in matcher.match_text(text)}
            assert (kind, secret) in hits, f"{kind} not found in {text[:40]!r}…: {sorted(k for k, _ in hits)}"

    def test_no_false_positives_on_prose(self, provider: Provider) -> None:
        recs = list(provider.recognisers())
        assert self.prose_decoys, f"{type(self).__name__}: no prose_decoys, so nothing is checked"
        for text in self.prose_decoys:
            assert recognise_text(recs, text) == [], f"false positive on {text!r}"

    # -- secrets -------------------------------------------------------------------------------------------
    def test_secret_never_in_repr_or_json(self, provider: Provider, fake: Any, canaries: Any) -> None:
        cands = [self.candidate(fake, canaries, p) for p in PROFILES]
        for c in cands:
            assert c.secret.reveal() not in repr(c) + c.model_dump_json()
        creds, inv = run_all(provider, cands, self.ctx(fake))
        canaries.assert_absent(texts=_texts(creds, inv))

    def test_no_secrets_in_logs_or_errors(
        self, provider: Provider, fake: Any, canaries: Any, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.DEBUG)
        texts: list[str] = []
        cands = [self.candidate(fake, canaries, p) for p in PROFILES]
        for mode in ("ok", "malformed", "rate_limited"):
            fake.malformed_next = 1000 if mode == "malformed" else 0
            fake.always_rate_limit = mode == "rate_limited"
            for c in cands:
                try:
                    creds, inv = run_all(provider, [c], self.ctx(fake, max_retries=1))
                    texts += _texts(creds, inv)
                except BlastwallError as exc:
                    texts += [str(exc), exc.diagnostics(), repr(exc)]
        texts.append(caplog.text)
        canaries.assert_absent(texts=texts)

    # -- verdicts ------------------------------------------------------------------------------------------
    def test_full_access_is_root_equivalent(self, provider: Provider, fake: Any, canaries: Any) -> None:
        cred = provider.identify(
            provider.classify(self.candidate(fake, canaries, "full")), self.ctx(fake, **self.verdict_options)
        )
        assert cred.status == Status.verified, cred.reasons
        assert cred.root_equivalent is True, cred.reasons
        assert cred.reasons and all(isinstance(r, str) and r for r in cred.reasons)

    def test_scoped_is_not_root_equivalent(self, provider: Provider, fake: Any, canaries: Any) -> None:
        cred = provider.identify(
            provider.classify(self.candidate(fake, canaries, "scoped")), self.ctx(fake, **self.verdict_options)
        )
        assert cred.status == Status.verified, cred.reasons
        assert cred.root_equivalent is False, cred.reasons
        assert cred.reasons

    def test_401_is_invalid(self, provider: Provider, fake: Any, canaries: Any) -> None:
        cred = provider.identify(provider.classify(self.candidate(fake, canaries, "invalid")), self.ctx(fake))
        assert cred.status == Status.invalid, cred.reasons
        assert cred.reasons

    def test_403_is_never_safe(self, provider: Provider, fake: Any, canaries: Any) -> None:
        creds, inv = run_all(provider, [self.candidate(fake, canaries, "forbidden")], self.ctx(fake))
        cred = creds[0]
        assert cred.status != Status.invalid, cred.reasons
        assert cred.root_equivalent is not False, cred.reasons
        assert inv.gaps, "what a 403 hid must be a coverage gap"
        assert not [f for f in inv.facts if f.verdict is False and f.credential == cred.id]

    # -- faults --------------------------------------------------------------------------------------------
    def test_timeout_is_typed(self, provider: Provider, fake: Any, canaries: Any) -> None:
        cand = self.candidate(fake, canaries, "full")
        with Blackhole() as hole:
            ctx = self.ctx(url=hole.url, timeout_s=self.timeout_s, max_retries=0)
            try:
                cred = provider.identify(provider.classify(cand), ctx)
            except BlastwallError:
                cred = None
            if cred is not None:
                assert cred.status in (Status.error, Status.unverified), cred.reasons
                try:
                    inv = provider.inventory([cred], ctx)
                except BlastwallError:
                    return
                if cred.status != Status.verified:
                    return  # nothing verified: inventory may legitimately skip it
                assert inv.gaps

    def test_429_honours_retry_after(self, provider: Provider, fake: Any, canaries: Any) -> None:
        cand = self.candidate(fake, canaries, "full")
        fake.rate_limit_next, fake.retry_after = 1, 7
        self.sleeps = []
        cred = provider.identify(provider.classify(cand), self.ctx(fake))
        assert 7.0 in self.sleeps, f"Retry-After not honoured: slept {self.sleeps}"
        assert cred.status == Status.verified, cred.reasons

    def test_malformed_json_is_an_error_not_a_crash(self, provider: Provider, fake: Any, canaries: Any) -> None:
        cand = self.candidate(fake, canaries, "full")
        fake.malformed_next = 1000
        ctx = self.ctx(fake)
        try:
            cred = provider.identify(provider.classify(cand), ctx)
        except BlastwallError:
            return
        assert cred.status in (Status.error, Status.unverified), cred.reasons
        try:
            provider.inventory([cred], ctx)
        except BlastwallError:
            pass

    def test_malformed_inventory_is_a_gap(self, provider: Provider, fake: Any, canaries: Any) -> None:
        cred = provider.identify(provider.classify(self.candidate(fake, canaries, "full")), self.ctx(fake))
        # identification against the healthy fake must verify, or the check below never runs
        assert cred.status == Status.verified, cred.reasons
        fake.malformed_next = 1000
        before = len(fake.log)
        try:
            inv = provider.inventory([cred], self.ctx(fake))
        except BlastwallError:
            return
        if len(fake.log) > before:  # it asked and got garbage
            assert inv.gaps, "a malformed answer during inventory must leave a coverage gap"

    def test_unexpected_json_shapes_are_errors_not_crashes(self, provider: Provider, fake: Any, canaries: Any) -> None:
        """Valid JSON of the wrong shape (a list, a string, nulls) must not raise anything but a BlastwallError."""
        cands = [self.candidate(fake, canaries, p) for p in ("full", "scoped")]
        saved = list(fake.routes)
        try:
            for body in ([], "surprise", {"data": "x", "result": [1], "account": None, "errors": "x"}, [{"id": None}]):
                fake.routes[:] = []
                for method in ("GET", "POST"):
                    fake.route(method, r".*")(lambda req, body=body: (200, body))
                for c in cands:
                    try:
                        run_all(provider, [c], self.ctx(fake))
                    except BlastwallError:
                        pass
        finally:
            fake.routes[:] = saved

    # -- no side effects -------------------------------------------------------------------------------------
    def test_zero_writes_without_probe_writes(self, provider: Provider, fake: Any, canaries: Any) -> None:
        cands = [self.candidate(fake, canaries, p) for p in PROFILES]
        run_all(provider, cands, self.ctx(fake, probe_writes=False))
        assert self.writes_sent(fake) == []

    def test_offline_sends_nothing(self, provider: Provider, fake: Any, canaries: Any) -> None:
        cands = [self.candidate(fake, canaries, p) for p in PROFILES]
        creds, _ = run_all(provider, cands, self.ctx(fake, offline=True))
        assert fake.log == []
        assert all(c.status != Status.verified for c in creds)

    def test_url_override_via_settings(self, provider: Provider, fake: Any, canaries: Any) -> None:
        cred = provider.identify(
            provider.classify(self.candidate(fake, canaries, "full")), self.ctx(fake, via="settings")
        )
        assert cred.status == Status.verified, cred.reasons
        assert fake.log
