"""Issue 17: a Railway volume restore follows Railway's own sequence, against the asynchronous fake.

stage -> poll workflowStatus until Complete -> re-check environmentStagedChanges -> commit -> confirm;
foreign staged changes are refused unless listed in the approved plan; HA services are refused at plan time.
"""

from __future__ import annotations

from typing import Any

import pytest

from .test_railway_restore import VolumeEnv

STAGE, COMMIT = "volumeInstanceBackupRestore", "environmentPatchCommitStaged"


@pytest.fixture
def vol(railway_fake, tmp_path, canaries, monkeypatch):  # type: ignore[no-untyped-def]
    return VolumeEnv(railway_fake, tmp_path, canaries, monkeypatch)


def _scenario(vol: VolumeEnv) -> Any:
    return vol.fake.scenario


def _env_and_services(vol: VolumeEnv) -> tuple[Any, Any, Any]:
    s = _scenario(vol)
    env = s.environments[vol.vi.environment_id]
    pg = s.services[vol.vi.service_id]
    other = next(x for x in s.services.values() if x.project_id == env.project_id and x.id != pg.id)
    return env, pg, other


def _approve(vol: VolumeEnv, run_id: str) -> tuple[int, str]:
    return vol.cli("approve", run_id, "--as", "bob", "--plan-sha256", vol.show(run_id)["plan_sha256"])


