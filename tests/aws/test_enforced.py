"""With moto enforcing IAM (INITIAL_NO_AUTH_ACTION_COUNT), a "cannot delete" verdict is really denied."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from auditor.model import Status
from providers.aws import AwsProvider
from tests.aws.conftest import context, key_candidate
from tests.aws.scenario import Scenario, _user, allow, doc

pytestmark = [pytest.mark.slow]


def _setup(moto) -> tuple[Scenario, str]:
    sc = Scenario()
    iam = moto.client("iam")
    _user(iam, "db-operator", sc)
    iam.put_user_policy(
        UserName="db-operator",
        PolicyName="rds-ops",
        PolicyDocument=doc(allow(["rds:Describe*", "rds:DeleteDBSnapshot", "rds:DeleteDBInstance"])),
    )
    _user(iam, "backup-writer", sc)
    iam.put_user_policy(
        UserName="backup-writer",
        PolicyName="put-only",
        PolicyDocument=doc(allow("s3:PutObject", "arn:aws:s3:::blastwall-backups/*")),
    )
    _user(iam, "auditor-ro", sc)
    iam.attach_user_policy(UserName="auditor-ro", PolicyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")
    rds = moto.client("rds")
    rds.create_db_instance(
        DBInstanceIdentifier="orders",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="app",
        MasterUserPassword="not-a-secret-1",
        AllocatedStorage=20,
        BackupRetentionPeriod=7,
    )
    snap = rds.create_db_snapshot(DBInstanceIdentifier="orders", DBSnapshotIdentifier="orders-manual")
    return sc, snap["DBSnapshot"]["DBSnapshotArn"]


def test_cannot_delete_verdict_is_really_denied(moto_auth_server) -> None:
    moto, enforce = moto_auth_server
    sc, snap_arn = _setup(moto)
    prov = AwsProvider()
    ctx = context(moto)
    creds = {
        n: prov.identify(prov.classify(key_candidate(sc.keys[n].key_id, sc.keys[n].secret, f"{n}.x")), ctx)
        for n in ("auditor-ro", "backup-writer", "db-operator")
    }
    inv = prov.inventory(list(creds.values()), ctx)
    verdict = {(f.credential, f.target): f.verdict for f in inv.facts}
    snap_id = f"aws:{snap_arn}"
    db_id = "aws:arn:aws:rds:us-east-1:123456789012:db:orders"
    assert verdict[(creds["backup-writer"].id, snap_id)] is False
    assert verdict[(creds["backup-writer"].id, db_id)] is False
    assert verdict[(creds["auditor-ro"].id, snap_id)] is False
    assert verdict[(creds["db-operator"].id, snap_id)] is True

    enforce()  # from now on moto checks every request against IAM
    for name in ("backup-writer", "auditor-ro"):
        k = sc.keys[name]
        rds = moto.client("rds", key=k.key_id, secret=k.secret)
        with pytest.raises(ClientError) as e:
            rds.delete_db_snapshot(DBSnapshotIdentifier="orders-manual")
        assert e.value.response["Error"]["Code"] in ("AccessDenied", "AccessDeniedException")
        with pytest.raises(ClientError):
            rds.delete_db_instance(DBInstanceIdentifier="orders", SkipFinalSnapshot=True)
    # Positive control: enforcement is not "deny everything" - the principal judged able to delete can.
    k = sc.keys["db-operator"]
    moto.client("rds", key=k.key_id, secret=k.secret).delete_db_snapshot(DBSnapshotIdentifier="orders-manual")

    # A key moto does not know is rejected once IAM is enforced.
    bogus = AwsProvider()
    c0 = bogus.identify(bogus.classify(key_candidate("AKIAZ7NOTAREALKEY002", "Q1w2E3r4T5y6U7i8O9p0" * 2)), ctx)
    assert c0.status == Status.invalid and c0.root_equivalent is False

    # A key that cannot read IAM is never judged safe: unknown, with a coverage gap.
    prov2 = AwsProvider()
    w = sc.keys["backup-writer"]
    c = prov2.identify(prov2.classify(key_candidate(w.key_id, w.secret)), ctx)
    assert c.status == Status.verified
    assert c.root_equivalent is None
    assert set(c.possible_capabilities) >= {"delete:rds-instance", "delete:rds-snapshot"}
    inv2 = prov2.inventory([c], ctx)
    assert any(g.subject.endswith(": IAM") for g in inv2.gaps)
    assert any(g.subject == c.id for g in inv2.gaps)
    assert all(f.verdict is not False for f in inv2.facts)
