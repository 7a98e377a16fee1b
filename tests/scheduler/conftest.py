"""Scheduler test fixtures: config from TOML text, a recording job runner, a local webhook receiver."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from auditor.config import Config
from auditor.scheduler import JobContext, JobResult, JobRunner, JobSpec
from tests.support.fakehttp import FakeHTTPServer, FakeRequest

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Recorder:
    """Job functions that record (job, slot) and return a chosen outcome."""

    runs: list[tuple[str, str]] = field(default_factory=list)
    outcome: Callable[[JobSpec, JobContext], JobResult] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, spec: JobSpec, ctx: JobContext) -> JobResult:
        with self.lock:
            self.runs.append((spec.id, ctx.slot))
        if self.outcome is not None:
            return self.outcome(spec, ctx)
        return JobResult("succeeded", "ok")

    def runner(self) -> JobRunner:
        return JobRunner(audit=self, backup=self, verification=self)

    def slots(self, job: str) -> list[str]:
        return [s for j, s in self.runs if j == job]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[[str], Config]:
    def make(text: str) -> Config:
        p = tmp_path / "blastwall.toml"
        p.write_text(text)
        from auditor.config import load_config

        return load_config(p)

    return make


@dataclass
class Webhook:
    server: FakeHTTPServer
    received: list[dict[str, Any]]
    headers: list[dict[str, str]]

    @property
    def url(self) -> str:
        return self.server.url + "/services/T000/B000/hook"

    def texts(self) -> list[str]:
        return [m["text"] for m in self.received]


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    server = FakeHTTPServer()
    received: list[dict[str, Any]] = []
    headers: list[dict[str, str]] = []

    @server.route("POST", r"/services/T000/B000/hook")
    def _hook(req: FakeRequest) -> tuple[int, Any]:
        received.append(req.json())
        headers.append(req.headers)
        return 200, b"ok"

    server.start()
    try:
        yield Webhook(server, received, headers)
    finally:
        server.stop()
