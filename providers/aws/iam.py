"""An account's IAM, read once, and each principal's effective PolicySet.

Read with ``iam:GetAccountAuthorizationDetails`` (users, groups, roles, customer-managed
policies with all versions) plus ``GetPolicy``/``GetPolicyVersion`` for the AWS-managed policies
actually attached. Where that is denied, ``load_self`` reads just the caller's own user or role
(partial: enough for its own permissions, not for the privilege-escalation graph).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from .policy import OrgLevel, PolicySet, Statement, parse_document
from .session import AwsSession, paginate

__all__ = [
    "Principal",
    "Group",
    "ManagedPolicy",
    "IamSnapshot",
    "load_snapshot",
    "load_self",
    "AwsManagedPolicyCache",
    "principal_ref",
]


def _doc(d: Any) -> Any:
    if isinstance(d, str):
        import json

        try:
            return json.loads(d)
        except ValueError:
            return json.loads(unquote(d))
    return d


@dataclass
class ManagedPolicy:
    arn: str
    name: str
    document: Any
    aws_managed: bool
    versions: dict[str, Any] = field(default_factory=dict)  # version id -> document
    default_version: str | None = None

    @property
    def label(self) -> str:
        return f"{self.name} ({'AWS' if self.aws_managed else 'customer'} managed policy)"


@dataclass
class Group:
    name: str
    arn: str
    inline: list[tuple[str, Any]] = field(default_factory=list)
    managed: list[str] = field(default_factory=list)


@dataclass
class Principal:
    arn: str
    name: str
    kind: str  # user | role | root
    account: str
    id: str = ""
    inline: list[tuple[str, Any]] = field(default_factory=list)
    managed: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    boundary: str | None = None
    trust: Any = None  # roles: AssumeRolePolicyDocument
    instance_profiles: int = 0
    profile_arns: tuple[str, ...] = ()  # roles: the instance profiles that carry it
    login_profile: bool | None = None  # users: has a console password (None: not known)
    tags: dict[str, str] | None = None  # None: not read

    @property
    def ref(self) -> str:
        return f"{self.kind}/{self.name}" if self.kind != "root" else "root"


def principal_ref(arn: str) -> str:
    return arn.split(":", 5)[-1] if arn.count(":") >= 5 else arn


class AwsManagedPolicyCache:
    """AWS-managed policy documents are the same in every account: fetch each once per audit."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.docs: dict[str, ManagedPolicy] = {}

    def get(self, sess: AwsSession, arn: str) -> ManagedPolicy:
        hit = self.docs.get(arn)
        if hit is not None:
            return hit
        iam = sess.client("iam")
        pol = iam.get_policy(PolicyArn=arn)["Policy"]
        ver = iam.get_policy_version(PolicyArn=arn, VersionId=pol["DefaultVersionId"])["PolicyVersion"]
        mp = ManagedPolicy(
            arn=arn,
            name=pol["PolicyName"],
            document=_doc(ver["Document"]),
            aws_managed=True,
            default_version=pol["DefaultVersionId"],
        )
        with self._lock:
            self.docs[arn] = mp
        return mp


