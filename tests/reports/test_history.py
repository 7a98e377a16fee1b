"""Audit history in the state database and the diff of findings between audits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from auditor.errors import BlastwallError, StateError
from auditor.history import diff_since, findings_of, list_audits, parse_since, record_audit
from auditor.model import AuditResult, Finding, Severity
from auditor.state import StateDB

from .fixtures import NOW, realistic_result


def _at(r: AuditResult, when: datetime, findings: tuple[Finding, ...]) -> AuditResult:
    return r.model_copy(update={"generated_at": when, "findings": findings})


@pytest.fixture
def db(tmp_path) -> StateDB:  # type: ignore[no-untyped-def]
    d = StateDB(f"sqlite:///{tmp_path / 'state.db'}")
    yield d
    d.dispose()


def test_record_and_diff(db: StateDB) -> None:
    base = realistic_result()
    f = list(base.findings)
    first = record_audit(db, _at(base, NOW - timedelta(days=2), tuple(f[:6])))
    assert first.previous is None and len(first.new) == 6 and first.resolved == ()
    second = record_audit(db, _at(base, NOW - timedelta(days=1), tuple(f[2:8])))
    assert {x["id"] for x in second.new} == {x.id for x in f[6:8]}
    assert {x["id"] for x in second.resolved} == {x.id for x in f[:2]}
    assert second.previous is not None and second.previous.id == first.current.id  # type: ignore[union-attr]
    third = record_audit(db, _at(base, NOW, tuple(f[2:8])))
    assert third.new == () and third.resolved == ()

    audits = list_audits(db)
    assert [a.n_findings for a in audits] == [6, 6, 6]
    assert len(findings_of(db, audits[0].id)) == 6

    last = diff_since(db, "last")
    assert last.new == () and last.resolved == ()
    since_first = diff_since(db, NOW - timedelta(days=2))  # the state two days ago: the first audit
    assert {x["id"] for x in since_first.resolved} == {x.id for x in f[:2]}
    assert since_first.to_dict()["from"]["id"] == audits[0].id
    doc = since_first.to_dict()
    assert set(doc) == {"from", "to", "new", "resolved", "counts"}
    assert doc["counts"] == {"new": 2, "resolved": 2}
    assert set(doc["new"][0]) == {"id", "rule", "severity", "subject", "message", "provider", "path", "line"}
    # sorted most severe first
    sev = [x["severity"] for x in doc["new"]]
    assert sev == sorted(sev, key=[s.value for s in Severity].index)
    before_all = diff_since(db, NOW - timedelta(days=30))
    assert before_all.previous is None and len(before_all.new) == 6


def test_no_secret_or_value_is_stored(db: StateDB, canaries) -> None:  # type: ignore[no-untyped-def]
    r = realistic_result(canaries.mint)
    record_audit(db, r)
    db.dispose()
    canaries.assert_absent(trees=[__import__("pathlib").Path(db.url.removeprefix("sqlite:///")).parent])


def test_empty_history_is_an_error(db: StateDB) -> None:
    with pytest.raises(StateError):
        diff_since(db, "last")


def test_duplicate_finding_ids_are_recorded_once(db: StateDB) -> None:
    r = realistic_result()
    dup = r.findings + (r.findings[0],)
    d = record_audit(db, _at(r, NOW, dup))
    assert len(d.new) == len(r.findings)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("last", "last"),
        ("2026-11-30", datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC)),
        ("2026-11-30T12:00:00Z", datetime(2026, 11, 30, 12, tzinfo=UTC)),
        ("2026-11-30T12:00:00", datetime(2026, 11, 30, 12, tzinfo=UTC)),
    ],
)
def test_parse_since(text: str, expected: object) -> None:
    assert parse_since(text) == expected


def test_parse_since_rejects_garbage() -> None:
    with pytest.raises(BlastwallError, match="neither 'last' nor a date"):
        parse_since("yesterday-ish")


def test_to_dict_limit_keeps_counts(db: StateDB) -> None:
    r = realistic_result()
    d = record_audit(db, r)
    doc = d.to_dict(limit=3)
    assert len(doc["new"]) == 3 and doc["counts"]["new"] == len(r.findings) and doc["truncated"] is True
    assert "truncated" not in d.to_dict()
    from reports.html import render_html

    page = render_html(r, previous_changes=doc)
    assert f"{len(r.findings)} findings, all new" in page
