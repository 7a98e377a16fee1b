"""The evaluator and catalogue on their own (no server)."""

from __future__ import annotations

import json

from providers.aws.capabilities import CAPABILITIES
from providers.aws.catalogue import catalogue
from providers.aws.graph import ESCALATION_ACTIONS, SERVICE_METHODS, AdminGraph
from providers.aws.iam import Group, IamSnapshot, ManagedPolicy, Principal
from providers.aws.policy import PolicySet, parse_document

A = "123456789012"


def ps(*statements: dict, boundary: list[dict] | None = None, user: str = "u") -> PolicySet:
    st = parse_document({"Statement": list(statements)}, "test policy")
    b = parse_document({"Statement": boundary}, "boundary") if boundary is not None else None
    return PolicySet(st, b, "boundary" if b is not None else None, {"aws:username": user})


def test_every_action_we_reason_about_is_in_the_catalogue() -> None:
    cat = catalogue()
    assert len(cat) > 15000  # the maintained catalogue, not a hand list
    named = [a for c in CAPABILITIES for a in c.actions] + list(ESCALATION_ACTIONS)
    named += [a for _, alts, _ in SERVICE_METHODS for acts in alts for a in acts]
    assert [a for a in named if not cat.exists(a)] == []


def test_wildcards_expand_from_the_catalogue() -> None:
    cat = catalogue()
    deletes = cat.expand("rds:Delete*")
    assert {"rds:deletedbinstance", "rds:deletedbsnapshot", "rds:deletedbinstanceautomatedbackup"} <= deletes
    assert all(a.startswith("rds:delete") for a in deletes)
    assert cat.expand("s3:?etObject") >= {"s3:getobject"}
    assert cat.expand("*") == cat.all
    assert cat.expand("nosuchservice:*") == frozenset()


def test_allow_deny_and_implicit_deny() -> None:
    p = ps(
        {"Effect": "Allow", "Action": "rds:*", "Resource": "*"},
        {"Effect": "Deny", "Action": "rds:DeleteDBSnapshot", "Resource": "*"},
    )
    assert p.decide("rds:DeleteDBInstance", "arn:aws:rds:us-east-1:1:db:x").verdict is True
    d = p.decide("rds:DeleteDBSnapshot", "arn:aws:rds:us-east-1:1:snapshot:s")
    assert d.verdict is False and "explicitly denied" in d.reason
    assert p.decide("ec2:DeleteSnapshot", "arn:aws:ec2:us-east-1::snapshot/snap-1").verdict is False


def test_resource_scoping_and_variables() -> None:
    p = ps(
        {"Effect": "Allow", "Action": "iam:AttachUserPolicy", "Resource": f"arn:aws:iam::{A}:user/${{aws:username}}"},
        user="alice",
    )
    assert p.decide("iam:AttachUserPolicy", f"arn:aws:iam::{A}:user/alice").verdict is True
    assert p.decide("iam:AttachUserPolicy", f"arn:aws:iam::{A}:user/bob").verdict is False
    # An unknown variable never yields a definite answer.
    q = ps({"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::b/${aws:PrincipalTag/team}/*"})
    assert q.decide("s3:DeleteObject", "arn:aws:s3:::b/x/y").verdict is None


