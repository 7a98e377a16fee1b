"""`blastwall restore BACKUP_ID --target NAME` for a `railway-volume` target, against the fake Railway API."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.config import load_config
from auditor.errors import ApprovalRequired, ConfigError
from providers.railway.restore_workflow import VOLUME_RESTORE_STEPS

from .test_cli import schema

RUN_ID = re.compile(r"run_[0-9a-f]{12}")
TOKEN_ENV = "RW_RESTORE_TOKEN"


class VolumeEnv:
    def __init__(self, fake: Any, tmp_path: Path, canaries: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.fake = fake
        s = fake.scenario
        alice = s.tokens["account"].user_id
        self.token = canaries.mint("rwtok_{r}")
        s.token("restorer", "account", value=self.token, user_id=alice)
        shop = next(p for p in s.projects.values() if p.name == "shop")
        env = s.env(shop, "production")
        pg = next(x for x in s.services.values() if x.project_id == shop.id and x.name == "Postgres")
        self.vi = next(v for v in s.volume_instances.values() if v.environment_id == env.id and v.service_id == pg.id)
        self.backups = sorted(
            (b for b in s.backups.values() if b.volume_instance_id == self.vi.id), key=lambda b: b.created_at
        )  # oldest first: 9d, 5d, 51h, 27h, 3h
        self.chosen = self.backups[2]
        self.newer = [b.id for b in self.backups[3:]]
        self.config_path = tmp_path / "blastwall.toml"
        self.config_path.write_text(
            "[[targets]]\n"
            'name = "shop-volume"\n'
            'kind = "railway-volume"\n'
            f'railway = {{ project = "shop", environment = "production", service = "Postgres", token = "env:{TOKEN_ENV}" }}\n'
            "\n[providers.railway]\n"
            f'url = "{fake.url}"\n'
            "restore_poll_interval_s = 0\n"
            '\n[approvals]\nmode = "unauthenticated"\n'
        )
        monkeypatch.setenv(TOKEN_ENV, self.token)
        self.outputs: list[str] = []

    def cli(self, *args: str) -> tuple[int, str]:
        res = CliRunner().invoke(app, [*args, "--config", str(self.config_path)])
        self.outputs.append(res.output)
        if res.exception is not None and not isinstance(res.exception, SystemExit):
            raise res.exception
        return res.exit_code, res.output

    def start(self, backup_id: str | None = None) -> str:
        code, out = self.cli("restore", backup_id or self.chosen.id, "--target", "shop-volume", "--as", "alice")
        assert code == 4, out
        m = RUN_ID.search(out)
        assert m is not None, out
        return m.group(0)

    def show(self, run_id: str) -> dict[str, Any]:
        code, out = self.cli("runs", "show", run_id, "--json")
        assert code == 0, out
        doc = json.loads(out)
        jsonschema.validate(doc, schema("runs-show.json"))
        return doc  # type: ignore[no-any-return]

    def show_latest(self) -> str:
        code, out = self.cli("runs", "list", "--json")
        assert code == 0, out
        return str(json.loads(out)[0]["id"])

    def backup_ids(self) -> set[str]:
        return {b.id for b in self.fake.scenario.backups.values() if b.volume_instance_id == self.vi.id}


@pytest.fixture
def vol(railway_fake, tmp_path, canaries, monkeypatch):  # type: ignore[no-untyped-def]
    return VolumeEnv(railway_fake, tmp_path, canaries, monkeypatch)


def test_without_approval_no_mutation_reaches_railway(vol: VolumeEnv, canaries, tmp_path) -> None:  # type: ignore[no-untyped-def]
    before = vol.backup_ids()
    run_id = vol.start()
    doc = vol.show(run_id)
    assert doc["workflow"] == "railway-volume-restore" and doc["state"] == "waiting_approval"
    plan = doc["plan"]
    assert plan["volume_instance"]["id"] == vol.vi.id
    assert plan["volume_instance"]["mount_path"] == "/var/lib/postgresql/data"
    assert plan["volume_instance"]["current_size_mb"] == vol.vi.current_size_mb
    assert plan["backup"]["id"] == vol.chosen.id and plan["backup"]["created_at"] == vol.chosen.created_at
    assert [b["id"] for b in plan["will_be_lost"]["newer_backups"]] == vol.newer
    assert plan["will_be_lost"]["current_size_mb"] == vol.vi.current_size_mb
    assert [s["name"] for s in doc["steps"]] == list(VOLUME_RESTORE_STEPS)
    code, _ = vol.cli("reject", run_id, "--as", "bob")
    assert code == 0  # recorded; the run is rejected (runs resume would exit 4)
    assert vol.fake.mutations == [] and vol.backup_ids() == before
    canaries.assert_absent(texts=vol.outputs, trees=[tmp_path])


def test_with_approval_stage_then_commit_and_newer_backups_are_gone(vol: VolumeEnv, canaries, tmp_path) -> None:  # type: ignore[no-untyped-def]
    run_id = vol.start()
    doc = vol.show(run_id)
    assert vol.fake.mutations == []
    code, out = vol.cli("approve", run_id, "--as", "bob", "--plan-sha256", doc["plan_sha256"])
    assert code == 0, out
    assert "restored volume backup" in out
    muts = vol.fake.mutations
    assert [m["fields"] for m in muts] == [["volumeInstanceBackupRestore"], ["environmentPatchCommitStaged"]]
    assert all(m["accepted"] for m in muts) and all(m["token"] == "restorer" for m in muts)
    assert muts[0]["variables"] == {"volumeInstanceId": vol.vi.id, "volumeInstanceBackupId": vol.chosen.id}
    assert vol.fake.workflow_polls  # waited for the platform's workflow
    remaining = vol.backup_ids()
    assert vol.chosen.id in remaining and not (set(vol.newer) & remaining)
    assert vol.fake.scenario.restores[0]["backup_id"] == vol.chosen.id
    done = vol.show(run_id)
    assert done["state"] == "succeeded"
    assert [s["state"] for s in done["steps"]] == ["finished"] * len(VOLUME_RESTORE_STEPS)
    canaries.assert_absent(texts=vol.outputs, trees=[tmp_path])


def test_an_approval_for_another_plan_is_refused(vol: VolumeEnv, canaries, tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = vol.start()
    plan_a = vol.show(first)["plan_sha256"]
    # A new backup appears: what the restore would delete changes, so the plan (and its hash) changes.
    vol.fake.scenario.backup(vol.vi, timedelta(minutes=5))
    second = vol.start()
    doc_b = vol.show(second)
    assert doc_b["plan_sha256"] != plan_a
    assert len(doc_b["plan"]["will_be_lost"]["newer_backups"]) == len(vol.newer) + 1
    with pytest.raises(ApprovalRequired, match="but the run's plan is"):
        vol.cli("approve", second, "--as", "bob", "--plan-sha256", plan_a)
    # The first run's approval covers plan A only: right before the action the volume no longer matches it.
    code, out = vol.cli("approve", first, "--as", "bob", "--plan-sha256", plan_a)
    assert code == 1, out
    doc_a = vol.show(first)
    assert doc_a["state"] == "failed" and "changed since the plan was approved" in doc_a["message"]
    assert doc_a["needs_human"] is False
    assert vol.fake.mutations == []
    assert vol.show(second)["state"] == "waiting_approval"
    canaries.assert_absent(texts=vol.outputs, trees=[tmp_path])


def test_two_person_rule_applies(vol: VolumeEnv) -> None:
    vol.config_path.write_text(vol.config_path.read_text() + "two_person = true\n")
    run_id = vol.start()
    with pytest.raises(ApprovalRequired, match="two-person"):
        vol.cli("approve", run_id, "--as", "alice")
    assert vol.fake.mutations == []


def test_unknown_backup_fails_in_the_read_step(vol: VolumeEnv) -> None:
    code, out = vol.cli("restore", "no-such-backup", "--target", "shop-volume", "--as", "alice")
    assert code == 1, out
    run_id = RUN_ID.search(out).group(0)  # type: ignore[union-attr]
    doc = vol.show(run_id)
    assert doc["state"] == "failed" and doc["steps"][0]["state"] == "failed"
    assert "no backup 'no-such-backup'" in (doc["steps"][0]["error"] or "")
    assert doc["plan"] is None and vol.fake.mutations == []


def test_the_clients_keep_their_scope() -> None:
    from providers.railway.client import ReadOnlyViolation, assert_read_only
    from providers.railway.volume_restore import COMMIT_STAGED, STAGE_RESTORE, RailwayMutationClient

    for doc in (STAGE_RESTORE, COMMIT_STAGED):
        with pytest.raises(ReadOnlyViolation):
            assert_read_only(doc)  # the audit client still refuses them
        assert RailwayMutationClient.check(doc)
    for bad in (
        'mutation { volumeDelete(volumeId: "v") }',
        "query { me { id } }",
        (
            'mutation { volumeInstanceBackupRestore(volumeInstanceId: "a", volumeInstanceBackupId: "b") '
            '{ workflowId } projectDelete(id: "p") }'
        ),
        (
            'mutation { volumeInstanceBackupRestore(volumeInstanceId: "a", volumeInstanceBackupId: "b") '
            '{ workflowId } ... on Mutation { projectDelete(id: "p") } }'
        ),
    ):
        with pytest.raises(ReadOnlyViolation):
            RailwayMutationClient.check(bad)


@pytest.mark.parametrize(
    ("body", "key", "message"),
    [
        # the deprecated form, still accepted
        ('kind = "railway-volume"\n', "targets[0]", "needs provider"),
        (
            'kind = "railway-volume"\nurl = "env:X"\nrailway = { project = "p", token = "env:T" }\n',
            "targets[0]",
            "takes no url",
        ),
        ('kind = "postgres"\n', "targets[0]", "needs url"),
        (
            'kind = "railway-volume"\nrailway = { project = "p", token = "tok-literal" }\n',
            "targets[0].token",
            "secret reference",
        ),
        (
            'kind = "railway-volume"\nrailway = { project = "p", token = "env:T", colour = 1 }\n',
            "targets[0].railway.colour",
            "unknown key",
        ),
        # the provider-neutral form: the provider validates its own ref table
        (
            'kind = "volume"\nprovider = "railway"\ntoken = "env:T"\nref = { project = "p", colour = 1 }\n',
            "targets[0].ref.colour",
            "unknown key",
        ),
        (
            'kind = "volume"\nprovider = "railway"\ntoken = "env:T"\nref = { environment = "e" }\n',
            "targets[0].ref.project",
            "missing project",
        ),
        (
            'kind = "volume"\nprovider = "github"\ntoken = "env:T"\nref = { project = "p" }\n',
            "targets[0].provider",
            "cannot restore volume backups",
        ),
        (
            'kind = "volume"\nprovider = "nope"\ntoken = "env:T"\nref = { project = "p" }\n',
            "targets[0].provider",
            "unknown provider",
        ),
        (
            'kind = "volume"\nprovider = "railway"\ntoken = "literal"\nref = { project = "p" }\n',
            "targets[0].token",
            "secret reference",
        ),
    ],
)
def test_railway_volume_targets_are_validated_strictly(tmp_path: Path, body: str, key: str, message: str) -> None:
    p = tmp_path / "blastwall.toml"
    p.write_text('[[targets]]\nname = "t"\n' + body)
    with pytest.raises(ConfigError) as info:
        load_config(p)
    err = info.value
    text = f"{err.message} {err}"
    assert message in text and key in text and str(p) in text
    assert re.search(r"line \d|:\d", text)


def test_the_deprecated_railway_table_means_the_same_as_provider_and_ref(tmp_path: Path) -> None:
    old = tmp_path / "old.toml"
    old.write_text(
        '[[targets]]\nname = "t"\nkind = "railway-volume"\n'
        'railway = { project = "shop", service = "Postgres", token = "env:T" }\n'
        '[[sources]]\nname = "s"\nrailway = { project = "shop", token = "env:T" }\n'
    )
    new = tmp_path / "new.toml"
    new.write_text(
        '[[targets]]\nname = "t"\nkind = "volume"\nprovider = "railway"\ntoken = "env:T"\n'
        'ref = { project = "shop", service = "Postgres" }\n'
        '[[sources]]\nname = "s"\nprovider = "railway"\ntoken = "env:T"\nref = { project = "shop" }\n'
    )
    a, b = load_config(old), load_config(new)
    for x, y in ((a.target("t"), b.target("t")), (a.source("s"), b.source("s"))):
        pa, pb = x.platform(), y.platform()
        assert pa is not None and pb is not None
        assert (pa.provider, dict(pa.ref), str(pa.token)) == (pb.provider, dict(pb.ref), str(pb.token))
        assert pa.key == "railway" and pb.key == "ref"
    assert a.target("t").kind == b.target("t").kind == "volume"
