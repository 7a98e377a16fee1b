"""Admin-equivalence as reachability (PMapper-style), not policy-by-policy matching.

A principal is *admin* if it has effective ``*`` or passes one of the self-escalation tests
(put/attach a policy on itself or its groups, new policy version of an attached customer
policy, join an admin group, create a role or user and give it a policy, remove its own
permissions boundary). It is *admin-equivalent* if it can reach an admin through edges:
take over a user (CreateAccessKey / CreateLoginProfile / UpdateLoginProfile), assume a role
(trust + sts:AssumeRole, or rewrite the trust with UpdateAssumeRolePolicy), or pass a role to
compute it creates (Lambda, EC2, Glue, CloudFormation, CodeBuild, ECS, SageMaker, ...).

Every verdict is tri-state: ``True`` (a path exists with no condition on it), ``None`` (a path
exists only through conditional statements, or the graph is incomplete), ``False``.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from .iam import IamSnapshot, Principal
from .policy import Decision, PolicySet, Tri, parse_document

__all__ = ["AdminGraph", "Reach", "SERVICE_METHODS", "ESCALATION_ACTIONS"]

# (service principal, alternative action sets, how) - each set together with iam:PassRole on the role.
SERVICE_METHODS: tuple[tuple[str, tuple[tuple[str, ...], ...], str], ...] = (
    ("lambda.amazonaws.com", (("lambda:CreateFunction", "lambda:InvokeFunction"),
                              ("lambda:CreateFunction", "lambda:CreateEventSourceMapping"),
                              ("lambda:CreateFunction", "lambda:AddPermission")), "create a Lambda function"),
    ("ec2.amazonaws.com", (("ec2:RunInstances",),), "launch an EC2 instance"),
    ("ec2.amazonaws.com", (("autoscaling:CreateAutoScalingGroup", "autoscaling:CreateLaunchConfiguration"),
                           ("autoscaling:CreateAutoScalingGroup", "ec2:CreateLaunchTemplate")),
     "create an Auto Scaling group"),
    ("glue.amazonaws.com", (("glue:CreateDevEndpoint",), ("glue:CreateJob", "glue:StartJobRun"),
                            ("glue:CreateSession", "glue:RunStatement")), "create a Glue endpoint/job"),
    ("cloudformation.amazonaws.com", (("cloudformation:CreateStack",),), "create a CloudFormation stack"),
    ("datapipeline.amazonaws.com", (("datapipeline:CreatePipeline", "datapipeline:PutPipelineDefinition"),),
     "create a Data Pipeline"),
    ("codebuild.amazonaws.com", (("codebuild:CreateProject", "codebuild:StartBuild"),),
     "create and run a CodeBuild project"),
    ("ecs-tasks.amazonaws.com", (("ecs:RegisterTaskDefinition", "ecs:RunTask"),
                                 ("ecs:RegisterTaskDefinition", "ecs:StartTask"),
                                 ("ecs:RegisterTaskDefinition", "ecs:CreateService")), "run an ECS task"),
    ("sagemaker.amazonaws.com", (("sagemaker:CreateNotebookInstance", "sagemaker:CreatePresignedNotebookInstanceUrl"),
                                 ("sagemaker:CreateTrainingJob",), ("sagemaker:CreateProcessingJob",)),
     "create a SageMaker notebook/job"),
    ("elasticmapreduce.amazonaws.com", (("elasticmapreduce:RunJobFlow",),), "run an EMR cluster"),
    ("states.amazonaws.com", (("states:CreateStateMachine", "states:StartExecution"),), "run a Step Functions state machine"),
    ("tasks.apprunner.amazonaws.com", (("apprunner:CreateService",),), "create an App Runner service"),
)

ESCALATION_ACTIONS: tuple[str, ...] = (
    "iam:PutUserPolicy", "iam:AttachUserPolicy", "iam:PutRolePolicy", "iam:AttachRolePolicy",
    "iam:PutGroupPolicy", "iam:AttachGroupPolicy", "iam:AddUserToGroup", "iam:CreatePolicyVersion",
    "iam:SetDefaultPolicyVersion", "iam:CreateRole", "iam:CreateUser", "iam:CreateAccessKey",
    "iam:CreateLoginProfile", "iam:UpdateLoginProfile", "iam:UpdateAssumeRolePolicy", "sts:AssumeRole",
    "iam:PassRole", "iam:DeleteUserPermissionsBoundary", "iam:DeleteRolePermissionsBoundary",
    "iam:PutUserPermissionsBoundary", "iam:PutRolePermissionsBoundary", "iam:CreateInstanceProfile",
    "iam:AddRoleToInstanceProfile",
)

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
    def __init__(self, snapshots: Iterable[IamSnapshot]) -> None:
        self.snapshots = {s.account: s for s in snapshots}
        self._lock = threading.Lock()
        self._admin: dict[str, Reach] = {}
        self._edges: dict[str, list[_Edge]] = {}
        self._trust_arn: dict[str, list[tuple[Principal, bool]]] = {}
        self._trust_account: dict[str, list[tuple[Principal, bool]]] = {}
        self._trust_any: list[tuple[Principal, bool]] = []
        self._trust_service: dict[str, list[tuple[Principal, bool]]] = {}
        for snap in self.snapshots.values():
            for r in snap.roles.values():
                self._index_trust(r)

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
        hit = self._admin.get(p.arn)
        if hit is not None:
            return hit
        r = self._admin_uncached(p)
        with self._lock:
            self._admin[p.arn] = r
        return r

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
                    garn = snap.groups[g].arn if g in snap.groups and snap.groups[g].arn else \
                        f"arn:aws:iam::{acct}:group/{g}"
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
                tests.append((f"iam:CreatePolicyVersion on its attached policy {mp.name}",
                              ps.decide("iam:CreatePolicyVersion", arn)))
                for vid, doc in mp.versions.items():
                    if vid != mp.default_version and PolicySet(parse_document(doc, mp.name)).star()[0]:
                        tests.append((f"iam:SetDefaultPolicyVersion to admin version {vid} of {mp.name}",
                                      ps.decide("iam:SetDefaultPolicyVersion", arn)))
            if p.kind == "user" and ps.decide("iam:AddUserToGroup", None).verdict is not False:
                for g in snap.groups.values():
                    if g.name in p.groups or not g.arn:
                        continue
                    d = ps.decide("iam:AddUserToGroup", g.arn)
                    if d.verdict is False:
                        continue
                    gstar = snap.group_policyset(g.name).star()[0]
                    if gstar is not False:
                        tests.append((f"iam:AddUserToGroup into admin group {g.name}",
                                      Decision(_min(d.verdict, gstar), d.reason, d.origin)))
                    else:
                        mod = ps.decide_any(("iam:PutGroupPolicy", "iam:AttachGroupPolicy"), g.arn)
                        tests.append((f"iam:AddUserToGroup into group {g.name} + put/attach a policy on it",
                                      Decision(_min(d.verdict, mod.verdict), mod.reason, mod.origin)))
        new_role = f"arn:aws:iam::{acct}:role/blastwall-any-new-role"
        d_cr = ps.decide("iam:CreateRole", new_role)
        if d_cr.verdict is not False:
            d_at = ps.decide_any(("iam:AttachRolePolicy", "iam:PutRolePolicy"), new_role)
            tests.append(("iam:CreateRole + attach/put an admin policy on the new role",
                          Decision(_min(d_cr.verdict, d_at.verdict), d_at.reason, d_at.origin)))
        new_user = f"arn:aws:iam::{acct}:user/blastwall-any-new-user"
        d_cu = ps.decide("iam:CreateUser", new_user)
        if d_cu.verdict is not False:
            d_at = ps.decide_any(("iam:AttachUserPolicy", "iam:PutUserPolicy"), new_user)
            d_k = ps.decide("iam:CreateAccessKey", new_user)
            tests.append(("iam:CreateUser + attach/put a policy + iam:CreateAccessKey on the new user",
                          Decision(_min(_min(d_cu.verdict, d_at.verdict), d_k.verdict), d_at.reason, d_at.origin)))
        if bounded:
            unb = ps.without_boundary()
            ustar = unb.star()[0]
            if ustar is not False:
                act = "iam:DeleteUserPermissionsBoundary" if p.kind == "user" else "iam:DeleteRolePermissionsBoundary"
                d = ps.decide(act, p.arn)
                tests.append((f"{act} on itself (its identity policies alone are admin)",
                              Decision(_min(d.verdict, ustar), d.reason, d.origin)))
        for how, d in tests:
            if d.verdict is True:
                return Reach(True, (f"{how} (allowed by {d.origin})",), f"{how} ({d.origin})")
            if d.verdict is None and best.verdict is False:
                best = Reach(None, (f"{how} (only under a condition: {d.origin})",),
                             f"{how} only under a condition ({d.origin})")
        return best

    # ---- edges to other principals ---------------------------------------------------------------
    def edges(self, p: Principal) -> list[_Edge]:
        hit = self._edges.get(p.arn)
        if hit is not None:
            return hit
        out = self._edges_uncached(p)
        with self._lock:
            self._edges[p.arn] = out
        return out

    def _edges_uncached(self, p: Principal) -> list[_Edge]:
        out: list[_Edge] = []
        if p.kind == "root":
            return out
        ps = self.ps(p)
        has = {a: ps.decide(a, None).verdict is not False for a in
               ("iam:CreateAccessKey", "iam:CreateLoginProfile", "iam:UpdateLoginProfile", "sts:AssumeRole",
                "iam:UpdateAssumeRolePolicy", "iam:PassRole")}
        snap = self._snap(p)
        if has["iam:CreateAccessKey"] or has["iam:CreateLoginProfile"] or has["iam:UpdateLoginProfile"]:
            for snap2 in self.snapshots.values():
                if snap2.account != p.account:
                    continue
                for q in snap2.users.values():
                    if q.arn == p.arn:
                        continue
                    for act, how in (("iam:CreateAccessKey", "create an access key for"),
                                     ("iam:CreateLoginProfile", "create a console password for"),
                                     ("iam:UpdateLoginProfile", "reset the console password of")):
                        if not has[act]:
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
        for role, cond in self._trust_any:
            cand.append((role, True, False))
        seen: set[str] = set()
        for role, cond, direct in cand:
            if role.arn == p.arn or role.arn in seen:
                continue
            seen.add(role.arn)
            same = role.account == p.account
            if direct and same:
                v: Tri = None if cond else True
                out.append(_Edge(role, f"sts:AssumeRole into {role.ref} (its trust policy names {p.ref})", v))
                continue
            d = ps.decide("sts:AssumeRole", role.arn)
            if d.verdict is not False:
                out.append(_Edge(role, f"sts:AssumeRole into {role.ref} ({d.origin}; trusted by its trust policy)",
                                 _min(d.verdict, None if cond else True)))
        if has["iam:UpdateAssumeRolePolicy"]:
            for q in snap.roles.values():
                if q.arn == p.arn or q.arn in seen:
                    continue
                d = ps.decide("iam:UpdateAssumeRolePolicy", q.arn)
                if d.verdict is False:
                    continue
                d2 = ps.decide("sts:AssumeRole", q.arn)
                if d2.verdict is False:
                    continue
                out.append(_Edge(q, f"iam:UpdateAssumeRolePolicy + sts:AssumeRole on {q.ref}",
                                 _min(d.verdict, d2.verdict)))
        if has["iam:PassRole"]:
            methods: list[tuple[str, Tri, str]] = []
            for svc, alternatives, how in SERVICE_METHODS:
                best: Tri = False
                label = ""
                for acts in alternatives:
                    v2 = ps.decide_all(acts, None).verdict
                    if _RANK[v2] > _RANK[best]:
                        best, label = v2, " + ".join(acts)
                if best is not False:
                    methods.append((svc, best, f"{label} ({how})"))
            if methods:
                for q in snap.roles.values():
                    if q.arn == p.arn:
                        continue
                    for svc, v3, label in methods:
                        trusted = [c for r, c in self._trust_service.get(svc, []) if r.arn == q.arn]
                        if not trusted:
                            continue
                        d = ps.decide("iam:PassRole", q.arn)
                        if d.verdict is False:
                            break
                        v4 = _min(_min(d.verdict, v3), None if all(trusted) else True)
                        if svc == "ec2.amazonaws.com" and not q.instance_profiles:
                            ip = ps.decide_all(("iam:CreateInstanceProfile", "iam:AddRoleToInstanceProfile"), None)
                            if ip.verdict is False:
                                continue
                            v4 = _min(v4, ip.verdict)
                        out.append(_Edge(q, f"iam:PassRole on {q.ref} + {label}", v4))
                        break
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
        """Can ``start`` become admin? Best path first: unconditional beats conditional."""
        a = self.admin(start)
        if a.verdict is True:
            return a
        best = a if a.verdict is None else Reach(False, (), a.reason)
        for allow_conditional in (False, True):
            queue: deque[tuple[Principal, tuple[str, ...], Tri]] = deque([(start, (), True)])
            seen = {start.arn}
            while queue and len(seen) < max_nodes:
                node, path, v = queue.popleft()
                for e in self.edges(node):
                    if e.verdict is None and not allow_conditional:
                        continue
                    if e.to.arn in seen:
                        continue
                    seen.add(e.to.arn)
                    v2 = _min(v, e.verdict)
                    step = path + (f"{node.ref} → {e.to.ref} via {e.how}",)
                    adm = self.admin(e.to)
                    if adm.verdict is not False:
                        v3 = _min(v2, adm.verdict)
                        r = Reach(v3, step + (f"{e.to.ref} is admin: {adm.reason}",), "")
                        if v3 is True:
                            return r
                        if best.verdict is False:
                            best = r
                    mod = self.can_modify(node, e.to)
                    if mod.verdict is not False:
                        v3 = _min(v2, mod.verdict)
                        r = Reach(v3, step + (f"{node.ref} can give {e.to.ref} an admin policy ({mod.origin})",), "")
                        if v3 is True:
                            return r
                        if best.verdict is False:
                            best = r
                    queue.append((e.to, step, v2))
        return best


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
