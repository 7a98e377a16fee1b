"""The blast-radius engine on hand-built fact sets, including unknowns."""

from __future__ import annotations

from auditor.engine import analyse
from auditor.model import Backup, Credential, DestroyFact, Resource
from auditor.secrets import Secret


def cred(cid: str, provider: str = "p") -> Credential:
    return Credential(
        id=cid, provider=provider, kind="token", fingerprint="sha256:" + cid, secret=Secret("s" * 8 + cid)
    )


DB = Resource(id="p:db", provider="p", type="volume", name="db", holds_data=True)
PROJ = Resource(id="p:proj", provider="p", type="project", name="proj")


def backup(bid: str, **kw: object) -> Backup:
    return Backup(id=bid, provider=kw.pop("provider", "p"), protects="p:db", location="x", **kw)  # type: ignore[arg-type]


def test_backup_that_dies_with_resource_is_same_blast_radius_and_data_unrecoverable() -> None:
    c = cred("a")
    res = analyse(
        [c],
        [DB, PROJ],
        [backup("b1", dies_with_resource=True)],
        [DestroyFact(credential="a", target="p:db", verdict=True, reason="admin")],
    )
    assert res.backups[0].same_blast_radius is True
    assert any("Deleted together" in r for r in res.backups[0].reasons)
    (e,) = res.exposure
    assert e.can_destroy == ("p:db",) and e.unrecoverable == ("p:db",)


def test_same_credential_can_delete_both() -> None:
    c = cred("a")
    facts = [
        DestroyFact(credential="a", target="p:db", verdict=True, reason="r"),
        DestroyFact(credential="a", target="b1", verdict=True, reason="r"),
    ]
    res = analyse([c], [DB], [backup("b1", dies_with_resource=False)], facts)
    assert res.backups[0].same_blast_radius is True
    assert res.exposure[0].unrecoverable == ("p:db",)


def test_independent_backup_is_false_and_data_recoverable() -> None:
    c = cred("a")
    b = backup("b1", provider="s3", dies_with_resource=False, independent=True)
    res = analyse([c], [DB], [b], [DestroyFact(credential="a", target="p:db", verdict=True, reason="r")])
    assert res.backups[0].same_blast_radius is False
    e = res.exposure[0]
    assert e.can_destroy == ("p:db",) and e.unrecoverable == () and e.possibly_unrecoverable == ()


def test_unknown_survival_is_null_never_false() -> None:
    c = cred("a")
    b = backup("b1")  # nothing known about it
    res = analyse([c], [DB], [b], [DestroyFact(credential="a", target="p:db", verdict=True, reason="r")])
    assert res.backups[0].same_blast_radius is None
    assert res.exposure[0].possibly_unrecoverable == ("p:db",)
    assert res.exposure[0].unrecoverable == ()


def test_backup_surviving_resource_but_deletable_by_unknown_same_provider_credential_is_null() -> None:
    a, b_ = cred("a"), cred("b")
    bk = backup("b1", dies_with_resource=False)
    facts = [
        DestroyFact(credential="a", target="p:db", verdict=True, reason="r"),
        DestroyFact(credential="a", target="b1", verdict=False, reason="r"),
    ]
    res = analyse([a, b_], [DB], [bk], facts)
    # credential b's reach over the backup is unknown (same provider, no fact)
    assert res.backups[0].same_blast_radius is None
    # but a's exposure is fine: the backup survives a
    ea = next(e for e in res.exposure if e.credential == "a")
    assert ea.unrecoverable == () and ea.possibly_unrecoverable == ()


def test_cross_provider_default_is_cannot_and_explicit_cascade_counts() -> None:
    gh = cred("g", provider="github")
    res = analyse([gh], [DB], [backup("b1", dies_with_resource=True)], [])
    assert res.exposure == ()
    vercel = cred("v", provider="vercel")
    res2 = analyse(
        [vercel],
        [DB],
        [backup("b1", dies_with_resource=True)],
        [DestroyFact(credential="v", target="p:db", verdict=True, reason="integration cascade")],
    )
    assert res2.exposure[0].unrecoverable == ("p:db",)


