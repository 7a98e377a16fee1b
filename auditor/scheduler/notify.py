"""Notifications: Slack-compatible incoming-webhook JSON (``{"text": …}``) posted to one URL.

The webhook URL is a secret (Slack's and most others embed the credential in the path): it is a
`SecretRef`, resolved only when a message is sent, never logged, never stored. Delivery problems
are logged by type and status code only - an httpx error message could contain the URL.
A failed notification never fails the job it reports on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .._lazy import lazy_module
from ..config import NotificationsConfig, SecretRef
from .jobs import CriticalFinding, scrub

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")

__all__ = [
    "Notification",
    "Notifier",
    "NullNotifier",
    "WebhookNotifier",
    "critical_text",
    "digest_text",
    "failure_text",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Notification:
    event: str  # backup_failed | verification_failed | job_failed | new_critical_findings | digest
    text: str
    job: str | None = None

    def payload(self) -> dict[str, Any]:
        # Slack reads "text"; the extra keys are ignored by Slack and useful to other receivers.
        return {"text": self.text, "username": "Blastwall", "blastwall": {"event": self.event, "job": self.job}}


class Notifier(Protocol):
    def send(self, note: Notification) -> bool: ...


class NullNotifier:
    def send(self, note: Notification) -> bool:
        log.debug("notification not sent (no [notifications] webhook_url): %s", note.event)
        return False


class WebhookNotifier:
    def __init__(
        self,
        url: SecretRef,
        *,
        timeout_s: float = 10.0,
        attempts: int = 3,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = url
        self._timeout = timeout_s
        self._attempts = attempts
        self._transport = transport
        self._sleep = sleep

    @classmethod
    def from_config(cls, cfg: NotificationsConfig) -> Notifier:
        return cls(cfg.webhook_url) if cfg.webhook_url else NullNotifier()

    def send(self, note: Notification) -> bool:
        try:
            secret = self._url.resolve()
        except Exception as exc:  # noqa: BLE001 - a missing env var must not kill the daemon
            log.warning(
                "notification %s not sent: webhook_url %s cannot be resolved (%s)",
                note.event,
                self._url.scheme,
                type(exc).__name__,
            )
            return False
        with httpx.Client(timeout=self._timeout, transport=self._transport, follow_redirects=False) as client:
            for attempt in range(1, self._attempts + 1):
                try:
                    resp = client.post(secret.reveal(), json=note.payload())
                except httpx.HTTPError as exc:
                    problem = type(exc).__name__
                else:
                    if resp.status_code < 300:
                        log.info("notification %s delivered (webhook %s)", note.event, secret.fingerprint)
                        return True
                    problem = f"HTTP {resp.status_code}"
                    if resp.status_code < 500 and resp.status_code != 429:
                        break
                if attempt < self._attempts:
                    self._sleep(min(2.0**attempt, 10.0))
        log.warning("notification %s not delivered to webhook %s: %s", note.event, secret.fingerprint, problem)
        return False


def failure_text(job: str, kind: str, outcome: str, slot: str, message: str) -> Notification:
    event = {"backup": "backup_failed", "verification": "verification_failed"}.get(kind, "job_failed")
    what = {"backup": "Backup", "verification": "Verification", "audit": "Audit"}.get(kind, "Job")
    text = f":rotating_light: Blastwall: {what} job `{job}` {outcome} (slot {slot}): {scrub(message, 1000)}"
    return Notification(event, text, job)


def critical_text(job: str, new: Sequence[CriticalFinding]) -> Notification:
    lines = [f":warning: Blastwall: audit `{job}` found {len(new)} new critical finding(s):"]
    lines += [f"• {scrub(c.summary, 300)}" for c in new[:20]]
    if len(new) > 20:
        lines.append(f"… and {len(new) - 20} more")
    return Notification("new_critical_findings", "\n".join(lines), job)


def digest_text(rows: Sequence[tuple[str, int, int, str | None, str | None]], period: str) -> Notification:
    """rows: (job, succeeded, failed/interrupted/missed, last outcome, last message)."""
    bad = sum(1 for r in rows if r[2])
    head = f":bar_chart: Blastwall daily digest ({period}): {len(rows)} job(s), {bad} with problems"
    lines = [head]
    for job, ok, failed, last, msg in rows:
        mark = ":white_check_mark:" if not failed and last in ("succeeded", None) else ":x:"
        tail = (
            f" - last: {last}" + (f" ({scrub(msg, 200)})" if msg and last != "succeeded" else "")
            if last
            else " - no runs"
        )
        lines.append(f"{mark} `{job}`: {ok} ok, {failed} failed{tail}")
    return Notification("digest", "\n".join(lines))
