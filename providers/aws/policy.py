"""IAM policy evaluation, done by Blastwall itself (no SimulatePrincipalPolicy: moto lacks it and
many keys may not call it).

Covers identity policies (inline, managed, via groups), permission boundaries, explicit Deny,
``NotAction``/``NotResource``, wildcards (expanded from the catalogue where a set is needed),
and policy variables. Conditions whose value is known at audit time are evaluated: ``aws:PrincipalTag/*``
(the principal's own tags), ``aws:RequestedRegion`` (the region in the target's ARN) and
``iam:PassedToService`` (the service a role is passed to in an escalation edge), with the String
operators. Any other condition is never assumed to hold or to fail: it yields a *conditional* answer
(``None``) whose reason names the condition keys that were not evaluated.

Service control policies and resource control policies of an AWS Organization come in as
``org`` levels (the account, each parent OU, the root): at every level some attached policy must
allow the action, and a Deny at any level wins. RCPs apply only to the services they cover.

Not evaluated (documented limits): session policies and resource-based policies other than those
the collector reads for backup targets. They can only remove permissions (within one account), so
an "allowed" answer may overstate, never understate.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .catalogue import Catalogue, action_matcher, catalogue, pattern_regex

__all__ = ["Statement", "Decision", "PolicySet", "OrgLevel", "ResourcePolicy", "parse_document", "Tri", "RCP_SERVICES"]

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
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (operator, key in lower case, values)

    def condition(self, arn: str | None, known: Mapping[str, str | None]) -> Tri:
        """Does the Condition hold? True / False when every key is known at audit time, else None."""
        if not self.conditional:
            return True
        if not self.conditions:
            return None
        out: Tri = True
        for op, key, values in self.conditions:
            v = _condition_one(op, key, values, arn, known)
            if v is False:
                return False
            if v is None:
                out = None
        return out

    def unknown_condition_keys(self, arn: str | None, known: Mapping[str, str | None]) -> list[str]:
        return [key for op, key, values in self.conditions if _condition_one(op, key, values, arn, known) is None]

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
        conds: list[tuple[str, str, tuple[str, ...]]] = []
        cond = st.get("Condition")
        if isinstance(cond, dict):
            for op, body in cond.items():
                if isinstance(body, dict):
                    for key, val in body.items():
                        conds.append((str(op), str(key).lower(), _as_tuple(val)))
        out.append(
            Statement(
                effect="Deny" if effect == "Deny" else "Allow",
                actions=actions,
                not_action=not_action,
                resources=resources,
                not_resource=not_resource,
                conditional=bool(st.get("Condition")),
                origin=origin,
                sid=st.get("Sid"),
                conditions=tuple(conds),
            )
        )
    return out


_KNOWN_KEYS = ("aws:principaltag/", "aws:requestedregion", "iam:passedtoservice")


def _condition_one(op: str, key: str, values: tuple[str, ...], arn: str | None, known: Mapping[str, str | None]) -> Tri:
    """One condition operator on one key: True / False when the key's value is known at audit time."""
    import fnmatch

    if not key.startswith(_KNOWN_KEYS) or op.startswith(("ForAnyValue:", "ForAllValues:")):
        return None
    if_exists = op.endswith("IfExists")
    base = op.removesuffix("IfExists")
    if key == "aws:requestedregion":
        parts = arn.split(":") if arn else []
        region = parts[3] if len(parts) > 3 and parts[3] else known.get(key)
        if not region:
            return None
        value: str | None = region
    elif key in known:
        value = known[key]
    elif key.startswith("aws:principaltag/") and "aws:principaltag/*" in known:
        value = None  # the principal's tags are known and this one is absent
    else:
        return None
    if value is None:
        if if_exists:
            return True
        return (
            True
            if base in ("StringNotEquals", "StringNotLike", "StringNotEqualsIgnoreCase")
            else False
            if base.startswith("String")
            else None
        )
    if base == "StringEquals":
        return value in values
    if base == "StringNotEquals":
        return value not in values
    if base == "StringEqualsIgnoreCase":
        return value.lower() in {v.lower() for v in values}
    if base == "StringNotEqualsIgnoreCase":
        return value.lower() not in {v.lower() for v in values}
    if base == "StringLike":
        return any(fnmatch.fnmatchcase(value, v) for v in values)
    if base == "StringNotLike":
        return not any(fnmatch.fnmatchcase(value, v) for v in values)
    return None


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


