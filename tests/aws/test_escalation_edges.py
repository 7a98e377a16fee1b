"""Every escalation edge kind against moto: the principal that escalates through it is root-equivalent with
the path in its reasons; a control principal with the same actions on a resource whose role is harmless is
not. SSM's DescribeInstanceInformation is missing from moto, so its scenario answers that one call through
botocore's Stubber and everything else through moto."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from botocore.stub import Stubber

from auditor.engine import analyse
from providers.aws import AwsProvider
from tests.aws.conftest import Audited, audit, context, key_candidate
from tests.aws.escalation_scenario import EDGES, EdgeScenario, build_edges
from tests.aws.scenario import ACCOUNT, Scenario, _user, allow, doc
from tests.support.moto_server import MotoHandle

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("aws-edges")]


@pytest.fixture(scope="module")
def edge_account(moto_server: MotoHandle) -> Iterator[tuple[MotoHandle, EdgeScenario]]:
    moto_server.reset()
    yield moto_server, build_edges(moto_server)
    moto_server.reset()


@pytest.fixture(scope="module")
def edges_audited(edge_account: tuple[MotoHandle, EdgeScenario]) -> Audited:
    moto, sc = edge_account
    return audit(moto, sc)  # type: ignore[arg-type]


@pytest.mark.parametrize("name, needle", [(e[0], e[3]) for e in EDGES], ids=[e[0] for e in EDGES])
def test_edge_escalates_and_control_does_not(edges_audited: Audited, name: str, needle: str) -> None:
    esc = edges_audited.cred(f"esc-{name}")
    ctl = edges_audited.cred(f"ctl-{name}")
    assert esc.root_equivalent is True, esc.reasons
    assert needle in esc.reasons[0], esc.reasons[0]
    assert "role/power is admin: effective * on *" in esc.reasons[0]
    assert ctl.root_equivalent is False, ctl.reasons
    assert ctl.reasons[0].startswith("Not admin-equivalent")
    assert "existing resources that run with a role" in ctl.reasons[0]


def test_every_modelled_existing_resource_kind_has_a_scenario() -> None:
    from providers.aws.graph import EXISTING_METHODS

    covered = {kind for _, kind, _, _ in EDGES} | {"ssm-instance"}
    assert covered == set(EXISTING_METHODS)


def test_ssm_unlisted_in_moto_is_unknown_never_false(edges_audited: Audited) -> None:
    """moto has no DescribeInstanceInformation: SSM targets are unknown, and so is anyone holding ssm:SendCommand."""
    gaps = [g for g in edges_audited.inventory.gaps if g.subject.endswith("SSM-managed instances")]
    assert gaps and "ssm:DescribeInstanceInformation" in gaps[0].reason


def _ssm_stub(prov: AwsProvider, cred_ids: list[str], instance_ids: list[str]) -> list[Stubber]:
    stubs = []
    for cid in cred_ids:
        client = prov._idents[cid].session.client("ssm", "us-east-1")
        st = Stubber(client)
        st.add_response(
            "describe_instance_information",
            {
                "InstanceInformationList": [
                    {"InstanceId": i, "PingStatus": "Online", "ResourceType": "EC2Instance"} for i in instance_ids
                ]
            },
        )
        st.activate()
        stubs.append(st)
    return stubs


@pytest.mark.parametrize("action", ["ssm:SendCommand", "ssm:StartSession"])
def test_ssm_managed_instances_with_stubbed_listing(edge_account: tuple[MotoHandle, EdgeScenario], action: str) -> None:
    moto, sc = edge_account
    iam = moto.client("iam")
    admin_arn = f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/{sc.arns['ec2-admin-id']}"
    plain_arn = f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/{sc.arns['ec2-plain-id']}"
    tag = action.split(":")[1].lower()
    for who, arn in (("esc", admin_arn), ("ctl", plain_arn)):
        name = f"{who}-ssm-{tag}"
        _user(iam, name, sc)  # type: ignore[arg-type]
        iam.put_user_policy(UserName=name, PolicyName="ssm", PolicyDocument=doc(allow(action, arn)))
    prov = AwsProvider()
    ctx = context(moto)
    creds = {}
    for who in ("esc", "ctl"):
        k = sc.keys[f"{who}-ssm-{tag}"]
        creds[who] = prov.identify(prov.classify(key_candidate(k.key_id, k.secret, f"{who}.x")), ctx)
    stubs = _ssm_stub(prov, [c.id for c in creds.values()], [sc.arns["ec2-admin-id"], sc.arns["ec2-plain-id"]])
    inv = prov.inventory(list(creds.values()), ctx)
    for st in stubs:
        st.deactivate()
    got = {c.id: c for c in inv.credentials}
    esc, ctl = got[creds["esc"].id], got[creds["ctl"].id]
    assert esc.root_equivalent is True, esc.reasons
    assert f"{action} on SSM-managed instance {sc.arns['ec2-admin-id']} (runs as role/power" in esc.reasons[0]
    assert ctl.root_equivalent is False, ctl.reasons
    assert not [g for g in inv.gaps if g.subject.endswith("SSM-managed instances")]


def test_same_action_without_stub_is_null_with_the_reason(edge_account: tuple[MotoHandle, EdgeScenario]) -> None:
    moto, sc = edge_account
    a = audit(moto, sc, ["ctl-lambda-update-code"])  # type: ignore[arg-type]
    assert a.cred("ctl-lambda-update-code").root_equivalent is False
    iam = moto.client("iam")
    _user(iam, "ssm-only", sc)  # type: ignore[arg-type]
    iam.put_user_policy(
        UserName="ssm-only",
        PolicyName="ssm",
        PolicyDocument=doc(
            allow("ssm:SendCommand", f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/{sc.arns['ec2-plain-id']}")
        ),
    )
    c = audit(moto, sc, ["ssm-only"]).cred("ssm-only")  # type: ignore[arg-type]
    assert c.root_equivalent is None
    assert "SSM-managed instances could not be listed" in c.reasons[0] and "ssm:SendCommand" in c.reasons[0]


# ---- IAM edges ---------------------------------------------------------------------------------------


@pytest.fixture
def iam_account(moto: MotoHandle) -> tuple[MotoHandle, Scenario]:
    sc = Scenario()
    iam = moto.client("iam")
    # A group whose policies add up to admin without a literal * on *.
    iam.create_group(GroupName="iam-admins")
    iam.put_group_policy(GroupName="iam-admins", PolicyName="iam-all", PolicyDocument=doc(allow("iam:*")))
    iam.create_group(GroupName="readers")
    iam.attach_group_policy(GroupName="readers", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    _user(iam, "joiner", sc)
    iam.put_user_policy(
        UserName="joiner",
        PolicyName="join",
        PolicyDocument=doc(allow("iam:AddUserToGroup", f"arn:aws:iam::{ACCOUNT}:group/iam-admins")),
    )
    _user(iam, "joiner-ctl", sc)
    iam.put_user_policy(
        UserName="joiner-ctl",
        PolicyName="join",
        PolicyDocument=doc(allow("iam:AddUserToGroup", f"arn:aws:iam::{ACCOUNT}:group/readers")),
    )
    # A role nobody may assume, with AdministratorAccess; a rewriter of its trust policy only.
    nobody = doc({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"})
    iam.create_role(RoleName="break-glass", AssumeRolePolicyDocument=nobody)
    iam.attach_role_policy(RoleName="break-glass", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.create_role(RoleName="viewer", AssumeRolePolicyDocument=nobody)
    iam.attach_role_policy(RoleName="viewer", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    _user(iam, "trust-rewriter", sc)
    iam.put_user_policy(
        UserName="trust-rewriter",
        PolicyName="t",
        PolicyDocument=doc(allow("iam:UpdateAssumeRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/break-glass")),
    )
    _user(iam, "trust-rewriter-ctl", sc)
    iam.put_user_policy(
        UserName="trust-rewriter-ctl",
        PolicyName="t",
        PolicyDocument=doc(allow("iam:UpdateAssumeRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/viewer")),
    )
    # Console passwords: 'boss' has one, 'boss-nopw' has none; both admins.
    for boss, has_pw in (("boss", True), ("boss-nopw", False)):
        iam.create_user(UserName=boss)
        iam.attach_user_policy(UserName=boss, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
        if has_pw:
            iam.create_login_profile(UserName=boss, Password="Not-a-real-pw-1234!")
    for act in ("CreateLoginProfile", "UpdateLoginProfile"):
        for boss in ("boss", "boss-nopw"):
            _user(iam, f"{act}-{boss}", sc)
            iam.put_user_policy(
                UserName=f"{act}-{boss}",
                PolicyName="lp",
                PolicyDocument=doc(allow(f"iam:{act}", f"arn:aws:iam::{ACCOUNT}:user/{boss}")),
            )
    iam.generate_credential_report()  # the account's report; Blastwall only reads it
    return moto, sc


def test_group_with_iam_star_makes_add_user_to_group_an_escalation(iam_account: tuple[MotoHandle, Scenario]) -> None:
    moto, sc = iam_account
    a = audit(moto, sc, ["joiner", "joiner-ctl"])
    j = a.cred("joiner")
    assert j.root_equivalent is True, j.reasons
    assert "iam:AddUserToGroup into admin group iam-admins (as a member: iam:PutUserPolicy on itself" in j.reasons[0]
    assert a.cred("joiner-ctl").root_equivalent is False, a.cred("joiner-ctl").reasons


def test_update_assume_role_policy_alone_is_root_equivalent(iam_account: tuple[MotoHandle, Scenario]) -> None:
    moto, sc = iam_account
    a = audit(moto, sc, ["trust-rewriter", "trust-rewriter-ctl"])
    t = a.cred("trust-rewriter")
    assert t.root_equivalent is True, t.reasons
    assert "iam:UpdateAssumeRolePolicy on role/break-glass (names itself in the trust policy" in t.reasons[0]
    assert a.cred("trust-rewriter-ctl").root_equivalent is False


def test_login_profile_edges_follow_the_console_password(iam_account: tuple[MotoHandle, Scenario]) -> None:
    moto, sc = iam_account
    names = [
        "CreateLoginProfile-boss",
        "CreateLoginProfile-boss-nopw",
        "UpdateLoginProfile-boss",
        "UpdateLoginProfile-boss-nopw",
    ]
    a = audit(moto, sc, names)
    assert a.cred("CreateLoginProfile-boss-nopw").root_equivalent is True
    assert (
        "iam:CreateLoginProfile: create a console password for user/boss-nopw"
        in a.cred("CreateLoginProfile-boss-nopw").reasons[0]
    )
    assert a.cred("UpdateLoginProfile-boss").root_equivalent is True
    # A user who has a password cannot get a second one; one without has none to reset.
    assert a.cred("CreateLoginProfile-boss").root_equivalent is False
    assert a.cred("UpdateLoginProfile-boss-nopw").root_equivalent is False


def test_login_profile_unknown_without_credential_report(moto: MotoHandle) -> None:
    sc = Scenario()
    iam = moto.client("iam")
    iam.create_user(UserName="boss")
    iam.attach_user_policy(UserName="boss", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.create_login_profile(UserName="boss", Password="Not-a-real-pw-1234!")
    _user(iam, "creator", sc)
    iam.put_user_policy(
        UserName="creator",
        PolicyName="lp",
        PolicyDocument=doc(allow("iam:CreateLoginProfile", f"arn:aws:iam::{ACCOUNT}:user/boss")),
    )
    c = audit(moto, sc, ["creator"]).cred("creator")
    assert c.root_equivalent is True  # no report: whether boss has a password is unknown, the edge stays


def test_unlistable_lambda_is_null_never_false(moto: MotoHandle) -> None:
    """AccessDenied on lambda:ListFunctions for every credential: a principal that may update functions is null."""
    from tests.support.moto_server import start_moto_process

    proc, handle = start_moto_process(initial_no_auth_action_count=1_000_000)
    try:
        sc = Scenario()
        iam = handle.client("iam")
        _user(iam, "fn-dev", sc)
        iam.put_user_policy(
            UserName="fn-dev",
            PolicyName="dev",
            PolicyDocument=doc(
                allow("lambda:UpdateFunctionCode", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:*"),
                allow(
                    [
                        "iam:Get*",
                        "iam:List*",
                        "sts:GetCallerIdentity",
                        "ec2:Describe*",
                        "rds:Describe*",
                        "s3:List*",
                        "s3:Get*",
                        "dynamodb:List*",
                        "dynamodb:Describe*",
                        "backup:List*",
                        "backup:Describe*",
                        "glue:Get*",
                        "cloudformation:Describe*",
                        "sagemaker:List*",
                        "sagemaker:Describe*",
                        "codebuild:List*",
                        "codebuild:BatchGet*",
                        "ecs:List*",
                        "ecs:Describe*",
                        "datapipeline:List*",
                        "datapipeline:Get*",
                        "autoscaling:Describe*",
                        "ssm:Describe*",
                    ]
                ),
            ),
        )
        _enforce(handle)
        prov = AwsProvider()
        ctx = context(handle)
        k = sc.keys["fn-dev"]
        c = prov.identify(prov.classify(key_candidate(k.key_id, k.secret)), ctx)
        inv = prov.inventory([c], ctx)
        c = inv.credentials[0]
        assert c.root_equivalent is None, c.reasons
        assert (
            "functions could not be listed (lambda:ListFunctions in us-east-1: denied to every discovered "
            "credential" in c.reasons[0]
        )
        assert any(g.subject.endswith(": functions") for g in inv.gaps)
        br = analyse(list(inv.credentials), inv.resources, inv.backups, inv.facts)
        assert br is not None
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _enforce(handle: MotoHandle) -> None:
    import urllib.request

    req = urllib.request.Request(
        handle.url + "/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - 127.0.0.1 only
        resp.read()
