"""Validate --json output against the JSON Schemas shipped in tests/schemas/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
_NAMES = ("backup-record", "backup-list", "check-store", "verify", "backup-prune")


def _registry() -> Registry:
    reg: Registry = Registry()
    for n in _NAMES:
        doc = json.loads((SCHEMAS / f"{n}.schema.json").read_text())
        res = Resource.from_contents(doc)
        reg = reg.with_resource(doc["$id"], res).with_resource(f"{n}.schema.json", res)
    return reg


def validate(name: str, doc: Any) -> None:
    schema = json.loads((SCHEMAS / f"{name}.schema.json").read_text())
    Draft202012Validator(schema, registry=_registry(), format_checker=FormatChecker()).validate(doc)
