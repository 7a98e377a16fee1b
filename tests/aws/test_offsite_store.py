"""Blastwall's own off-platform backups in AWS S3, judged by the AWS provider (through run_audit, moto as AWS).

The database is an RDS PostgreSQL instance; its dumps go to an S3 bucket of the same account (the store
declares `platform = "aws"` and the account, since moto's endpoint is not *.amazonaws.com). A discovered
key that can delete the instance and the bucket's object versions puts the backup in the same blast radius;
once `backup check-store` has proven COMPLIANCE object lock covering the newest copy, it does not."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from auditor.audit import AuditOptions, run_audit
from auditor.backup import check_store
from auditor.backup.catalog import Catalog
from auditor.config import load_config
from auditor.engine import analyse
from auditor.model import Backup, Credential, Resource
from auditor.provider import ProviderContext
from auditor.secrets import Secret
from auditor.state import StateDB
from providers.aws import AwsProvider
from tests.aws.scenario import ACCOUNT, Scenario, _user, allow, doc
from tests.support.moto_server import MotoHandle

pytestmark = [pytest.mark.slow]


def _account(moto: MotoHandle) -> tuple[Scenario, str]:
    sc = Scenario()
    iam = moto.client("iam")
    _user(iam, "ops", sc)  # can delete the database and the backups' versions
    iam.put_user_policy(
        UserName="ops",
        PolicyName="ops",
        PolicyDocument=doc(
            allow(["rds:DeleteDBInstance", "rds:Describe*"]),
            allow(["s3:DeleteObjectVersion", "s3:ListBucket"], "arn:aws:s3:::bw-*"),
        ),
    )
    _user(iam, "writer", sc)  # the stores' own put-only credential (moto does not enforce it here)
    moto.client("rds").create_db_instance(
        DBInstanceIdentifier="orders",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="app",
        MasterUserPassword="not-a-secret-1",
        AllocatedStorage=20,
        BackupRetentionPeriod=0,
        DeletionProtection=False,
    )
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="bw-offsite")
    s3.put_bucket_versioning(Bucket="bw-offsite", VersioningConfiguration={"Status": "Enabled"})
    address = moto.client("rds").describe_db_instances(DBInstanceIdentifier="orders")["DBInstances"][0]
    return sc, f"{address['Endpoint']['Address']}:{address['Endpoint'].get('Port') or 5432}"


def _config(tmp: Path, endpoint: str, server: str, bucket: str, lock: bool) -> Path:
    body = f"""
        [state]
        url = "sqlite:///{tmp / "state.db"}"

        [[sources]]
        name = "orders"
        url = "env:ORDERS_URL"

        [[stores]]
        name = "offsite"
        kind = "s3"
        endpoint = "{endpoint}"
        bucket = "{bucket}"
        prefix = "bw/"
        access_key_id = "env:BW_KEY"
        secret_access_key = "env:BW_SECRET"
        platform = "aws"
        account = "{ACCOUNT}"
        {'object_lock = { mode = "COMPLIANCE", days = 2 }' if lock else ""}

        [[backups]]
        source = "orders"
        store = "offsite"
        """
    p = tmp / "blastwall.toml"
    p.write_text(textwrap.dedent(body))
    return p


def _audit(
    moto: MotoHandle,
    tmp: Path,
    sc: Scenario,
    server: str,
    bucket: str,
    lock: bool,
    monkeypatch: pytest.MonkeyPatch,
    store: tuple[str, str, str] | None = None,
) -> Any:
    """``store``: (endpoint, key, secret) of the S3 service holding the bucket; moto's by default."""
    w = sc.keys["writer"]
    endpoint, key, secret = store or (moto.url, w.key_id, w.secret)
    monkeypatch.setenv("ORDERS_URL", f"postgres://app:pw@{server}/orders")
    monkeypatch.setenv("BW_KEY", key)
    monkeypatch.setenv("BW_SECRET", secret)
    cfg = load_config(_config(tmp, endpoint, server, bucket, lock))
    db = StateDB(cfg.state.url)
    cat = Catalog(db)
    created = datetime.now(UTC) - timedelta(hours=1)
    cat.start_run("b1", "orders", "offsite", created)
    cat.finish_run(
        "b1",
        size=10,
        sha256="0" * 64,
        object_key="bw/orders/b1.dump",
        location=f"s3://{bucket}/bw/",
        source_identity=f"postgres://{server}/orders",
    )
    posture = check_store(cfg, "offsite", db=db)
    home = tmp / "home"
    (home / ".aws").mkdir(parents=True)
    k = sc.keys["ops"]
    (home / ".aws/credentials").write_text(
        f"[default]\naws_access_key_id = {k.key_id}\naws_secret_access_key = {k.secret}\n"
    )
    result = run_audit(
        AuditOptions(
            home=home, env={"AWS_ENDPOINT_URL": moto.url}, include_env=False, only_providers=["aws"], config=cfg
        ),
        providers={"aws": AwsProvider()},
        ctx=ProviderContext(settings={"regions": ["us-east-1"]}, timeout_s=20, max_retries=2),
        db=db,
    )
    return result, posture


