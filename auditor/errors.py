"""Blastwall's error tree. Every error says what happened and what to do about it."""

from __future__ import annotations

__all__ = [
    "BlastwallError",
    "ConfigError",
    "ProviderError",
    "ProviderAuthError",
    "ProviderUnavailable",
    "BackupError",
    "VerificationError",
    "ApprovalRequired",
    "GateRejected",
    "StateError",
]


class BlastwallError(Exception):
    """Base class. `hint` tells the user what to do next; it never contains a secret."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def diagnostics(self) -> str:
        return self.message + (f"\nhint: {self.hint}" if self.hint else "")


class ConfigError(BlastwallError):
    """Malformed or inconsistent configuration; names file, line and key when known."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = ""
        if file:
            where = f"{file}"
            if line:
                where += f":{line}"
            where += ": "
        if key:
            where += f"{key}: "
        super().__init__(where + message, hint=hint)
        self.file, self.line, self.key = file, line, key


class ProviderError(BlastwallError):
    """A provider API misbehaved."""


class ProviderAuthError(ProviderError):
    """The provider refused the credential (dead, revoked, or out of scope)."""


class ProviderUnavailable(ProviderError):
    """The provider could not be reached, timed out, or kept failing."""


class BackupError(BlastwallError):
    pass


class VerificationError(BlastwallError):
    pass


class StateError(BlastwallError):
    pass


class ApprovalRequired(BlastwallError):
    exit_code = 4


class GateRejected(BlastwallError):
    exit_code = 4
