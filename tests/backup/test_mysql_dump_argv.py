"""The dump command a MySQL/MariaDB backup runs (`dump_argv`; the backup benchmark's baseline runs it too), and
the option file that hands the client tools their password."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from auditor.backup.engines import mysql
from auditor.backup.engines.mysql import OptionFile, dump_argv, find_dump_tool, parse_mysql_url


@pytest.fixture(autouse=True)
def _fresh_probe():
    mysql._stdout_1m.cache_clear()
    yield
    mysql._stdout_1m.cache_clear()


def test_flags_and_one_mib_stdout_buffer():
    u = parse_mysql_url("mysql://u:p@db.example:3307/shop")
    argv = dump_argv(Path("/usr/bin/mariadb-dump"), True, Path("/tmp/x.cnf"), u)
    tool = argv.index("/usr/bin/mariadb-dump")
    if shutil.which("stdbuf"):
        assert argv[:tool] == [shutil.which("stdbuf"), "-o1M"]
    assert argv[tool + 1 :] == [
        "--defaults-extra-file=/tmp/x.cnf",
        "--host=db.example",
        "--port=3307",
        "--protocol=TCP",
        "--single-transaction",
        "--routines",
        "--triggers",
        "--events",
        "--hex-blob",
        "--no-tablespaces",
        "--default-character-set=utf8mb4",
        "shop",
    ]
    mysql_tls = dump_argv(Path("mysqldump"), False, Path("c"), parse_mysql_url("mysql://u@h/d?ssl-mode=REQUIRED"))
    assert mysql_tls[-3:] == ["--set-gtid-purged=OFF", "--ssl-mode=REQUIRED", "d"]


def test_without_a_working_stdbuf_the_tool_runs_alone(monkeypatch, tmp_path):
    monkeypatch.setattr(mysql.shutil, "which", lambda name: None)
    assert dump_argv(Path("t"), True, Path("c"), parse_mysql_url("mysql://u@h/d"))[0] == "t"
    mysql._stdout_1m.cache_clear()
    broken = tmp_path / "stdbuf"
    broken.write_text("#!/bin/sh\necho 'stdbuf: failed to find libstdbuf.so' >&2\nexit 125\n")
    broken.chmod(0o755)
    monkeypatch.setattr(mysql.shutil, "which", lambda name: str(broken))
    assert dump_argv(Path("t"), True, Path("c"), parse_mysql_url("mysql://u@h/d"))[0] == "t"


@pytest.mark.skipif(not shutil.which("stdbuf"), reason="no coreutils stdbuf")
def test_stdbuf_passes_the_bytes_through():
    import subprocess

    prefix = mysql._stdout_1m()
    assert prefix
    out = subprocess.run([*prefix, "printf", "a\\nb"], capture_output=True, check=True)
    assert out.stdout == b"a\nb"


@pytest.mark.parametrize("password", ["plain-pw", "pa\"ss\\wo'rd #1 ;x", None])
def test_option_file_is_read_by_the_real_client_and_never_written_to_disk(tmp_path, monkeypatch, password):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where a file would go
    tool, _, _ = find_dump_tool(True)
    with OptionFile("bk_user", password) as cnf:
        out = subprocess.run(
            [str(tool), f"--defaults-extra-file={cnf.path}", "--print-defaults"],
            pass_fds=cnf.pass_fds,
            capture_output=True,
            text=True,
            check=True,
        )
        fd = cnf.pass_fds[0]
        assert os.fstat(fd).st_mode & 0o777 == 0o600  # MariaDB ignores a world-writable option file
    assert "ignored" not in out.stderr
    assert "--user=bk_user" in out.stdout
    if password is None:
        assert "--password" not in out.stdout
    else:
        assert f"--password={password} " in out.stdout + " "
    assert list(tmp_path.iterdir()) == []  # in memory only: nothing a kill -9 could leave behind
    with pytest.raises(OSError):
        os.fstat(fd)  # closed in this process