def test_not_action_and_not_resource() -> None:
    p = ps({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert p.decide("rds:DeleteDBInstance", "arn:x").verdict is True
    assert p.decide("iam:CreateUser", "arn:x").verdict is False
    assert p.star()[0] is False
    q = ps({"Effect": "Allow", "Action": "s3:DeleteObject", "NotResource": "arn:aws:s3:::keep/*"})
    assert q.decide("s3:DeleteObject", "arn:aws:s3:::keep/a").verdict is False
    assert q.decide("s3:DeleteObject", "arn:aws:s3:::other/a").verdict is True
    # NotAction naming a service that does not exist excludes nothing: effective *.
    assert ps({"Effect": "Allow", "NotAction": "nosuchservice:*", "Resource": "*"}).star()[0] is True


def test_conditions_are_conservative() -> None:
    p = ps(
        {
            "Effect": "Allow",
            "Action": "*",
            "Resource": "*",
            "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
        }
    )
    assert p.decide("rds:DeleteDBInstance", "arn:x").verdict is None
    assert p.star()[0] is None
    q = ps(
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        {"Effect": "Deny", "Action": "rds:Delete*", "Resource": "*", "Condition": {"StringNotEquals": {"a": "b"}}},
    )
    assert q.decide("rds:DeleteDBInstance", "arn:x").verdict is None
    assert q.decide("rds:DescribeDBInstances", "arn:x").verdict is True


def test_permissions_boundary_limits() -> None:
    p = ps(
        {"Effect": "Allow", "Action": "*", "Resource": "*"},
        boundary=[{"Effect": "Allow", "Action": ["rds:Describe*", "s3:*"], "Resource": "*"}],
    )
    assert p.decide("rds:DeleteDBInstance", "arn:x").verdict is False
    assert "boundary" in p.decide("rds:DeleteDBInstance", "arn:x").reason
    assert p.decide("s3:DeleteObject", "arn:aws:s3:::b/k").verdict is True
    assert p.star()[0] is False
    assert p.without_boundary().star()[0] is True


def _snap(
    users: list[Principal], roles: list[Principal] = (), policies: list[ManagedPolicy] = (), groups: list[Group] = ()
) -> IamSnapshot:
    s = IamSnapshot(account=A, complete=True, read_with="t")
    s.users = {u.arn: u for u in users}
    s.roles = {r.arn: r for r in roles}
    s.policies = {p.arn: p for p in policies}
    s.groups = {g.name: g for g in groups}
    return s


def _user(name: str, *statements: dict, **kw: object) -> Principal:
    return Principal(
        arn=f"arn:aws:iam::{A}:user/{name}",
        name=name,
        kind="user",
        account=A,
        inline=[("p", {"Statement": list(statements)})],
        **kw,
    )  # type: ignore[arg-type]


ADMIN = ManagedPolicy(
    arn="arn:aws:iam::aws:policy/AdministratorAccess",
    name="AdministratorAccess",
    document={"Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]},
    aws_managed=True,
)


def test_reachability_through_assume_role_and_access_keys() -> None:
    admin_role = Principal(
        arn=f"arn:aws:iam::{A}:role/ops",
        name="ops",
        kind="role",
        account=A,
        managed=[ADMIN.arn],
        trust={
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}}
            ]
        },
    )
    hopper = _user("hopper", {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": admin_role.arn})
    admin_user = Principal(arn=f"arn:aws:iam::{A}:user/boss", name="boss", kind="user", account=A, managed=[ADMIN.arn])
    keymaker = _user("keymaker", {"Effect": "Allow", "Action": "iam:CreateAccessKey", "Resource": admin_user.arn})
    plain = _user("plain", {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "arn:aws:iam::*:role/other"})
    g = AdminGraph([_snap([hopper, admin_user, keymaker, plain], [admin_role], [ADMIN])])
    r = g.reach(hopper)
    assert r.verdict is True and "sts:AssumeRole into role/ops" in " ".join(r.path)
    r = g.reach(keymaker)
    assert r.verdict is True and "iam:CreateAccessKey" in " ".join(r.path) and "user/boss" in " ".join(r.path)
    assert g.reach(plain).verdict is False


def test_update_assume_role_policy_and_add_user_to_group() -> None:
    admin_role = Principal(
        arn=f"arn:aws:iam::{A}:role/locked",
        name="locked",
        kind="role",
        account=A,
        managed=[ADMIN.arn],
        trust={"Statement": []},
    )
    rewriter = _user(
        "rewriter",
        {"Effect": "Allow", "Action": ["iam:UpdateAssumeRolePolicy", "sts:AssumeRole"], "Resource": admin_role.arn},
    )
    joiner = _user("joiner", {"Effect": "Allow", "Action": "iam:AddUserToGroup", "Resource": "*"})
    admins = Group(name="admins", arn=f"arn:aws:iam::{A}:group/admins", managed=[ADMIN.arn])
    g = AdminGraph([_snap([rewriter, joiner], [admin_role], [ADMIN], [admins])])
    assert "iam:UpdateAssumeRolePolicy" in " ".join(g.reach(rewriter).path)
    r = g.reach(joiner)
    assert r.verdict is True and "admin group admins" in " ".join(r.path)


def test_conditional_escalation_is_not_definite() -> None:
    u = _user(
        "cond",
        {
            "Effect": "Allow",
            "Action": "iam:PutUserPolicy",
            "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        },
    )
    assert AdminGraph([_snap([u])]).reach(u).verdict is None


def test_policy_documents_may_be_url_encoded_json() -> None:
    from urllib.parse import quote

    text = quote(json.dumps({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}}))
    assert parse_document(text, "x")[0].actions == ("s3:*",)


def test_judge_other_account_locked_rule_and_paths() -> None:
    from providers.aws.collect import _rule_covers
    from providers.aws.judge import DestroySpec, Step, Subject, judge

    ops = Subject(cred_id="c1", account=A, ps=ps({"Effect": "Allow", "Action": "ec2:DeleteSnapshot", "Resource": "*"}))
    from providers.aws.graph import Reach

    ops.admin = Reach(False, (), "not admin")
    snap = "arn:aws:ec2:us-east-1::snapshot/snap-1"
    plain = DestroySpec("b1", A, ((Step(("ec2:DeleteSnapshot",), snap),),))
    assert judge(ops, plain).verdict is True
    # Covered by an unlocked Recycle Bin rule: deleting also needs changing the rule.
    binned = DestroySpec(
        "b2",
        A,
        (
            (
                Step(("ec2:DeleteSnapshot",), snap),
                Step(("rbin:DeleteRule", "rbin:UpdateRule"), f"arn:aws:rbin:us-east-1:{A}:rule/r"),
            ),
        ),
    )
    f = judge(ops, binned)
    assert f.verdict is False and "rbin:DeleteRule" in f.reason
    # A locked rule / compliance lock: the same answer for everyone, root included.
    locked = DestroySpec("b3", A, (), fixed=(False, "a locked Recycle Bin rule keeps it"))
    root = Subject(cred_id="r", account=A, is_root=True)
    assert judge(root, locked).verdict is False
    # A copy in another account is out of reach of this account's credentials.
    other = DestroySpec("b4", "999999999999", ((Step(("ec2:DeleteSnapshot",), snap),),))
    f = judge(root, other)
    assert f.verdict is False and "account 999999999999" in f.reason
    # Unknown permissions stay unknown.
    blind = Subject(cred_id="x", account=A)
    assert judge(blind, plain).verdict is None
    # Recycle Bin rule matching by tags.
    assert _rule_covers({"Status": "available"}, {})
    assert _rule_covers({"ResourceTags": [{"ResourceTagKey": "backup", "ResourceTagValue": "yes"}]}, {"backup": "yes"})
    assert not _rule_covers({"ResourceTags": [{"ResourceTagKey": "backup", "ResourceTagValue": "yes"}]}, {})


def test_cross_account_trust_makes_other_account_targets_unknown() -> None:
    from providers.aws.judge import DestroySpec, Step, Subject, judge

    other = "210987654321"
    trusting = Principal(
        arn=f"arn:aws:iam::{other}:role/cross",
        name="cross",
        kind="role",
        account=other,
        trust={
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}}
            ]
        },
    )
    s2 = IamSnapshot(account=other, complete=True, read_with="t")
    s2.roles = {trusting.arn: trusting}
    g = AdminGraph([_snap([]), s2])
    assert g.trusting_roles(A, f"arn:aws:iam::{A}:user/x") == {other: ["role/cross"]}
    subj = Subject(cred_id="c", account=A, is_root=True, cross_account=g.trusting_roles(A, None))
    spec = DestroySpec("t", other, ((Step(("rds:DeleteDBSnapshot",), "arn:x"),),))
    f = judge(subj, spec)
    assert f.verdict is None and "role/cross" in f.reason
    assert judge(Subject(cred_id="d", account=A, is_root=True), spec).verdict is False