@dataclass
class IamSnapshot:
    account: str
    complete: bool  # the whole account (GetAccountAuthorizationDetails) vs only the caller
    read_with: str  # credential id that read it
    users: dict[str, Principal] = field(default_factory=dict)  # by ARN
    roles: dict[str, Principal] = field(default_factory=dict)  # by ARN
    groups: dict[str, Group] = field(default_factory=dict)  # by name
    policies: dict[str, ManagedPolicy] = field(default_factory=dict)  # by ARN
    org: list[OrgLevel] = field(default_factory=list)  # SCP/RCP levels that apply to this account
    org_note: str = "Organizations SCPs/RCPs not read"  # what is known about them, for the reasons

    def __post_init__(self) -> None:
        self._ps: dict[str, PolicySet] = {}
        self._lock = threading.Lock()
        self._role_by_name: dict[str, Principal] = {}
        self.profile_roles: dict[str, str] = {}  # instance profile ARN and name -> role ARN
        for r in self.roles.values():
            for parn in r.profile_arns:
                self.profile_roles[parn] = r.arn
                self.profile_roles[parn.rsplit("/", 1)[-1]] = r.arn

    def set_org(self, levels: list[OrgLevel], note: str) -> None:
        """Organization policies that apply to every principal of the account; cached PolicySets are rebuilt."""
        with self._lock:
            self.org = list(levels)
            self.org_note = note
            self._ps = {}

    def role_of_profile(self, profile: str) -> str | None:
        """The role behind an instance profile given by ARN or name."""
        return self.profile_roles.get(profile) or self.profile_roles.get(profile.rsplit("/", 1)[-1])

    def principals(self) -> list[Principal]:
        return list(self.users.values()) + list(self.roles.values())

    def find(self, caller_arn: str) -> Principal | None:
        """The IAM principal behind an STS caller ARN (users, roles and assumed-role sessions)."""
        if caller_arn in self.users:
            return self.users[caller_arn]
        if caller_arn in self.roles:
            return self.roles[caller_arn]
        ref = principal_ref(caller_arn)
        if ref.startswith("assumed-role/"):
            role_name = ref.split("/")[1]
            if not self._role_by_name:
                self._role_by_name = {r.name: r for r in self.roles.values()}
            return self._role_by_name.get(role_name)
        if ref.startswith("user/"):
            name = ref.rsplit("/", 1)[-1]
            for u in self.users.values():
                if u.name == name:
                    return u
        return None

    def _statements(self, label_for: str, policy_arn: str, via: str) -> list[Statement]:
        mp = self.policies.get(policy_arn)
        if mp is None:
            return []
        return parse_document(mp.document, f"{mp.label}{via}")

    def policyset(self, p: Principal) -> PolicySet:
        hit = self._ps.get(p.arn)
        if hit is not None:
            return hit
        st: list[Statement] = []
        for name, doc in p.inline:
            st += parse_document(doc, f"inline policy {name} of {p.ref}")
        for arn in p.managed:
            st += self._statements(p.ref, arn, f", attached to {p.ref}")
        for gname in p.groups:
            g = self.groups.get(gname)
            if g is None:
                continue
            for name, doc in g.inline:
                st += parse_document(doc, f"inline policy {name} of group {gname}")
            for arn in g.managed:
                st += self._statements(p.ref, arn, f", via group {gname}")
        boundary = None
        bname = None
        if p.boundary:
            mp = self.policies.get(p.boundary)
            bname = mp.label if mp else p.boundary
            boundary = parse_document(mp.document, f"boundary {bname}") if mp else []
        variables = {
            "aws:username": p.name if p.kind == "user" else "",
            "aws:userid": p.id,
            "aws:principaltype": {"user": "User", "role": "AssumedRole"}.get(p.kind, "Account"),
            "aws:principalaccount": p.account,
        }
        if p.kind != "user":
            variables.pop("aws:username")
        if p.tags is not None:  # its own tags: aws:PrincipalTag conditions can be evaluated
            variables["aws:principaltag/*"] = ""
            for k, v in p.tags.items():
                variables[f"aws:principaltag/{k.lower()}"] = v
        ps = PolicySet(st, boundary, bname, variables, list(self.org))
        with self._lock:
            self._ps[p.arn] = ps
        return ps

    def group_policyset(self, gname: str) -> PolicySet:
        g = self.groups[gname]
        st: list[Statement] = []
        for name, doc in g.inline:
            st += parse_document(doc, f"inline policy {name} of group {gname}")
        for arn in g.managed:
            st += self._statements("", arn, f", attached to group {gname}")
        return PolicySet(st, org=list(self.org))


