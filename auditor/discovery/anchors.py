"""A literal prefilter: decide from raw bytes, in one linear-time pass, which recognisers can match.

Most files contain no credential. Python's `re` is slow on a large alternation (no multi-literal
acceleration), so the literal anchors of every recogniser — the fixed prefix of its token format
(`ghp_`, `sk_live_`, `postgres://`) and its key names (`RAILWAY_TOKEN`) — are searched together with
RE2's automaton over the file's bytes. Only recognisers whose anchor occurs are run on the text.
Anchors are derived from each pattern's parse tree, so a new recogniser needs nothing extra; a
pattern with no usable anchor is simply always run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]
from typing import Any

__all__ = ["literal_prefixes", "AnchorIndex"]

_ZERO_WIDTH = {C.AT, C.ASSERT, C.ASSERT_NOT}
_MAX_PREFIXES = 64
MIN_ANCHOR = 3


def _seq(items: Sequence[tuple[Any, Any]]) -> tuple[set[str], bool]:
    acc = {""}
    for i, (op, av) in enumerate(items):
        if op in _ZERO_WIDTH:
            continue
        if op is C.LITERAL:
            acc = {a + chr(av) for a in acc}
            continue
        if op is C.SUBPATTERN:
            sub, full = _seq(list(av[3]))
        elif op is C.BRANCH:
            parts = [_seq(list(b)) for b in av[1]]
            sub = set().union(*(p[0] for p in parts))
            full = all(p[1] for p in parts)
        elif op is C.IN and all(o is C.LITERAL for o, _ in av) and len(av) <= 8:
            sub, full = {chr(v) for _, v in av}, True
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT) and av[0] == 0 and av[1] == 1:
            # X?Y…: the prefixes of X Y… and of Y…
            rest = list(items[i + 1 :])
            with_x, _ = _seq(list(av[2]) + rest)
            without, _ = _seq(rest)
            merged = {a + s for a in acc for s in with_x | without}
            return merged, False
        else:
            return acc, False
        acc = {a + s for a in acc for s in sub}
        if len(acc) > _MAX_PREFIXES:
            return acc, False
        if not full:
            return acc, False
    return acc, True


def literal_prefixes(pattern: re.Pattern[str]) -> set[str] | None:
    """Literal strings one of which every match must start with (ignoring zero-width assertions).

    None when the pattern has no prefix of at least MIN_ANCHOR characters on every branch.
    """
    try:
        tree = P.parse(pattern.pattern, pattern.flags)
    except Exception:
        # Nothing is lost: without anchors the recogniser is simply offered every file (no prefilter).
        return None
    prefixes, _ = _seq(list(tree))
    if not prefixes or any(len(p) < MIN_ANCHOR for p in prefixes):
        return None
    return prefixes


class AnchorIndex:
    """Maps anchor literals to the items (recognisers, keys) they stand for."""

    def __init__(self) -> None:
        self._exact: dict[bytes, set[int]] = {}
        self._folded: dict[bytes, set[int]] = {}
        self.always: set[int] = set()
        self._re: object | None = None

    def add(self, item: int, anchors: Iterable[str] | None, *, ignore_case: bool = False) -> None:
        if anchors is None:
            self.always.add(item)
            return
        for a in anchors:
            if ignore_case:
                self._folded.setdefault(a.lower().encode(), set()).add(item)
            else:
                self._exact.setdefault(a.encode(), set()).add(item)

    def compile(self) -> None:
        parts = [re.escape(a.decode()) for a in sorted(self._exact, key=len, reverse=True)]
        parts += [f"(?i:{re.escape(a.decode())})" for a in sorted(self._folded, key=len, reverse=True)]
        if not parts:
            return
        pattern = "|".join(parts)
        try:
            import re2  # google-re2: linear time, automaton over all anchors at once

            opts = re2.Options()
            opts.max_mem = 64 << 20
            self._re = re2.compile(pattern.encode(), opts)
        except ImportError:  # pragma: no cover - the dependency is declared; keep working without it
            self._re = re.compile(pattern.encode())

    def items_in(self, data: bytes) -> set[int]:
        found = set(self.always)
        if self._re is None:
            return found
        seen: set[bytes] = set()
        for m in self._re.finditer(data):  # type: ignore[attr-defined]
            s = m.group(0)
            if s in seen:
                continue
            seen.add(s)
            found |= self._exact.get(s, set())
            found |= self._folded.get(s.lower(), set())
        return found

    @property
    def has_anchors(self) -> bool:
        return self._re is not None


def anchors_for(patterns: Sequence[re.Pattern[str]]) -> list[set[str] | None]:
    return [literal_prefixes(p) for p in patterns]
