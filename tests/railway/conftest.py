"""Helpers for the Railway provider tests (the fake server fixtures come from tests/support/railway_fake)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from auditor.provider import ProviderContext
from providers.railway import RailwayProvider


@dataclass
class Sleeps:
    calls: list[float] = field(default_factory=list)

    def __call__(self, s: float) -> None:
        self.calls.append(s)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def provider() -> RailwayProvider:
    return RailwayProvider()


@pytest.fixture
def make_ctx(sleeps: Sleeps) -> Callable[..., ProviderContext]:
    def make(url: str, *, via: str = "env", **kw: Any) -> ProviderContext:
        opts: dict[str, Any] = dict(timeout_s=3.0, max_retries=3, sleep=sleeps)
        if via == "env":
            opts["env"] = {"BLASTWALL_RAILWAY_URL": url}
        else:
            opts["settings"] = {"url": url}
        opts.update(kw)
        return ProviderContext(**opts)

    return make
