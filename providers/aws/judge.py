"""Destroy facts: can this credential destroy this resource or backup?

A target carries a ``DestroySpec``: alternative *paths*, each a list of steps that must all be
allowed (a step is "any of these actions on this ARN"). The judge evaluates each credential's
effective permissions (or its admin reachability) against them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from auditor.model import DestroyFact

from .graph import Reach
from .iam import Principal
from .policy import PolicySet, Tri

__all__ = ["Step", "DestroySpec", "Subject", "judge", "judge_all"]

_RANK = {True: 2, None: 1, False: 0}


@dataclass(frozen=True)
class Step:
    actions: tuple[str, ...]
    arn: str


@dataclass(frozen=True)
class DestroySpec:
    target: str  # Resource.id or Backup.id
    account: str
    paths: tuple[tuple[Step, ...], ...] = ()
    capability: str | None = None
    fixed: tuple[Tri, str] | None = None  # same verdict for every principal (e.g. compliance lock)
    notes: tuple[str, ...] = ()  # appended to the reason (e.g. "Recycle Bin rules could not be read")


@dataclass
class Subject:
    """One identified credential, ready for judging."""

    cred_id: str
    account: str | None
    is_root: bool = False
    principal: Principal | None = None
    ps: PolicySet | None = None
    admin: Reach | None = None
    unknown_reason: str = "its IAM permissions could not be read"
    cross_account: dict[str, list[str]] = field(default_factory=dict)  # account -> roles there that trust it
    cache: dict[tuple[tuple[str, ...], str], tuple[Tri, str]] = field(default_factory=dict)


def _step(s: Subject, st: Step) -> tuple[Tri, str]:
    key = (st.actions, st.arn)
    hit = s.cache.get(key)
    if hit is not None:
        return hit
    assert s.ps is not None
    d = s.ps.decide_any(st.actions, st.arn)
    out = (d.verdict, d.reason)
    s.cache[key] = out
    return out


def judge(s: Subject, spec: DestroySpec) -> DestroyFact | None:
    def fact(v: Tri, reason: str) -> DestroyFact:
        if spec.notes:
            reason = reason + " " + " ".join(spec.notes)
        return DestroyFact(credential=s.cred_id, target=spec.target, verdict=v, reason=reason,
                           capability=spec.capability)

    if s.account is None:
        return None
    if s.account != spec.account:
        roles = s.cross_account.get(spec.account)
        if roles:
            return fact(None, f"credential of AWS account {s.account}; roles in account {spec.account} trust it "
                              f"({', '.join(roles[:3])}): what it can do there through them is not determined")
        return fact(False, f"credential of AWS account {s.account}; target in account {spec.account}, where no "
                           "readable role trusts it")
    if spec.fixed is not None:
        return fact(*spec.fixed)
    if s.is_root:
        return fact(True, "root user of the account: IAM policies cannot restrict it")
    if s.admin is not None and s.admin.verdict is True:
        path = " → ".join(s.admin.path) if s.admin.path else s.admin.reason
        return fact(True, f"admin-equivalent ({path})")
    if s.ps is None:
        return fact(None, f"not determined: {s.unknown_reason}")
    best: Tri = False
    best_reason = ""
    for path in spec.paths:
        v: Tri = True
        reasons: list[str] = []
        for st in path:
            sv, why = _step(s, st)
            if _RANK[sv] < _RANK[v]:
                v = sv
            reasons.append(why)
            if sv is False:
                break
        if _RANK[v] > _RANK[best] or not best_reason:
            best, best_reason = v, "; ".join(reasons)
        if best is True:
            break
    if not spec.paths:
        return fact(False, "no action can destroy it")
    if best is False and s.admin is not None and s.admin.verdict is None:
        return fact(None, "possibly admin-equivalent: " + (" → ".join(s.admin.path) or s.admin.reason))
    if best is False and s.admin is None:
        return fact(None, f"{best_reason}; admin reachability not determined")
    return fact(best, best_reason)


def judge_all(subjects: Sequence[Subject], specs: Sequence[DestroySpec]) -> list[DestroyFact]:
    out: list[DestroyFact] = []
    for s in subjects:
        for spec in specs:
            f = judge(s, spec)
            if f is not None:
                out.append(f)
    return out
