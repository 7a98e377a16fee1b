"""The shapes of Railway's ``ref = {…}`` tables, validated here (the core never looks inside them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from auditor.database_source import RefError

__all__ = ["DatabaseRef", "VolumeRef", "validate_ref"]


class DatabaseRef(BaseModel):
    """A Railway service by project (id or name), environment (name) and service (name or id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    project: str
    environment: str = "production"
    service: str = "Postgres"


class VolumeRef(DatabaseRef):
    """The service whose volume is restored; ``allow_foreign_staged`` lets an approved plan that lists
    changes someone else staged in the environment commit them together with the restore."""

    allow_foreign_staged: bool = False


def validate_ref(model: type[DatabaseRef], ref: Mapping[str, Any]) -> dict[str, Any]:
    try:
        return model.model_validate(dict(ref)).model_dump()
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or None
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        if err["type"] == "missing":
            msg = f"missing {key} (the Railway {key} name or id)"
        raise RefError(msg, key) from None