RCP_SERVICES = ("s3", "sts", "kms", "sqs", "secretsmanager", "dynamodb", "ecr", "cognito-identity", "logs")


@dataclass(frozen=True)
class OrgLevel:
    """One level of an Organization's policy hierarchy for one kind of policy (SCP or RCP)."""

    kind: str  # "SCP" | "RCP"
    target: str  # account id, OU id or root id
    statements: tuple[Statement, ...]

    def applies(self, action: str) -> bool:
        return self.kind == "SCP" or action.split(":", 1)[0].lower() in RCP_SERVICES


@dataclass
class PolicySet:
    """The effective identity permissions of one principal."""

    identity: list[Statement]
    boundary: list[Statement] | None = None  # None: no permissions boundary
    boundary_name: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    org: list[OrgLevel] = field(default_factory=list)  # SCP / RCP levels that apply to the account

    def __post_init__(self) -> None:
        self._views: dict[str, _ActionView] = {}
        self._lock = threading.Lock()
        self._star: tuple[Tri, str] | None = None
        self._org_views: dict[str, list[tuple[OrgLevel, list[Statement], list[Statement]]]] = {}

    def without_boundary(self) -> PolicySet:
        return PolicySet(self.identity, None, None, dict(self.variables), list(self.org))

    def org_decide(self, action: str, arn: str | None = None) -> Decision:
        """What the Organization's SCPs and RCPs leave of ``action`` (True when no level restricts it)."""
        if not self.org:
            return Decision(True, "no organization policy applies")
        a = action.lower()
        views = self._org_views.get(a)
        if views is None:
            views = []
            for lv in self.org:
                if not lv.applies(a):
                    continue
                hits = [st for st in lv.statements if st.matches_action(a)]
                views.append((lv, [st for st in hits if st.allow], [st for st in hits if not st.allow]))
            with self._lock:
                self._org_views[a] = views
        out: Tri = True
        why = "allowed by the organization's policies"
        origin: str | None = None
        for lv, allows, denies in views:
            v, o, w = self._side(allows, denies, arn)
            if v is False:
                if o:
                    return Decision(False, f"{action}: denied by {o}", o)
                return Decision(
                    False, f"{action}: no {lv.kind} attached to {lv.target} allows it", f"the {lv.kind}s of {lv.target}"
                )
            if v is None and out is True:
                out, why, origin = None, f"{action}: {lv.kind} {w} ({o})", o
        return Decision(out, why, origin)

    def org_decide_any(self, actions: Iterable[str], arn: str | None = None) -> Decision:
        return _strongest(self.org_decide(a, arn) for a in actions)

    def _view(self, action: str) -> _ActionView:
        a = action.lower()
        v = self._views.get(a)
        if v is None:
            ident = [s for s in self.identity if s.matches_action(a)]
            bnd = [s for s in (self.boundary or []) if s.matches_action(a)]
            v = _ActionView(
                [s for s in ident if s.allow],
                [s for s in ident if not s.allow],
                [s for s in bnd if s.allow],
                [s for s in bnd if not s.allow],
            )
            with self._lock:
                self._views[a] = v
        return v

    def _side(
        self,
        allows: list[Statement],
        denies: list[Statement],
        arn: str | None,
        context: Mapping[str, str] | None = None,
    ) -> tuple[Tri, str | None, str]:
        known: dict[str, str | None] = dict(self.variables)
        if context:
            known.update(context)
        maybe_deny: str | None = None
        for s in denies:
            if arn is None:
                if not s.all_resources:
                    continue  # a Deny on some resources does not deny "some resource"
                hit, unsure = True, False
            else:
                hit, unsure = s.matches_resource(arn, self.variables)
            c = s.condition(arn, known)
            if c is False:
                continue
            if hit and c is True and not unsure:
                return False, s.origin, "explicitly denied"
            if hit or unsure:
                maybe_deny = maybe_deny or s.origin
        best: Tri = False
        origin: str | None = None
        why_cond = ""
        for s in allows:
            hit, unsure = s.matches_resource(arn, self.variables)
            if not hit and not unsure:
                continue
            c = s.condition(arn, known)
            if c is False:
                continue
            if c is True and not unsure:
                best, origin = True, s.origin
                break
            if best is False:
                best, origin = None, s.origin
                keys = s.unknown_condition_keys(arn, known) if c is None else []
                why_cond = (
                    (f"allowed only under a condition on {', '.join(dict.fromkeys(keys))} (not known at audit time)")
                    if keys
                    else "allowed only under a condition"
                )
        if best is True and maybe_deny:
            return None, maybe_deny, "a conditional Deny may apply"
        if best is None:
            return None, origin, why_cond or "allowed only under a condition"
        if best is False:
            return False, None, "no policy allows it"
        return True, origin, "allowed"

    def decide(self, action: str, arn: str | None = None, context: Mapping[str, str] | None = None) -> Decision:
        """May this principal call ``action`` on ``arn`` (``None``: on at least some resource)? ``context``
        gives condition values known for this request (e.g. ``iam:passedtoservice``)."""
        v = self._view(action)
        verdict, origin, why = self._side(v.allows, v.denies, arn, context)
        if verdict is False:
            return Decision(False, f"{action}: {why}" + (f" by {origin}" if origin else ""), origin)
        if self.boundary is not None:
            bv, borigin, bwhy = self._side(v.b_allows, v.b_denies, arn, context)
            if bv is False:
                return Decision(False, f"{action}: outside the permissions boundary {self.boundary_name}", borigin)
            if bv is None and verdict is True:
                return Decision(
                    None,
                    f"{action}: the permissions boundary {self.boundary_name} allows it only under a condition",
                    borigin,
                )
        if self.org:
            od = self.org_decide(action, arn)
            if od.verdict is False:
                return od
            if od.verdict is None:
                return Decision(None, od.reason, od.origin)
        if verdict is None:
            return Decision(None, f"{action}: {why} ({origin})", origin)
        return Decision(True, f"{action} allowed by {origin}", origin)

    def decide_all(self, actions: Iterable[str], arn: str | None = None) -> Decision:
        """All of ``actions`` (AND): the weakest verdict wins."""
        return _weakest(self.decide(a, arn) for a in actions)

    def decide_any(self, actions: Iterable[str], arn: str | None = None) -> Decision:
        """Any of ``actions`` (OR): the strongest verdict wins."""
        return _strongest(self.decide(a, arn) for a in actions)

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
        for lv in self.org:
            level: set[str] = set()
            for s in lv.statements:
                acts = (cat.all - cat.expand_all(s.actions)) if s.not_action else cat.expand_all(s.actions)
                if s.allow and s.resources:
                    level |= acts
            scope = got if lv.kind == "SCP" else {a for a in got if a.split(":", 1)[0] in RCP_SERVICES}
            got -= scope - level
            for s in lv.statements:
                if not s.allow and s.all_resources and not s.conditional:
                    acts = (cat.all - cat.expand_all(s.actions)) if s.not_action else cat.expand_all(s.actions)
                    got -= {a for a in acts if lv.kind == "SCP" or a.split(":", 1)[0] in RCP_SERVICES}
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
                n = len(self.allowed_actions(cat) & full)  # after Deny, boundary and organization policies
                result = (False, f"{n} of {len(cat.all)} catalogued actions allowed on every resource")
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
            result = (
                False,
                f"explicit Deny of {len(denied)} action(s), e.g. " + ", ".join(sorted(cat.name(a) for a in denied)[:3]),
            )
        elif cond_denied and result[0] is True:
            result = (None, result[1] + "; a conditional Deny may apply")
        if result[0] is not False and self.boundary is not None:
            bfull, _ = self._covered(self.boundary, cat, conditional_ok=False)
            if len(bfull) < len(cat.all):
                result = (False, f"limited by the permissions boundary {self.boundary_name}")
            elif any(not s.allow for s in self.boundary):
                result = (False, f"the permissions boundary {self.boundary_name} denies some actions")
        if result[0] is not False:
            for lv in self.org:
                if lv.kind != "SCP":
                    continue
                denies = [s for s in lv.statements if not s.allow]
                if denies:
                    result = (False, "limited by " + ", ".join(dict.fromkeys(s.origin for s in denies)))
                    break
                lfull, _ = self._covered(list(lv.statements), cat, conditional_ok=False)
                if len(lfull) < len(cat.all):
                    result = (False, f"limited by the SCPs attached to {lv.target}")
                    break
        self._star = result
        return result


