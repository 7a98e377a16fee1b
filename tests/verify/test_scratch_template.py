"""Scratch PostgreSQL from a cached, freshly initialised cluster (auditor/pgtemplate.py).

What must hold: the copy is a working server with its own password (the template's does not work on it),
the template holds no password, is never changed by a server started from it, is the invoking user's
and private; an unsafe or broken template is not used (initdb instead) and a broken one is replaced.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import psycopg
import pytest

from auditor.config import Config
from auditor.pgserver import ScratchPostgres
from auditor.pgtemplate import ClusterTemplates, scram_verifier

pytestmark = pytest.mark.xdist_group("scratch-template")


def _tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath, name)
            st = p.lstat()
            h.update(f"{p.relative_to(root)}\0{stat.S_IMODE(st.st_mode)}\0{st.st_uid}\0".encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def _only_template(root: Path) -> Path:
    found = [p for p in root.iterdir() if not p.name.startswith(".")]
    assert len(found) == 1, found
    return found[0]


def _can_log_in(pg: ScratchPostgres, password: str) -> bool:
    try:
        with psycopg.connect(
            host=pg.host, port=pg.port, user=pg.superuser, password=password, dbname="postgres", connect_timeout=5
        ):
            return True
    except psycopg.OperationalError as exc:
        assert "password authentication failed" in str(exc)
        return False


def test_second_server_is_a_copy_with_its_own_password(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    with ScratchPostgres(min_major=17, template_root=root) as first:
        assert first.from_template is False  # nothing cached yet: initdb, then the template is kept
        first_password = first._password.reveal()
        template = _only_template(root)
        before = _tree_digest(template)
        with first.connect() as conn:
            conn.execute("CREATE TABLE kept_out (x int)")  # the running server's changes never reach the template
    with ScratchPostgres(min_major=17, template_root=root) as second:
        assert second.from_template is True
        assert second._password.reveal() != first_password
        assert _can_log_in(second, second._password.reveal())
        assert not _can_log_in(second, first_password)  # the password the template was made with is void
        with second.connect() as conn:
            assert conn.execute("SELECT to_regclass('kept_out')").fetchone() == (None,)
            conn.execute("CREATE TABLE scratch (x int)")
        if os.geteuid() == 0:
            import pwd

            nobody = pwd.getpwnam("nobody").pw_uid
            assert second.data_dir.stat().st_uid == nobody  # the server's user gets a copy
    assert _tree_digest(template) == before  # unchanged by the servers started from it
    st = template.stat()
    assert st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) == 0o700
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    for pw in (first_password, second._password.reveal()):
        for dirpath, _, filenames in os.walk(root):
            for name in filenames:
                assert pw.encode() not in Path(dirpath, name).read_bytes()


@pytest.mark.parametrize("unsafe", ["group-writable root", "foreign owner"])
def test_an_unsafe_cache_is_not_used(tmp_path: Path, unsafe: str) -> None:
    root = tmp_path / "templates"
    with ScratchPostgres(min_major=17, template_root=root):
        pass
    template = _only_template(root)
    if unsafe == "group-writable root":
        root.chmod(0o770)
    else:
        if os.geteuid() != 0:
            pytest.skip("changing a directory's owner needs root")  # pragma: no cover - CI runs as root
        os.chown(template, 65534, 65534)
    with ScratchPostgres(min_major=17, template_root=root) as pg:
        assert pg.from_template is False
        with pg.connect() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_broken_template_is_replaced(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    with ScratchPostgres(min_major=17, template_root=root):
        pass
    template = _only_template(root)
    (template / "global" / "pg_control").write_bytes(b"\0" * 100)  # not a cluster any more
    with ScratchPostgres(min_major=17, template_root=root) as pg:
        assert pg.from_template is False  # fell back to initdb
        with pg.connect() as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    with ScratchPostgres(min_major=17, template_root=root) as pg:
        assert pg.from_template is True  # the broken one was discarded and a good one kept


def test_a_template_with_a_symlink_is_not_copied(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    with ScratchPostgres(min_major=17, template_root=root):
        pass
    template = _only_template(root)
    outside = tmp_path / "outside"
    outside.write_text("not part of a cluster")
    (template / "base" / "planted").symlink_to(outside)
    with ScratchPostgres(min_major=17, template_root=root) as pg:
        assert pg.from_template is False
        assert not (pg.data_dir / "base" / "planted").exists()


def test_cache_off_runs_initdb(tmp_path: Path) -> None:
    root = tmp_path / "templates"
    for _ in range(2):
        with ScratchPostgres(min_major=17, template_root=root, template_cache=False) as pg:
            assert pg.from_template is False
    assert not root.exists()
    assert Config.model_validate({"verify": {"scratch_template": False}}).verify.scratch_template is False
    assert Config().verify.scratch_template is True


def test_default_cache_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BLASTWALL_CACHE_DIR", str(tmp_path / "c"))
    assert ClusterTemplates().root == tmp_path / "c" / "pg-templates"


def test_scram_verifier_matches_postgresql(tmp_path: Path) -> None:
    """PostgreSQL's own SCRAM login accepts a role whose password was set from our verifier."""
    with ScratchPostgres(min_major=17, template_root=tmp_path / "t") as pg, pg.connect() as conn:
        conn.execute(f"CREATE ROLE probe LOGIN PASSWORD '{scram_verifier('correct-horse')}'")
        stored = conn.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'probe'").fetchone()
        assert stored is not None and stored[0].startswith("SCRAM-SHA-256$4096:")
        for password, ok in (("correct-horse", True), ("wrong-horse", False)):
            try:
                with psycopg.connect(host=pg.host, port=pg.port, user="probe", password=password, dbname="postgres"):
                    assert ok
            except psycopg.OperationalError:
                assert not ok
    with pytest.raises(UnicodeEncodeError):
        scram_verifier("pässword")
