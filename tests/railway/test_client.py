"""The Railway GraphQL client: read-only by construction, headers, retries, pagination, endpoint."""

from __future__ import annotations

import pytest
from graphql import parse, validate

from auditor.errors import ConfigError, ProviderUnavailable
from auditor.provider import ProviderContext
from auditor.secrets import Secret
from providers.railway import queries as Q
from providers.railway.client import (
    DEFAULT_URL,
    RailwayGraphQL,
    RailwayNotAuthorized,
    RailwayNotFound,
    ReadOnlyViolation,
    assert_read_only,
    auth_for,
    endpoint_from,
)
from tests.support.railway_fake import load_schema


def client(fake, sleeps, **kw) -> RailwayGraphQL:
    return RailwayGraphQL(fake.url, sleep=sleeps, max_retries=kw.pop("max_retries", 3), **kw)


MUTATIONS = [
    'mutation { volumeDelete(volumeId: "v") }',
    "mutation Del($v: String!) { volumeDelete(volumeId: $v) }",
    'query Q { me { id } } mutation M { projectDelete(id: "p") }',
    "{ me { id } } mutation { userDelete }",
    "subscription S { me { id } }",
    'mutation { volumeInstanceBackupDelete(volumeInstanceId: "a", volumeInstanceBackupId: "b") { workflowId } }',
    "{ me { id ",  # does not parse: refused, never sent
    "",
]


@pytest.mark.parametrize("doc", MUTATIONS)
def test_refuses_anything_but_one_query_and_sends_nothing(railway_fake, sleeps, doc):
    with client(railway_fake, sleeps) as c, pytest.raises(ReadOnlyViolation):
        c.query(doc, auth=auth_for("bearer", Secret(railway_fake.token("account"))))
    assert railway_fake.requests == [] and railway_fake.mutations == []


def test_pagination_cannot_smuggle_a_mutation(railway_fake, sleeps):
    with client(railway_fake, sleeps) as c, pytest.raises(ReadOnlyViolation):
        list(
            c.paginate(
                'mutation($first: Int, $after: String) { volumeDelete(volumeId: "x") }',
                {},
                ("x",),
                auth=auth_for("bearer", Secret("t" * 10)),
            )
        )
    assert railway_fake.requests == []


def test_assert_read_only_accepts_queries():
    assert_read_only("{ me { id } }")
    assert_read_only("query A { me { id } }  fragment F on User { id }")
    for doc in Q.ALL.values():
        assert_read_only(doc)


def test_every_provider_query_validates_against_the_schema():
    schema = load_schema()
    for name, doc in Q.ALL.items():
        assert validate(schema, parse(doc)) == [], name
    # and none of them reads variable *values* (secrets)
    assert not any(
        "variables(" in d.replace("variables(first", "") or "variablesForServiceDeployment" in d for d in Q.ALL.values()
    )


def test_headers_per_token_kind(railway_fake, sleeps):
    with client(railway_fake, sleeps) as c:
        c.query(Q.API_TOKEN, auth=auth_for("account_token", Secret(railway_fake.token("account"))))
        c.query(Q.PROJECT_TOKEN, auth=auth_for("project_token", Secret(railway_fake.token("project"))))
    assert [(r["auth"], r["token"]) for r in railway_fake.requests] == [("bearer", "account"), ("project", "project")]


def test_token_never_in_default_headers(railway_fake, sleeps):
    tok = railway_fake.token("account")
    with client(railway_fake, sleeps) as c:
        c.query(Q.API_TOKEN, auth=auth_for("bearer", Secret(tok)))
        assert tok not in repr(dict(c._api._client.headers))
        assert tok not in repr(auth_for("bearer", Secret(tok)))


def test_not_authorized_and_not_found_are_typed(railway_fake, sleeps):
    with client(railway_fake, sleeps) as c:
        with pytest.raises(RailwayNotAuthorized):
            c.query(Q.ME, auth=auth_for("bearer", Secret(railway_fake.token("workspace"))))
        with pytest.raises(RailwayNotFound):
            c.query(Q.PROJECT_TOKEN, auth=auth_for("project_token", Secret(railway_fake.token("revoked_project"))))