def _principal_from_detail(d: dict[str, Any], kind: str, account: str) -> Principal:
    if kind == "user":
        inline = [(x["PolicyName"], _doc(x["PolicyDocument"])) for x in d.get("UserPolicyList", []) or []]
    else:
        inline = [(x["PolicyName"], _doc(x["PolicyDocument"])) for x in d.get("RolePolicyList", []) or []]
    pb = d.get("PermissionsBoundary") or {}
    return Principal(
        arn=d["Arn"],
        name=d[f"{'User' if kind == 'user' else 'Role'}Name"],
        kind=kind,
        account=account,
        id=d.get("UserId") or d.get("RoleId") or "",
        inline=inline,
        managed=[x["PolicyArn"] for x in d.get("AttachedManagedPolicies", []) or []],
        groups=list(d.get("GroupList", []) or []),
        boundary=pb.get("PermissionsBoundaryArn"),
        trust=_doc(d.get("AssumeRolePolicyDocument")) if kind == "role" else None,
        instance_profiles=len(d.get("InstanceProfileList", []) or []),
        profile_arns=tuple(x["Arn"] for x in d.get("InstanceProfileList", []) or [] if x.get("Arn")),
        tags={str(t.get("Key")): str(t.get("Value", "")) for t in d.get("Tags", []) or []},
    )


def _attach_aws_managed(snap: IamSnapshot, sess: AwsSession, cache: AwsManagedPolicyCache) -> None:
    wanted: set[str] = set()
    for p in snap.principals():
        wanted.update(p.managed)
        if p.boundary:
            wanted.add(p.boundary)
    for g in snap.groups.values():
        wanted.update(g.managed)
    for arn in sorted(wanted - snap.policies.keys()):
        if ":aws:policy/" in arn:
            snap.policies[arn] = cache.get(sess, arn)


def load_snapshot(sess: AwsSession, account: str, cred_id: str, cache: AwsManagedPolicyCache) -> IamSnapshot:
    """The whole account's IAM. Raises botocore errors (the caller maps them to coverage gaps)."""
    iam = sess.client("iam")
    snap = IamSnapshot(account=account, complete=True, read_with=cred_id)
    for page in iam.get_paginator("get_account_authorization_details").paginate(
        Filter=["User", "Role", "Group", "LocalManagedPolicy"]
    ):
        for d in page.get("UserDetailList", []) or []:
            p = _principal_from_detail(d, "user", account)
            snap.users[p.arn] = p
        for d in page.get("RoleDetailList", []) or []:
            p = _principal_from_detail(d, "role", account)
            snap.roles[p.arn] = p
        for d in page.get("GroupDetailList", []) or []:
            snap.groups[d["GroupName"]] = Group(
                name=d["GroupName"],
                arn=d["Arn"],
                inline=[(x["PolicyName"], _doc(x["PolicyDocument"])) for x in d.get("GroupPolicyList", []) or []],
                managed=[x["PolicyArn"] for x in d.get("AttachedManagedPolicies", []) or []],
            )
        for d in page.get("Policies", []) or []:
            versions = {v["VersionId"]: _doc(v.get("Document")) for v in d.get("PolicyVersionList", []) or []}
            default = d.get("DefaultVersionId")
            snap.policies[d["Arn"]] = ManagedPolicy(
                arn=d["Arn"],
                name=d.get("PolicyName") or d["Arn"].rsplit("/", 1)[-1],
                document=versions.get(default) if default else None,
                aws_managed=False,
                versions=versions,
                default_version=default,
            )
    _attach_aws_managed(snap, sess, cache)
    _login_profiles(snap, iam)
    snap.__post_init__()
    return snap


def _login_profiles(snap: IamSnapshot, iam: Any) -> None:
    """Which users have a console password, from the account's existing credential report (one call for
    every user; Blastwall stays read-only and never generates one). When there is none, or it cannot be
    read, ``login_profile`` stays None and both login-profile edges are considered."""
    import csv
    import io

    try:
        rep = iam.get_credential_report()
    except Exception:  # noqa: BLE001 - unknown stays unknown
        return
    content = rep.get("Content", b"")
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
    by_arn = {row.get("arn", ""): row.get("password_enabled", "") for row in csv.DictReader(io.StringIO(text))}
    for u in snap.users.values():
        flag = by_arn.get(u.arn, "").lower()
        u.login_profile = True if flag == "true" else False if flag == "false" else None


