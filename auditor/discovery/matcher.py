"""Offer parsed entries and text to every recogniser; collect raw hits."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from ..provider import Recogniser
from .anchors import AnchorIndex, literal_prefixes
from .parsers import Entry
from .placeholders import is_placeholder

_KEY_BASE = 1_000_000


@dataclass(frozen=True)
class Active:
    """What the prefilter found possible in one file."""

    text: frozenset[int]
    keys: frozenset[str]

    def __bool__(self) -> bool:
        return bool(self.text or self.keys)


__all__ = ["Hit", "Matcher", "Active", "unwrap"]

_WRAPPERS = (
    re.compile(r"^(?:Bearer|Token|token|Basic|bearer)\s+(\S+)$"),
    re.compile(r"^--?[A-Za-z][A-Za-z0-9_\-]*=(\S+)$"),
)


# An assigned value: a run of ordinary characters, where an interpolation (${env:X}, ${{ secrets.X }},
# {{ .Env.X }}, $(X)) counts as one piece even though it holds braces, spaces or parentheses, so that the
# placeholder rule sees it whole instead of a value cut at its closing brace.
_VALUE = r"""(?:\$?\{\{[^}\n]*\}\}|\$\{[^}\s]*\}|\$\([^)\s]*\)|[^\s"'`,;}#])+"""


def unwrap(value: str) -> str:
    v = value.strip().strip("\"'")
    for w in _WRAPPERS:
        m = w.match(v)
        if m:
            return m.group(1).strip("\"'")
    return v


@dataclass
class Hit:
    recogniser: Recogniser
    kind: str
    secret: str
    locator: str
    line: int | None
    companions: dict[str, str] = field(default_factory=dict)
    hints: dict[str, str] = field(default_factory=dict)


def _secret_of(m: re.Match[str]) -> str:
    try:
        s = m.group("secret")
    except IndexError:
        s = None
    return s if s is not None else m.group(0)


class Matcher:
    def __init__(self, recognisers: Sequence[Recogniser]) -> None:
        self.recognisers = list(recognisers)
        self.by_key: dict[str, list[Recogniser]] = {}
        for r in self.recognisers:
            for k in r.key_names:
                self.by_key.setdefault(k, []).append(r)
        self.text_recognisers = [r for r in self.recognisers if r.text_pattern is not None]
        self.file_recognisers = [r for r in self.recognisers if r.files]
        # Literal prefilter over raw bytes: which text recognisers and key names can match at all.
        self.anchors = AnchorIndex()
        for i, r in enumerate(self.text_recognisers):
            assert r.text_pattern is not None
            self.anchors.add(
                i, literal_prefixes(r.text_pattern), ignore_case=bool(r.text_pattern.flags & re.IGNORECASE)
            )
        self._keys = sorted(self.by_key, key=len, reverse=True)
        for j, k in enumerate(self._keys):
            self.anchors.add(_KEY_BASE + j, [k])
        self.anchors.compile()
        self._assign_cache: dict[frozenset[str], re.Pattern[str]] = {}

    def prefilter(self, data: bytes) -> Active:
        items = self.anchors.items_in(data)
        return Active(
            text=frozenset(i for i in items if i < _KEY_BASE),
            keys=frozenset(self._keys[i - _KEY_BASE] for i in items if i >= _KEY_BASE),
        )

    def everything(self) -> Active:
        return Active(text=frozenset(range(len(self.text_recognisers))), keys=frozenset(self._keys))

    def _assign_re(self, keys: frozenset[str]) -> re.Pattern[str] | None:
        if not keys:
            return None
        pat = self._assign_cache.get(keys)
        if pat is None:
            alts = "|".join(map(re.escape, sorted(keys, key=len, reverse=True)))
            pat = re.compile(
                r"""(?m)(?<![A-Za-z0-9_])["']?(""" + alts + r""")["']?\s*(?:=|:|=>)\s*["'`]?(""" + _VALUE + ")"
            )
            self._assign_cache[keys] = pat
        return pat

    # ---- structured entries ---------------------------------------------------------------
    def match_entries(self, entries: Sequence[Entry], rel_home: str | None, active: Active | None = None) -> list[Hit]:
        active = active or self.everything()
        text_recs = [r for i, r in enumerate(self.text_recognisers) if i in active.text]
        hits: list[Hit] = []
        siblings: dict[str, dict[str, str]] = {}
        for e in entries:
            siblings.setdefault(e.parent, {})[e.key] = e.value
        for e in entries:
            value = unwrap(e.value)
            sib = siblings.get(e.parent, {})
            claimed = False
            if rel_home is not None:
                for r in self.file_recognisers:
                    for rule in r.files:
                        if fnmatchcase(rel_home, rule.path) and fnmatchcase(e.locator, rule.locator):
                            if r.value_pattern is not None and not r.value_pattern.fullmatch(value):
                                continue
                            hints = {h: sib[h] for h in rule.hints if h in sib}
                            hits.append(self._hit(r, rule.kind or r.kind, value, e, sib, hints))
                            claimed = True
            for r in self.by_key.get(e.key, ()):
                if r.value_pattern is None or r.value_pattern.fullmatch(value):
                    hits.append(self._hit(r, r.kind, value, e, sib, {}))
                    claimed = True
            if not claimed and text_recs:
                for r in text_recs:
                    assert r.text_pattern is not None
                    for m in r.text_pattern.finditer(e.value):
                        hits.append(self._hit(r, r.kind, _secret_of(m), e, sib, {}))
        return [h for h in hits if self._complete(h) and not is_placeholder(h.secret)]

    def _hit(self, r: Recogniser, kind: str, value: str, e: Entry, sib: dict[str, str], hints: dict[str, str]) -> Hit:
        comps: dict[str, str] = {}
        for name, keys in r.companions.items():
            for k in keys:
                if k in sib and not is_placeholder(unwrap(sib[k])):
                    comps[name] = unwrap(sib[k])
                    break
        return Hit(r, kind, value, e.locator, e.line, comps, hints)

    @staticmethod
    def _complete(h: Hit) -> bool:
        return all(c in h.companions for c in h.recogniser.required_companions)

    # ---- free text -------------------------------------------------------------------------
    def match_text(
        self, text: str, *, dotenv_locators: bool = False, skip: Iterable[str] = (), active: Active | None = None
    ) -> list[Hit]:
        """Search text for token formats and for `KEY = value` assignments of known key names."""
        active = active or self.everything()
        skip_set = set(skip)
        hits: list[Hit] = []
        line_starts: list[int] | None = None

        def line_of(pos: int) -> int:
            nonlocal line_starts
            if line_starts is None:
                line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
            import bisect

            return bisect.bisect_right(line_starts, pos)

        assigned: dict[str, str] = {}
        assign = self._assign_re(active.keys)
        if assign is not None:
            for m in assign.finditer(text):
                key, value = m.group(1), unwrap(m.group(2))
                assigned.setdefault(key, value)
                for r in self.by_key.get(key, ()):
                    if r.value_pattern is None or r.value_pattern.fullmatch(value):
                        ln = line_of(m.start(1))
                        loc = key if dotenv_locators else f"line {ln}"
                        hits.append(Hit(r, r.kind, value, loc, ln))
        for i, r in enumerate(self.text_recognisers):
            if i in active.text:
                assert r.text_pattern is not None
                for m in r.text_pattern.finditer(text):
                    ln = line_of(m.start())
                    hits.append(Hit(r, r.kind, _secret_of(m), f"line {ln}", ln))
        out: list[Hit] = []
        for h in hits:
            if h.secret in skip_set or is_placeholder(h.secret):
                continue
            r = h.recogniser
            for name, keys in r.companions.items():
                for k in keys:
                    if k in assigned and not is_placeholder(assigned[k]):
                        h.companions[name] = assigned[k]
                        break
            for name, pat in r.text_companions.items():
                if name in h.companions:
                    continue
                lines = text.splitlines()
                ln = (h.line or 1) - 1
                window = "\n".join(lines[max(0, ln - 5) : ln + 6])
                m2 = pat.search(window)
                if m2:
                    cand = _secret_of(m2)
                    if not is_placeholder(cand):
                        h.companions[name] = cand
            if self._complete(h):
                out.append(h)
        return out
