"""Admin-equivalence as reachability (PMapper-style), not policy-by-policy matching.

A principal is *admin* if it has effective ``*`` or passes one of the self-escalation tests
(put/attach a policy on itself or its groups, new policy version of an attached customer
policy, join an admin group, create a role or user and give it a policy, remove its own
permissions boundary). It is *admin-equivalent* if it can reach an admin through edges:
take over a user (CreateAccessKey; CreateLoginProfile for a user without a console password,
UpdateLoginProfile for one with), assume a role (one shared "may assume" rule for trust-based
assumption and for rewriting the trust with UpdateAssumeRolePolicy), pass a role to compute it
creates (Lambda, EC2, Glue, CloudFormation, CodeBuild, ECS, SageMaker, ...), or take over compute
that already runs with a role (``EXISTING_METHODS``: update a Lambda function's code, run a command
on an SSM-managed instance, override a CodeBuild buildspec, ...). Existing resources come in as
``Workloads`` per account; a resource kind that could not be listed makes the answer unknown for
every principal that holds one of that kind's actions (never "no path").

Every verdict is tri-state: ``True`` (a path exists with no condition on it), ``None`` (a path
exists only through conditional statements, or the graph is incomplete), ``False`` (every modelled
edge kind was evaluated against every listed principal and resource, with no unknown on the way).
"""

from __future__ import annotations

import bisect
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from .iam import IamSnapshot, Principal
from .policy import Decision, PolicySet, Tri, parse_document

__all__ = ["AdminGraph", "Reach", "SERVICE_METHODS", "ESCALATION_ACTIONS", "EXISTING_METHODS", "Workload", "Workloads"]

# Existing compute that already runs with a role: kind -> (noun, alternative action sets). Every action of
# one set must be allowed on the resource (or on the ARN the workload names for that action).
EXISTING_METHODS: dict[str, tuple[str, tuple[tuple[str, ...], ...]]] = {
    "lambda-function": (
        "function",
        (
            ("lambda:UpdateFunctionCode",),
            ("lambda:UpdateFunctionConfiguration", "lambda:InvokeFunction"),
            ("lambda:UpdateFunctionConfiguration", "lambda:AddPermission"),
        ),
    ),
    "glue-dev-endpoint": ("Glue dev endpoint", (("glue:UpdateDevEndpoint",),)),
    "ssm-instance": ("SSM-managed instance", (("ssm:SendCommand",), ("ssm:StartSession",))),
    "ec2-instance": (
        "instance",
        (
            ("ec2-instance-connect:SendSSHPublicKey",),
            ("ec2:ModifyInstanceAttribute", "ec2:StopInstances", "ec2:StartInstances"),
        ),
    ),
    "cloudformation-stack": (
        "stack",
        (("cloudformation:UpdateStack",), ("cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet")),
    ),
    "sagemaker-notebook": ("notebook instance", (("sagemaker:CreatePresignedNotebookInstanceUrl",),)),
    "codebuild-project": ("project", (("codebuild:StartBuild",), ("codebuild:StartBuildBatch",))),
    "ecs-task": ("task", (("ecs:ExecuteCommand",),)),
    "ecs-task-definition": ("task definition", (("ecs:RunTask",), ("ecs:StartTask",))),
    "datapipeline": ("pipeline", (("datapipeline:PutPipelineDefinition", "datapipeline:ActivatePipeline"),)),
    "autoscaling-group": (
        "Auto Scaling group",
        (
            ("ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"),
            ("ec2:CreateLaunchTemplateVersion", "autoscaling:UpdateAutoScalingGroup"),
        ),
    ),
}


@dataclass(frozen=True)
class Workload:
    """One existing resource that runs with ``role_arn``."""

    kind: str  # a key of EXISTING_METHODS
    arn: str
    name: str
    role_arn: str
    arns: tuple[tuple[str, str], ...] = ()  # (action, ARN) where an action targets another resource
    note: str = ""  # e.g. "the ASG launches $Latest"


@dataclass
class Workloads:
    """The existing resources of one account; ``unlisted`` names each kind that could not be listed."""

    items: list[Workload] = field(default_factory=list)
    unlisted: dict[str, str] = field(default_factory=dict)  # kind -> why

    def by_kind(self) -> dict[str, list[Workload]]:
        out: dict[str, list[Workload]] = {}
        for w in self.items:
            out.setdefault(w.kind, []).append(w)
        return out