def test_conditions_known_at_audit_time_are_evaluated() -> None:
    db_east = f"arn:aws:rds:us-east-1:{A}:db:orders"
    db_west = f"arn:aws:rds:eu-west-1:{A}:db:orders"
    by_tag = {
        "Effect": "Allow",
        "Action": "rds:DeleteDBInstance",
        "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalTag/team": "data"}},
    }
    data = _user("data-eng", by_tag, tags={"team": "data"})
    web = _user("web-dev", by_tag, tags={"team": "web"})
    snap = _snap([data, web])
    assert snap.policyset(data).decide("rds:DeleteDBInstance", db_east).verdict is True
    assert snap.policyset(web).decide("rds:DeleteDBInstance", db_east).verdict is False
    # aws:RequestedRegion: the region in the target's ARN.
    west_only = ps(
        {
            "Effect": "Allow",
            "Action": "rds:DeleteDBInstance",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}},
        }
    )
    assert west_only.decide("rds:DeleteDBInstance", db_west).verdict is True
    assert west_only.decide("rds:DeleteDBInstance", db_east).verdict is False
    # A Deny outside eu-west-1 removes us-east-1 only.
    fenced = ps(
        {"Effect": "Allow", "Action": "rds:*", "Resource": "*"},
        {
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:RequestedRegion": ["eu-west-1"]}},
        },
    )
    assert fenced.decide("rds:DeleteDBInstance", db_east).verdict is False
    assert fenced.decide("rds:DeleteDBInstance", db_west).verdict is True
    # Anything else stays "possible", and the reason names the key.
    ip = ps(
        {
            "Effect": "Allow",
            "Action": "rds:DeleteDBInstance",
            "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
        }
    )
    d = ip.decide("rds:DeleteDBInstance", db_east)
    assert d.verdict is None and "condition on aws:sourceip (not known at audit time)" in d.reason


