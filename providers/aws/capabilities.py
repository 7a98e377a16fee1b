"""Data-destruction capabilities: which actions delete a primary or delete/shorten a backup.

Every action named here is checked against the IAM catalogue by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Capability", "CAPABILITIES", "by_name"]


@dataclass(frozen=True)
class Capability:
    name: str  # the string reported in Credential.capabilities
    actions: tuple[str, ...]  # any of them grants the capability
    what: str
    backup: bool  # destroys or weakens a backup (vs. a primary)


CAPABILITIES: tuple[Capability, ...] = (
    Capability("delete:rds-instance", ("rds:DeleteDBInstance",), "delete RDS DB instances", False),
    Capability("delete:rds-cluster", ("rds:DeleteDBCluster",), "delete RDS/Aurora clusters", False),
    Capability(
        "modify:rds-instance",
        ("rds:ModifyDBInstance",),
        "turn off deletion protection or set backup retention to 0 (disables automated backups)",
        True,
    ),
    Capability(
        "modify:rds-cluster", ("rds:ModifyDBCluster",), "turn off deletion protection / shorten retention", True
    ),
    Capability("delete:rds-snapshot", ("rds:DeleteDBSnapshot",), "delete manual DB snapshots", True),
    Capability("delete:rds-cluster-snapshot", ("rds:DeleteDBClusterSnapshot",), "delete DB cluster snapshots", True),
    Capability(
        "delete:rds-automated-backup",
        ("rds:DeleteDBInstanceAutomatedBackup", "rds:DeleteDBClusterAutomatedBackup"),
        "delete retained automated backups",
        True,
    ),
    Capability("delete:ebs-volume", ("ec2:DeleteVolume",), "delete EBS volumes", False),
    Capability("delete:ebs-snapshot", ("ec2:DeleteSnapshot",), "delete EBS snapshots", True),
    Capability("deregister:ami", ("ec2:DeregisterImage",), "deregister AMIs", True),
    Capability(
        "modify:recycle-bin-rule",
        ("rbin:DeleteRule", "rbin:UpdateRule", "rbin:UnlockRule"),
        "delete, shorten or unlock Recycle Bin retention rules",
        True,
    ),
    Capability(
        "delete:backup-recovery-point", ("backup:DeleteRecoveryPoint",), "delete AWS Backup recovery points", True
    ),
    Capability(
        "shorten:backup-lifecycle", ("backup:UpdateRecoveryPointLifecycle",), "shorten recovery point lifecycles", True
    ),
    Capability(
        "remove:backup-vault-lock",
        ("backup:DeleteBackupVaultLockConfiguration",),
        "remove a governance-mode vault lock",
        True,
    ),
    Capability("delete:backup-vault", ("backup:DeleteBackupVault",), "delete backup vaults", True),
    Capability(
        "modify:backup-vault-policy",
        ("backup:PutBackupVaultAccessPolicy", "backup:DeleteBackupVaultAccessPolicy"),
        "change the access policy protecting a vault",
        True,
    ),
    Capability(
        "delete:backup-plan",
        ("backup:DeleteBackupPlan", "backup:DeleteBackupSelection", "backup:UpdateBackupPlan"),
        "stop future backups",
        True,
    ),
    Capability("delete:s3-bucket", ("s3:DeleteBucket",), "delete (empty) S3 buckets", False),
    Capability("delete:s3-object", ("s3:DeleteObject",), "delete current S3 objects", False),
    Capability("delete:s3-object-version", ("s3:DeleteObjectVersion",), "permanently delete S3 object versions", True),
    Capability(
        "bypass:s3-governance-retention",
        ("s3:BypassGovernanceRetention",),
        "delete objects under governance-mode Object Lock",
        True,
    ),
    Capability("suspend:s3-versioning", ("s3:PutBucketVersioning",), "suspend bucket versioning", True),
    Capability(
        "modify:s3-lifecycle", ("s3:PutLifecycleConfiguration",), "expire objects and versions by lifecycle", True
    ),
    Capability(
        "modify:s3-bucket-policy",
        ("s3:PutBucketPolicy", "s3:DeleteBucketPolicy"),
        "remove a bucket policy that protects data",
        True,
    ),
    Capability("lift:s3-legal-hold", ("s3:PutObjectLegalHold",), "lift Object Lock legal holds", True),
    Capability("modify:s3-replication", ("s3:PutReplicationConfiguration",), "stop replication to the copy", True),
    Capability("delete:dynamodb-table", ("dynamodb:DeleteTable",), "delete DynamoDB tables", False),
    Capability("delete:dynamodb-backup", ("dynamodb:DeleteBackup",), "delete DynamoDB backups", True),
    Capability("disable:dynamodb-pitr", ("dynamodb:UpdateContinuousBackups",), "turn off point-in-time recovery", True),
    Capability("delete:efs-filesystem", ("elasticfilesystem:DeleteFileSystem",), "delete EFS file systems", False),
    Capability(
        "schedule:kms-key-deletion",
        ("kms:ScheduleKeyDeletion",),
        "schedule deletion of KMS keys (crypto-shreds everything they encrypt)",
        True,
    ),
    Capability("disable:kms-key", ("kms:DisableKey",), "disable KMS keys", True),
    Capability("leave:organization", ("organizations:LeaveOrganization",), "leave the AWS Organization", True),
)

_BY_NAME = {c.name: c for c in CAPABILITIES}


def by_name(name: str) -> Capability:
    return _BY_NAME[name]
