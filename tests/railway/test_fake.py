"""The fake Railway server itself behaves like the real API where the tests rely on it."""

from __future__ import annotations

import httpx


def post(fake, query, variables=None, *, bearer=None, project=None):
    headers = {}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    if project:
        headers["Project-Access-Token"] = project
    return httpx.post(fake.url, json={"query": query, "variables": variables or {}}, headers=headers, timeout=5)


def test_invalid_queries_are_rejected_like_a_real_server(railway_fake):
    # Docs errata: these examples do not validate against the schema.
    tok = railway_fake.token("account")
    r = post(railway_fake, 'mutation { volumeInstanceBackupCreate(volumeInstanceId: "x") }', bearer=tok)
    assert r.status_code == 400 and r.json()["errors"]
    r = post(railway_fake, '{ volumeInstance(id: "x") { serviceInstance { serviceName } } }', bearer=tok)
    assert r.status_code == 400 and "serviceInstance" in r.json()["errors"][0]["message"]
    assert railway_fake.mutations and railway_fake.mutations[0]["accepted"] is False


def test_errors_are_http_200_with_null_data(railway_fake):
    r = post(railway_fake, "{ me { id } }", bearer="not-a-token")
    assert r.status_code == 200 and r.json() == {
        "data": None,
        "errors": [{"message": "Not Authorized", "locations": [{"line": 1, "column": 3}], "path": ["me"]}],
    }
    assert r.headers["X-RateLimit-Remaining"]


def test_scope_enforcement_per_token_kind(railway_fake):
    s = railway_fake.scenario
    bob_project = next(p for p in s.projects.values() if p.name == "bob-secret")
    q = "query($id: String!) { project(id: $id) { name } }"
    assert post(railway_fake, q, {"id": bob_project.id}, bearer=railway_fake.token("account")).json()["errors"]
    assert post(railway_fake, q, {"id": bob_project.id}, bearer=railway_fake.token("other_account")).json()["data"]
    crm = next(p for p in s.projects.values() if p.name == "crm")
    assert post(railway_fake, q, {"id": crm.id}, project=railway_fake.token("project")).json()["errors"]
    assert post(railway_fake, "{ me { id } }", project=railway_fake.token("project")).json()["errors"]
    # a bearer token sent as a project token is not accepted
    assert post(railway_fake, "{ projectToken { id } }", project=railway_fake.token("account")).json()["errors"]


def test_mutations_are_recorded_and_volume_delete_is_soft(railway_fake):
    s = railway_fake.scenario
    vol = next(v for v in s.volumes.values() if v.name == "mongo-volume")
    r = post(
        railway_fake,
        "mutation Del($v: String!) { volumeDelete(volumeId: $v) }",
        {"v": vol.id},
        bearer=railway_fake.token("account"),
    )
    assert r.json() == {"data": {"volumeDelete": True}}
    vi = next(v for v in s.volume_instances.values() if v.volume_id == vol.id)
    assert vi.pending_deletion and vi.state == "DELETING" and vi.deleted_at
    assert railway_fake.mutations == [
        {
            "operation": "Del",
            "fields": ["volumeDelete"],
            "variables": {"v": vol.id},
            "token": "account",
            "accepted": True,
        }
    ]
    # refused attempts are recorded too
    post(railway_fake, 'mutation { projectDelete(id: "nope") }', bearer="dead-token-1234")
    assert railway_fake.mutations[-1]["accepted"] is False and railway_fake.mutations[-1]["token"] == "unknown"


def test_backup_mutations_need_a_volume_instance_id(railway_fake):
    s = railway_fake.scenario
    b = next(iter(s.backups.values()))
    vi = s.volume_instances[b.volume_instance_id]
    q = (
        "mutation($vi: String!, $b: String!) { volumeInstanceBackupDelete(volumeInstanceId: $vi, "
        "volumeInstanceBackupId: $b) { workflowId } }"
    )
    r = post(railway_fake, q, {"vi": vi.volume_id, "b": b.id}, bearer=railway_fake.token("account"))
    assert r.json()["errors"][0]["message"] == "Not Authorized"
    r = post(railway_fake, q, {"vi": vi.id, "b": b.id}, bearer=railway_fake.token("account"))
    assert r.json()["data"]["volumeInstanceBackupDelete"]["workflowId"] and b.id not in s.backups
    assert len(railway_fake.mutations) == 2
