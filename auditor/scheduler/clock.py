"""The scheduler's notion of time, injected so tests can run a day of schedules in seconds."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(Protocol):
    def now(self) -> datetime:
        """An aware datetime (UTC)."""

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """Wait up to `seconds`; return True when `stop` was set meanwhile."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(0.0, seconds))


class ManualClock:
    """A clock that only moves when told to. `wait` advances it instead of sleeping."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs an aware datetime")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when.astimezone(UTC)

    def advance(self, delta: timedelta | float) -> datetime:
        with self._lock:
            self._now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
            return self._now

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        if stop.is_set():
            return True
        self.advance(seconds)
        return False
