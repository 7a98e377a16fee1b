"""AWS Organizations against moto: an SCP that denies rds:DeleteDBInstance removes that capability from an
admin of a member account, with the SCP named; read with a discovered management-account credential."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from auditor.engine import analyse
from providers.aws import AwsProvider
from tests.aws.conftest import context, key_candidate
from tests.support.moto_server import MotoHandle

pytestmark = [pytest.mark.slow]

MGMT = "111111111111"


@dataclass
class Org:
    member: str
    admin: tuple[str, str]  # member-account admin key
    reader: tuple[str, str]  # management-account key that may read Organizations
    db_arn: str


def _creds(moto: MotoHandle, role_arn: str) -> dict[str, Any]:
    c = moto.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="setup")["Credentials"]
    return {"key": c["AccessKeyId"], "secret": c["SecretAccessKey"], "token": c["SessionToken"]}


def _build(moto: MotoHandle) -> Org:
    mgmt = _creds(moto, f"arn:aws:iam::{MGMT}:role/OrgSetup")
    org = moto.client("organizations", **mgmt)
    org.create_organization(FeatureSet="ALL")
    member = org.create_account(Email="member@example.com", AccountName="member")["CreateAccountStatus"]["AccountId"]
    root = org.list_roots()["Roots"][0]["Id"]
    if not any(t.get("Status") == "ENABLED" for t in org.list_roots()["Roots"][0].get("PolicyTypes", [])):
        org.enable_policy_type(RootId=root, PolicyType="SERVICE_CONTROL_POLICY")
    pol = org.create_policy(
        Name="deny-rds-delete",
        Type="SERVICE_CONTROL_POLICY",
        Description="guard the data",
        Content=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Deny", "Action": "rds:DeleteDBInstance", "Resource": "*"}],
            }
        ),
    )
    org.attach_policy(PolicyId=pol["Policy"]["PolicySummary"]["Id"], TargetId=member)
    # A reader in the management account.
    miam = moto.client("iam", **mgmt)
    miam.create_user(UserName="org-reader")
    miam.attach_user_policy(UserName="org-reader", PolicyArn="arn:aws:iam::aws:policy/AWSOrganizationsReadOnlyAccess")
    rk = miam.create_access_key(UserName="org-reader")["AccessKey"]
    # An admin and a database in the member account.
    mem = _creds(moto, f"arn:aws:iam::{member}:role/OrganizationAccountAccessRole")
    iam = moto.client("iam", **mem)
    iam.create_user(UserName="ops-admin")
    iam.attach_user_policy(UserName="ops-admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    ak = iam.create_access_key(UserName="ops-admin")["AccessKey"]
    db = moto.client("rds", **mem).create_db_instance(
        DBInstanceIdentifier="ledger",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="app",
        MasterUserPassword="not-a-secret-1",
        AllocatedStorage=20,
        BackupRetentionPeriod=1,
    )["DBInstance"]
    return Org(
        member,
        (ak["AccessKeyId"], ak["SecretAccessKey"]),
        (rk["AccessKeyId"], rk["SecretAccessKey"]),
        db["DBInstanceArn"],
    )


def _audit(moto: MotoHandle, keys: list[tuple[str, str]]) -> tuple[list[Any], Any]:
    prov = AwsProvider()
    ctx = context(moto)
    creds = [
        prov.identify(prov.classify(key_candidate(k, s, f"p{i}.aws_access_key_id")), ctx)
        for i, (k, s) in enumerate(keys)
    ]
    inv = prov.inventory(creds, ctx)
    return list(inv.credentials), inv


def test_scp_denying_delete_db_instance_removes_it_from_an_admin(moto: MotoHandle) -> None:
    o = _build(moto)
    creds, inv = _audit(moto, [o.admin, o.reader])
    admin = next(c for c in creds if c.metadata.get("account_id") == o.member)
    assert admin.root_equivalent is True
    assert "delete:rds-instance" not in admin.capabilities
    assert "delete:rds-snapshot" in admin.capabilities  # the SCP denies one action, not everything
    text = " ".join(admin.reasons)
    assert "Cannot delete:rds-instance even as admin: rds:DeleteDBInstance: denied by SCP deny-rds-delete" in text
    assert "SCP deny-rds-delete" in text and "Organizations: organization" in text
    db = f"aws:{o.db_arn}"
    fact = next(f for f in inv.facts if f.credential == admin.id and f.target == db)
    assert fact.verdict is False and "denied by SCP deny-rds-delete" in fact.reason
    br = analyse(creds, inv.resources, inv.backups, inv.facts)
    exp = next((e for e in br.exposure if e.credential == admin.id), None)
    assert exp is None or db not in exp.can_destroy + exp.may_destroy


def test_without_an_organizations_reader_the_scp_is_not_assumed(moto: MotoHandle) -> None:
    o = _build(moto)
    creds, inv = _audit(moto, [o.admin])
    admin = creds[0]
    assert "delete:rds-instance" in admin.capabilities
    assert any("SCPs/RCPs could not be read" in r for r in admin.reasons)
    fact = next(f for f in inv.facts if f.credential == admin.id and f.target == f"aws:{o.db_arn}")
    assert fact.verdict is True
