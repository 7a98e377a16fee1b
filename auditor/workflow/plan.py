"""Plans and their hashes.

A plan is the JSON document a human approves: the exact action and its parameters. An approval
is bound to the SHA-256 of the plan's canonical JSON, so any change to the plan (a different
target, a different backup, a table that appeared) invalidates it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["canonical_json", "plan_sha256"]


def canonical_json(doc: Any) -> str:
    """Deterministic JSON: sorted keys, no insignificant whitespace, UTF-8 kept as is.

    Only plain JSON types are accepted; a `Secret` (or anything else) in a plan is a bug.
    """
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def plan_sha256(plan: Any) -> str:
    return hashlib.sha256(canonical_json(plan).encode("utf-8")).hexdigest()
