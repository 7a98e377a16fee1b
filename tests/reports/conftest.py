"""Fixtures for report tests: a realistic hand-built result and the shipped SARIF schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from auditor.model import AuditResult

from .fixtures import realistic_result, sample_changes

SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"


@pytest.fixture
def result() -> AuditResult:
    r = realistic_result()
    return r.model_copy(update={"changes": sample_changes(r)})


@pytest.fixture(scope="session")
def sarif_schema() -> dict[str, Any]:
    return dict(json.loads((SCHEMAS / "sarif-2.1.0.json").read_text()))
