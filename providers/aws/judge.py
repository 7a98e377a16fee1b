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
from .policy import PolicySet, ResourcePolicy, Tri

__all__ = ["Step", "DestroySpec", "Subject", "judge", "judge_all"]

_RANK = {True: 2, None: 1, False: 0}


@dataclass(frozen=True)
class Step:
    actions: tuple[str, ...]
    arn: str
    policy: ResourcePolicy | None = None  # a resource policy of this step's target (e.g. a KMS key policy)


@dataclass(frozen=True)
class DestroySpec:
    target: str  # Resource.id or Backup.id
    account: str
    paths: tuple[tuple[Step, ...], ...] = ()
    capability: str | None = None
    fixed: tuple[Tri, str] | None = None  # same verdict for every principal (e.g. compliance lock)
    notes: tuple[str, ...] = ()  # appended to the reason (e.g. "Recycle Bin rules could not be read")
    resource_policies: tuple[ResourcePolicy, ...] = ()  # bucket / vault access / key policies on the target


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
    cache: dict[tuple[tuple[str, ...], str, int], tuple[Tri, str]] = field(default_factory=dict)


def _step(s: Subject, st: Step, rps: tuple[ResourcePolicy, ...] = ()) -> tuple[Tri, str]:
    spec_rps = rps
    key = (st.actions, st.arn, id(st.policy) if st.policy is not None else 0)
    hit = s.cache.get(key) if not spec_rps else None
    if hit is not None:
        return hit
    assert s.ps is not None
    d = s.ps.decide_any(st.actions, st.arn)
    out = (d.verdict, d.reason)
    if st.policy is not None:
        rps = rps + (st.policy,)
    if rps:
        out = _with_resource_policies(s, st, rps, out, admin=False)
        if not spec_rps:
            s.cache[key] = out  # only the step's own policy: the same for every spec
    else:
        s.cache[key] = out
    return out


def _with_resource_policies(
    s: Subject, st: Step, rps: tuple[ResourcePolicy, ...], base: tuple[Tri, str], *, admin: bool
) -> tuple[Tri, str]:
    """Resource policies on the target: a Deny naming the principal wins over everything (admins and root
    included); an Allow naming it grants what its identity policies do not (same account, unless an
    organization policy forbids it)."""
    arn = s.principal.arn if s.principal is not None else None
    account = s.account or ""
    best = base
    for a in st.actions:
        v: tuple[Tri, str] = base
        for rp in rps:
            if rp.delegating and v[0] is not False and not rp.delegates(arn, account, a, st.arn):
                v = (
                    False,
                    f"{a}: the {rp.name} does not let IAM policies of account {account} or "
                    f"{arn or 'this principal'} use it",
                )
                break
            r = rp.decide(arn, account, a, st.arn)
            if r is None:
                continue
            if r[0] is False:
                v = r
                break
            if r[0] is None and v[0] is not False:
                v = (None, r[1])
            elif (
                r[0] is True
                and v[0] is False
                and not admin
                and s.ps is not None
                and s.ps.org_decide(a, st.arn).verdict is not False
            ):
                v = r
        if _RANK[v[0]] > _RANK[best[0]] or best is base:
            best = v
        if best[0] is True:
            break
    return best


def _org_and_resource_paths(s: Subject, spec: DestroySpec) -> tuple[Tri, str]:
    """For an admin-equivalent or root principal: what the organization's policies and the target's resource
    policies leave of the destroy paths (True when nothing restricts them)."""
    best: Tri = False
    best_why = ""
    for steps in spec.paths:
        v: Tri = True
        whys = []
        for st in steps:
            if s.ps is not None and s.ps.org:
                d = s.ps.org_decide_any(st.actions, st.arn)
                base: tuple[Tri, str] = (d.verdict, d.reason)
            else:
                base = (True, "")
            rps = spec.resource_policies + ((st.policy,) if st.policy is not None else ())
            if base[0] is not False and rps:
                base = _with_resource_policies(s, st, rps, base, admin=True)
            if _RANK[base[0]] < _RANK[v]:
                v = base[0]
            if base[1]:
                whys.append(base[1])
            if base[0] is False:
                break
        if _RANK[v] > _RANK[best] or not best_why:
            best, best_why = v, "; ".join(whys)
        if best is True:
            break
    return best, best_why


