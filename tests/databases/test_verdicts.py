"""The engine's two destroy targets per database, from facts alone (no servers): who wipes the contents, who
deletes the container, and which backups survive each; an unverified off-platform dump is not counted."""

from __future__ import annotations

from auditor.engine import analyse, database_verdicts
from auditor.model import Backup, Credential, DestroyFact, Resource, Source, Status
from auditor.secrets import Secret


def _cred(cid: str, provider: str, kind: str, locator: str, summary: str | None = None) -> Credential:
    meta = {"db": {"summary": summary}} if summary else {}
    return Credential(
        id=cid,
        provider=provider,
        kind=kind,
        fingerprint="sha256:" + cid,
        status=Status.verified,
        secret=Secret(cid + "-value"),
        sources=(Source(path=".env", locator=locator),),
        metadata=meta,
    )


VOL = Resource(
    id="railway:volume-instance:v",
    provider="railway",
    type="volume",
    name="shop/production/Postgres:pg",
    holds_data=True,
)
DB = Resource(
    id="postgres://x.proxy.rlwy.net:1234/shop",
    provider="postgres",
    type="database",
    name="shop",
    holds_data=True,
    container=VOL.id,
    metadata={"layer": "contents", "database": "shop"},
)
SNAP = Backup(
    id="railway:backup:b1",
    provider="railway",
    protects=VOL.id,
    location="inside Railway",
    dies_with_resource=True,
    survives_contents_loss=True,
    metadata={"label": "Railway's volume backups"},
)


def _dump(verified: bool) -> Backup:
    return Backup(
        id="blastwall:backup:1",
        provider="blastwall",
        protects=DB.id,
        location="s3://b/k",
        kind="offsite-dump",
        dies_with_resource=False,
        survives_contents_loss=True if verified else None,
        metadata={"label": "the off-platform dump"},
    )


URL = _cred("url", "postgres", "database_url", "DATABASE_URL", "owner")
TOK = _cred("tok", "railway", "account_token", "RAILWAY_API_TOKEN")
FACTS = [
    DestroyFact(credential="url", target=DB.id, verdict=True, reason="owner"),
    DestroyFact(credential="tok", target=VOL.id, verdict=True, reason="account token"),
    DestroyFact(credential="tok", target=SNAP.id, verdict=True, reason="account token"),
    DestroyFact(credential="tok", target=DB.id, verdict=True, reason="via volume", capability="delete:container"),
]


def test_verified_dump_survives_both_unverified_is_not_counted() -> None:
    for verified in (True, False):
        backups = [SNAP, _dump(verified)]
        v = {(x.credential, x.kind): x for x in database_verdicts([URL, TOK], [VOL, DB], backups, FACTS)}
        assert set(v) == {("url", "contents"), ("tok", "container")}
        contents, container = v[("url", "contents")], v[("tok", "container")]
        if verified:
            assert contents.survivors == (SNAP.id, "blastwall:backup:1")
            assert contents.text == (
                "this DATABASE_URL (owner) can wipe shop; Railway's volume backups and the "
                "off-platform dump survive that"
            )
            assert container.survivors == ("blastwall:backup:1",)
            assert container.text == (
                "the railway account token can delete shop/production/Postgres:pg (holding "
                "shop); only the off-platform dump survives"
            )
        else:
            assert contents.survivors == (SNAP.id,)
            assert "not counted until a restore of it is verified" in contents.text
            assert container.survivors == () and container.text.endswith("no backup survives")


def test_exposure_counts_platform_snapshots_for_the_contents_only() -> None:
    br = analyse([URL, TOK], [VOL, DB], [SNAP], FACTS)
    exp = {e.credential: e for e in br.exposure}
    assert DB.id in exp["url"].can_destroy and DB.id not in exp["url"].unrecoverable
    assert VOL.id not in exp["url"].can_destroy  # a database login cannot delete the volume
    assert {DB.id, VOL.id} <= set(exp["tok"].unrecoverable)