def test_429_with_retry_after_is_honoured(railway_fake, sleeps):
    railway_fake.rate_limit(times=2, retry_after=7)
    with client(railway_fake, sleeps) as c:
        data = c.query(Q.API_TOKEN, auth=auth_for("bearer", Secret(railway_fake.token("account"))))
    assert data["apiToken"]["workspaces"]
    assert sleeps.calls[:2] == [7.0, 7.0]
    assert [r.get("status") for r in railway_fake.requests] == [429, 429, 200]


def test_5xx_burst_is_survived(railway_fake, sleeps):
    railway_fake.fail_5xx(times=3, status=503)
    with client(railway_fake, sleeps) as c:
        assert c.query(Q.ME, auth=auth_for("bearer", Secret(railway_fake.token("account"))))["me"]["email"]
    assert len(sleeps.calls) == 3 and len(railway_fake.requests) == 4


def test_endless_5xx_becomes_unavailable(railway_fake, sleeps):
    railway_fake.fail_5xx(times=50)
    with client(railway_fake, sleeps, max_retries=2) as c, pytest.raises(ProviderUnavailable):
        c.query(Q.ME, auth=auth_for("bearer", Secret(railway_fake.token("account"))))


def test_graphql_level_rate_limit_is_retried(railway_fake, sleeps):
    railway_fake.graphql_rate_limit(times=2)
    with client(railway_fake, sleeps) as c:
        assert c.query(Q.ME, auth=auth_for("bearer", Secret(railway_fake.token("account"))))["me"]
    assert len(sleeps.calls) == 2


def test_exhausted_rate_limit_budget_waits_for_reset(railway_fake, sleeps):
    railway_fake.exhaust_budget(reset_in=3)
    with client(railway_fake, sleeps) as c:
        c.query(Q.ME, auth=auth_for("bearer", Secret(railway_fake.token("account"))))
    assert sleeps.calls == [3.0]


def test_relay_pagination_follows_every_page(railway_fake, sleeps):
    ws = next(w for w in railway_fake.scenario.workspaces.values() if w.name == "acme")
    with client(railway_fake, sleeps) as c:
        nodes = list(
            c.paginate(
                Q.WORKSPACE_PROJECTS,
                {"workspaceId": ws.id},
                ("workspace", "projects"),
                auth=auth_for("bearer", Secret(railway_fake.token("account"))),
                page_size=100,
            )
        )
        assert c.stats.pages == 2  # 3 projects, the server caps pages at 2
    assert sorted(n["name"] for n in nodes) == ["crm", "docs-site", "shop"]
    assert railway_fake.requests[1]["variables"]["after"]


def test_unreachable_endpoint_is_unavailable(railway_unreachable_url, sleeps):
    with RailwayGraphQL(railway_unreachable_url, sleep=sleeps, max_retries=1) as c, pytest.raises(ProviderUnavailable):
        c.query(Q.ME, auth=auth_for("bearer", Secret("x" * 36)))


def test_endpoint_precedence():
    assert endpoint_from(ProviderContext()) == DEFAULT_URL
    assert (
        endpoint_from(ProviderContext(settings={"url": "https://backboard.railway.app/graphql/v2"}))
        == "https://backboard.railway.app/graphql/v2"
    )
    ctx = ProviderContext(
        settings={"url": "https://a.example/graphql/v2"}, env={"BLASTWALL_RAILWAY_URL": "http://127.0.0.1:1/graphql/v2"}
    )
    assert endpoint_from(ctx) == "http://127.0.0.1:1/graphql/v2"
    with pytest.raises(ConfigError):
        endpoint_from(ProviderContext(settings={"url": "http://evil.example/graphql/v2"}))
    with pytest.raises(ConfigError):
        endpoint_from(ProviderContext(settings={"url": "ftp://x"}))


def test_server_error_text_is_scrubbed_of_secrets(railway_fake, sleeps):
    # If a server ever echoed the token back, the client's error would not carry it.
    tok = "f" * 8 + "-1234-5678-9abc-def012345678"
    c = RailwayGraphQL(railway_fake.url, sleep=sleeps, scrub=lambda s: s.replace(tok, "<secret>"))
    from providers.railway.client import _first_error

    err = _first_error([{"message": f"Not Authorized: {tok}"}], c._scrub)
    assert tok not in err.message and isinstance(err, RailwayNotAuthorized)
    c.close()