def _own_policies(iam: Any, kind: str, name: str) -> tuple[list[tuple[str, Any]], list[str]]:
    """The inline policies (name, document) and attached managed policy ARNs of one IAM user, group or role."""
    key = {f"{kind.capitalize()}Name": name}
    get_inline = getattr(iam, f"get_{kind}_policy")
    inline = [
        (n, _doc(get_inline(PolicyName=n, **key)["PolicyDocument"]))
        for n in paginate(iam, f"list_{kind}_policies", "PolicyNames", **key)
    ]
    managed = [x["PolicyArn"] for x in paginate(iam, f"list_attached_{kind}_policies", "AttachedPolicies", **key)]
    return inline, managed


def _principal_fields(
    entity: dict[str, Any], name: str, account: str, inline: list[tuple[str, Any]], managed: list[str]
) -> dict[str, Any]:
    """What a user's and a role's `Principal` share, from IAM's GetUser / GetRole answer."""
    boundary = (entity.get("PermissionsBoundary") or {}).get("PermissionsBoundaryArn")
    return {
        "arn": entity["Arn"],
        "name": name,
        "account": account,
        "inline": inline,
        "managed": managed,
        "boundary": boundary,
    }


def load_self(
    sess: AwsSession, caller_arn: str, account: str, cred_id: str, cache: AwsManagedPolicyCache
) -> IamSnapshot:
    """Only the caller's own user or role (and its groups and policies)."""
    iam = sess.client("iam")
    snap = IamSnapshot(account=account, complete=False, read_with=cred_id)
    ref = principal_ref(caller_arn)
    if ref.startswith("user/"):
        name = ref.rsplit("/", 1)[-1]
        u = iam.get_user(UserName=name)["User"]
        inline, managed = _own_policies(iam, "user", name)
        groups = [g["GroupName"] for g in paginate(iam, "list_groups_for_user", "Groups", UserName=name)]
        p = Principal(
            kind="user", id=u.get("UserId", ""), groups=groups, **_principal_fields(u, name, account, inline, managed)
        )
        snap.users[p.arn] = p
        for g in groups:
            gi, gm = _own_policies(iam, "group", g)
            snap.groups[g] = Group(name=g, arn="", inline=gi, managed=gm)
    elif ref.startswith("assumed-role/") or ref.startswith("role/"):
        name = ref.split("/")[1]
        r = iam.get_role(RoleName=name)["Role"]
        inline, managed = _own_policies(iam, "role", name)
        p = Principal(
            kind="role",
            id=r.get("RoleId", ""),
            trust=_doc(r.get("AssumeRolePolicyDocument")),
            **_principal_fields(r, name, account, inline, managed),
        )
        snap.roles[p.arn] = p
    else:
        raise ValueError("not an IAM user or role")
    wanted = (
        set(p.managed) | {a for g in snap.groups.values() for a in g.managed} | ({p.boundary} if p.boundary else set())
    )
    for arn in sorted(wanted):
        if ":aws:policy/" in arn:
            snap.policies[arn] = cache.get(sess, arn)
        else:
            pol = iam.get_policy(PolicyArn=arn)["Policy"]
            ver = iam.get_policy_version(PolicyArn=arn, VersionId=pol["DefaultVersionId"])["PolicyVersion"]
            snap.policies[arn] = ManagedPolicy(
                arn=arn,
                name=pol["PolicyName"],
                document=_doc(ver["Document"]),
                aws_managed=False,
                default_version=pol["DefaultVersionId"],
                versions={pol["DefaultVersionId"]: _doc(ver["Document"])},
            )
    return snap