@dataclass(frozen=True)
class ResourcePolicy:
    """A resource-based policy on a backup target (S3 bucket policy, AWS Backup vault access policy, KMS
    key policy). Only what can be decided for a known principal is used: a Deny that names it (or ``*``,
    or its account) removes the action, an Allow that names its exact ARN grants it in the same account."""

    name: str  # e.g. "bucket policy of s3://backups"
    statements: tuple[tuple[Statement, tuple[str, ...]], ...]  # (statement, principals: "*", ARNs, account ids)
    delegating: bool = False  # KMS: identity policies count only where the key policy allows the account/principal

    def delegates(self, principal_arn: str | None, account: str, action: str, arn: str) -> bool:
        """KMS key policy: does an Allow name the account (root), the principal itself or ``*`` for ``action``?"""
        for st, principals in self.statements:
            if not st.allow or not st.matches_action(action.lower()):
                continue
            if any(p in ("*", account, f"arn:aws:iam::{account}:root") or p == principal_arn for p in principals):
                return True
        return False

    @classmethod
    def parse(cls, name: str, doc: Any, *, delegating: bool = False) -> ResourcePolicy:
        import json

        if isinstance(doc, str):
            try:
                doc = json.loads(doc)
            except ValueError:
                doc = {}
        raw = doc.get("Statement", []) if isinstance(doc, dict) else []
        raw = [raw] if isinstance(raw, dict) else raw
        out: list[tuple[Statement, tuple[str, ...]]] = []
        for st, src in zip(
            parse_document({"Statement": raw}, name), [r for r in raw if isinstance(r, dict)], strict=False
        ):
            pr = src.get("Principal", "*")
            if pr == "*":
                principals: tuple[str, ...] = ("*",)
            elif isinstance(pr, dict):
                vals = pr.get("AWS", ())
                principals = _as_tuple(vals)
            else:
                principals = ()
            out.append((st, principals))
        return cls(name, tuple(out), delegating)

    def decide(self, principal_arn: str | None, account: str, action: str, arn: str) -> tuple[Tri, str] | None:
        """(False|None, why) for a matching Deny, (True, why) for an Allow naming the principal, else None."""
        allow: tuple[Tri, str] | None = None
        for st, principals in self.statements:
            if not st.matches_action(action.lower()):
                continue
            hit, unsure = st.matches_resource(arn, {})
            if not hit and not unsure:
                continue
            names = any(
                p == "*" or p == principal_arn or p == account or p == f"arn:aws:iam::{account}:root"
                for p in principals
            )
            if not names:
                continue
            if not st.allow:
                if st.conditional or unsure:
                    return (None, f"{action}: a conditional Deny in the {self.name} may apply")
                return (False, f"{action}: denied by the {self.name}")
            exact = principal_arn is not None and principal_arn in principals
            if (
                exact
                and principal_arn is not None
                and not st.conditional
                and not unsure
                and principal_arn.split(":")[4] == account
            ):
                allow = (True, f"{action}: allowed by the {self.name}")
        return allow


_DECISION_RANK: dict[Tri, int] = {True: 2, None: 1, False: 0}


def _strongest(decisions: Iterable[Decision]) -> Decision:
    """OR over lazily made decisions: the strongest wins; stops at the first True."""
    best: Decision | None = None
    for d in decisions:
        if best is None or _DECISION_RANK[d.verdict] > _DECISION_RANK[best.verdict]:
            best = d
        if d.verdict is True:
            break
    assert best is not None
    return best


def _weakest(decisions: Iterable[Decision]) -> Decision:
    """AND over lazily made decisions: the weakest wins; stops at the first False."""
    worst: Decision | None = None
    for d in decisions:
        if worst is None or _DECISION_RANK[d.verdict] < _DECISION_RANK[worst.verdict]:
            worst = d
        if d.verdict is False:
            break
    assert worst is not None
    return worst