# (service principal, alternative action sets, how) - each set together with iam:PassRole on the role.
SERVICE_METHODS: tuple[tuple[str, tuple[tuple[str, ...], ...], str], ...] = (
    (
        "lambda.amazonaws.com",
        (
            ("lambda:CreateFunction", "lambda:InvokeFunction"),
            ("lambda:CreateFunction", "lambda:CreateEventSourceMapping"),
            ("lambda:CreateFunction", "lambda:AddPermission"),
        ),
        "create a Lambda function",
    ),
    ("ec2.amazonaws.com", (("ec2:RunInstances",),), "launch an EC2 instance"),
    (
        "ec2.amazonaws.com",
        (
            ("autoscaling:CreateAutoScalingGroup", "autoscaling:CreateLaunchConfiguration"),
            ("autoscaling:CreateAutoScalingGroup", "ec2:CreateLaunchTemplate"),
        ),
        "create an Auto Scaling group",
    ),
    (
        "glue.amazonaws.com",
        (
            ("glue:CreateDevEndpoint",),
            ("glue:CreateJob", "glue:StartJobRun"),
            ("glue:CreateSession", "glue:RunStatement"),
        ),
        "create a Glue endpoint/job",
    ),
    ("cloudformation.amazonaws.com", (("cloudformation:CreateStack",),), "create a CloudFormation stack"),
    (
        "datapipeline.amazonaws.com",
        (("datapipeline:CreatePipeline", "datapipeline:PutPipelineDefinition"),),
        "create a Data Pipeline",
    ),
    (
        "codebuild.amazonaws.com",
        (("codebuild:CreateProject", "codebuild:StartBuild"),),
        "create and run a CodeBuild project",
    ),
    (
        "ecs-tasks.amazonaws.com",
        (
            ("ecs:RegisterTaskDefinition", "ecs:RunTask"),
            ("ecs:RegisterTaskDefinition", "ecs:StartTask"),
            ("ecs:RegisterTaskDefinition", "ecs:CreateService"),
        ),
        "run an ECS task",
    ),
    (
        "sagemaker.amazonaws.com",
        (
            ("sagemaker:CreateNotebookInstance", "sagemaker:CreatePresignedNotebookInstanceUrl"),
            ("sagemaker:CreateTrainingJob",),
            ("sagemaker:CreateProcessingJob",),
        ),
        "create a SageMaker notebook/job",
    ),
    ("elasticmapreduce.amazonaws.com", (("elasticmapreduce:RunJobFlow",),), "run an EMR cluster"),
    (
        "states.amazonaws.com",
        (("states:CreateStateMachine", "states:StartExecution"),),
        "run a Step Functions state machine",
    ),
    ("tasks.apprunner.amazonaws.com", (("apprunner:CreateService",),), "create an App Runner service"),
)

# Actions that fail until the service's service-linked role exists: without it, iam:CreateServiceLinkedRole too.
SERVICE_LINKED_ROLES: dict[str, str] = {
    "autoscaling:CreateAutoScalingGroup": "AWSServiceRoleForAutoScaling",
    "ecs:CreateService": "AWSServiceRoleForECS",
    "elasticmapreduce:RunJobFlow": "AWSServiceRoleForEMRCleanup",
}


def _slr_needed(acts: tuple[str, ...], snap: IamSnapshot) -> tuple[str, ...]:
    names = {r.name for r in snap.roles.values()} if any(a in SERVICE_LINKED_ROLES for a in acts) else set()
    missing = [
        SERVICE_LINKED_ROLES[a] for a in acts if a in SERVICE_LINKED_ROLES and SERVICE_LINKED_ROLES[a] not in names
    ]
    return ("iam:CreateServiceLinkedRole",) if missing and snap.complete else ()


ESCALATION_ACTIONS: tuple[str, ...] = (
    "iam:PutUserPolicy",
    "iam:AttachUserPolicy",
    "iam:PutRolePolicy",
    "iam:AttachRolePolicy",
    "iam:PutGroupPolicy",
    "iam:AttachGroupPolicy",
    "iam:AddUserToGroup",
    "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion",
    "iam:CreateRole",
    "iam:CreateUser",
    "iam:CreateAccessKey",
    "iam:CreateLoginProfile",
    "iam:UpdateLoginProfile",
    "iam:UpdateAssumeRolePolicy",
    "sts:AssumeRole",
    "iam:PassRole",
    "iam:DeleteUserPermissionsBoundary",
    "iam:DeleteRolePermissionsBoundary",
    "iam:PutUserPermissionsBoundary",
    "iam:PutRolePermissionsBoundary",
    "iam:CreateInstanceProfile",
    "iam:AddRoleToInstanceProfile",
    "iam:CreateServiceLinkedRole",
) + tuple(sorted({a for _, alts in EXISTING_METHODS.values() for acts in alts for a in acts}))

