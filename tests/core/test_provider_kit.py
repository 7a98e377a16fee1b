"""The provider kit (auditor.provider_kit) and the typed verdict (auditor.model.Verdict).

Unit tests over `httpx.MockTransport` (no network): the status mapping every REST provider relies on,
the one pagination loop (cursor, page number, Link header), the inventory builder, and
`Credential.judged`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from auditor.errors import ProviderAuthError, ProviderError, ProviderUnavailable
from auditor.http import ApiClient
from auditor.model import KEEP, Backup, Candidate, CoverageGap, Credential, Inventory, Resource, Status, Verdict
from auditor.provider import FileRule, McpServerRule, ProviderContext
from auditor.provider_http import HttpProvider
from auditor.provider_kit import (
    Denied,
    InventoryBuilder,
    Page,
    call_json,
    cli_login,
    env_token,
    get_json,
    get_response,
    json_object,
    next_link,
    paginate,
    root_verdict,
    unverified,
)
from auditor.secrets import Secret


def _api(handler: Callable[[httpx.Request], httpx.Response], sleeps: list[float] | None = None) -> ApiClient:
    waits = sleeps if sleeps is not None else []
    return ApiClient(
        "https://api.example.test",
        provider="demo",
        max_retries=2,
        sleep=waits.append,
        transport=httpx.MockTransport(handler),
    )


def _status(code: int, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    content = json.dumps(body).encode() if body is not None else b""
    return lambda request: httpx.Response(code, content=content, headers=headers)


# -- get_json: the status mapping ---------------------------------------------------------------------------
def test_get_json_decodes_200_and_maps_404_to_none() -> None:
    assert get_json(_api(_status(200, {"ok": 1})), "/x", auth=None) == {"ok": 1}
    assert get_json(_api(_status(404, {"error": "nope"})), "/x", auth=None) is None


def test_get_json_401_is_a_rejection() -> None:
    with pytest.raises(ProviderAuthError):
        get_json(_api(_status(401, {})), "/x", auth=None)


def test_get_json_403_is_denied_naming_the_call() -> None:
    with pytest.raises(Denied) as err:
        get_json(_api(_status(403, {})), "/v1/things", auth=None, denied="the key lacks this permission")
    assert isinstance(err.value, ProviderError)
    assert err.value.message == "demo: HTTP 403 from /v1/things (the key lacks this permission)"
    assert err.value.missing == ()


def test_get_json_403_hook_builds_the_error() -> None:
    def forbidden(resp: httpx.Response, path: str) -> ProviderError:
        body = resp.json()
        if body.get("invalidToken"):
            return ProviderAuthError("demo: dead token")
        return Denied(f"demo: 403 from {path}", body.get("missing", ()))

    with pytest.raises(ProviderAuthError):
        get_json(_api(_status(403, {"invalidToken": True})), "/x", auth=None, forbidden=forbidden)
    with pytest.raises(Denied) as err:
        get_json(_api(_status(403, {"missing": ["projects_read"]})), "/x", auth=None, forbidden=forbidden)
    assert err.value.missing == ("projects_read",)


@pytest.mark.parametrize("code", [429, 500, 503])
def test_get_json_429_and_5xx_retry_then_unavailable(code: int) -> None:
    sleeps: list[float] = []
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(code, headers={"Retry-After": "2"})

    with pytest.raises(ProviderUnavailable):
        get_json(_api(handler, sleeps), "/x", auth=None)
    assert len(calls) == 3 and sleeps == [2.0, 2.0], "retried max_retries times, honouring Retry-After"


def test_get_json_429_then_success() -> None:
    answers = [httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(200, json=[1, 2])]
    assert get_json(_api(lambda r: answers.pop(0)), "/x", auth=None) == [1, 2]


def test_get_json_other_errors_and_garbage_are_provider_errors() -> None:
    with pytest.raises(ProviderError, match="HTTP 418"):
        get_json(_api(_status(418, {})), "/x", auth=None)
    with pytest.raises(ProviderError, match="malformed JSON"):
        get_json(_api(lambda r: httpx.Response(200, content=b"<html>")), "/x", auth=None)


def test_get_json_accepts_extra_ok_statuses_and_sends_params_and_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(206, json=[{"id": 1}], headers={"Next-Range": "id ]1..; max=1"})

    resp = get_response(
        _api(handler),
        "/apps",
        auth=None,
        params={"limit": 1},
        headers={"Range": "id ..; max=1"},
        ok=frozenset({200, 206}),
    )
    assert resp is not None and resp.status_code == 206 and resp.headers["Next-Range"] == "id ]1..; max=1"
    assert seen[0].url.params["limit"] == "1" and seen[0].headers["Range"] == "id ..; max=1"


# -- call_json: the provider judges the status ----------------------------------------------------------------
def test_call_json_returns_statuses_and_raises_only_on_401_and_bad_2xx() -> None:
    r = call_json(_api(_status(403, {"error": "forbidden"})), "DELETE", "/x", auth=None)
    assert (r.status, r.body) == (403, {"error": "forbidden"})
    assert call_json(_api(lambda q: httpx.Response(404, content=b"<html>")), "GET", "/x", auth=None).body is None
    assert call_json(_api(_status(204)), "GET", "/x", auth=None).body is None
    with pytest.raises(ProviderAuthError, match="key rejected"):
        call_json(_api(_status(401, {})), "GET", "/x", auth=None, rejected="key rejected")
    with pytest.raises(ProviderError, match="malformed JSON"):
        call_json(_api(lambda q: httpx.Response(200, content=b"nope")), "GET", "/x", auth=None)
    with pytest.raises(ProviderError, match="malformed JSON"):  # strict: any status must be JSON
        call_json(_api(lambda q: httpx.Response(403, content=b"nope")), "GET", "/x", auth=None, strict_json=True)


# -- paginate --------------------------------------------------------------------------------------------------
def test_paginate_follows_a_cursor_until_the_last_page() -> None:
    pages = {None: Page([1, 2], "c1"), "c1": Page([3], "c2"), "c2": Page([4], None)}
    asked: list[str | None] = []

    def fetch(token: str | None) -> Page[int]:
        asked.append(token)
        return pages[token]

    assert list(paginate(fetch, max_pages=10)) == [1, 2, 3, 4]
    assert asked == [None, "c1", "c2"]


def test_paginate_page_numbers_stop_at_the_cap() -> None:
    def fetch(token: str | None) -> Page[int]:
        n = int(token or 1)
        return Page([n], str(n + 1))  # an API that never says "last page"

    assert list(paginate(fetch, max_pages=5)) == [1, 2, 3, 4, 5]


def test_paginate_stops_when_the_cursor_repeats() -> None:
    calls: list[str | None] = []

    def fetch(token: str | None) -> Page[str]:
        calls.append(token)
        return Page(["x"], "same")

    assert list(paginate(fetch, max_pages=20)) == ["x", "x"]
    assert calls == [None, "same"]


def test_paginate_over_link_headers() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page", "1"))
        link = f'<https://api.example.test/items?page={page + 1}>; rel="next", <https://x/last>; rel="last"'
        return httpx.Response(200, json=[page], headers={"Link": link} if page < 3 else {})

    api = _api(handler)

    def fetch(url: str | None) -> Page[int]:
        resp = get_response(api, url or "/items", auth=None)
        assert resp is not None
        return Page(resp.json(), next_link(resp.headers))

    assert list(paginate(fetch, max_pages=10)) == [1, 2, 3]


def test_next_link_reads_rel_next_only() -> None:
    h = httpx.Headers({"link": '<https://a/x?page=1>; rel="prev", <https://a/x?page=3>; rel="next"'})
    assert next_link(h) == "https://a/x?page=3"
    assert next_link(httpx.Headers({"link": '<https://a/x?page=9>; rel="last"'})) is None
    assert next_link(httpx.Headers()) is None


# -- the inventory builder ---------------------------------------------------------------------------------
def test_inventory_builder_collects_and_builds() -> None:
    inv = InventoryBuilder("demo")
    org = Resource(id="demo:org:1", provider="demo", type="org", name="first")
    inv.resource(org)
    kept = inv.resource(Resource(id="demo:org:1", provider="demo", type="org", name="second"), once=True)
    assert kept is org, "once=True keeps the resource already held"
    inv.resource(Resource(id="demo:db:1", provider="demo", type="database", name="db", holds_data=True))
    inv.backup(Backup(id="demo:snap:1", provider="demo", protects="demo:db:1", location="inside"))
    inv.fact("cred-1", "demo:db:1", None, "unknown", "delete:database")
    inv.gap("demo:db:1", "snapshots not inspected: HTTP 403")
    inv.merge(Inventory(gaps=(CoverageGap(subject="s", reason="r", provider="demo"),)))
    built = inv.build()
    assert [r.name for r in built.resources] == ["first", "db"]
    assert built.facts[0].verdict is None and built.facts[0].capability == "delete:database"
    assert built.gaps[0] == CoverageGap(
        subject="demo:db:1", provider="demo", reason="snapshots not inspected: HTTP 403"
    )
    assert len(built.gaps) == 2 and len(built.backups) == 1


# -- the typed verdict -------------------------------------------------------------------------------------
def _cred() -> Credential:
    cand = Candidate(provider="demo", kind="api_key", secret=Secret("demo-secret-value-0123456789"))
    return Credential.from_candidate(
        cand, principal="ada", capabilities=("read:x",), reasons=("offline",), metadata={"a": 1}
    )


def test_judged_sets_what_the_verdict_names_and_keeps_the_rest() -> None:
    cred = _cred()
    meta = {"a": 1, "key_type": "project"}
    out = cred.judged(
        Verdict(status=Status.verified, root_equivalent=False, possible_capabilities=("delete:x",), metadata=meta)
    )
    assert out.status == Status.verified and out.root_equivalent is False
    assert out.possible_capabilities == ("delete:x",)
    assert out.capabilities == ("read:x",) and out.principal == "ada" and out.reasons == ("offline",)
    assert out.metadata == meta
    meta["later"] = True
    assert "later" not in out.metadata, "the verdict's metadata is copied, not shared"
    assert cred.status == Status.unverified, "the credential itself is immutable"


def test_judged_can_clear_a_field_explicitly() -> None:
    out = _cred().judged(Verdict(principal=None, capabilities=(), reasons=("rejected",)))
    assert out.principal is None and out.capabilities == () and out.reasons == ("rejected",)
    assert Verdict().changes() == {} and Verdict(principal=KEEP).changes() == {}


# -- json_object and cli_login ------------------------------------------------------------------------------
def test_json_object_returns_an_object_and_names_what_is_wrong_otherwise() -> None:
    def words(resp: httpx.Response) -> dict[str, Any]:
        return json_object(resp, malformed="demo: not JSON", malformed_hint="try later", not_object="demo: no object")

    assert words(httpx.Response(200, json={"a": 1})) == {"a": 1}
    with pytest.raises(ProviderError) as garbage:
        words(httpx.Response(200, content=b"<html>"))
    assert garbage.value.message == "demo: not JSON" and garbage.value.hint == "try later"
    with pytest.raises(ProviderError) as listed:
        words(httpx.Response(200, json=[1, 2]))
    assert listed.value.message == "demo: no object"


def test_cli_login_is_a_cli_config_file_recogniser() -> None:
    rule = FileRule(".demo/config.json", "token", hints=("expires_at",))
    rec = cli_login("demo", "cli_token", rule, FileRule(".demo/old.json", "token"), priority=40)
    assert (rec.provider, rec.kind, rec.category, rec.priority) == ("demo", "cli_token", "cli_config", 40)
    assert rec.files == (rule, FileRule(".demo/old.json", "token"))
    assert rec.value_pattern is None and not rec.key_names and rec.text_pattern is None
    assert cli_login("demo", "cli_token", rule).priority == 65
    server = McpServerRule("Demo MCP server", packages=("demo-mcp",))
    assert cli_login("demo", "cli_token", rule, mcp_servers=(server,)).mcp_servers == (server,)


def test_env_token_binds_a_value_pattern_to_variable_names() -> None:
    value = re.compile(r"dmo_[a-z0-9]{8}")
    rec = env_token("demo", "token", frozenset({"DEMO_TOKEN"}), value)
    assert (rec.provider, rec.kind, rec.priority, rec.category) == ("demo", "token", 70, None)
    assert rec.key_names == frozenset({"DEMO_TOKEN"}) and rec.value_pattern is value
    assert rec.text_pattern is None and not rec.files
    assert env_token("demo", "token", frozenset({"DEMO_TOKEN"}), value, priority=60).priority == 60


def test_unverified_is_the_candidates_credential_with_its_offline_reasons() -> None:
    cand = Candidate(
        provider="demo", kind="api_key", secret=Secret("demo-secret-value-0123456789"), hints={"user": "ada"}
    )
    out = unverified(cand, "format alone", "second", kind="user_key", root_equivalent=True, capabilities=("x",))
    assert out.status == Status.unverified and out.reasons == ("format alone", "second")
    assert (out.kind, out.root_equivalent, out.capabilities) == ("user_key", True, ("x",))
    assert out.metadata == {"user": "ada"} and out.possible_capabilities == () and out.principal is None
    assert out == Credential.from_candidate(
        cand,
        kind="user_key",
        status=Status.unverified,
        root_equivalent=True,
        capabilities=("x",),
        reasons=("format alone", "second"),
    )
    assert unverified(cand).reasons == () and unverified(cand).kind == "api_key"


# -- HttpProvider.unidentifiable_kinds -------------------------------------------------------------------------
class _Demo(HttpProvider):
    name = "demo"
    url_env = "BLASTWALL_DEMO_URL"
    default_url = "http://127.0.0.1:9"
    unidentifiable_kinds = frozenset({"refresh_token"})
    asked: list[str] = []

    @staticmethod
    def fetch(api: ApiClient, credential: Credential, ctx: ProviderContext, /) -> Any:
        _Demo.asked.append(credential.kind)
        return {"login": "ada"}

    @staticmethod
    def judge(credential: Credential, seen: Any, /) -> Verdict:
        return Verdict(status=Status.verified, principal=seen["login"])


def test_unidentifiable_kinds_are_left_as_classified_without_asking() -> None:
    demo, ctx = _Demo(), ProviderContext()
    _Demo.asked.clear()
    cand = Candidate(provider="demo", kind="refresh_token", secret=Secret("demo-refresh-value-0123456789"))
    refresh = Credential.from_candidate(cand)
    assert not demo.identifiable(refresh)
    assert demo.identify(refresh, ctx) == refresh and _Demo.asked == []
    key = _cred()
    assert demo.identifiable(key)
    out = demo.identify(key, ctx)
    assert _Demo.asked == ["api_key"] and out.status == Status.verified and out.principal == "ada"
    assert HttpProvider.unidentifiable_kinds == frozenset()


def test_root_verdict_is_verified_root_equivalent_with_every_capability_held() -> None:
    cand = _cred().model_copy(update={"possible_capabilities": ("maybe:x",)})
    out = cand.judged(root_verdict(("delete:x", "delete:y"), "acts as the user", "second", principal="ada@x"))
    assert out.status == Status.verified and out.root_equivalent is True
    assert out.capabilities == ("delete:x", "delete:y") and out.possible_capabilities == ()
    assert out.reasons == ("acts as the user", "second") and out.principal == "ada@x"
    assert out.metadata == {"a": 1}, "metadata is kept unless the verdict names it"
    assert root_verdict((), metadata={"k": 1}).metadata == {"k": 1}


def test_http_providers_endpoint_variable_follows_the_convention() -> None:
    """`url_env` defaults to BLASTWALL_<NAME>_URL; each module's documented URL_ENV is what the class uses."""
    import importlib

    from auditor.provider_http import HttpProvider
    from auditor.registry import load_providers

    providers, _gaps = load_providers(include_plugins=False)
    http = [p for p in providers.values() if isinstance(p, HttpProvider)]
    assert len(http) >= 11
    for p in http:
        mod = importlib.import_module(type(p).__module__)
        expected = getattr(mod, "URL_ENV", None) or importlib.import_module(f"providers.{p.name}.auth").URL_ENV
        assert p.url_env == expected == f"BLASTWALL_{p.name.upper()}_URL", p.name