def test_approved_restore_stages_polls_rechecks_commits_confirms_in_that_order(
    vol: VolumeEnv, canaries, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    _scenario(vol).stage_polls = 4
    run_id = vol.start()
    before = len(vol.fake.requests)
    code, out = _approve(vol, run_id)
    assert code == 0, out
    calls: list[str] = []  # after approval only
    for r in vol.fake.requests[before:]:
        calls += [
            f
            for f in r.get("fields", ())
            if f in (STAGE, COMMIT, "workflowStatus", "environmentStagedChanges", "volumeInstance")
        ]
    i_stage, i_commit = calls.index(STAGE), calls.index(COMMIT)
    polls = [c for c in calls[i_stage + 1 : i_commit] if c == "workflowStatus"]
    assert len(polls) == 4  # Running x3, then Complete
    assert calls[i_stage + 1 : i_stage + 5] == ["workflowStatus"] * 4
    assert calls[i_stage + 5] == "environmentStagedChanges" and calls[i_stage + 6] == COMMIT
    assert "volumeInstance" in calls[i_commit + 1 :]  # confirm
    assert [p["status"] for p in vol.fake.workflow_polls] == ["Running"] * 3 + ["Complete"]
    assert calls.count(STAGE) == 1 and calls.count(COMMIT) == 1
    commit = next(m for m in vol.fake.mutations if m["fields"] == [COMMIT])
    assert commit["variables"]["environmentId"] == vol.vi.environment_id
    assert _scenario(vol).commits[-1]["skip_deploys"] is False
    assert _scenario(vol).commits[-1]["changes"] == ["volume_restore"]
    si = next(
        x
        for x in _scenario(vol).service_instances.values()
        if x.service_id == vol.vi.service_id and x.environment_id == vol.vi.environment_id
    )
    doc = vol.show(run_id)
    steps = {s["name"]: s for s in doc["steps"]}
    assert all(s["state"] == "finished" for s in steps.values())
    assert "volume READY, deployment DEPLOYING" in out and si.deployments
    canaries.assert_absent(texts=vol.outputs, trees=[tmp_path])


def test_a_commit_sent_before_complete_would_commit_nothing(vol: VolumeEnv) -> None:
    """The fake is faithful: until the workflow completes nothing of the restore is staged, so a commit sent
    early (what Blastwall used to do) applies nothing; the swap is staged only once the workflow is Complete."""
    import json

    from providers.railway.volume_restore import COMMIT_STAGED, STAGE_RESTORE, WORKFLOW_STATUS

    s = _scenario(vol)
    before = vol.backup_ids()

    def send(query: str, variables: dict[str, Any]) -> Any:
        status, body, _ = vol.fake.handle(
            "/graphql/v2",
            {"authorization": f"Bearer {vol.token}"},
            json.dumps({"query": query, "variables": variables}).encode(),
        )
        assert status == 200 and not body.get("errors"), body
        return body["data"]

    wid = send(STAGE_RESTORE, {"volumeInstanceId": vol.vi.id, "volumeInstanceBackupId": vol.chosen.id})[
        "volumeInstanceBackupRestore"
    ]["workflowId"]
    commit_result = send(COMMIT_STAGED, {"environmentId": vol.vi.environment_id, "commitMessage": "too early"})
    assert s.commits[-1]["changes"] == [] and s.restores == [] and vol.backup_ids() == before
    # the commit's String is no workflow id
    assert send(WORKFLOW_STATUS, {"workflowId": commit_result[COMMIT_FIELD]})["workflowStatus"]["status"] == "NotFound"
    statuses = [send(WORKFLOW_STATUS, {"workflowId": wid})["workflowStatus"]["status"] for _ in range(s.stage_polls)]
    assert statuses == ["Running"] * (s.stage_polls - 1) + ["Complete"]
    assert [c["kind"] for c in s.staged[vol.vi.environment_id]] == ["volume_restore"]


COMMIT_FIELD = "environmentPatchCommitStaged"


def test_staging_that_ends_in_error_commits_nothing_and_fails_with_railways_text(vol: VolumeEnv) -> None:
    s = _scenario(vol)
    s.stage_error = "failed to copy backup into new volume: quota exceeded"
    before = vol.backup_ids()
    run_id = vol.start()
    code, out = _approve(vol, run_id)
    assert code == 1, out
    doc = vol.show(run_id)
    assert doc["state"] == "failed"
    assert "quota exceeded" in doc["message"] and "nothing was committed" in doc["message"]
    steps = {x["name"]: x["state"] for x in doc["steps"]}
    assert steps["stage"] == "finished" and steps["wait"] == "failed" and steps["commit"] == "pending"
    assert [m["fields"] for m in vol.fake.mutations] == [[STAGE]]
    assert s.commits == [] and not s.staged.get(vol.vi.environment_id) and vol.backup_ids() == before


def test_foreign_staged_change_is_shown_and_refused_by_default(vol: VolumeEnv) -> None:
    env, _pg, other = _env_and_services(vol)
    _scenario(vol).stage_variable(env, other, "FEATURE_FLAG", "on")
    code, out = vol.cli("restore", vol.chosen.id, "--target", "shop-volume", "--as", "alice")
    assert code == 1, out
    doc = vol.show(vol.show_latest())
    assert doc["state"] == "failed" and doc["plan"] is None
    assert f"services/{other.id}" in doc["message"] and "would apply them too" in doc["message"]
    assert "allow_foreign_staged is off" in doc["message"]
    assert vol.fake.mutations == []
    assert len(_scenario(vol).staged[env.id]) == 1  # untouched


def _allow_foreign(vol: VolumeEnv) -> None:
    text = vol.config_path.read_text().replace(
        'service = "Postgres", token', 'service = "Postgres", allow_foreign_staged = true, token'
    )
    assert "allow_foreign_staged" in text
    vol.config_path.write_text(text)


def test_with_allow_foreign_staged_a_listed_change_is_committed_with_the_restore(vol: VolumeEnv) -> None:
    _allow_foreign(vol)
    env, _pg, other = _env_and_services(vol)
    s = _scenario(vol)
    s.stage_variable(env, other, "FEATURE_FLAG", "on")
    run_id = vol.start()
    plan = vol.show(run_id)["plan"]
    assert [(c["section"], c["id"]) for c in plan["foreign_staged_changes"]] == [("services", other.id)]
    code, out = _approve(vol, run_id)
    assert code == 0, out
    assert s.commits[-1]["changes"] == ["variables", "volume_restore"]
    assert any(v.name == "FEATURE_FLAG" and v.value == "on" and v.service_id == other.id for v in s.variables)
    assert "also committed (listed in the approved plan)" in out


def test_a_foreign_change_staged_after_approval_is_refused_at_the_recheck(vol: VolumeEnv) -> None:
    _allow_foreign(vol)  # even with the switch: only what the approved plan lists may be committed
    env, pg, other = _env_and_services(vol)
    s = _scenario(vol)
    run_id = vol.start()
    s.on_stage_complete.append(lambda: s.stage_variable(env, other, "SNEAKY", "1"))
    code, out = _approve(vol, run_id)
    assert code == 1, out
    doc = vol.show(run_id)
    steps = {x["name"]: x["state"] for x in doc["steps"]}
    assert steps["wait"] == "finished" and steps["recheck"] == "failed" and steps["commit"] == "pending"
    assert f"services/{other.id}" in doc["message"] and "Nothing was committed" in doc["message"]
    assert [m["fields"] for m in vol.fake.mutations] == [[STAGE]] and s.commits == []
    assert not any(v.name == "SNEAKY" for v in s.variables)


def test_a_foreign_change_staged_between_approval_and_staging_stops_before_staging(vol: VolumeEnv) -> None:
    env, _pg, other = _env_and_services(vol)
    run_id = vol.start()
    _scenario(vol).stage_variable(env, other, "LATE", "1")
    code, out = _approve(vol, run_id)
    assert code == 1, out
    assert "staged changes differ from the approved plan" in vol.show(run_id)["message"]
    assert vol.fake.mutations == []


def test_a_replicated_service_is_refused_at_plan_time(vol: VolumeEnv) -> None:
    s = _scenario(vol)
    for si in s.service_instances.values():
        if si.service_id == vol.vi.service_id:
            si.num_replicas = 3
    code, out = vol.cli("restore", vol.chosen.id, "--target", "shop-volume", "--as", "alice")
    assert code == 1, out
    doc = vol.show(vol.show_latest())
    steps = {x["name"]: x["state"] for x in doc["steps"]}
    assert steps["read"] == "finished" and steps["plan"] == "failed" and doc["plan"] is None
    assert "replicated, HA database" in doc["message"]
    assert vol.fake.mutations == []


def test_a_volume_in_a_project_shared_through_external_workspaces_is_restored_through_the_gate(vol: VolumeEnv) -> None:
    from datetime import timedelta

    s = _scenario(vol)
    alice = s.users[s.tokens["account"].user_id or ""]
    secret = next(p for p in s.projects.values() if p.name == "bob-secret")
    bpg = next(x for x in s.services.values() if x.project_id == secret.id and x.name == "Postgres")
    vi = next(v for v in s.volume_instances.values() if v.service_id == bpg.id)
    old, newer = s.backup(vi, timedelta(days=2)), s.backup(vi, timedelta(hours=2))
    vol.config_path.write_text(vol.config_path.read_text().replace('project = "shop"', 'project = "bob-secret"'))
    code, out = vol.cli("restore", old.id, "--target", "shop-volume", "--as", "alice")
    assert code == 1 and "no project 'bob-secret'" in out  # not shared yet: out of reach
    s.share_project(alice, secret)
    run_id = vol.start(old.id)
    plan = vol.show(run_id)["plan"]
    assert plan["target"]["project"]["name"] == "bob-secret"
    assert [b["id"] for b in plan["will_be_lost"]["newer_backups"]] == [newer.id]
    assert vol.fake.mutations == []  # nothing before the approval
    code, out = _approve(vol, run_id)
    assert code == 0, out
    assert s.restores[-1]["backup_id"] == old.id and newer.id not in s.backups