_RANK = {True: 2, None: 1, False: 0}


def _min(a: Tri, b: Tri) -> Tri:
    return a if _RANK[a] <= _RANK[b] else b


@dataclass(frozen=True)
class Reach:
    verdict: Tri
    path: tuple[str, ...] = ()  # human-readable steps
    reason: str = ""


@dataclass(frozen=True)
class _Edge:
    to: Principal
    how: str
    verdict: Tri


class AdminGraph:
    def __init__(self, snapshots: Iterable[IamSnapshot], workloads: Mapping[str, Workloads] | None = None) -> None:
        self.snapshots = {s.account: s for s in snapshots}
        self.workloads: dict[str, Workloads] = dict(workloads or {})
        self._wl_index: dict[str, dict[str, _ArnIndex[Workload]]] = {
            a: {k: _ArnIndex(_by_arn(v)) for k, v in w.by_kind().items()} for a, w in self.workloads.items()
        }
        self._indexes: dict[tuple[str, str], _ArnIndex[Principal]] = {}
        self._lock = threading.Lock()
        self._admin: dict[str, Reach] = {}
        self._reach: dict[str, Reach] = {}
        self._edges: dict[str, list[_Edge]] = {}
        self._trust_arn: dict[str, list[tuple[Principal, bool]]] = {}
        self._trust_account: dict[str, list[tuple[Principal, bool]]] = {}
        self._trust_any: list[tuple[Principal, bool]] = []
        self._trust_service: dict[str, list[tuple[Principal, bool]]] = {}
        for snap in self.snapshots.values():
            for r in snap.roles.values():
                self._index_trust(r)

    def _memo(self, cache: dict[str, _V], p: Principal, compute: Callable[[Principal], _V]) -> _V:
        """``compute(p)`` once per principal ARN (computed outside the lock; the last writer wins)."""
        hit = cache.get(p.arn)
        if hit is not None:
            return hit
        value = compute(p)
        with self._lock:
            cache[p.arn] = value
        return value

    def _index(self, kind: str, account: str, items: Mapping[str, Principal]) -> _ArnIndex[Principal]:
        key = (kind, account)
        idx = self._indexes.get(key)
        if idx is None or idx.items is not items:
            idx = _ArnIndex(items)
            with self._lock:
                self._indexes[key] = idx
        return idx

    # ---- trust index --------------------------------------------------------------------------
    def _index_trust(self, role: Principal) -> None:
        for kind, values, conditional in _trust_entries(role.trust):
            entry = (role, conditional)
            for v in values:
                if kind == "AWS":
                    if v == "*":
                        self._trust_any.append(entry)
                    elif v.isdigit() and len(v) == 12:
                        self._trust_account.setdefault(v, []).append(entry)
                    elif v.endswith(":root"):
                        self._trust_account.setdefault(v.split(":")[4], []).append(entry)
                    else:
                        self._trust_arn.setdefault(v, []).append(entry)
                elif kind == "Service":
                    self._trust_service.setdefault(v, []).append(entry)

    def trusting_roles(self, account: str, arn: str | None) -> dict[str, list[str]]:
        """Roles in *other* accounts whose trust policy admits this account or principal."""
        out: dict[str, list[str]] = {}
        entries = list(self._trust_account.get(account, [])) + list(self._trust_any)
        if arn:
            entries += self._trust_arn.get(arn, [])
        for role, _ in entries:
            if role.account != account:
                out.setdefault(role.account, []).append(role.ref)
        return out

    def _snap(self, p: Principal) -> IamSnapshot:
        return self.snapshots[p.account]

    def ps(self, p: Principal) -> PolicySet:
        return self._snap(p).policyset(p)

    # ---- admin tests on the principal itself -----------------------------------------------------
    def admin(self, p: Principal) -> Reach:
        return self._memo(self._admin, p, self._admin_uncached)

    def _admin_uncached(self, p: Principal) -> Reach:
        if p.kind == "root":
            return Reach(True, (), "root user of the account")
        snap = self._snap(p)
        ps = self.ps(p)
        star, why = ps.star()
        if star is True:
            return Reach(True, (), f"effective * on * ({why})")
        best = Reach(None, (), f"possibly * on * ({why})") if star is None else Reach(False, (), why)
        acct = p.account
        tests: list[tuple[str, Decision]] = []
        bounded = p.boundary is not None
        if not bounded:
            if p.kind == "user":
                tests.append(("iam:PutUserPolicy on itself", ps.decide("iam:PutUserPolicy", p.arn)))
                tests.append(("iam:AttachUserPolicy on itself", ps.decide("iam:AttachUserPolicy", p.arn)))
                for g in p.groups:
                    garn = (
                        snap.groups[g].arn
                        if g in snap.groups and snap.groups[g].arn
                        else f"arn:aws:iam::{acct}:group/{g}"
                    )
                    tests.append((f"iam:PutGroupPolicy on its group {g}", ps.decide("iam:PutGroupPolicy", garn)))
                    tests.append((f"iam:AttachGroupPolicy on its group {g}", ps.decide("iam:AttachGroupPolicy", garn)))
            elif p.kind == "role":
                tests.append(("iam:PutRolePolicy on itself", ps.decide("iam:PutRolePolicy", p.arn)))
                tests.append(("iam:AttachRolePolicy on itself", ps.decide("iam:AttachRolePolicy", p.arn)))
            attached = list(p.managed)
            for g in p.groups:
                if g in snap.groups:
                    attached += snap.groups[g].managed
            for arn in dict.fromkeys(attached):
                mp = snap.policies.get(arn)
                if mp is None or mp.aws_managed:
                    continue
                tests.append(
                    (
                        f"iam:CreatePolicyVersion on its attached policy {mp.name}",
                        ps.decide("iam:CreatePolicyVersion", arn),
                    )
                )
                for vid, doc in mp.versions.items():
                    if vid != mp.default_version and PolicySet(parse_document(doc, mp.name)).star()[0]:
                        tests.append(
                            (
                                f"iam:SetDefaultPolicyVersion to admin version {vid} of {mp.name}",
                                ps.decide("iam:SetDefaultPolicyVersion", arn),
                            )
                        )
            if p.kind == "user" and ps.decide("iam:AddUserToGroup", None).verdict is not False:
                for grp in snap.groups.values():
                    if grp.name in p.groups or not grp.arn:
                        continue
                    d = ps.decide("iam:AddUserToGroup", grp.arn)
                    if d.verdict is False:
                        continue
                    joined = self._member_admin(p, snap, ps, grp.name)
                    if joined.verdict is not False:
                        tests.append(
                            (
                                f"iam:AddUserToGroup into admin group {grp.name} (as a member: {joined.reason})",
                                Decision(_min(d.verdict, joined.verdict), d.reason, d.origin),
                            )
                        )
                    else:
                        mod = ps.decide_any(("iam:PutGroupPolicy", "iam:AttachGroupPolicy"), grp.arn)
                        tests.append(
                            (
                                f"iam:AddUserToGroup into group {grp.name} + put/attach a policy on it",
                                Decision(_min(d.verdict, mod.verdict), mod.reason, mod.origin),
                            )
                        )
        new_role = f"arn:aws:iam::{acct}:role/blastwall-any-new-role"
        d_cr = ps.decide("iam:CreateRole", new_role)
        if d_cr.verdict is not False:
            d_at = ps.decide_any(("iam:AttachRolePolicy", "iam:PutRolePolicy"), new_role)
            tests.append(
                (
                    "iam:CreateRole + attach/put an admin policy on the new role",
                    Decision(_min(d_cr.verdict, d_at.verdict), d_at.reason, d_at.origin),
                )
            )
        new_user = f"arn:aws:iam::{acct}:user/blastwall-any-new-user"
        d_cu = ps.decide("iam:CreateUser", new_user)
        if d_cu.verdict is not False:
            d_at = ps.decide_any(("iam:AttachUserPolicy", "iam:PutUserPolicy"), new_user)
            d_k = ps.decide("iam:CreateAccessKey", new_user)
            tests.append(
                (
                    "iam:CreateUser + attach/put a policy + iam:CreateAccessKey on the new user",
                    Decision(_min(_min(d_cu.verdict, d_at.verdict), d_k.verdict), d_at.reason, d_at.origin),
                )
            )
        if bounded:
            unb = ps.without_boundary()
            ustar = unb.star()[0]
            if ustar is not False:
                act = "iam:DeleteUserPermissionsBoundary" if p.kind == "user" else "iam:DeleteRolePermissionsBoundary"
                d = ps.decide(act, p.arn)
                tests.append(
                    (
                        f"{act} on itself (its identity policies alone are admin)",
                        Decision(_min(d.verdict, ustar), d.reason, d.origin),
                    )
                )
        for how, d in tests:
            if d.verdict is True:
                return Reach(True, (f"{how} (allowed by {d.origin})",), f"{how} ({d.origin})")
            if d.verdict is None and best.verdict is False:
                best = Reach(
                    None, (f"{how} (only under a condition: {d.origin})",), f"{how} only under a condition ({d.origin})"
                )
        return best

    def _member_admin(self, p: Principal, snap: IamSnapshot, ps: PolicySet, group: str) -> Reach:
        """Would ``p`` be admin as a member of ``group``? The combined policies are evaluated (effective
        ``*``, or a self-escalation its new permissions allow), not matched against a literal ``*``."""
        extra = snap.group_policyset(group).identity
        combined = PolicySet(ps.identity + extra, ps.boundary, ps.boundary_name, dict(ps.variables), list(ps.org))
        star, why = combined.star()
        if star is not False:
            return Reach(star, (), f"effective * on * ({why})")
        garn = snap.groups[group].arn or f"arn:aws:iam::{p.account}:group/{group}"
        best = Reach(False, (), "")
        for how, d in (
            ("iam:PutUserPolicy on itself", combined.decide("iam:PutUserPolicy", p.arn)),
            ("iam:AttachUserPolicy on itself", combined.decide("iam:AttachUserPolicy", p.arn)),
            (f"iam:PutGroupPolicy on {group}", combined.decide("iam:PutGroupPolicy", garn)),
            (f"iam:AttachGroupPolicy on {group}", combined.decide("iam:AttachGroupPolicy", garn)),
        ):
            if d.verdict is True:
                return Reach(True, (), f"{how} ({d.origin})")
            if d.verdict is None and best.verdict is False:
                best = Reach(None, (), f"{how} only under a condition ({d.origin})")
        if p.boundary is None:
            new_user = f"arn:aws:iam::{p.account}:user/blastwall-any-new-user"
            d = combined.decide_all(("iam:CreateUser", "iam:AttachUserPolicy", "iam:CreateAccessKey"), new_user)
            if d.verdict is not False and best.verdict is False:
                best = Reach(d.verdict, (), f"iam:CreateUser + attach a policy + access key ({d.origin})")
        return best

    # ---- the shared "may assume" rule ------------------------------------------------------------
    def may_assume(self, p: Principal, role: Principal, *, names_principal: bool, conditional: bool) -> Decision:
        """May ``p`` assume ``role`` given a trust statement that admits it? In the role's own account a
        trust policy that names the principal itself needs no identity permission; otherwise (account
        root, another account, ``*``) the principal's identity policies must allow sts:AssumeRole too.
        Used for existing trust and for a trust ``p`` rewrites with iam:UpdateAssumeRolePolicy."""
        cond: Tri = None if conditional else True
        if names_principal and role.account == p.account:
            return Decision(cond, f"its trust policy names {p.ref}", "trust policy")
        d = self.ps(p).decide("sts:AssumeRole", role.arn)
        if d.verdict is False:
            return d
        return Decision(_min(d.verdict, cond), f"{d.origin}; admitted by its trust policy", d.origin)

    # ---- what could not be evaluated -------------------------------------------------------------
    def unknowns(self, p: Principal) -> list[str]:
        """Why an absent path may still exist for ``p``: existing-resource kinds it holds actions for that
        could not be listed. Empty when every modelled edge kind was evaluated."""
        if p.kind == "root":
            return []
        ps = self.ps(p)
        wl = self.workloads.get(p.account)
        out: list[str] = []
        for kind, (noun, alts) in EXISTING_METHODS.items():
            if wl is not None and kind not in wl.unlisted:
                continue
            held = [acts[0] for acts in alts if all(ps.decide(a, None).verdict is not False for a in acts)]
            if not held:
                continue
            why = wl.unlisted[kind] if wl is not None else "the account's existing resources were not listed"
            out.append(f"{noun}s could not be listed ({why}) and {p.ref} holds {held[0]}")
        return out

    # ---- edges to other principals ---------------------------------------------------------------
    def edges(self, p: Principal) -> list[_Edge]:
        return self._memo(self._edges, p, self._edges_uncached)

    def _edges_uncached(self, p: Principal) -> list[_Edge]:
        out: list[_Edge] = []
        if p.kind == "root":
            return out
        ps = self.ps(p)
        has = {
            a: ps.decide(a, None).verdict is not False
            for a in (
                "iam:CreateAccessKey",
                "iam:CreateLoginProfile",
                "iam:UpdateLoginProfile",
                "sts:AssumeRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:PassRole",
            )
        }
        snap = self._snap(p)
        if has["iam:CreateAccessKey"] or has["iam:CreateLoginProfile"] or has["iam:UpdateLoginProfile"]:
            for snap2 in self.snapshots.values():
                if snap2.account != p.account:
                    continue
                for q in self._index("users", snap2.account, snap2.users).candidates(
                    ps, ("iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile")
                ):
                    if q.arn == p.arn:
                        continue
                    for act, how in (
                        ("iam:CreateAccessKey", "create an access key for"),
                        ("iam:CreateLoginProfile", "create a console password for"),
                        ("iam:UpdateLoginProfile", "reset the console password of"),
                    ):
                        if not has[act]:
                            continue
                        # A user with a console password cannot get a second one; one without has none to reset.
                        if act == "iam:CreateLoginProfile" and q.login_profile is True:
                            continue
                        if act == "iam:UpdateLoginProfile" and q.login_profile is False:
                            continue
                        d = ps.decide(act, q.arn)
                        if d.verdict is not False:
                            out.append(_Edge(q, f"{act}: {how} {q.ref}", d.verdict))
                            if d.verdict is True:
                                break
        # Assume roles whose trust policy admits this principal.
        cand: list[tuple[Principal, bool, bool]] = []  # role, conditional, trust names the principal itself
        for role, cond in self._trust_arn.get(p.arn, []):
            cand.append((role, cond, True))
        for role, cond in self._trust_account.get(p.account, []):
            cand.append((role, cond, False))
        for role, _cond in self._trust_any:
            cand.append((role, True, False))
        seen: set[str] = set()
        for role, cond, direct in cand:
            if role.arn == p.arn or role.arn in seen:
                continue
            seen.add(role.arn)
            d = self.may_assume(p, role, names_principal=direct, conditional=cond)
            if d.verdict is not False:
                out.append(_Edge(role, f"sts:AssumeRole into {role.ref} ({d.reason})", d.verdict))
        if has["iam:UpdateAssumeRolePolicy"]:
            for q in self._index("roles", snap.account, snap.roles).candidates(ps, ("iam:UpdateAssumeRolePolicy",)):
                if q.arn == p.arn or q.arn in seen:
                    continue
                d = ps.decide("iam:UpdateAssumeRolePolicy", q.arn)
                if d.verdict is False:
                    continue
                # It writes a trust statement naming itself, then assumes the role under the shared rule.
                d2 = self.may_assume(p, q, names_principal=True, conditional=False)
                if d2.verdict is False:
                    continue
                out.append(
                    _Edge(
                        q,
                        f"iam:UpdateAssumeRolePolicy on {q.ref} (names itself in the trust policy, "
                        f"then sts:AssumeRole: {d2.reason})",
                        _min(d.verdict, d2.verdict),
                    )
                )
        if has["iam:PassRole"]:
            methods: list[tuple[str, Tri, str]] = []
            for svc, alternatives, how in SERVICE_METHODS:
                best: Tri = False
                label = ""
                for acts in alternatives:
                    acts = acts + _slr_needed(acts, snap)
                    v2 = ps.decide_all(acts, None).verdict
                    if _RANK[v2] > _RANK[best]:
                        best, label = v2, " + ".join(acts)
                if best is not False:
                    methods.append((svc, best, f"{label} ({how})"))
            if methods:
                for q in self._index("roles", snap.account, snap.roles).candidates(ps, ("iam:PassRole",)):
                    if q.arn == p.arn:
                        continue
                    for svc, v3, label in methods:
                        trusted = [c for r, c in self._trust_service.get(svc, []) if r.arn == q.arn]
                        if not trusted:
                            continue
                        d = ps.decide("iam:PassRole", q.arn, {"iam:passedtoservice": svc})
                        if d.verdict is False:
                            continue
                        v4 = _min(_min(d.verdict, v3), None if all(trusted) else True)
                        if svc == "ec2.amazonaws.com" and not q.instance_profiles:
                            ip = ps.decide_all(("iam:CreateInstanceProfile", "iam:AddRoleToInstanceProfile"), None)
                            if ip.verdict is False:
                                continue
                            v4 = _min(v4, ip.verdict)
                        out.append(_Edge(q, f"iam:PassRole on {q.ref} + {label}", v4))
                        break
        out += self._existing_edges(p, ps, snap)
        return out

    def _existing_edges(self, p: Principal, ps: PolicySet, snap: IamSnapshot) -> list[_Edge]:
        """Take over compute that already runs with a role: one edge per listed resource whose role it reaches."""
        out: list[_Edge] = []
        index = self._wl_index.get(p.account)
        if not index:
            return out
        for kind, (noun, alts) in EXISTING_METHODS.items():
            idx = index.get(kind)
            if idx is None:
                continue
            usable = [acts for acts in alts if all(ps.decide(a, None).verdict is not False for a in acts)]
            if not usable:
                continue
            # Resources whose actions target another ARN (an ASG's launch template) are all candidates.
            items = (
                list(idx.items.values())
                if idx.other_arns
                else idx.candidates(ps, tuple(dict.fromkeys(a for acts in usable for a in acts)))
            )
            done: set[str] = set()  # one edge per role and kind: the first resource that reaches it unconditionally
            for w in items:
                role = snap.roles.get(w.role_arn)
                if role is None or role.arn == p.arn or role.arn in done:
                    continue
                on = dict(w.arns)
                best: Tri = False
                label = ""
                for acts in usable:
                    v: Tri = True
                    for a in acts:
                        v = _min(v, ps.decide(a, on.get(a, w.arn)).verdict)
                        if v is False:
                            break
                    if _RANK[v] > _RANK[best]:
                        best, label = v, " + ".join(acts)
                    if best is True:
                        break
                if best is True:
                    done.add(role.arn)
                if best is not False:
                    note = f"; {w.note}" if w.note else ""
                    out.append(_Edge(role, f"{label} on {noun} {w.name} (runs as {role.ref}{note})", best))
        return out

    def can_modify(self, p: Principal, q: Principal) -> Decision:
        ps = self.ps(p)
        if q.boundary is not None:
            return Decision(False, f"{q.ref} has a permissions boundary")
        if q.kind == "user":
            return ps.decide_any(("iam:AttachUserPolicy", "iam:PutUserPolicy"), q.arn)
        if q.kind == "role":
            return ps.decide_any(("iam:AttachRolePolicy", "iam:PutRolePolicy"), q.arn)
        return Decision(False, "")

    # ---- reachability ----------------------------------------------------------------------------
    def reach(self, start: Principal, max_nodes: int = 5000) -> Reach:
        """Can ``start`` become admin? Best path first: unconditional beats conditional. Results are cached per
        principal, and a search that meets a principal already answered uses that answer instead of searching
        on: the total work over all principals stays near-linear in the number of edges."""
        return self._memo(self._reach, start, lambda p: self._reach_uncached(p, max_nodes))

    def _answers(
        self, node: Principal, to: Principal, v: Tri, step: tuple[str, ...], known: list[Reach | None]
    ) -> Iterator[Reach]:
        """The ways the hop ``node`` → ``to`` (reached with verdict ``v`` along ``step``) ends at admin, asked
        lazily in order: ``to`` is admin, ``node`` can make it admin, ``to`` was answered before (that answer,
        or None, is appended to ``known``)."""
        adm = self.admin(to)
        if adm.verdict is not False:
            yield Reach(_min(v, adm.verdict), step + (f"{to.ref} is admin: {adm.reason}",), "")
        mod = self.can_modify(node, to)
        if mod.verdict is not False:
            yield Reach(
                _min(v, mod.verdict), step + (f"{node.ref} can give {to.ref} an admin policy ({mod.origin})",), ""
            )
        hit = self._reach.get(to.arn)
        known.append(hit)
        if hit is not None and hit.verdict is not False:
            yield Reach(_min(v, hit.verdict), step + hit.path, hit.reason)

    def _reach_uncached(self, start: Principal, max_nodes: int) -> Reach:
        a = self.admin(start)
        if a.verdict is True:
            return a
        best = a if a.verdict is None else Reach(False, (), a.reason)
        unknown: list[str] = []
        visited: set[str] = set()
        truncated = False
        for allow_conditional in (False, True):
            queue: deque[tuple[Principal, tuple[str, ...], Tri]] = deque([(start, (), True)])
            seen = {start.arn}
            while queue:
                if len(seen) >= max_nodes:
                    truncated = True
                    break
                node, path, v = queue.popleft()
                if node.arn not in visited:
                    visited.add(node.arn)
                    unknown += self.unknowns(node)
                for e in self.edges(node):
                    if e.verdict is None and not allow_conditional:
                        continue
                    if e.to.arn in seen:
                        continue
                    seen.add(e.to.arn)
                    v2 = _min(v, e.verdict)
                    step = path + (f"{node.ref} → {e.to.ref} via {e.how}",)
                    known: list[Reach | None] = []
                    for r in self._answers(node, e.to, v2, step, known):
                        if r.verdict is True:
                            return r
                        if best.verdict is False:
                            best = r
                    if known[0] is not None:  # answered before: its verdict covers everything beyond it
                        continue
                    queue.append((e.to, step, v2))
        if best.verdict is False and (unknown or truncated):
            why = list(dict.fromkeys(unknown))
            if truncated:
                why.append(f"the search stopped after {max_nodes} principals")
            return Reach(None, (), "not determined: " + "; ".join(why[:4]) + (" …" if len(why) > 4 else ""))
        return best


