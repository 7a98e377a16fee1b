"""IAM policy evaluation, done by Blastwall itself (no SimulatePrincipalPolicy: moto lacks it and
many keys may not call it).

Covers identity policies (inline, managed, via groups), permission boundaries, explicit Deny,
``NotAction``/``NotResource``, wildcards (expanded from the catalogue where a set is needed),
and policy variables. Conditions are never assumed to hold or to fail: a statement with a
``Condition`` yields a *conditional* answer (``None``), which is reported as such.

Not evaluated (documented limits): service control policies and resource control policies of
an AWS Organization, session policies, and resource-based policies. SCPs, RCPs and session
policies can only remove permissions, so an "allowed" answer may overstate, never understate.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .catalogue import Catalogue, action_matcher, catalogue, pattern_regex

__all__ = ["Statement", "Decision", "PolicySet", "parse_document", "Tri"]

Tri = bool | None

_VAR = re.compile(r"\$\{([^}]*)\}")


def _as_tuple(v: Any) -> tuple[str, ...]:
    if v is None:
        return ()
    if isinstance(v, str):
        return (v,)
    if isinstance(v, (list, tuple)):
        return tuple(str(x) for x in v)
    return (str(v),)


@dataclass(frozen=True)
class Statement:
    effect: str  # Allow | Deny
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    conditional: bool
    origin: str  # e.g. "AdministratorAccess (AWS managed policy, via group admins)"
    sid: str | None = None

    @property
    def allow(self) -> bool:
        return self.effect == "Allow"

    def matches_action(self, action: str) -> bool:
        hit = action_matcher(self.actions)(action)
        return not hit if self.not_action else hit

    @property
    def all_resources(self) -> bool:
        """Applies to every resource (Resource "*"); NotResource counts as near-all for allows."""
        if self.not_resource:
            return False
        return any(r == "*" for r in self.resources)

    def matches_resource(self, arn: str | None, variables: Mapping[str, str]) -> tuple[bool, bool]:
        """(matches, uncertain). ``arn=None`` asks "does it apply to at least some resource"."""
        if arn is None:
            if self.not_resource:
                return (not any(r == "*" for r in self.resources), False)
            return (bool(self.resources), False)
        certain_hit = False
        unsure_hit = False
        for pat in self.resources:
            p, unknown = _substitute(pat, variables)
            if p == "*" or pattern_regex(p, case_sensitive=True).fullmatch(arn):
                if unknown:
                    unsure_hit = True
                else:
                    certain_hit = True
                    break
        if self.not_resource:
            # Excluded for sure -> no match; excluded only maybe -> uncertain.
            if certain_hit:
                return (False, False)
            return (True, unsure_hit)
        if certain_hit:
            return (True, False)
        return (False, unsure_hit)


def _substitute(pattern: str, variables: Mapping[str, str]) -> tuple[str, bool]:
    if "${" not in pattern:
        return pattern, False
    unknown = False

    def repl(m: re.Match[str]) -> str:
        nonlocal unknown
        name = m.group(1)
        if name in ("*", "?", "$"):
            return "\0" + name  # a literal, restored below
        key = name.split(",", 1)[0].strip().lower()
        if key in variables:
            return variables[key]
        unknown = True
        return "*"

    out = _VAR.sub(repl, pattern)
    # Literal escapes ${*} ${?} ${$}: keep them matching themselves (rare; treat as wildcard-free text)
    out = out.replace("\0*", "*").replace("\0?", "?").replace("\0$", "$")
    return out, unknown


def parse_document(doc: Any, origin: str) -> list[Statement]:
    """Statements of one policy document (a dict, or its JSON / URL-encoded JSON text)."""
    import json
    from urllib.parse import unquote

    if isinstance(doc, str):
        text = doc
        try:
            doc = json.loads(text)
        except ValueError:
            doc = json.loads(unquote(text))
    if not isinstance(doc, dict):
        return []
    raw = doc.get("Statement", [])
    if isinstance(raw, dict):
        raw = [raw]
    out: list[Statement] = []
    for st in raw if isinstance(raw, list) else []:
        if not isinstance(st, dict):
            continue
        effect = str(st.get("Effect", "Allow")).capitalize()
        if "NotAction" in st:
            actions, not_action = _as_tuple(st["NotAction"]), True
        else:
            actions, not_action = _as_tuple(st.get("Action")), False
        if "NotResource" in st:
            resources, not_resource = _as_tuple(st["NotResource"]), True
        else:
            resources, not_resource = _as_tuple(st.get("Resource", "*" if "Principal" in st else None)), False
        out.append(Statement(
            effect="Deny" if effect == "Deny" else "Allow",
            actions=actions, not_action=not_action, resources=resources, not_resource=not_resource,
            conditional=bool(st.get("Condition")), origin=origin, sid=st.get("Sid"),
        ))
    return out


@dataclass(frozen=True)
class Decision:
    verdict: Tri  # True allowed, None conditional/uncertain, False denied (explicitly or implicitly)
    reason: str
    origin: str | None = None


@dataclass
class _ActionView:
    allows: list[Statement]
    denies: list[Statement]
    b_allows: list[Statement]
    b_denies: list[Statement]


@dataclass
class PolicySet:
    """The effective identity permissions of one principal."""

    identity: list[Statement]
    boundary: list[Statement] | None = None  # None: no permissions boundary
    boundary_name: str | None = None
    variables: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._views: dict[str, _ActionView] = {}
        self._lock = threading.Lock()
        self._star: tuple[Tri, str] | None = None

    def without_boundary(self) -> PolicySet:
        return PolicySet(self.identity, None, None, dict(self.variables))

    def _view(self, action: str) -> _ActionView:
        a = action.lower()
        v = self._views.get(a)
        if v is None:
            ident = [s for s in self.identity if s.matches_action(a)]
            bnd = [s for s in (self.boundary or []) if s.matches_action(a)]
            v = _ActionView([s for s in ident if s.allow], [s for s in ident if not s.allow],
                            [s for s in bnd if s.allow], [s for s in bnd if not s.allow])
            with self._lock:
                self._views[a] = v
        return v

    def _side(self, allows: list[Statement], denies: list[Statement], arn: str | None) -> tuple[Tri, str | None, str]:
        maybe_deny: str | None = None
        for s in denies:
            if arn is None:
                if not s.all_resources:
                    continue  # a Deny on some resources does not deny "some resource"
                hit, unsure = True, False
            else:
                hit, unsure = s.matches_resource(arn, self.variables)
            if hit and not s.conditional and not unsure:
                return False, s.origin, "explicitly denied"
            if hit or unsure:
                maybe_deny = maybe_deny or s.origin
        best: Tri = False
        origin: str | None = None
        for s in allows:
            hit, unsure = s.matches_resource(arn, self.variables)
            if not hit and not unsure:
                continue
            if not s.conditional and not unsure:
                best, origin = True, s.origin
                break
            if best is False:
                best, origin = None, s.origin
        if best is True and maybe_deny:
            return None, maybe_deny, "a conditional Deny may apply"
        if best is None:
            return None, origin, "allowed only under a condition"
        if best is False:
            return False, None, "no policy allows it"
        return True, origin, "allowed"

    def decide(self, action: str, arn: str | None = None) -> Decision:
        """May this principal call ``action`` on ``arn`` (``None``: on at least some resource)?"""
        v = self._view(action)
        verdict, origin, why = self._side(v.allows, v.denies, arn)
        if verdict is False:
            return Decision(False, f"{action}: {why}" + (f" by {origin}" if origin else ""), origin)
        if self.boundary is not None:
            bv, borigin, bwhy = self._side(v.b_allows, v.b_denies, arn)
            if bv is False:
                return Decision(False, f"{action}: outside the permissions boundary {self.boundary_name}", borigin)
            if bv is None and verdict is True:
                return Decision(None, f"{action}: the permissions boundary {self.boundary_name} allows it only "
                                      "under a condition", borigin)
        if verdict is None:
            return Decision(None, f"{action}: {why} ({origin})", origin)
        return Decision(True, f"{action} allowed by {origin}", origin)

    def decide_all(self, actions: Iterable[str], arn: str | None = None) -> Decision:
        """All of ``actions`` (AND): the weakest verdict wins."""
        worst: Decision | None = None
        rank = {True: 2, None: 1, False: 0}
        for a in actions:
            d = self.decide(a, arn)
            if worst is None or rank[d.verdict] < rank[worst.verdict]:
                worst = d
            if d.verdict is False:
                break
        assert worst is not None
        return worst

    def decide_any(self, actions: Iterable[str], arn: str | None = None) -> Decision:
        """Any of ``actions`` (OR): the strongest verdict wins."""
        best: Decision | None = None
        rank = {True: 2, None: 1, False: 0}
        for a in actions:
            d = self.decide(a, arn)
            if best is None or rank[d.verdict] > rank[best.verdict]:
                best = d
            if d.verdict is True:
                break
        assert best is not None
        return best

    # ---- whole-catalogue questions ---------------------------------------------------------------
    @staticmethod
    def _covered(stmts: list[Statement], cat: Catalogue, *, conditional_ok: bool) -> tuple[frozenset[str], list[str]]:
        got: set[str] = set()
        origins: list[str] = []
        for s in stmts:
            if not s.allow or not (s.all_resources or s.not_resource):
                continue
            if s.conditional and not conditional_ok:
                continue
            acts = cat.all - cat.expand_all(s.actions) if s.not_action else cat.expand_all(s.actions)
            if acts - got:
                origins.append(s.origin)
            got |= acts
        return frozenset(got), origins

    def allowed_actions(self, cat: Catalogue | None = None) -> frozenset[str]:
        """Actions allowed on at least some resource (unconditionally or not), minus full Denies."""
        cat = cat or catalogue()
        got: set[str] = set()
        for s in self.identity:
            if s.allow and s.resources:
                got |= (cat.all - cat.expand_all(s.actions)) if s.not_action else cat.expand_all(s.actions)
        for s in self.identity:
            if not s.allow and s.all_resources and not s.conditional:
                got -= (cat.all - cat.expand_all(s.actions)) if s.not_action else cat.expand_all(s.actions)
        if self.boundary is not None:
            b: set[str] = set()
            for s in self.boundary:
                if s.allow and s.resources:
                    b |= (cat.all - cat.expand_all(s.actions)) if s.not_action else cat.expand_all(s.actions)
            got &= b
        return frozenset(got)

    def star(self, cat: Catalogue | None = None) -> tuple[Tri, str]:
        """Effective ``*`` on ``*``: True (with the granting policies), None (only conditionally), False."""
        if self._star is not None:
            return self._star
        cat = cat or catalogue()
        full, origins = self._covered(self.identity, cat, conditional_ok=False)
        result: tuple[Tri, str]
        if len(full) < len(cat.all):
            cfull, corigins = self._covered(self.identity, cat, conditional_ok=True)
            if len(cfull) < len(cat.all):
                result = (False, f"{len(full)} of {len(cat.all)} catalogued actions allowed on every resource")
                self._star = result
                return result
            result = (None, "every action is allowed only under conditions (" + "; ".join(corigins[:3]) + ")")
        else:
            result = (True, "; ".join(dict.fromkeys(origins)))
        denied: set[str] = set()
        cond_denied = False
        for s in self.identity:
            if not s.allow:
                acts = (cat.all - cat.expand_all(s.actions)) if s.not_action else cat.expand_all(s.actions)
                if s.conditional:
                    cond_denied = cond_denied or bool(acts)
                else:
                    denied |= acts
        if denied:
            result = (False, f"explicit Deny of {len(denied)} action(s), e.g. "
                      + ", ".join(sorted(cat.name(a) for a in denied)[:3]))
        elif cond_denied and result[0] is True:
            result = (None, result[1] + "; a conditional Deny may apply")
        if result[0] is not False and self.boundary is not None:
            bfull, _ = self._covered(self.boundary, cat, conditional_ok=False)
            if len(bfull) < len(cat.all):
                result = (False, f"limited by the permissions boundary {self.boundary_name}")
            elif any(not s.allow for s in self.boundary):
                result = (False, f"the permissions boundary {self.boundary_name} denies some actions")
        self._star = result
        return result
