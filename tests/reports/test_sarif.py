"""SARIF 2.1.0 output, validated against the official schema shipped in tests/schemas."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import jsonschema

from auditor.model import AuditResult, CoverageGap
from reports.sarif import CRED_RULE, ROOT_RULE, dumps, render_sarif

from .fixtures import realistic_result


def _validate(doc: dict[str, Any], schema: dict[str, Any]) -> None:
    jsonschema.Draft4Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:10])


def test_schema_is_the_official_one(sarif_schema: dict[str, Any]) -> None:
    # OASIS SARIF 2.1.0 errata 01, OASIS Standard (the final schema), draft-04 JSON Schema.
    assert (
        sarif_schema["id"]
        == "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    )
    assert sarif_schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert sarif_schema["properties"]["version"]["enum"] == ["2.1.0"]


def test_fixture_validates(result: AuditResult, sarif_schema: dict[str, Any]) -> None:
    doc = json.loads(dumps(result))
    _validate(doc, sarif_schema)
    run = doc["runs"][0]
    assert run["tool"]["driver"]["name"] == "Blastwall"
    results = run["results"]
    # every finding with a path, nothing for findings without one
    located = [f for f in result.findings if f.path]
    assert {r["partialFingerprints"].get("blastwallFindingId/v1") for r in results} >= {f.id for f in located}
    by_id = {r["partialFingerprints"].get("blastwallFindingId/v1"): r for r in results}
    claude = next(f for f in located if f.path and f.path.endswith(".claude.json"))
    loc = by_id[claude.id]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "file:///home/dev/.claude.json"}
    assert loc["region"] == {"startLine": 14}
    assert by_id[claude.id]["level"] == "error"
    dotenv = next(f for f in located if f.path == "/home/dev/app/.env")
    assert by_id[dotenv.id]["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": ".env",
        "uriBaseId": "SRCROOT",
    }
    assert run["originalUriBaseIds"]["SRCROOT"]["uri"] == "file:///home/dev/app/"
    # rules carry help text and a security-severity
    rules = {r["id"]: r for r in run["tool"]["driver"]["rules"]}
    for r in results:
        rule = run["tool"]["driver"]["rules"][r["ruleIndex"]]
        assert rule["id"] == r["ruleId"]
        assert rule["help"]["text"] and rule["properties"]["security-severity"]
    assert "blastwall/admin-access-key" in rules
    # coverage gaps become "not inspected" notifications
    notes = run["invocations"][0]["toolExecutionNotifications"]
    assert all(n["message"]["text"].startswith("Not inspected:") for n in notes) and len(notes) == 3


def test_credential_sources_without_findings_become_results(sarif_schema: dict[str, Any]) -> None:
    r = realistic_result()
    r = r.model_copy(update={"findings": ()})
    doc = render_sarif(r)
    _validate(doc, sarif_schema)
    results = doc["runs"][0]["results"]
    rules = {x["ruleId"] for x in results}
    assert rules == {ROOT_RULE, CRED_RULE}
    file_sources = [(c, s) for c in r.credentials for s in c.sources if s.path != "env"]
    assert len(results) == len(file_sources)  # the environment source has no file location
    root = [x for x in results if x["ruleId"] == ROOT_RULE]
    assert len(root) == 3  # railway account token in two files + the AWS admin key
    assert all(x["level"] == "error" for x in root)
    assert any("sha256:" in x["message"]["text"] for x in results)


def test_empty_and_minimal(sarif_schema: dict[str, Any]) -> None:
    r = AuditResult(
        generated_at=datetime(2026, 1, 1, tzinfo=UTC), coverage_gaps=(CoverageGap(subject="x", reason="y"),)
    )
    doc = render_sarif(r)
    _validate(doc, sarif_schema)
    assert doc["runs"][0]["results"] == []


def test_relative_scan_paths_stay_relative(sarif_schema: dict[str, Any]) -> None:
    r = realistic_result()
    src = r.credentials[2].sources[0].model_copy(update={"path": "proj/config/ci.env"})
    cred = r.credentials[2].model_copy(update={"sources": (src,)})
    r = r.model_copy(update={"scope": {"paths": ["proj"]}, "findings": (), "credentials": (cred,)})
    doc = render_sarif(r)
    _validate(doc, sarif_schema)
    [res] = doc["runs"][0]["results"]
    assert res["locations"][0]["physicalLocation"]["artifactLocation"] == {
        "uri": "proj/config/ci.env",
        "uriBaseId": "SRCROOT",
    }
    assert "originalUriBaseIds" not in doc["runs"][0]


def test_hundred_thousand_findings_fit_code_scanning_limits(sarif_schema: dict[str, Any]) -> None:
    """GitHub rejects a run of more than 25,000 results or a file over 10 MB gzip-compressed."""
    import gzip

    from bench.report_bench import generate
    from reports.sarif import MAX_GZIP_BYTES, MAX_RESULTS_PER_RUN, TRUNCATED_RULE

    result = generate(n_findings=100_000, n_creds=2_000)
    text = dumps(result)
    assert len(gzip.compress(text.encode())) <= MAX_GZIP_BYTES
    doc = json.loads(text)
    assert len(doc["runs"]) == 1
    run = doc["runs"][0]
    results = run["results"]
    assert len(results) <= MAX_RESULTS_PER_RUN
    # the most severe come first, and every error-level result that exists is kept
    produced_errors = sum(1 for f in result.findings if f.path and f.severity.value in ("critical", "high"))
    kept_errors = sum(1 for r in results if r["level"] == "error")
    assert kept_errors >= min(produced_errors, MAX_RESULTS_PER_RUN - 1)
    ranks = {"error": 0, "warning": 1, "note": 2}
    body = results[:-1]
    assert [ranks[r["level"]] for r in body] == sorted(ranks[r["level"]] for r in body)
    # the truncation is stated, in the run's properties and as the last result
    props = run["properties"]
    assert props["truncated"] is True and props["fullReport"] == "blastwall-report.json"
    assert props["omittedResults"] == props["totalResults"] - (len(results) - 1) > 0
    note = results[-1]
    assert note["ruleId"] == TRUNCATED_RULE
    assert f"{props['omittedResults']} of {props['totalResults']}" in note["message"]["text"]
    _validate(doc, sarif_schema)


def test_small_logs_are_not_truncated(result: AuditResult) -> None:
    doc = render_sarif(result)
    assert "truncated" not in doc["runs"][0]["properties"]
    assert all(r["ruleId"] != "blastwall/results-truncated" for r in doc["runs"][0]["results"])


def test_compressed_size_limit_shrinks_the_run() -> None:
    import gzip

    from bench.report_bench import generate

    result = generate(n_findings=3_000, n_creds=200, n_resources=300, n_backups=200)
    full = json.loads(dumps(result))
    budget = 40_000
    text = dumps(result, max_gzip_bytes=budget)
    assert len(gzip.compress(text.encode())) <= budget
    doc = json.loads(text)
    assert len(doc["runs"][0]["results"]) < len(full["runs"][0]["results"])
    assert doc["runs"][0]["properties"]["truncated"] is True