def _cross_account_grant(s: Subject, spec: DestroySpec) -> tuple[Tri, str] | None:
    """A resource policy on the target that grants this other account's principal (by ARN, account or
    ``*``) every step of a destroy path: then it can, if its own identity policies allow the steps too."""
    if spec.fixed is not None or not spec.resource_policies or s.ps is None:
        return None
    arn = s.principal.arn if s.principal is not None else None
    best: tuple[Tri, str] | None = None
    for steps in spec.paths:
        v: Tri = True
        whys: list[str] = []
        for st in steps:
            granted = False
            for rp in spec.resource_policies:
                for stmt, principals in rp.statements:
                    if (
                        stmt.allow
                        and any(stmt.matches_action(a.lower()) for a in st.actions)
                        and stmt.matches_resource(st.arn, {})[0]
                        and any(p in ("*", s.account, f"arn:aws:iam::{s.account}:root") or p == arn for p in principals)
                    ):
                        granted = True
                        v = None if stmt.conditional and v is True else v
                        whys.append(f"the {rp.name} grants {' / '.join(st.actions)} to account {s.account}")
                        break
                if granted:
                    break
            d = s.ps.decide_any(st.actions, st.arn)
            if not granted or d.verdict is False:
                v = False
                break
            if d.verdict is None and v is True:
                v = None
            whys.append(d.reason)
        if v is not False and (best is None or (v is True and best[0] is not True)):
            best = (v, f"credential of AWS account {s.account}; " + "; ".join(whys))
    return best


def judge(s: Subject, spec: DestroySpec) -> DestroyFact | None:
    def fact(v: Tri, reason: str) -> DestroyFact:
        if spec.notes:
            reason = reason + " " + " ".join(spec.notes)
        return DestroyFact(
            credential=s.cred_id, target=spec.target, verdict=v, reason=reason, capability=spec.capability
        )

    if s.account is None:
        return None
    if s.account != spec.account:
        granted = _cross_account_grant(s, spec)
        if granted is not None:
            return fact(*granted)
        roles = s.cross_account.get(spec.account)
        if roles:
            return fact(
                None,
                f"credential of AWS account {s.account}; roles in account {spec.account} trust it "
                f"({', '.join(roles[:3])}): what it can do there through them is not determined",
            )
        return fact(
            False,
            f"credential of AWS account {s.account}; target in account {spec.account}, where no "
            "readable role trusts it",
        )
    if spec.fixed is not None:
        return fact(*spec.fixed)
    restricted = bool(spec.paths) and (
        bool(spec.resource_policies)
        or (s.ps is not None and bool(s.ps.org))
        or any(st.policy is not None for p in spec.paths for st in p)
    )
    if s.is_root or (s.admin is not None and s.admin.verdict is True):
        short = "root user of the account" if s.is_root else "admin-equivalent"
        who = (
            "root user of the account: IAM policies cannot restrict it"
            if s.is_root
            else "admin-equivalent ("
            + (" → ".join(s.admin.path) if s.admin and s.admin.path else s.admin.reason if s.admin else "")
            + ")"
        )
        if not restricted:
            return fact(True, who)
        v, why = _org_and_resource_paths(s, spec)
        if v is True:
            return fact(True, who)
        if v is None:
            return fact(None, f"{who}, but a policy on the target or the organization may stop it: {why}")
        return fact(False, f"{short}, but {why}")
    if s.ps is None:
        return fact(None, f"not determined: {s.unknown_reason}")
    best: Tri = False
    best_reason = ""
    for path in spec.paths:
        v = True
        reasons: list[str] = []
        for st in path:
            sv, why = _step(s, st, spec.resource_policies)
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
