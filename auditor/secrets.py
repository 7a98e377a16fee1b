"""The `Secret` type: a credential value that never shows itself.

`repr`, `str`, pydantic serialisation and pickling all show a fingerprint. The only way to
get the value is `.reveal()`, which is explicit and greppable.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

__all__ = ["Secret", "fingerprint"]


def fingerprint(value: str) -> str:
    """A stable, non-reversible identifier for a secret value (12 hex digits of SHA-256)."""
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]


class Secret:
    __slots__ = ("_value", "_fingerprint")
    _value: str
    _fingerprint: str

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError("Secret wraps a str")
        object.__setattr__(self, "_value", value)
        object.__setattr__(self, "_fingerprint", fingerprint(value))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Secret is immutable")

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def reveal(self) -> str:
        """Return the raw value. Call sites of this method are the audit surface."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self._fingerprint})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._fingerprint)

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("Secret values are not picklable")

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def validate(v: Any) -> Secret:
            if isinstance(v, Secret):
                return v
            if isinstance(v, str):
                return Secret(v)
            raise TypeError("expected a str or Secret")

        return core_schema.no_info_plain_validator_function(
            validate, serialization=core_schema.plain_serializer_function_ser_schema(lambda s: s.fingerprint)
        )
