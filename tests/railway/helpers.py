"""Shared helpers for the Railway tests."""

from __future__ import annotations

from datetime import UTC, datetime

from auditor.model import Candidate, Source, SourceCategory
from auditor.secrets import Secret


def candidate(
    kind: str,
    value: str,
    *,
    path: str = "/home/u/app/.env",
    locator: str = "RAILWAY_TOKEN",
    category: SourceCategory = SourceCategory.dotenv,
    hints: dict[str, str] | None = None,
    companions: dict[str, str] | None = None,
) -> Candidate:
    return Candidate(
        provider="railway",
        kind=kind,
        secret=Secret(value),
        companions={k: Secret(v) for k, v in (companions or {}).items()},
        sources=(Source(path=path, locator=locator, category=category),),
        hints=dict(hints or {}),
    )


def now() -> datetime:
    return datetime.now(UTC)