def test_passed_to_service_condition_limits_passrole_edges() -> None:
    admin_role = Principal(
        arn=f"arn:aws:iam::{A}:role/power",
        name="power",
        kind="role",
        account=A,
        managed=[ADMIN.arn],
        trust={
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": "sts:AssumeRole",
                    "Principal": {"Service": ["lambda.amazonaws.com", "ec2.amazonaws.com"]},
                }
            ]
        },
        profile_arns=(f"arn:aws:iam::{A}:instance-profile/power",),
        instance_profiles=1,
    )

    def passer(name: str, service: str) -> Principal:
        return _user(
            name,
            {
                "Effect": "Allow",
                "Action": "iam:PassRole",
                "Resource": admin_role.arn,
                "Condition": {"StringEquals": {"iam:PassedToService": service}},
            },
            {"Effect": "Allow", "Action": ["lambda:CreateFunction", "lambda:InvokeFunction"], "Resource": "*"},
        )

    to_lambda, to_ecs = (passer("to-lambda", "lambda.amazonaws.com"), passer("to-ecs", "ecs-tasks.amazonaws.com"))
    g = AdminGraph([_snap([to_lambda, to_ecs], [admin_role], [ADMIN])])
    r = g.reach(to_lambda)
    assert r.verdict is True and "lambda:CreateFunction" in " ".join(r.path)
    assert g.reach(to_ecs).verdict is False  # it may pass the role only to ECS, and has no ECS action


def test_reason_counts_actions_after_deny() -> None:
    nothing = ps(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, {"Effect": "Deny", "Action": "*", "Resource": "*"}
    )
    star, why = nothing.star()
    assert star is False and why.startswith("0 of "), why
    some = ps(
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}
    )
    assert some.allowed_actions() == frozenset()
    only = ps(
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "*"},
        {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "*"},
    )
    assert only.star()[1].startswith("1 of ")


