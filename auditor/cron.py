"""Cron expressions with standard crontab semantics, built on APScheduler 3.x's `CronTrigger`.

Two things differ from `CronTrigger.from_crontab`:

* Day of week follows crontab (0 or 7 = Sunday, 1 = Monday). APScheduler 3.x numbers weekdays
  from Monday = 0 (a documented historical mistake), so ``0 3 * * 0`` would silently run on
  Mondays. We translate the weekday field into names before handing it over.
* An optional sixth, *leading* field gives seconds (``*/5 * * * * *`` = every five seconds).
  Useful for tests and demos; real schedules rarely need it.

Deliberately no APScheduler ``jitter`` here: its offset is random per process, which would give
each daemon a different run time for the same slot. Jitter is applied by the engine instead,
as a deterministic delay after the slot is claimed (see ``auditor.scheduler.engine``).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

__all__ = ["cron_trigger", "previous_slot", "slots_between", "validate_expression"]

_DOW_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
_DOW_INDEX = {n: i for i, n in enumerate(_DOW_NAMES)}
_TOKEN = re.compile(r"^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?$")


def _dow_value(text: str) -> int:
    if text.isdigit():
        n = int(text)
        if not 0 <= n <= 7:
            raise ValueError(f"day of week {n} out of range 0-7")
        return 0 if n == 7 else n
    try:
        return _DOW_INDEX[text[:3]]
    except KeyError:
        raise ValueError(f"unknown day of week {text!r}") from None


def _translate_dow(field: str) -> str:
    """Crontab day-of-week field -> APScheduler names (sun..sat), preserving meaning."""
    field = field.strip().lower()
    if field in ("*", "?"):
        return "*"
    days: set[int] = set()
    for token in field.split(","):
        m = _TOKEN.match(token)
        if not m:
            raise ValueError(f"cannot parse day-of-week {token!r}")
        base, step_s = m.group(1), m.group(2)
        step = int(step_s) if step_s else 1
        if step < 1:
            raise ValueError("step must be at least 1")
        if base == "*":
            lo, hi = 0, 6
        elif "-" in base:
            a, b = base.split("-")
            lo = _dow_value(a)
            hi = 7 if b == "7" else _dow_value(b)  # "1-7" means Monday..Sunday
            if hi < lo:
                raise ValueError(f"day-of-week range {base!r} runs backwards")
        else:
            lo = hi = _dow_value(base)
            if step_s:  # "1/2" = from Monday every second day
                hi = 6
        days.update(d % 7 for d in range(lo, hi + 1, step))
    if len(days) == 7:
        return "*"
    return ",".join(_DOW_NAMES[d] for d in sorted(days))


def cron_trigger(expr: str, timezone: str | tzinfo = "UTC") -> CronTrigger:
    """Build a trigger from a 5-field crontab expression (or 6 fields with leading seconds)."""
    tz = ZoneInfo(timezone) if isinstance(timezone, str) else timezone
    fields = expr.split()
    if len(fields) == 5:
        second = "0"
        minute, hour, day, month, dow = fields
    elif len(fields) == 6:
        second, minute, hour, day, month, dow = fields
    else:
        raise ValueError(
            f"expected 5 fields (minute hour day month weekday) or 6 with leading seconds, got {len(fields)}"
        )
    return CronTrigger(
        second=second, minute=minute, hour=hour, day=day, month=month, day_of_week=_translate_dow(dow), timezone=tz
    )


def validate_expression(expr: str) -> str:
    try:
        cron_trigger(expr)
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None
    return expr


def slots_between(trigger: CronTrigger, start: datetime, end: datetime) -> list[datetime]:
    """Every fire time t of `trigger` with start <= t <= end."""
    out: list[datetime] = []
    t = trigger.get_next_fire_time(None, start)
    while t is not None and t <= end:
        out.append(t)
        t = trigger.get_next_fire_time(t, t + timedelta(microseconds=1))
    return out


def previous_slot(trigger: CronTrigger, now: datetime, *, horizon: timedelta = timedelta(days=400)) -> datetime | None:
    """The latest fire time <= now (searching back at most `horizon`), or None."""
    span = timedelta(seconds=1)
    lo = now - span
    while span <= horizon * 4:
        first = trigger.get_next_fire_time(None, lo)
        if first is not None and first <= now:
            # walk forward to the last one <= now
            last: datetime = first
            t = trigger.get_next_fire_time(last, last + timedelta(microseconds=1))
            while t is not None and t <= now:
                last = t
                t = trigger.get_next_fire_time(last, last + timedelta(microseconds=1))
            return last
        span *= 4
        lo = now - span
    return None
