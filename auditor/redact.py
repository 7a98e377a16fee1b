"""Last line of defence: replace any known secret value with its fingerprint in text we emit."""

from __future__ import annotations

import threading
from typing import ClassVar

from .secrets import Secret

__all__ = ["Redactor"]


class Redactor:
    _global: ClassVar[Redactor | None] = None
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._secrets: dict[str, str] = {}

    @classmethod
    def global_(cls) -> Redactor:
        with cls._lock:
            if cls._global is None:
                cls._global = Redactor()
            return cls._global

    def add(self, secret: Secret) -> None:
        value = secret.reveal()
        if len(value) >= 8:
            self._secrets[value] = secret.fingerprint

    def redact(self, text: str) -> str:
        if not self._secrets or not text:
            return text
        for value, fp in sorted(self._secrets.items(), key=lambda kv: -len(kv[0])):
            if value in text:
                text = text.replace(value, f"<secret {fp}>")
        return text
