"""Pytest plugin: a real MariaDB server from Debian's `mariadb-server` package (`/usr/sbin/mariadbd`).

    def test_x(mariadb):
        mariadb.admin("CREATE USER 'ro'@'%' IDENTIFIED BY 'pw'")   # as root, over the unix socket
        url = mariadb.url("ro", "pw", "shop")                     # mysql://ro:pw@127.0.0.1:<port>/shop
        mariadb.general_log()                                       # every statement the server received

Session-scoped: `mariadb-install-db` into a fresh temp dir, then `mariadbd` on 127.0.0.1 and a free port,
with the general query log on. When the tests run as root both run as `nobody` (only the temp dir is
chowned); nothing outside the temp dir is touched. Reusable by other areas (MySQL backups).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from .server_proc import ServerDir, free_port, stop, wait_for

MARIADBD = "/usr/sbin/mariadbd"


class MariaDB:
    def __init__(self) -> None:
        self.dir = ServerDir("blastwall-mariadb-")
        self.data = self.dir.mkdir("data")
        self.sock = self.dir.path / "mysqld.sock"
        self.log = self.dir.path / "server.log"
        self.general = self.dir.path / "general.log"
        self.port = 0
        self.proc: Any = None

    def start(self) -> MariaDB:
        import subprocess

        install = shutil.which("mariadb-install-db") or shutil.which("mysql_install_db")
        if not install or not Path(MARIADBD).exists():
            pytest.fail("MariaDB server not installed: run scripts/install-test-deps (Debian mariadb-server)")
        out = subprocess.run(
            self.dir.argv(
                [
                    install,
                    "--no-defaults",
                    f"--datadir={self.data}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    "--skip-name-resolve",
                ]
            ),
            capture_output=True,
            text=True,
            cwd=self.dir.path,
            timeout=120,
        )
        if out.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed: {out.stderr[-1500:]}")
        self.port = free_port()
        self.proc = self.dir.popen(
            [
                MARIADBD,
                "--no-defaults",
                f"--datadir={self.data}",
                f"--socket={self.sock}",
                f"--port={self.port}",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
                f"--pid-file={self.dir.path / 'mysqld.pid'}",
                "--general-log=1",
                f"--general-log-file={self.general}",
                "--innodb-buffer-pool-size=16M",
                "--skip-log-bin",
                f"--log-error={self.log}",
            ],
            self.log,
        )
        wait_for(lambda: self._ping(), 60, "mariadbd", self.proc, self.log)
        return self

    def _ping(self) -> bool:
        with self.root() as c, c.cursor() as cur:
            cur.execute("SELECT 1")
        return True

    def root(self) -> Any:
        import pymysql

        return pymysql.connect(unix_socket=str(self.sock), user="root", password="", autocommit=True, connect_timeout=2)

    def admin(self, *statements: str) -> None:
        with self.root() as c, c.cursor() as cur:
            for s in statements:
                cur.execute(s)

    def url(self, user: str, password: str, database: str = "") -> str:
        return f"mysql://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{self.port}/{database}"

    def general_log(self) -> str:
        return self.general.read_text(errors="replace") if self.general.exists() else ""

    def stop(self) -> None:
        stop(self.proc, self.dir.path / "mysqld.pid")
        self.proc = None
        self.dir.remove()


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDB]:
    server = MariaDB()
    try:
        yield server.start()
    finally:
        server.stop()
