"""`_fetch_into`: the verifier's single read of a stored object into a private file (no PostgreSQL needed)."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from pathlib import Path

import pyrage
import pytest
from pyrage import x25519

from auditor.backup import verify as verify_mod
from auditor.backup.stores import LocalStore
from auditor.errors import VerificationError

DATA = os.urandom(9 * 1024 * 1024 + 17)


def _store(tmp_path: Path, encrypt_to: x25519.Recipient | None = None) -> LocalStore:
    store = LocalStore("local", tmp_path / "store")
    body = DATA
    if encrypt_to is not None:
        out = io.BytesIO()
        pyrage.encrypt_io(io.BytesIO(DATA), out, [encrypt_to])
        body = out.getvalue()
    store.put_bytes("obj", body)
    return store


@pytest.mark.parametrize("encrypted", [False, True])
def test_fetch_hashes_decrypts_and_writes_0600(tmp_path: Path, encrypted: bool) -> None:
    ident = x25519.Identity.generate()
    store = _store(tmp_path, ident.to_public() if encrypted else None)
    dest = tmp_path / "dump"
    out = verify_mod._fetch_into(store, "obj", [ident] if encrypted else None, dest)
    stored = store.read_bytes("obj")
    assert out.sha256 == hashlib.sha256(stored).hexdigest() and out.size == len(stored)
    assert out.decrypt_error is None and out.head == DATA[:64] and out.tail == DATA[-64:]
    assert dest.read_bytes() == DATA and stat.S_IMODE(dest.stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):  # never writes into an existing file
        verify_mod._fetch_into(store, "obj", None, dest)


def test_wrong_key_is_a_decrypt_error_and_the_hash_still_covers_everything(tmp_path: Path) -> None:
    store = _store(tmp_path, x25519.Identity.generate().to_public())
    out = verify_mod._fetch_into(store, "obj", [x25519.Identity.generate()], tmp_path / "dump")
    assert out.decrypt_error and out.sha256 == hashlib.sha256(store.read_bytes("obj")).hexdigest()


@pytest.mark.parametrize("encrypted", [False, True])
def test_disk_full_is_an_error_not_a_decrypt_failure(tmp_path: Path, monkeypatch, encrypted: bool) -> None:  # type: ignore[no-untyped-def]
    ident = x25519.Identity.generate()
    store = _store(tmp_path, ident.to_public() if encrypted else None)
    real_open = os.open
    monkeypatch.setattr(verify_mod.os, "open", lambda *a, **k: real_open("/dev/full", os.O_WRONLY))
    with pytest.raises(VerificationError, match="cannot write the plain copy"):
        verify_mod._fetch_into(store, "obj", [ident] if encrypted else None, tmp_path / "dump")
