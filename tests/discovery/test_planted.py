"""Discovery over a fixture home + repo with 40+ planted credentials in 20+ locations, and decoys."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from auditor.audit import AuditOptions, run_audit
from auditor.model import SourceCategory
from tests.support.canary import Canaries
from tests.support.planted import Planted, build


@pytest.fixture
def planted(tmp_path: Path, canaries: Canaries) -> Planted:
    return build(tmp_path / "fx", canaries)


def _rel(planted: Planted, path: str) -> str:
    return "env" if path == "env" else str(Path(path).relative_to(planted.root))


def test_fixture_is_big_enough(planted: Planted) -> None:
    places = {p for e in planted.expected for p, _ in e.places}
    assert len(planted.expected) >= 40, len(planted.expected)
    assert len(places) >= 20, len(places)
    assert len({e.provider for e in planted.expected}) >= 15


def test_every_planted_credential_found_with_provider_and_source(planted: Planted) -> None:
    result = run_audit(AuditOptions(paths=[planted.repo], home=planted.home, env=planted.env, offline=True))
    found = {}
    for c in result.credentials:
        for s in c.sources:
            found[(_rel(planted, s.path), s.locator)] = c
    missing, wrong_provider = [], []
    for e in planted.expected:
        for rel, locator in e.places:
            hit = next((c for (p, loc), c in found.items() if p == rel and loc.startswith(locator)), None)
            if hit is None:
                missing.append(f"{e.provider} at {rel} {locator}")
            elif hit.provider != e.provider:
                wrong_provider.append(f"{rel} {locator}: {hit.provider} != {e.provider}")
    assert not missing, "not found:\n  " + "\n  ".join(missing)
    assert not wrong_provider, "wrong provider:\n  " + "\n  ".join(wrong_provider)
    # nothing else: every reported credential is a planted one
    fps = {c.fingerprint for c in result.credentials}
    from auditor.secrets import fingerprint

    planted_fps = {fingerprint(e.value) for e in planted.expected}
    extra = [c for c in result.credentials if c.fingerprint not in planted_fps]
    assert not extra, "unexpected credentials (decoys?): " + "; ".join(
        f"{c.provider} {c.kind} {[(s.path, s.locator) for s in c.sources]}" for c in extra
    )
    assert len(fps) == len(planted.expected)


def test_duplicated_secret_is_one_credential_with_two_sources(planted: Planted) -> None:
    result = run_audit(AuditOptions(paths=[planted.repo], home=planted.home, env=planted.env, offline=True))
    dup = [e for e in planted.expected if len(e.places) > 1]
    assert dup
    from auditor.secrets import fingerprint

    for e in dup:
        creds = [c for c in result.credentials if c.fingerprint == fingerprint(e.value)]
        assert len(creds) == 1
        assert len(creds[0].sources) == len(e.places)
    counts = Counter(c.fingerprint for c in result.credentials)
    assert max(counts.values()) == 1


def test_source_categories(planted: Planted) -> None:
    result = run_audit(AuditOptions(paths=[planted.repo], home=planted.home, env=planted.env, offline=True))
    cats = {(_rel(planted, s.path), s.category) for c in result.credentials for s in c.sources}
    assert ("home/.cursor/mcp.json", SourceCategory.agent_config) in cats
    assert ("repo/.mcp.json", SourceCategory.agent_config) in cats
    assert ("home/.railway/config.json", SourceCategory.cli_config) in cats
    assert ("repo/.env", SourceCategory.dotenv) in cats
    assert ("env", SourceCategory.environment) in cats


def test_decoys_and_skipped_dirs_not_reported(planted: Planted) -> None:
    result = run_audit(AuditOptions(paths=[planted.repo], home=planted.home, env=planted.env, offline=True))
    paths = {s.path for c in result.credentials for s in c.sources}
    assert not any("node_modules" in p or "/.git/objects" in p for p in paths)
    assert not any(p.endswith((".env.example", "README.md", "ids.py", "terraform.tfvars")) for p in paths)
    dumped = json.dumps([c.model_dump(mode="json") for c in result.credentials])
    for d in planted.decoys:
        assert d not in dumped


def test_offline_classification(planted: Planted) -> None:
    result = run_audit(AuditOptions(paths=[planted.repo], home=planted.home, env=planted.env, offline=True))
    from auditor.secrets import fingerprint

    by_fp = {c.fingerprint: c for c in result.credentials}
    live = [e for e in planted.expected if e.value.startswith("sk_live_")]
    assert live and all(by_fp[fingerprint(e.value)].root_equivalent is True for e in live)
    proj = next(e for e in planted.expected if e.places[0][1] == "RAILWAY_TOKEN")
    c = by_fp[fingerprint(proj.value)]
    assert c.kind == "project_token" and c.root_equivalent is None
    api = next(e for e in planted.expected if e.places[0][1].endswith("RAILWAY_API_TOKEN"))
    assert by_fp[fingerprint(api.value)].root_equivalent is True
    assert any(g.subject == "providers" and "offline" in g.reason for g in result.coverage_gaps)


def test_json_report_matches_schema_v1(planted: Planted) -> None:
    import jsonschema

    from reports.json_report import render_json

    result = run_audit(AuditOptions(paths=[planted.repo], home=planted.home, env=planted.env, offline=True))
    schema = json.loads((Path(__file__).parents[1] / "schemas" / "report-v1.schema.json").read_text())
    doc = json.loads(json.dumps(render_json(result), default=str))
    jsonschema.validate(doc, schema, format_checker=jsonschema.FormatChecker())
    assert len(doc["credentials"]) == len(planted.expected)
