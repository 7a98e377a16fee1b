"""`runs list/show --json` against the JSON Schemas in tests/schemas, and the CLI's exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from auditor.cli import app
from auditor.workflow import ApprovalPolicy, HumanGate, UnsafeAutoApprove

from .flows import make_runner

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def schema(name: str) -> dict[str, object]:
    return json.loads((SCHEMAS / name).read_text())


@pytest.fixture
def runs(tmp_path: Path, clock) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = {"DEMO_TOKEN": "tok-1234567890"}
    log = str(tmp_path / "fx.log")
    human = make_runner(HumanGate(ApprovalPolicy(mode="unauthenticated")), clock=clock, environ=env)
    waiting = human.start("demo", {"log": log}, "alice")
    rejected = human.start("demo", {"log": log}, "alice")
    human.reject(rejected.id, "bob", comment="no")
    done = make_runner(UnsafeAutoApprove(), clock=clock, environ=env).start("demo", {"log": log}, "carol")
    return {"waiting": waiting.id, "rejected": rejected.id, "done": done.id}


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout


def test_runs_list_json_matches_schema(runs) -> None:  # type: ignore[no-untyped-def]
    code, out = invoke("runs", "list", "--json")
    assert code == 0
    doc = json.loads(out)
    jsonschema.validate(doc, schema("runs-list.json"))
    assert {r["id"]: r["state"] for r in doc} == {
        runs["waiting"]: "waiting_approval",
        runs["rejected"]: "rejected",
        runs["done"]: "succeeded",
    }


@pytest.mark.parametrize("which", ["waiting", "rejected", "done"])
def test_runs_show_json_matches_schema(runs, which) -> None:  # type: ignore[no-untyped-def]
    code, out = invoke("runs", "show", runs[which], "--json")
    assert code == 0
    doc = json.loads(out)
    jsonschema.validate(doc, schema("runs-show.json"))
    assert [s["name"] for s in doc["steps"]][:3] == ["inventory", "sanity", "choose"]
    if which == "waiting":
        assert doc["approve_command"].startswith(f"blastwall approve {runs['waiting']} --key ")
        assert doc["approvals"]["mode"] == "unauthenticated" and "NOT authenticated" in doc["approvals"]["warning"]
        assert doc["plan"]["action"] == "apply" and doc["decisions"] == []
    if which == "rejected":
        assert doc["decisions"][0]["decision"] == "reject" and doc["decisions"][0]["comment"] == "no"


def test_empty_runs_list_is_an_empty_array() -> None:
    code, out = invoke("runs", "list", "--json")
    assert code == 0 and json.loads(out) == []


def test_human_output_and_unknown_run(runs) -> None:  # type: ignore[no-untyped-def]
    code, out = invoke("runs", "show", runs["waiting"])
    assert code == 0 and "waiting_approval" in out and "blastwall approve" in out
    from auditor.errors import StateError

    with pytest.raises(StateError, match="no run"):
        invoke("runs", "show", "run_000000000000")


def test_resume_of_waiting_run_exits_4_and_an_unsigned_reject_is_refused(runs) -> None:  # type: ignore[no-untyped-def]
    # `runs resume` of a demo run needs the demo workflow, which the CLI does not know: it must say so.
    from auditor.errors import StateError

    with pytest.raises(StateError, match="unknown workflow"):
        invoke("runs", "resume", runs["waiting"])
    from auditor.workflow import ApprovalRefused

    with pytest.raises(ApprovalRefused, match="must be signed"):  # the default mode is signed
        invoke("reject", runs["waiting"], "--as", "dave")
    code, out = invoke("runs", "show", runs["waiting"], "--json")
    assert json.loads(out)["state"] == "waiting_approval" and json.loads(out)["decisions"] == []


def test_help_has_examples() -> None:
    for cmd in (["runs", "list"], ["runs", "show"], ["runs", "resume"], ["approve"], ["reject"], ["restore"]):
        code, out = invoke(*cmd, "--help")
        assert code == 0 and "Examples" in out, cmd


def test_restore_steps_get_only_the_credentials_they_declare(tmp_path: Path) -> None:
    from auditor.config import parse_config
    from auditor.state import StateDB
    from auditor.workflow.restore import RESTORE_STEPS, restore_workflow

    cfg = parse_config(f"""
