"""The must-show account, built in moto through the public AWS APIs."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "123456789012"


def doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions: Any, resources: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources, **extra}


@dataclass
class Keys:
    user: str
    key_id: str
    secret: str

    def __repr__(self) -> str:
        return f"Keys({self.user})"


@dataclass
class Scenario:
    keys: dict[str, Keys] = field(default_factory=dict)
    db_arn: str = ""
    snapshot_arn: str = ""


LAMBDA_TRUST = doc({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})


def _user(iam: Any, name: str, sc: Scenario) -> None:
    iam.create_user(UserName=name)
    k = iam.create_access_key(UserName=name)["AccessKey"]
    sc.keys[name] = Keys(name, k["AccessKeyId"], k["SecretAccessKey"])


def build(moto: Any, *, with_data: bool = True) -> Scenario:
    sc = Scenario()
    iam = moto.client("iam")
    # Admin by managed policy.
    _user(iam, "admin-managed", sc)
    iam.attach_user_policy(UserName="admin-managed", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    # Admin by group.
    _user(iam, "admin-by-group", sc)
    iam.create_group(GroupName="admins")
    iam.attach_group_policy(GroupName="admins", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    iam.add_user_to_group(GroupName="admins", UserName="admin-by-group")
    # Admin by inline *.
    _user(iam, "admin-inline", sc)
    iam.put_user_policy(UserName="admin-inline", PolicyName="everything", PolicyDocument=doc(allow("*")))
    # Admin by NotAction naming a service that does not exist (so nothing is excluded).
    _user(iam, "admin-notaction", sc)
    iam.put_user_policy(
        UserName="admin-notaction",
        PolicyName="not-action",
        PolicyDocument=doc({"Effect": "Allow", "NotAction": "nosuchservice:*", "Resource": "*"}),
    )
    # Privilege escalation: CreatePolicyVersion on its own attached customer policy.
    _user(iam, "esc-policy-version", sc)
    pol = iam.create_policy(
        PolicyName="esc-dev",
        PolicyDocument=doc(
            allow(
                ["iam:CreatePolicyVersion", "iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions"],
                f"arn:aws:iam::{ACCOUNT}:policy/esc-dev",
            ),
            allow(["ec2:Describe*"]),
        ),
    )["Policy"]
    iam.attach_user_policy(UserName="esc-policy-version", PolicyArn=pol["Arn"])
    # Privilege escalation: PassRole + Lambda into an admin role.
    iam.create_role(RoleName="lambda-admin", AssumeRolePolicyDocument=LAMBDA_TRUST)
    iam.attach_role_policy(RoleName="lambda-admin", PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")
    _user(iam, "esc-passrole", sc)
    iam.put_user_policy(
        UserName="esc-passrole",
        PolicyName="lambda-dev",
        PolicyDocument=doc(
            allow("iam:PassRole", f"arn:aws:iam::{ACCOUNT}:role/lambda-admin"),
            allow(["lambda:CreateFunction", "lambda:InvokeFunction", "lambda:List*"]),
        ),
    )
    # Privilege escalation: AttachUserPolicy on itself (policy variable).
    _user(iam, "esc-attach", sc)
    iam.put_user_policy(
        UserName="esc-attach",
        PolicyName="self-service",
        PolicyDocument=doc(
            allow(
                ["iam:AttachUserPolicy", "iam:ListAttachedUserPolicies"],
                f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}",
            )
        ),
    )
    # Can delete the database and its snapshots, is not admin.
    _user(iam, "db-operator", sc)
    iam.put_user_policy(
        UserName="db-operator",
        PolicyName="rds-ops",
        PolicyDocument=doc(
            allow(
                ["rds:Describe*", "rds:List*", "rds:DeleteDBInstance", "rds:DeleteDBSnapshot", "rds:CreateDBSnapshot"]
            )
        ),
    )
    # Read-only.
    _user(iam, "auditor-ro", sc)
    iam.attach_user_policy(UserName="auditor-ro", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    # Put-only backup writer (versioned bucket: a put cannot destroy an older version).
    _user(iam, "backup-writer", sc)
    iam.put_user_policy(
        UserName="backup-writer",
        PolicyName="put-only",
        PolicyDocument=doc(allow("s3:PutObject", "arn:aws:s3:::blastwall-backups/*")),
    )
    # A read-only role that the account's users may assume (for assume-role profiles).
    iam.create_role(
        RoleName="ops-readonly",
        AssumeRolePolicyDocument=doc(
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
        ),
    )
    iam.attach_role_policy(RoleName="ops-readonly", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    iam.create_role(
        RoleName="deployer",
        AssumeRolePolicyDocument=doc(
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
        ),
    )
    iam.put_role_policy(
        RoleName="deployer", PolicyName="ebs", PolicyDocument=doc(allow(["ec2:DeleteVolume", "ec2:Describe*"]))
    )
    if with_data:
        rds = moto.client("rds")
        db = rds.create_db_instance(
            DBInstanceIdentifier="orders",
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            MasterUsername="app",
            MasterUserPassword="not-a-secret-1",
            AllocatedStorage=20,
            BackupRetentionPeriod=7,
        )["DBInstance"]
        sc.db_arn = db["DBInstanceArn"]
        snap = rds.create_db_snapshot(DBInstanceIdentifier="orders", DBSnapshotIdentifier="orders-manual")
        sc.snapshot_arn = snap["DBSnapshot"]["DBSnapshotArn"]
        s3 = moto.client("s3")
        s3.create_bucket(Bucket="blastwall-backups")
        s3.put_bucket_versioning(Bucket="blastwall-backups", VersioningConfiguration={"Status": "Enabled"})
        ec2 = moto.client("ec2")
        vol = ec2.create_volume(Size=1, AvailabilityZone="us-east-1a")
        ec2.create_snapshot(VolumeId=vol["VolumeId"], Description="nightly")
        ddb = moto.client("dynamodb")
        ddb.create_table(
            TableName="sessions",
            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.update_continuous_backups(
            TableName="sessions", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
        bk = moto.client("backup")
        bk.create_backup_vault(BackupVaultName="locked-vault")
        bk.put_backup_vault_lock_configuration(BackupVaultName="locked-vault", MinRetentionDays=7, ChangeableForDays=3)
    return sc
