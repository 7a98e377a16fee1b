"""Notifications when a run waits for approval or fails: Slack-compatible incoming-webhook JSON.

The webhook URL embeds a credential, so it is a `SecretRef` resolved per message; it is never
logged (errors are reported by type only).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .._lazy import lazy_module
from ..config import SecretRef
from ..errors import ConfigError
from ..redact import Redactor

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")

__all__ = ["Notifier", "NullNotifier", "RecordingNotifier", "WebhookNotifier"]

log = logging.getLogger("blastwall.workflow.notify")


class Notifier(ABC):
    @abstractmethod
    def notify(self, event: str, text: str, fields: Mapping[str, str]) -> None:
        """`event` is `waiting_approval` or `failed`. Must never raise."""


class NullNotifier(Notifier):
    def notify(self, event: str, text: str, fields: Mapping[str, str]) -> None:
        return None


class RecordingNotifier(Notifier):
    """Keeps messages in memory (tests, dry runs)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, str]]] = []

    def notify(self, event: str, text: str, fields: Mapping[str, str]) -> None:
        self.sent.append((event, text, dict(fields)))


def slack_payload(event: str, text: str, fields: Mapping[str, str]) -> dict[str, object]:
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields.items()]},
        ],
    }


class _RedactRecords(logging.Filter):
    """httpx logs every request URL at INFO; a webhook URL is a credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = Redactor.global_().redact(record.getMessage())
        record.args = None
        return True


def _guard_http_logs() -> None:
    for name in ("httpx", "httpcore"):
        lg = logging.getLogger(name)
        if not any(isinstance(f, _RedactRecords) for f in lg.filters):
            lg.addFilter(_RedactRecords())


class WebhookNotifier(Notifier):
    def __init__(
        self,
        url: SecretRef,
        *,
        environ: Mapping[str, str] | None = None,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._url, self._environ, self._timeout, self._transport = url, environ, timeout_s, transport

    def notify(self, event: str, text: str, fields: Mapping[str, str]) -> None:
        try:
            url = self._url.resolve(self._environ)
        except ConfigError as exc:
            log.warning("webhook notification not sent: %s", exc.message)
            return
        Redactor.global_().add(url)
        _guard_http_logs()
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as client:
                resp = client.post(url.reveal(), json=slack_payload(event, text, fields))
            if resp.status_code >= 300:
                log.warning("webhook notification for %s answered HTTP %s", event, resp.status_code)
        except httpx.HTTPError as exc:
            log.warning("webhook notification for %s failed: %s", event, type(exc).__name__)