T = TypeVar("T")
_V = TypeVar("_V")


class _ArnIndex(Generic[T]):
    """Items by ARN, sorted, so that the ARNs an Allow's resource pattern can match are found by the pattern's
    literal prefix (bisect) instead of by scanning every item: a principal scoped to itself or to
    ``function:team-3-*`` costs O(log n + matches), not O(n)."""

    def __init__(self, items: Mapping[str, T]) -> None:
        self.items = items
        self.keys = sorted(items)
        self.other_arns = any(bool(getattr(v, "arns", ())) for v in items.values())

    def candidates(self, ps: PolicySet, actions: tuple[str, ...]) -> list[T]:
        from .policy import _substitute

        found: dict[str, None] = {}
        for a in actions:
            for st in ps._view(a).allows:
                if st.not_resource:
                    return list(self.items.values())
                for r in st.resources:
                    pat, _ = _substitute(r, ps.variables)  # an unknown variable becomes "*"
                    cut = min([i for i in (pat.find("*"), pat.find("?")) if i >= 0], default=len(pat))
                    prefix = pat[:cut]
                    if not prefix:
                        return list(self.items.values())
                    i = bisect.bisect_left(self.keys, prefix)
                    while i < len(self.keys) and self.keys[i].startswith(prefix):
                        found[self.keys[i]] = None
                        i += 1
        return [self.items[k] for k in found]


