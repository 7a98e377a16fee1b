"""An RDS endpoint URL found in .env maps to the RDS instance the AWS provider inventories (moto as AWS): one
database, a container verdict for the AWS key that can delete the instance. No database login (the endpoint is
moto's, nothing listens there): `--no-db-connect`, so the URL itself stays unverified with a gap."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.audit import AuditOptions, run_audit
from auditor.model import Status
from auditor.provider import ProviderContext
from providers.aws import AwsProvider
from providers.postgres import PostgresProvider
from tests.aws.scenario import build

pytestmark = [pytest.mark.slow]


def test_rds_endpoint_url_links_to_the_rds_instance(moto, tmp_path: Path) -> None:
    sc = build(moto)
    inst = moto.client("rds").describe_db_instances(DBInstanceIdentifier="orders")["DBInstances"][0]
    host, port = inst["Endpoint"]["Address"], inst["Endpoint"]["Port"]
    home, proj = tmp_path / "home", tmp_path / "app"
    (home / ".aws").mkdir(parents=True)
    proj.mkdir()
    op = sc.keys["db-operator"]
    (home / ".aws/credentials").write_text(
        f"[default]\naws_access_key_id = {op.key_id}\naws_secret_access_key = {op.secret}\n"
    )
    (home / ".aws/config").write_text("[default]\nregion = us-east-1\n")
    (proj / ".env").write_text(f"DATABASE_URL=postgresql://app:not-a-secret-1@{host}:{port}/orders\n")
    result = run_audit(
        AuditOptions(paths=[proj], home=home, env={"AWS_ENDPOINT_URL": moto.url}, include_env=False, db_connect=False),
        providers={"aws": AwsProvider(), "postgres": PostgresProvider()},
        ctx=ProviderContext(settings={"regions": ["us-east-1"]}, timeout_s=20, max_retries=2),
    )
    url = next(c for c in result.credentials if c.provider == "postgres")
    key = next(c for c in result.credentials if c.provider == "aws")
    assert url.status == Status.unverified and url.metadata["platform"] == "rds"
    assert any(g.subject == url.id and "--no-db-connect" in g.reason for g in result.coverage_gaps)
    (db,) = [r for r in result.resources if r.type == "database" and r.metadata.get("layer") == "contents"]
    assert db.container == "aws:" + sc.db_arn
    (v,) = [v for v in result.verdicts if v.credential == key.id and v.kind == "container"]
    assert v.verdict is True and v.target == db.container and "can delete RDS orders" in v.text
