"""One contract every BackupStore passes (LocalStore and S3Store against SeaweedFS)."""

from __future__ import annotations

import hashlib
import os

import pytest

from auditor.backup.stores import MIN_PART, BackupStore, LocalStore, S3Store
from auditor.config import StoreConfig

pytestmark = pytest.mark.slow


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path, monkeypatch) -> BackupStore:
    if request.param == "local":
        yield LocalStore("l", tmp_path / "store")
        return
    sw = request.getfixturevalue("seaweed")
    bucket = sw.make_bucket(lock=True)
    for k, v in sw.env(writer=True).items():
        monkeypatch.setenv(k, v)
    cfg = StoreConfig(
        name="s",
        kind="s3",
        endpoint=sw.endpoint,
        bucket=bucket,
        prefix="p/",
        access_key_id="env:BW_S3_KEY",
        secret_access_key="env:BW_S3_SECRET",
        object_lock={"mode": "COMPLIANCE", "days": 1},
    )
    s = S3Store.from_config(cfg, part_size=MIN_PART)
    yield s
    s.close()


def test_streamed_write_commit_read(store):
    data = os.urandom(MIN_PART + 12345)  # more than one part
    w = store.open_writer("p/a/obj.dump")
    for i in range(0, len(data), 65536):
        w.write(data[i : i + 65536])
    obj = w.commit()
    assert obj.size == len(data)
    st = store.stat("p/a/obj.dump")
    assert st is not None and st.size == len(data)
    assert hashlib.sha256(store.read_bytes("p/a/obj.dump")).digest() == hashlib.sha256(data).digest()
    assert "p/a/obj.dump" in list(store.list_keys("p/a/"))
    assert store.stat("p/a/missing") is None


def test_abort_leaves_nothing(store):
    w = store.open_writer("p/b/obj.dump")
    w.write(os.urandom(MIN_PART + 1))
    assert w.abort() is True
    assert store.stat("p/b/obj.dump") is None
    assert store.incomplete_uploads("p/b/") == []


def test_repr_and_location_hold_no_secret(store):
    secret = os.environ.get("BW_S3_SECRET", "no-secret-here")
    assert secret not in repr(store) and secret not in store.location("p/x")


def test_locked_objects_refuse_delete(store):
    store.put_bytes("p/c/m.json", b"{}")
    res = store.delete("p/c/m.json")
    if isinstance(store, S3Store):
        assert res.deleted is False and "refused" in res.reason
        assert store.stat("p/c/m.json") is not None
    else:
        assert res.deleted is True  # a local directory offers no lock: check-store reports it