[[sources]]
name = "app"
url = "env:SRC"
[[stores]]
name = "s"
kind = "local"
path = "{tmp_path}"
[[backups]]
source = "app"
store = "s"
[[stores]]
name = "s3"
kind = "s3"
bucket = "b"
access_key_id = "env:S3_KEY"
secret_access_key = "env:S3_SECRET"
[[sources]]
name = "db2"
url = "env:SRC2"
[[backups]]
source = "db2"
store = "s3"
identities = ["env:AGE_ID"]
[[targets]]
name = "t"
url = "env:T_WRITE"
read_url = "env:T_READ"
[verify]
scratch_url = "env:SCRATCH"
""")
    wf = restore_workflow(cfg, {"backup_id": "app-x", "target": "t"}, db=StateDB())
    declared = {s.name: {str(r) for r in s.secrets.values()} for s in wf.steps}
    assert [s.name for s in wf.steps] == list(RESTORE_STEPS)
    assert [n for n, refs in declared.items() if "env:T_WRITE" in refs] == ["restore"]
    assert {n for n, refs in declared.items() if "env:T_READ" in refs} == {"plan", "safety_dump", "post_check"}
    assert declared["approval"] == declared["report"] == set()
    assert declared["fetch_verify"] == {"env:SCRATCH"}  # local store, no identities: only the scratch server
    wf2 = restore_workflow(cfg, {"backup_id": "db2-20261201T000000Z-abcdef", "target": "t"}, db=StateDB())
    d2 = {s.name: {str(r) for r in s.secrets.values()} for s in wf2.steps}
    store_refs = {"env:S3_KEY", "env:S3_SECRET", "env:AGE_ID"}
    assert d2["fetch_verify"] == store_refs | {"env:SCRATCH"}
    assert d2["safety_dump"] == store_refs | {"env:T_READ"} and d2["restore"] == store_refs | {"env:T_WRITE"}
    assert d2["plan"] == d2["post_check"] == {"env:T_READ"}
    assert {s.name: s.idempotent for s in wf.steps if s.kind.value == "action"} == {
        "safety_dump": True,
        "restore": False,
    }


def test_cli_wiring_uses_a_human_gate_and_the_configured_webhook(tmp_path: Path) -> None:
    from auditor.config import parse_config
    from auditor.workflow import HumanGate, WebhookNotifier
    from auditor.workflow.service import open_runner

    cfg = parse_config(
        '[notifications]\nwebhook_url = "env:HOOK"\n[approvals]\nexpire_after_s = 60\ntwo_person = true\nrequired = 2\n'
    )
    runner = open_runner(cfg)
    assert isinstance(runner.gate, HumanGate) and isinstance(runner.notifier, WebhookNotifier)
    assert (runner.gate.policy.expire_after_s, runner.gate.policy.two_person, runner.gate.policy.required) == (
        60,
        True,
        2,
    )
    root = Path(__file__).resolve().parents[2] / "auditor"
    for f in [*(root / "cli").glob("*.py"), root / "workflow" / "service.py", root / "workflow" / "restore.py"]:
        assert "UnsafeAutoApprove" not in f.read_text().replace("nothing here can build `UnsafeAutoApprove`", ""), f


def test_scoped_environ_hides_every_configured_secret_variable() -> None:
    from auditor.config import SecretRef, parse_config
    from auditor.secrets import Secret
    from auditor.workflow.backups import referenced_env_names, scoped_environ

    cfg = parse_config(
        '[[sources]]\nname = "a"\nurl = "env:SRC"\n[[targets]]\nname = "t"\nurl = "env:TGT"\n'
        '[notifications]\nwebhook_url = "env:HOOK"\n'
    )
    hidden = referenced_env_names(cfg)
    assert hidden == {"SRC", "TGT", "HOOK"}
    base = {"PATH": "/bin", "SRC": "s", "TGT": "t", "HOOK": "h"}
    env = scoped_environ(base, hidden, {"target": (SecretRef.parse("env:TGT"), Secret("t"))})
    assert env == {"PATH": "/bin", "TGT": "t"}
