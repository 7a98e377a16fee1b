"""Network failures: an unreachable host and a wrong password become `invalid` or a coverage gap, and a server
that accepts but never answers (blackhole) is cut off by the connect/statement timeouts. The audit goes on."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor.audit import AuditOptions, run_audit
from auditor.config import Config
from auditor.model import Status
from auditor.provider import ProviderContext
from providers.postgres import PostgresProvider

from .conftest import LoggedPostgres

pytestmark = [pytest.mark.slow]  # real database servers

TIMEOUT_S = 2.0


class Blackhole:
    """Accepts TCP connections on 127.0.0.1 and never sends a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.accepted = 0
        self._stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self.held.append(conn)

    def close(self) -> None:
        self._stop = True
        self.t.join(2)
        for c in self.held:
            c.close()
        self.sock.close()


@pytest.fixture
def blackhole() -> Iterator[Blackhole]:
    b = Blackhole()
    yield b
    b.close()


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _audit(tmp_path: Path, lines: dict[str, str]):
    proj = tmp_path / "app"
    proj.mkdir()
    (proj / ".env").write_text("".join(f"{k}={v}\n" for k, v in lines.items()))
    cfg = Config(providers={"postgres": {"connect_timeout_s": TIMEOUT_S, "statement_timeout_s": TIMEOUT_S}})
    t0 = time.monotonic()
    result = run_audit(
        AuditOptions(paths=[proj], home=None, include_env=False, env={}, config=cfg),
        providers={"postgres": PostgresProvider()},
        ctx=ProviderContext(timeout_s=3.0),
    )
    return (result, {c.sources[0].locator.rsplit(".", 1)[-1]: c for c in result.credentials}, time.monotonic() - t0)


def test_blackhole_listeners_are_bounded_by_the_timeouts(
    blackhole: Blackhole, logged_pg: LoggedPostgres, tmp_path: Path
) -> None:
    p = blackhole.port
    result, by, took = _audit(
        tmp_path,
        {
            "PG_URL": f"postgresql://app:pw-one@127.0.0.1:{p}/shop",
            "MY_URL": f"mysql://app:pw-two@127.0.0.1:{p}/shop",
            "REDIS_URL": f"redis://default:pw-three@127.0.0.1:{p}/0",
            "READER_URL": logged_pg.url("reader"),
        },
    )
    assert blackhole.accepted >= 3  # each client really connected and then waited
    for key in ("PG_URL", "MY_URL", "REDIS_URL"):
        c = by[key]
        assert c.status == Status.error, (key, c.status, c.reasons)
        gap = [g.reason for g in result.coverage_gaps if g.subject == c.id]
        assert gap and "not inspected" in gap[0], (key, gap)
    # the working credential next to them was still inspected
    assert by["READER_URL"].status == Status.verified
    # identify runs concurrently; each inspection is bounded by connect + statement timeout (plus start-up)
    assert took < 2 * TIMEOUT_S + 4, took


def test_unreachable_host_and_wrong_password(logged_pg: LoggedPostgres, tmp_path: Path) -> None:
    closed = _closed_port()
    wrong = logged_pg.url("reader").replace(logged_pg.passwords["reader"], "nope")
    result, by, took = _audit(
        tmp_path,
        {
            "DOWN_URL": f"postgresql://app:pw-four@127.0.0.1:{closed}/shop",
            "DOWN_REDIS_URL": f"redis://default:pw-five@127.0.0.1:{closed}/0",
            "WRONG_URL": wrong,
            "READER_URL": logged_pg.url("reader"),
        },
    )
    for key in ("DOWN_URL", "DOWN_REDIS_URL"):
        assert by[key].status == Status.error
        assert any(g.subject == by[key].id and "not inspected" in g.reason for g in result.coverage_gaps)
    assert by["WRONG_URL"].status == Status.invalid
    assert by["READER_URL"].status == Status.verified
    assert took < 10
    text = result.model_dump_json()
    for pw in ("pw-four", "pw-five", "nope"):
        assert pw not in text