def _by_arn(items: list[Workload]) -> dict[str, Workload]:
    out: dict[str, Workload] = {}
    for w in items:
        out.setdefault(f"{w.arn}#{w.role_arn}", w)  # one resource may run with several roles (pipelines)
    return out


def _trust_entries(trust: object) -> list[tuple[str, list[str], bool]]:
    """(principal type, values, conditional) of each Allow statement of a trust policy that grants
    sts:AssumeRole. Deny statements in trust policies are not modelled (documented limit)."""
    import json

    if isinstance(trust, str):
        try:
            trust = json.loads(trust)
        except ValueError:
            return []
    doc = trust if isinstance(trust, dict) else {}
    raw = doc.get("Statement", [])
    if isinstance(raw, dict):
        raw = [raw]
    out: list[tuple[str, list[str], bool]] = []
    for s in raw if isinstance(raw, list) else []:
        if not isinstance(s, dict) or str(s.get("Effect", "Allow")).capitalize() != "Allow":
            continue
        acts = s.get("Action", [])
        acts = [acts] if isinstance(acts, str) else list(acts or [])
        if not any(str(a).lower() in ("sts:assumerole", "sts:*", "*", "sts:assume*") for a in acts):
            continue
        cond = bool(s.get("Condition"))
        pr = s.get("Principal")
        if pr == "*":
            out.append(("AWS", ["*"], cond))
            continue
        if isinstance(pr, dict):
            for k, v in pr.items():
                out.append((k, [v] if isinstance(v, str) else [str(x) for x in v], cond))
    return out
