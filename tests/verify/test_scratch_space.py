"""A scratch disk too small for the restore: an error naming where and what to change, never a failed backup."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from auditor import scratch
from auditor.backup import list_backups, run_backup, verify_backup
from auditor.errors import VerificationError
from auditor.pgserver import ScratchPostgres

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small filesystem needs root (CI runs as root)"),
]


@contextlib.contextmanager
def _filesystem(size_mb: int, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A tmpfs of `size_mb` as the scratch directory, traversable by the server's unprivileged user."""
    base = Path(tempfile.mkdtemp(prefix="bw-test-small-disk-"))
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0711", "tmpfs", str(base)], check=True)
    monkeypatch.setenv(scratch.SCRATCH_ENV, str(base))
    try:
        yield base
    finally:
        subprocess.run(["umount", "-l", str(base)], check=False)
        base.rmdir()  # empty once unmounted; never a recursive removal


@pytest.fixture
def small_disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """48 MB: a cluster template is 38 MB."""
    with _filesystem(48, monkeypatch) as base:
        yield base


def test_a_restore_that_fills_the_scratch_disk_is_an_error_not_a_failed_backup(make_setup, small_disk: Path) -> None:
    setup = make_setup("local")
    # ~45 MB once restored, a few hundred KB as a dump: the fetched copy fits, the restored table does not
    setup.db.execute("create table wide as select g, repeat('x', 1000) as pad from generate_series(1, 40000) g")
    rec = run_backup(setup.config, "app")

    with pytest.raises(VerificationError) as err:
        verify_backup(setup.config, rec.id)

    assert f"ran out of disk space in {small_disk} during the restore" in err.value.message
    assert "says nothing about the backup" in err.value.message
    assert scratch.SCRATCH_ENV in (err.value.hint or "")
    assert list(small_disk.iterdir()) == []  # the scratch server and its data are gone
    (listed,) = list_backups(setup.state())
    assert listed.last_verification is None  # nothing recorded against the backup


def test_the_same_backup_verifies_with_room(make_setup, monkeypatch: pytest.MonkeyPatch) -> None:
    setup = make_setup("local")
    setup.db.execute("create table wide as select g, repeat('x', 1000) as pad from generate_series(1, 40000) g")
    rec = run_backup(setup.config, "app")
    roomy = Path(tempfile.mkdtemp(prefix="bw-test-roomy-"))  # traversable by the server's unprivileged user
    roomy.chmod(0o711)
    monkeypatch.setenv(scratch.SCRATCH_ENV, str(roomy))
    try:
        res = verify_backup(setup.config, rec.id)
        assert res.outcome == "passed", res.message
        assert {t.name: t.found_rows for t in res.tables}["public.wide"] == 40000
        assert list(roomy.iterdir()) == []
    finally:
        assert roomy.name.startswith("bw-test-roomy-") and roomy.parent == Path(tempfile.gettempdir())
        shutil.rmtree(roomy, ignore_errors=True)


def test_a_scratch_directory_the_server_user_cannot_reach_is_refused_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hidden = tmp_path / "scratch"  # below pytest's own 0700 directory
    hidden.mkdir()
    monkeypatch.setenv(scratch.SCRATCH_ENV, str(hidden))
    with pytest.raises(VerificationError) as err:
        ScratchPostgres(min_major=17).start()
    private = next(p for p in hidden.parents if not p.stat().st_mode & 0o001)
    assert f"not reachable by the unprivileged user nobody the scratch server runs as: {private} has mode" in str(
        err.value.message
    )
    assert scratch.SCRATCH_ENV in (err.value.hint or "")
    assert list(hidden.iterdir()) == []  # nothing left behind


@pytest.fixture
def mid_disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """200 MB: room for a scratch MariaDB's own files (about 150 MB), not for the restored table below."""
    with _filesystem(200, monkeypatch) as base:
        yield base


def test_a_mariadb_restore_that_fills_the_scratch_disk_is_an_error_and_shows_no_rows(
    mysql_setup, mid_disk: Path
) -> None:
    setup = mysql_setup("local")
    with setup.mysql() as conn:
        cur = conn.cursor()
        cur.execute("CREATE TABLE wide (g INT PRIMARY KEY, pad VARCHAR(1100)) ENGINE=InnoDB")
        for i in range(0, 60000, 2000):  # ~70 MB restored; the client echoes a failing INSERT (these rows)
            cur.execute(
                f"INSERT INTO wide SELECT seq, CONCAT('row-data-', seq, REPEAT('x', 990)) FROM seq_{i + 1}_to_{i + 2000}"
            )
        conn.commit()
    rec = run_backup(setup.config, "app")

    with pytest.raises(VerificationError) as err:
        verify_backup(setup.config, rec.id)

    assert f"ran out of disk space in {mid_disk} during the restore" in err.value.message
    assert "row-data-" not in err.value.message + (err.value.hint or "")
    assert list(mid_disk.iterdir()) == []
    (listed,) = list_backups(setup.state())
    assert listed.last_verification is None
