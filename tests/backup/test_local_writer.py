"""The local store's writer: O_DIRECT from an aligned buffer, the unaligned tail and the fall-backs."""

from __future__ import annotations

import errno
import fcntl
import os
import random

import pytest

from auditor.backup import stores
from auditor.backup.stores import DIRECT_BUF, LocalStore
from auditor.errors import BackupError


def _write(store, key, pieces):
    w = store.open_writer(key)
    for p in pieces:
        w.write(p)
    return w, w.commit()


@pytest.mark.parametrize(
    "sizes",
    [[], [1], [4095], [4096], [DIRECT_BUF], [DIRECT_BUF + 1], [3, DIRECT_BUF - 3, 5000, 1], [2 * DIRECT_BUF + 7]],
)
def test_bytes_land_whole(tmp_path, sizes):
    data = os.urandom(sum(sizes))
    pieces, off = [], 0
    for n in sizes:
        pieces.append(memoryview(data)[off : off + n] if n % 2 else data[off : off + n])
        off += n
    _, obj = _write(LocalStore("l", tmp_path), "a/obj", pieces)
    assert obj.size == len(data) and (tmp_path / "a/obj").read_bytes() == data
    assert not list(tmp_path.rglob("*.partial"))


def test_uses_o_direct_where_the_file_system_takes_it(tmp_path, monkeypatch):
    seen = []
    real = os.write

    def spy(fd, data):
        seen.append((len(data), bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)))
        return real(fd, data)

    monkeypatch.setattr(stores.os, "write", spy)
    w = LocalStore("l", tmp_path).open_writer("obj")
    if w._buf is None:  # type: ignore[attr-defined]
        pytest.skip("this file system refuses O_DIRECT")
    w.write(os.urandom(DIRECT_BUF + 5000))
    w.commit()
    assert seen == [(DIRECT_BUF, True), (4096, True), (5000 - 4096, False)]


def test_a_refused_o_direct_write_goes_through_the_page_cache(tmp_path, monkeypatch):
    real = os.write
    refused = []

    def picky(fd, data):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            refused.append(len(data))
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, data)

    monkeypatch.setattr(stores.os, "write", picky)
    rnd = random.Random(5)
    data = os.urandom(3 * DIRECT_BUF + 12345)
    cuts = sorted(rnd.sample(range(1, len(data)), 20))
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    _, obj = _write(LocalStore("l", tmp_path), "obj", pieces)
    assert (tmp_path / "obj").read_bytes() == data and obj.size == len(data)
    assert len(refused) <= 1  # O_DIRECT is turned off for good after the first refusal


def test_no_o_direct_at_open(tmp_path, monkeypatch):
    real = os.open

    def no_direct(path, flags, mode=0o777):
        if flags & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(path, flags, mode)

    monkeypatch.setattr(stores.os, "open", no_direct)
    data = os.urandom(stores.WRITEBACK + DIRECT_BUF + 3)
    w, obj = _write(LocalStore("l", tmp_path), "obj", [data[: DIRECT_BUF - 1], data[DIRECT_BUF - 1 :]])
    assert w._buf is None  # type: ignore[attr-defined]
    assert (tmp_path / "obj").read_bytes() == data


def test_a_failed_write_is_reported_and_abort_cleans_up(tmp_path, monkeypatch):
    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(stores.os, "write", full)
    w = LocalStore("l", tmp_path).open_writer("obj")
    with pytest.raises(BackupError, match="disk full"):
        w.write(os.urandom(DIRECT_BUF))
    assert w.abort() is True
    assert list(tmp_path.iterdir()) == []


def test_abort_after_a_failed_o_direct_write_while_the_traceback_lives(tmp_path, monkeypatch):
    def full(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    w = LocalStore("l", tmp_path).open_writer("obj")
    w.write(b"x" * 100)
    monkeypatch.setattr(stores.os, "write", full)
    try:
        w.commit()
    except BackupError as exc:
        kept = exc  # its traceback holds the frames (and their views of the buffer)
    assert "disk full" in kept.message
    assert w.abort() is True and list(tmp_path.iterdir()) == []
