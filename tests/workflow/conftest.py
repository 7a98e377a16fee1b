"""Fixtures of the workflow tests."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    yield FakeClock()


@pytest.fixture
def restore_env(pg_server, tmp_path, canaries):  # type: ignore[no-untyped-def]
    """Source db + backup in a local store + a live target owned by a role whose password is a canary."""
    from .pgrestore_env import drop_env, make_env

    e = make_env(pg_server, tmp_path, canaries.mint("tgtpw_{r}"))
    yield e
    drop_env(e)


@pytest.fixture
def restore_env_factory(pg_server, tmp_path, canaries):  # type: ignore[no-untyped-def]
    from .pgrestore_env import drop_env, make_env

    made = []

    def make(approvals: str = 'mode = "unauthenticated"', read_only_role: bool = False):  # type: ignore[no-untyped-def]
        e = make_env(
            pg_server,
            tmp_path,
            canaries.mint("tgtpw_{r}"),
            approvals=approvals,
            read_password=canaries.mint("readpw_{r}") if read_only_role else None,
        )
        made.append(e)
        return e

    yield make
    for e in made:
        drop_env(e)


from tests.backup.conftest import mysql_setup, redis_setup  # noqa: E402, F401 - MariaDB/Redis sources for the engine restore tests
