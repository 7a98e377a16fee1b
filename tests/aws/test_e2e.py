"""End to end through auditor.audit.run_audit: keys in a fixture ~/.aws/credentials, moto as AWS."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.audit import AuditOptions, run_audit
from auditor.model import Status
from auditor.provider import ProviderContext
from providers.aws import AwsProvider
from tests.aws.scenario import build

pytestmark = [pytest.mark.slow]


def test_run_audit_with_fixture_credentials(moto, tmp_path: Path, canaries, caplog) -> None:
    sc = build(moto)
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    op, ro = sc.keys["db-operator"], sc.keys["auditor-ro"]
    for k in (op, ro):
        canaries.add(k.secret)
    (home / ".aws/credentials").write_text(
        f"[default]\naws_access_key_id = {op.key_id}\naws_secret_access_key = {op.secret}\n\n"
        f"[readonly]\naws_access_key_id = {ro.key_id}\naws_secret_access_key = {ro.secret}\n"
    )
    (home / ".aws/config").write_text(
        "[default]\nregion = us-east-1\n\n"
        "[profile ops]\nrole_arn = arn:aws:iam::123456789012:role/ops-readonly\nsource_profile = readonly\n"
        "region = us-east-1\n"
    )
    env = {"AWS_ENDPOINT_URL": moto.url}
    result = run_audit(
        AuditOptions(home=home, env=env, include_env=False, only_providers=["aws"]),
        providers={"aws": AwsProvider()},
        ctx=ProviderContext(settings={"regions": ["us-east-1"]}, timeout_s=20, max_retries=2),
    )
    creds = {c.principal: c for c in result.credentials}
    op_c = creds["arn:aws:iam::123456789012:user/db-operator"]
    assert op_c.status == Status.verified and op_c.root_equivalent is False
    assert op_c.sources[0].locator == "default.aws_access_key_id"
    assert set(op_c.capabilities) == {"delete:rds-instance", "delete:rds-snapshot"}
    ro_c = creds["arn:aws:iam::123456789012:user/auditor-ro"]
    assert ro_c.root_equivalent is False and ro_c.capabilities == ()
    # The assume-role profile, resolved by boto3's own credential chain from the discovered files.
    role = next(c for c in result.credentials if c.kind == "assume_role_profile")
    assert role.status == Status.verified, role.reasons
    assert role.principal and ":assumed-role/ops-readonly/" in role.principal
    assert role.root_equivalent is False and role.capabilities == ()

    db = "aws:arn:aws:rds:us-east-1:123456789012:db:orders"
    exp = next(e for e in result.exposure if e.credential == op_c.id)
    assert db in exp.unrecoverable
    assert any(f.rule == "unrecoverable-if-misused" and f.subject == db for f in result.findings)
    assert any("recovery points of vault" in g.subject for g in result.coverage_gaps)
    out = result.model_dump_json()
    canaries.assert_absent(texts=[out, repr(result), caplog.text])