def test_possible_destroyer_lists_may_destroy() -> None:
    c = cred("a")
    res = analyse(
        [c],
        [DB],
        [backup("b1", dies_with_resource=True)],
        [DestroyFact(credential="a", target="p:db", verdict=None, reason="undocumented")],
    )
    e = res.exposure[0]
    assert e.can_destroy == () and e.may_destroy == ("p:db",)
    assert e.possibly_unrecoverable == ("p:db",) and e.unrecoverable == ()


def test_conservative_merge_true_beats_false() -> None:
    c = cred("a")
    facts = [
        DestroyFact(credential="a", target="p:db", verdict=False, reason="policy 1"),
        DestroyFact(credential="a", target="p:db", verdict=True, reason="policy 2"),
    ]
    res = analyse([c], [DB], [], facts)
    assert res.exposure[0].can_destroy == ("p:db",)
    assert res.exposure[0].unrecoverable == ("p:db",)  # no backups at all


def test_non_data_resources_are_not_exposure() -> None:
    c = cred("a")
    res = analyse([c], [PROJ], [], [DestroyFact(credential="a", target="p:proj", verdict=True, reason="r")])
    assert res.exposure == ()


# -- issue 15: no alarms about what cannot happen -------------------------------------------------------


def test_a_revoked_credential_has_no_exposure_and_threatens_no_backup() -> None:
    from auditor.model import Status

    dead = cred("dead").model_copy(update={"status": Status.invalid})
    live = cred("live")
    bk = backup("b1", dies_with_resource=False)
    facts = [
        DestroyFact(credential="live", target="p:db", verdict=True, reason="admin"),
        DestroyFact(credential="live", target="b1", verdict=False, reason="no access"),
    ]
    res = analyse([dead, live], [DB], [bk], facts)
    assert [e.credential for e in res.exposure] == ["live"]
    # without the dead token, nothing is unknown about the backup: it survives
    assert res.backups[0].same_blast_radius is False
    assert res.exposure[0].possibly_unrecoverable == () and res.exposure[0].unrecoverable == ()


def test_cannot_destroy_type_applies_to_resources_another_credential_listed() -> None:
    from auditor.model import CannotDestroyType

    reader, admin = cred("reader"), cred("admin")
    repos = [
        Resource(id=f"p:repo:{i}", provider="p", type="repository", name=f"r{i}", holds_data=True) for i in range(5)
    ]
    facts = [DestroyFact(credential="admin", target=r.id, verdict=True, reason="admin") for r in repos]
    denial = CannotDestroyType(
        credential="reader",
        provider="p",
        resource_type="repository",
        reason="no delete scope",
        capability="delete:repo",
    )
    res = analyse([reader, admin], [*repos, DB], [], facts, [denial])
    by = {e.credential: e for e in res.exposure}
    assert by["reader"].may_destroy == ("p:db",)  # other types stay unknown
    assert by["reader"].can_destroy == ()
    assert set(by["admin"].can_destroy) == {r.id for r in repos}
    # an explicit "can" fact wins over a contradicting type statement
    res2 = analyse(
        [reader],
        repos[:1],
        [],
        [DestroyFact(credential="reader", target="p:repo:0", verdict=True, reason="proven")],
        [denial],
    )
    assert res2.exposure[0].can_destroy == ("p:repo:0",)


def test_inventory_merge_keeps_one_resource_and_backup_per_id() -> None:
    from auditor.model import Inventory

    a = Inventory(
        resources=(
            Resource(id="p:r", provider="p", type="repository", name="r", holds_data=True, metadata={"private": True}),
        ),
        backups=(backup("b1", metadata={"x": 1}),),
    )
    b = Inventory(
        resources=(Resource(id="p:r", provider="p", type="repository", name="r", metadata={"archived": False}),),
        backups=(backup("b1", metadata={"y": 2}),),
    )
    m = a.merge(b).merge(b)
    assert [r.id for r in m.resources] == ["p:r"]
    assert m.resources[0].metadata == {"private": True, "archived": False} and m.resources[0].holds_data
    assert [x.id for x in m.backups] == ["b1"] and m.backups[0].metadata == {"x": 1, "y": 2}
    res = analyse([cred("a")], m.resources, m.backups, [])
    assert res.exposure[0].may_destroy == ("p:r",)