def test_passrole_with_service_linked_role_requirement() -> None:
    """Auto Scaling needs its service-linked role: absent from the account, iam:CreateServiceLinkedRole too."""
    admin_role = Principal(
        arn=f"arn:aws:iam::{A}:role/fleet",
        name="fleet",
        kind="role",
        account=A,
        managed=[ADMIN.arn],
        instance_profiles=1,
        trust={
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "ec2.amazonaws.com"}}
            ]
        },
    )
    asg = ["autoscaling:CreateAutoScalingGroup", "autoscaling:CreateLaunchConfiguration"]
    without = _user("asg-only", {"Effect": "Allow", "Action": ["iam:PassRole", *asg], "Resource": "*"})
    with_slr = _user(
        "asg-slr", {"Effect": "Allow", "Action": ["iam:PassRole", "iam:CreateServiceLinkedRole", *asg], "Resource": "*"}
    )
    g = AdminGraph([_snap([without, with_slr], [admin_role], [ADMIN])])
    assert g.reach(without).verdict is False
    r = g.reach(with_slr)
    assert r.verdict is True and "iam:CreateServiceLinkedRole" in " ".join(r.path)
    slr = Principal(
        arn=f"arn:aws:iam::{A}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling",
        name="AWSServiceRoleForAutoScaling",
        kind="role",
        account=A,
    )
    g2 = AdminGraph([_snap([without], [admin_role, slr], [ADMIN])])
    assert g2.reach(without).verdict is True  # the role exists already


def test_kms_key_policy_must_let_iam_policies_schedule_deletion() -> None:
    from providers.aws.graph import Reach
    from providers.aws.judge import DestroySpec, Step, Subject, judge
    from providers.aws.policy import ResourcePolicy

    key = f"arn:aws:kms:us-east-1:{A}:key/1234"
    user = f"arn:aws:iam::{A}:user/crypto"
    closed = ResourcePolicy.parse(
        "key policy of 1234",
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{A}:role/key-admin"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ]
        },
        delegating=True,
    )
    open_ = ResourcePolicy.parse(
        "key policy of 1234",
        {
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*", "Resource": "*"}
            ]
        },
        delegating=True,
    )
    denying = ResourcePolicy.parse(
        "key policy of 1234",
        {
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{A}:root"}, "Action": "kms:*", "Resource": "*"},
                {"Effect": "Deny", "Principal": "*", "Action": "kms:ScheduleKeyDeletion", "Resource": "*"},
            ]
        },
        delegating=True,
    )

    def subject(admin: bool) -> Subject:
        s = Subject(cred_id="c", account=A, ps=ps({"Effect": "Allow", "Action": "kms:*", "Resource": "*"}))
        s.principal = Principal(arn=user, name="crypto", kind="user", account=A)
        s.admin = Reach(admin, (), "test")
        return s

    def verdict(pol: ResourcePolicy, admin: bool = False) -> bool | None:
        spec = DestroySpec("aws:snap", A, ((Step(("kms:ScheduleKeyDeletion",), key, pol),),))
        f = judge(subject(admin), spec)
        assert f is not None
        return f.verdict

    assert verdict(open_) is True
    assert verdict(closed) is False  # the key policy does not delegate to IAM: identity policies do not count
    assert verdict(denying) is False and verdict(denying, admin=True) is False  # a Deny binds admins too


def test_bucket_policy_granting_another_account_is_a_cross_account_path() -> None:
    from providers.aws.graph import Reach
    from providers.aws.judge import DestroySpec, Step, Subject, judge
    from providers.aws.policy import ResourcePolicy

    other = "210987654321"
    objs = "arn:aws:s3:::offsite/*"
    grant = ResourcePolicy.parse(
        "bucket policy of s3://offsite",
        {
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{other}:root"},
                    "Action": "s3:DeleteObjectVersion",
                    "Resource": objs,
                }
            ]
        },
    )
    s = Subject(cred_id="c", account=other, ps=ps({"Effect": "Allow", "Action": "s3:*", "Resource": "*"}))
    s.principal = Principal(arn=f"arn:aws:iam::{other}:user/ci", name="ci", kind="user", account=other)
    s.admin = Reach(False, (), "test")
    path = ((Step(("s3:DeleteObjectVersion",), objs),),)
    f = judge(s, DestroySpec("bw:backup", A, path, resource_policies=(grant,)))
    assert f is not None and f.verdict is True and "grants s3:DeleteObjectVersion to account" in f.reason
    f = judge(s, DestroySpec("bw:backup", A, path))
    assert f is not None and f.verdict is False  # no grant on the bucket: out of reach of the other account