def test_unlocked_offsite_store_with_a_key_that_deletes_versions_is_same_blast_radius(
    moto: MotoHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc, server = _account(moto)
    result, posture = _audit(moto, tmp_path, sc, server, "bw-offsite", False, monkeypatch)
    assert posture.can_delete_backups is True
    (b,) = [b for b in result.backups if b.kind == "offsite-dump"]
    assert b.protects == "aws:arn:aws:rds:us-east-1:123456789012:db:orders"  # linked to the RDS instance
    assert b.metadata["storage"]["platform"] == "aws" and b.metadata["storage"]["account"] == ACCOUNT
    assert b.same_blast_radius is True, b.reasons
    ops = next(c for c in result.credentials if c.principal and c.principal.endswith("user/ops"))
    assert any("One credential can delete both" in r for r in b.reasons)
    exp = next(e for e in result.exposure if e.credential == ops.id)
    assert b.protects in exp.unrecoverable


def test_compliance_lock_proven_by_check_store_is_not_same_blast_radius(
    moto: MotoHandle, seaweed: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The locked bucket is served by SeaweedFS (real object lock; moto's PutObject with retention wants a
    Content-MD5 the store does not send), declared as AWS S3 of the audited account."""
    sc, server = _account(moto)
    bucket = seaweed.make_bucket(lock=True)
    env = seaweed.env(writer=True)
    result, posture = _audit(
        moto,
        tmp_path,
        sc,
        server,
        bucket,
        True,
        monkeypatch,
        store=(seaweed.endpoint, env["BW_S3_KEY"], env["BW_S3_SECRET"]),
    )
    assert posture.can_delete_backups is False and (posture.object_lock or {}).get("mode") == "COMPLIANCE"
    (b,) = [b for b in result.backups if b.kind == "offsite-dump"]
    assert b.metadata["storage"]["bucket"] == bucket
    assert b.metadata["storage"]["compliance_lock_proven"] is True
    assert any("COMPLIANCE object lock" in r for r in b.reasons)
    assert b.same_blast_radius is False, b.reasons
    ops = next(c for c in result.credentials if c.principal and c.principal.endswith("user/ops"))
    exp = next(e for e in result.exposure if e.credential == ops.id)
    assert b.protects in exp.can_destroy and b.protects not in exp.unrecoverable


def _offsite(platform: str | None) -> Backup:
    storage = {"platform": platform, "bucket": "x"} if platform else None
    return Backup(
        id="blastwall:backup:1",
        provider="blastwall",
        protects="railway:vol",
        kind="offsite-dump",
        location="s3://x/",
        dies_with_resource=False,
        metadata={"storage": storage} if storage else {},
    )


@pytest.mark.parametrize(
    "platform, cred_provider, expected",
    [
        ("aws", "aws", None),  # same platform, no fact: not determined, never "cannot"
        ("aws", "github", False),  # unrelated platforms: cannot
        ("cloudflare", "cloudflare", None),
        ("s3-compatible", "aws", False),
    ],
)
def test_engine_judges_credentials_of_the_storage_platform(
    platform: str, cred_provider: str, expected: bool | None
) -> None:
    from auditor.engine import _Facts

    c = Credential(
        id="c1",
        provider=cred_provider,
        kind="token",
        fingerprint="sha256:000000000000",
        secret=Secret("not-a-real-token-0000"),
    )
    r = Resource(id="railway:vol", provider="railway", type="volume", name="vol", holds_data=True)
    f = _Facts([c], [r], [_offsite(platform)], [])
    assert f.can("c1", "blastwall:backup:1")[0] is expected
    br = analyse([c], [r], [_offsite(platform)], [])
    assert br.backups[0].same_blast_radius is (None if expected is None else False)
