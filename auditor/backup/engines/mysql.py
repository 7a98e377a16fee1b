"""MySQL and MariaDB: `mysqldump`/`mariadb-dump --single-transaction`, rows counted in the dump stream itself.

Consistency: the dump tool opens its own consistent snapshot (`START TRANSACTION WITH CONSISTENT SNAPSHOT`)
and no other session can share it (only Percona Server can clone a snapshot), so the per-table row counts
are taken from the dump stream as it passes (`RowCounter`): every row of an ``INSERT INTO `t` VALUES``
statement is one top-level ``(…)`` tuple, and string values arrive escaped (no raw newline or unescaped
quote inside a value). The counts therefore describe exactly the bytes sent to the store. Verification
restores into a scratch server of the same product and major version and cross-checks with `COUNT(*)`.

- The client is picked by the server's flavour: `mariadb-dump` for MariaDB, MySQL's `mysqldump` for MySQL
  (their flags differ). A dump tool older than the server is refused.
- A non-zero exit of the dump tool, or a dump without its trailing ``-- Dump completed`` line, is a failed
  backup. Tables that are not InnoDB are dumped but not consistently: they are recorded as coverage gaps.
- The password goes to the tool in a 0600 option file (`--defaults-extra-file`), never on the command line.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ... import scratch
from ...errors import BackupError, VerificationError
from ...redact import Redactor
from ...secrets import Secret
from ..manifest import DumpTool, TableCount
from ..pipes import BatchedPipe, ReadStream, grow_pipe
from .interface import DumpOutcome, DumpRequest, Engine, RunningDump, VerifyJob
from .tools import find_binary, version_of, version_tuple

__all__ = ["MySQLEngine", "RowCounter", "MySQLURL", "parse_mysql_url", "ScratchMariaDB", "server_num", "dump_argv"]

_INSERT = re.compile(rb"^INSERT INTO `((?:[^`]|``)+)` VALUES[ \n]", re.M)
_CREATE = re.compile(rb"^CREATE TABLE `((?:[^`]|``)+)` \(", re.M)
_STMT_END = re.compile(rb";\n")
_STRING = re.compile(rb"'[^'\\]*(?:\\.[^'\\]*)*'", re.S)
_DONE = b"-- Dump completed"


def _rows(block: bytes, pos: int, stop: int) -> int:
    """Rows in block[pos:stop], a stretch of one INSERT statement's values that starts at a row or line start.

    Every row opens with a "(" outside quoted strings, and these are the only such "(" (numbers, NULL, `0x…`
    hex blobs and bit literals contain none). A raw newline never occurs inside a value, and inside an INSERT
    the dump tools break lines only between rows ("VALUES\n(", "),\n("): so every newline in the stretch is
    followed by a row's "(" (the stretch's own last byte excepted: that row starts the next block), and those
    rows, plus the one the stretch may start with, are certain. When the stretch holds exactly as many "(" as
    certain row starts, that is the count: two single-byte `bytes.count` passes, no parsing. Otherwise some
    value holds a "(" or rows share a line: with no "),(" anywhere, rows are still one per line (MariaDB's
    layout); else quoted strings are skipped (MySQL's one-statement-per-line layout)."""
    if pos >= stop:
        return 0
    certain = block.count(b"\n", pos, stop) + (block[pos] == 0x28) - (block[stop - 1] == 0x0A)
    if block.count(b"(", pos, stop) == certain:
        return certain
    if block.find(b"),(", pos, stop) < 0:
        return certain
    seg = block[pos:stop]
    opens = seg.count(b"(")
    if opens and b"'" in seg:
        opens -= sum(s.count(b"(") for s in _STRING.findall(seg))
    return opens


class RowCounter:
    """Counts the rows of each table in a mysqldump/mariadb-dump SQL stream, chunk by chunk.

    Works on complete lines (a raw newline never occurs inside a dumped value). Inside an INSERT statement
    every `(` outside a quoted string opens one row: numbers, NULL, `0x…` hex blobs and bit literals contain
    none. Handles both MySQL's one-statement-per-line and MariaDB's one-row-per-line layouts."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self.order: list[str] = []
        self.completed = False
        self._carry = b""
        self._table: str | None = None  # inside an INSERT into this table

    def _see_table(self, name: str) -> None:
        if name not in self.rows:
            self.rows[name] = 0
            self.order.append(name)

    def feed(self, data: bytes) -> None:
        if not data:
            return
        start = 0
        if self._carry:  # finish the line the last chunk ended in, then count the rest of `data` in place
            nl = data.find(b"\n")
            if nl < 0:
                self._carry += data
                return
            head, self._carry = self._carry + data[: nl + 1], b""
            self._block(head, 0, len(head))
            start = nl + 1
        cut = data.rfind(b"\n", start) + 1
        if cut <= start:
            self._carry = data[start:]
            return
        self._block(data, start, cut)
        self._carry = data[cut:]

    def close(self) -> None:
        if self._carry:
            block, self._carry = self._carry + b"\n", b""
            self._block(block, 0, len(block))

    def _block(self, block: bytes, pos: int, n: int) -> None:
        """Count in block[pos:n] (complete lines), without copying it."""
        while pos < n:
            if self._table is None:
                m = _INSERT.search(block, pos, n)
                end = m.start() if m else n
                self._scan_ddl(block, pos, end)
                if m is None:
                    return
                self._table = m.group(1).replace(b"``", b"`").decode("utf-8", "replace")
                self._see_table(self._table)
                pos = m.end()
            # the statement ends at the first ";\n" (a raw newline never occurs inside a value); memchr finds the
            # first ";" at once, and with no ";" in the values that is the end (or there is none in this block)
            semi = block.find(b";", pos, n)
            e = _STMT_END.search(block, semi, n) if semi >= 0 else None
            stop = e.start() + 1 if e else n
            self.rows[self._table] += _rows(block, pos, stop)
            pos = stop
            if e is not None:
                self._table = None

    def _scan_ddl(self, block: bytes, start: int, end: int) -> None:
        if start >= end:
            return
        for m in _CREATE.finditer(block, start, end):
            self._see_table(m.group(1).replace(b"``", b"`").decode("utf-8", "replace"))
        if not self.completed and block.find(_DONE, start, end) >= 0:
            self.completed = True


class _CountingReader(ReadStream):
    """The dump tool's stdout, fed to a `RowCounter` as it is read."""

    def __init__(self, raw: BatchedPipe, counter: RowCounter) -> None:
        self._raw, self._counter = raw, counter

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n if n and n > 0 else 1 << 20)
        if data:
            self._counter.feed(data)
        return data or b""


@dataclass(frozen=True)
class MySQLURL:
    host: str
    port: int
    user: str
    password: str | None
    database: str
    tls: bool


def parse_mysql_url(url: str) -> MySQLURL:
    u = urlsplit(url)
    q = {k.lower(): v[-1].lower() for k, v in parse_qs(u.query).items()}
    database = unquote(u.path.lstrip("/"))
    if not database:
        raise BackupError(
            "the MySQL/MariaDB source URL names no database (mysql://user:pass@host:port/DATABASE)",
            hint="add the database name to the URL path",
        )
    tls = q.get("ssl-mode", q.get("sslmode", "")) in ("required", "verify_ca", "verify_identity", "require") or q.get(
        "ssl", ""
    ) in ("true", "1")
    return MySQLURL(
        host=u.hostname or "localhost",
        port=u.port or 3306,
        user=unquote(u.username or "root"),
        password=unquote(u.password) if u.password is not None else None,
        database=database,
        tls=tls,
    )


def server_num(version: str) -> int:
    v = version_tuple(version) + (0, 0, 0)
    return v[0] * 10000 + v[1] * 100 + v[2]


def _is_mariadb(version: str) -> bool:
    return "mariadb" in version.lower()


class OptionFile:
    """A MySQL client option file with the user and password, for the client tools this process starts.

    On Linux it exists only in memory (`memfd_create`): nothing is written to disk, and it is gone once the
    last process holding it exits, so even `kill -9` of Blastwall leaves no password behind (a file would
    stay in the temporary directory). The tool is handed the descriptor (`pass_fds`) and reads
    `/dev/fd/N`; the file is 0600 because MySQL and MariaDB ignore a world-writable option file (a new
    memfd is 0777). Elsewhere: a 0600 file in a private temporary directory, removed by `close()`.
    """

    def __init__(self, user: str, password: str | None, section: str = "client") -> None:
        text = f"[{section}]\nuser={user}\n"
        if password is not None:
            esc = password.replace("\\", "\\\\").replace('"', '\\"')
            text += f'password="{esc}"\n'
        data = text.encode()
        self._fd: int | None = None
        self._dir: Path | None = None
        if hasattr(os, "memfd_create"):
            fd = os.memfd_create("blastwall-client.cnf", os.MFD_CLOEXEC)
            try:
                os.fchmod(fd, 0o600)
                os.write(fd, data)
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
            self.path = Path(f"/dev/fd/{fd}")
            self.pass_fds: tuple[int, ...] = (fd,)
        else:  # pragma: no cover - not Linux
            self._dir = Path(tempfile.mkdtemp(prefix="blastwall-mysql-"))
            self.path = self._dir / "client.cnf"
            with os.fdopen(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
                f.write(data)
            self.pass_fds = ()

    def close(self) -> None:
        """Drop this process's hold on the file (a tool already started keeps its own descriptor)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> OptionFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def find_dump_tool(mariadb: bool, configured: str | None = None) -> tuple[Path, str, bool]:
    """(path, version text, is MariaDB's) of the dump client matching the server's flavour."""
    if mariadb:
        path = find_binary(("mariadb-dump", "mysqldump"), package="mariadb-client", configured=configured)
        assert path is not None
        text = version_of(path)
        return path, text, _is_mariadb(text)
    path = find_binary(
        ("mysqldump",),
        package="mysql-client (MySQL's own client; Debian's mariadb-client cannot dump MySQL 8+ reliably)",
        configured=configured,
    )
    assert path is not None
    text = version_of(path)
    if _is_mariadb(text):
        raise BackupError(
            f"{path} is MariaDB's dump client, but the source is MySQL",
            hint="install MySQL's own client (mysql-client, from MySQL's apt repository or a "
            "mysql:<version> container) and set dump_tool in the [[sources]] entry",
        )
    return path, text, False


def check_tool_version(tool_text: str, server_version: str, tool_path: Path) -> None:
    """Refuse a dump client older than the server (major.minor)."""
    tv, sv = version_tuple(tool_text.split("Distrib")[-1]), version_tuple(server_version)
    if tv and sv and tv[:2] < sv[:2]:
        raise BackupError(
            f"{tool_path.name} {'.'.join(map(str, tv))} is older than the server ({server_version}); "
            "an older dump tool can miss or mis-dump newer features",
            hint=f"install a {tool_path.name} of version {sv[0]}.{sv[1]} or newer and set dump_tool in the "
            "[[sources]] entry (or put it on PATH)",
        )


@functools.cache
def _stdout_1m() -> tuple[str, ...]:
    """`stdbuf -o1M`, when coreutils' stdbuf works here, else ().

    mariadb-dump and mysqldump print through stdio, which buffers 4 KiB for a pipe: ~230 000 write(2) calls
    per GB, each a pipe write with its wake-ups, all on the dump tool's one thread, which is the slowest part of
    the backup (it keeps a core busy). Measured on a 2-core machine with 0.9 GB of dump: piping the tool into a
    reader took 6.2-6.6 s against 5.7-6.0 s to /dev/null; with a 1 MiB stdio buffer (stdbuf's LD_PRELOAD
    of libstdbuf) 5.8-6.2 s. The output is the same bytes; a tool that ignores it (static, setuid) runs as
    before."""
    path = shutil.which("stdbuf")
    if path is None:
        return ()
    try:
        probe = subprocess.run([path, "-o1M", "true"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return ()
    return (path, "-o1M") if probe.returncode == 0 else ()


def dump_argv(tool: Path, tool_is_mariadb: bool, option_file: Path, u: MySQLURL) -> list[str]:
    """The dump command a backup runs (the benchmark's baseline runs exactly this one, to /dev/null)."""
    argv = [
        *_stdout_1m(),
        str(tool),
        f"--defaults-extra-file={option_file}",
        f"--host={u.host}",
        f"--port={u.port}",
        "--protocol=TCP",
        "--single-transaction",
        "--routines",
        "--triggers",
        "--events",
        "--hex-blob",
        "--no-tablespaces",
        "--default-character-set=utf8mb4",
    ]
    if not tool_is_mariadb:
        argv += ["--set-gtid-purged=OFF"]
    if u.tls:
        argv += ["--ssl"] if tool_is_mariadb else ["--ssl-mode=REQUIRED"]
    argv.append(u.database)
    return argv


class _MySQLDump(RunningDump):
    def __init__(self, request: DumpRequest) -> None:
        import pymysql

        self.src = request.src
        self.u = parse_mysql_url(request.url.reveal())
        if self.u.password:
            Redactor.global_().add(Secret(self.u.password))
        try:
            conn = pymysql.connect(
                host=self.u.host,
                port=self.u.port,
                user=self.u.user,
                password=self.u.password or "",
                database=self.u.database,
                connect_timeout=15,
                ssl={"ssl": {}} if self.u.tls else None,
            )
        except pymysql.Error as exc:
            raise BackupError(
                f"cannot connect to source {self.src.name!r}: "
                + Redactor.global_().redact(str(exc.args[-1] if exc.args else exc)),
                hint="check the source URL, the network and the database's allowed clients",
            ) from None
        self.proc: subprocess.Popen[bytes] | None = None
        self.cnf: OptionFile | None = None
        self.stderr_f = tempfile.TemporaryFile()
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                self.server_version = str(cur.fetchone()[0])
                cur.execute(
                    "SELECT TABLE_NAME, ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                    "AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
                    (self.u.database,),
                )
                engines = [(str(r[0]), str(r[1] or "")) for r in cur.fetchall()]
        finally:
            conn.close()
        self.gaps = tuple(
            f"table {self.u.database}.{name} uses {eng or 'an unknown engine'}, not InnoDB: "
            "--single-transaction cannot dump it consistently (convert it to InnoDB)"
            for name, eng in engines
            if eng.lower() != "innodb"
        )
        self.mariadb = _is_mariadb(self.server_version)
        try:
            path, text, tool_is_mariadb = find_dump_tool(self.mariadb, request.src.dump_tool)
            check_tool_version(text, self.server_version, path)
            self.tool_path, self.tool_text = path, text
            self.counter = RowCounter()
            self.cnf = OptionFile(self.u.user, self.u.password)  # kept until the dump ends (`close`)
            self.proc = subprocess.Popen(
                dump_argv(path, tool_is_mariadb, self.cnf.path, self.u),
                stdout=subprocess.PIPE,
                stderr=self.stderr_f,
                stdin=subprocess.DEVNULL,
                bufsize=0,
                env={k: v for k, v in os.environ.items() if not k.startswith("MYSQL")},
                pass_fds=self.cnf.pass_fds,
            )
        except BaseException:
            self.close()
            raise
        assert self.proc.stdout is not None
        pipe = BatchedPipe(self.proc.stdout, grow_pipe(self.proc.stdout))
        self.stream = _CountingReader(pipe, self.counter)  # type: ignore[assignment]

    def finish(self, head: bytes) -> DumpOutcome:
        assert self.proc is not None
        rc = self.proc.wait()
        self.counter.close()
        name = self.tool_path.name
        if rc != 0:
            self.stderr_f.seek(0)
            err = self.stderr_f.read(8192).decode(errors="replace").strip().splitlines()
            raise BackupError(
                f"{name} failed (exit {rc}): " + Redactor.global_().redact(" | ".join(err[:5])),
                hint=f"see {name}'s message; a table changed by DDL during the dump "
                '("Table definition has changed") needs a retry; check the privileges '
                "(SELECT, SHOW VIEW, TRIGGER, EVENT)",
            )
        if not self.counter.completed:
            raise BackupError(
                f"{name} exited 0 but its output lacks the final '-- Dump completed' line: the dump is truncated"
            )
        tables = tuple(
            TableCount(schema_name=self.u.database, name=t, rows=self.counter.rows[t])
            for t in sorted(self.counter.order)
        )
        tv = version_tuple(self.tool_text.split("Distrib")[-1])
        return DumpOutcome(
            server_version=self.server_version,
            server_version_num=server_num(self.server_version),
            tool=DumpTool(
                name=name,
                version=".".join(map(str, tv)) + ("-MariaDB" if "MariaDB" in self.tool_text else ""),
                major=tv[0] if tv else 0,
                format="sql",
            ),
            tables=tables,
            host=self.u.host,
            port=self.u.port,
            database=self.u.database,
            gaps=self.gaps,
        )

    def kill(self) -> None:
        if self.proc is not None:
            with contextlib.suppress(Exception):
                self.proc.kill()
            with contextlib.suppress(Exception):
                self.proc.wait(5)

    def close(self) -> None:
        self.kill()
        with contextlib.suppress(Exception):
            self.stderr_f.close()
        if self.cnf is not None:
            self.cnf.close()
            self.cnf = None


# ---- scratch server ---------------------------------------------------------------------------------------


class ScratchMariaDB:
    """A MariaDB (or MySQL) server in its own temporary directory, on a unix socket only, for restores that
    are thrown away. Runs as `nobody` when we are root (the temporary directory is chowned to it)."""

    def __init__(self, server: Path, *, mariadb: bool = True, run_as: str = "nobody") -> None:
        self.server, self.mariadb, self._user = server, mariadb, run_as
        self.tmp: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._uid: int | None = None
        self._gid: int | None = None

    @property
    def sock(self) -> Path:
        assert self.tmp is not None
        return self.tmp / "s.sock"

    def _as_user(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", self._user, "--", *argv] if os.geteuid() == 0 else argv

    def start(self) -> ScratchMariaDB:
        self.tmp = scratch.make_dir("mariadb")
        try:
            data = self.tmp / "data"
            data.mkdir()
            if os.geteuid() == 0:
                import pwd

                pw = pwd.getpwnam(self._user)
                for p in (self.tmp, data):
                    os.chown(p, pw.pw_uid, pw.pw_gid)
            if self.mariadb:
                install = find_binary(("mariadb-install-db", "mysql_install_db"), package="mariadb-server")
                assert install is not None
                init = [
                    str(install),
                    "--no-defaults",
                    f"--datadir={data}",
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    "--skip-name-resolve",
                ]
            else:
                init = [str(self.server), "--no-defaults", "--initialize-insecure", f"--datadir={data}"]
            tmpdir = self.tmp / "tmp"
            tmpdir.mkdir()
            if os.geteuid() == 0:
                os.chown(tmpdir, pw.pw_uid, pw.pw_gid)
            env = dict(os.environ, TMPDIR=str(tmpdir))  # never share /tmp temp tables with other servers
            out = subprocess.run(
                self._as_user(init), capture_output=True, text=True, cwd=self.tmp, timeout=180, check=False, env=env
            )
            if out.returncode != 0:
                raise VerificationError("scratch server initialisation failed: " + out.stderr.strip()[-800:])
            log = self.tmp / "server.log"
            argv = [
                str(self.server),
                "--no-defaults",
                f"--datadir={data}",
                f"--socket={self.sock}",
                "--skip-networking",
                f"--pid-file={self.tmp / 's.pid'}",
                f"--log-error={log}",
                "--skip-log-bin",
                "--innodb-buffer-pool-size=256M",
                "--innodb-flush-log-at-trx-commit=0",
                "--innodb-doublewrite=0",
                "--max-allowed-packet=1G",
                "--skip-name-resolve",
                f"--tmpdir={tmpdir}",
            ]
            if os.geteuid() == 0:
                argv.append(f"--user={self._user}")
            with open(self.tmp / "stdout.log", "ab") as f:
                self.proc = subprocess.Popen(
                    self._as_user(argv),
                    stdout=f,
                    stderr=subprocess.STDOUT,
                    cwd=self.tmp,
                    start_new_session=True,
                    env=env,
                    preexec_fn=scratch.parent_death_signal,  # not left serving restored data if we are killed
                )
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    tail = log.read_text(errors="replace")[-800:] if log.exists() else ""
                    raise VerificationError(f"scratch server exited during start-up: {tail}")
                try:
                    self.connect().close()
                    return self
                except Exception:
                    time.sleep(0.2)
            raise VerificationError("scratch server did not start within 90 s")
        except BaseException:
            self.stop()
            raise

    def connect(self, database: str | None = None) -> Any:
        import pymysql

        return pymysql.connect(
            unix_socket=str(self.sock), user="root", password="", database=database, autocommit=True, connect_timeout=5
        )

    def client_argv(self, client: Path, database: str) -> list[str]:
        return [
            str(client),
            "--no-defaults",
            f"--socket={self.sock}",
            "--user=root",
            "--binary-mode",
            "--max-allowed-packet=1G",
            database,
        ]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(self.proc.pid, 9)
                self.proc.wait(10)
        self.proc = None
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


def local_server_for(source_version: str) -> tuple[Path | None, str]:
    """A local server binary of the same product and major version as `source_version`, at least as new
    (MariaDB: same first number, e.g. 10.x, and >= the source's 10.y), or None and what is needed."""
    mariadb = _is_mariadb(source_version)
    sv = version_tuple(source_version)
    product = "MariaDB" if mariadb else "MySQL"
    need = (
        f"a {product} {sv[0]}.{sv[1]}+ server ({'mariadbd' if mariadb else 'mysqld'}, same major version {sv[0]})"
        if len(sv) >= 2
        else f"a {product} server"
    )
    for names in ((("mariadbd", "mysqld") if mariadb else ("mysqld",)),):
        path = find_binary(names, package="mariadb-server", required=False)
        if path is None:
            return None, need + (
                "; install it: `apt-get install mariadb-server`"
                if mariadb
                else "; Debian has no MySQL server package: verify where a mysql:"
                f"{sv[0] if sv else ''} server is installed"
            )
        text = version_of(path)
        lv = version_tuple(text.split("Ver")[-1])
        if _is_mariadb(text) != mariadb:
            return (
                None,
                f"{need}; the local {path} is {'MariaDB' if _is_mariadb(text) else 'MySQL'} "
                f"{'.'.join(map(str, lv))}, and a {product} dump does not load into it reliably",
            )
        if not lv or not sv or lv[0] != sv[0] or lv[:2] < sv[:2]:
            return None, f"{need}; the local {path} is {'.'.join(map(str, lv))}"
        return path, ""
    return None, need


# The client echoes the statement that failed (a whole INSERT: the backup's rows) before its error line; only
# the error lines are reported, each cut short.
_CLIENT_ERROR = re.compile(r"^ERROR \d+ \([0-9A-Z]{5}\)(?: at line \d+)?: .*$", re.M)
_NO_SPACE = re.compile(r"^ERROR 1114 |No space left on device|Errcode: 28\b|\berror 28\b", re.M)
_LOW_SPACE_BYTES = 64 * 1024 * 1024


def _client_errors(stderr: str, n: int = 3, width: int = 300) -> str:
    """The client's error lines (never the statements it echoes), at most `n`, each at most `width` characters."""
    errors = [m.group(0)[:width] for m in _CLIENT_ERROR.finditer(stderr)][:n]
    return " | ".join(errors) or "no error line (the client's other output is not shown: it holds the dump's data)"


def _out_of_space(stderr: str, where: Path) -> bool:
    """Whether the load failed because the scratch server's disk is full: an out-of-space error (1114 "table is
    full", errno 28) while the scratch directory's filesystem has next to nothing left."""
    if not _NO_SPACE.search(stderr):
        return False
    try:
        return shutil.disk_usage(where).free < _LOW_SPACE_BYTES
    except OSError:
        return False


_DEFINER = re.compile(rb"(?m)^(/\*!50013 |/\*!50017 |/\*!50020 |CREATE )DEFINER=`(?:[^`]|``)*`@`(?:[^`]|``)*` ?")


def strip_definers(block: bytes) -> bytes:
    """Drop `DEFINER=`user`@`host`` from view/trigger/routine/event definitions: creating an object for another
    user needs SUPER/SET USER, which a target's owner rarely has. Only statement lines can match (data lines
    start with `(` or `INSERT`)."""
    return _DEFINER.sub(lambda m: m.group(1), block) if b"DEFINER=" in block else block


class MySQLEngine(Engine):
    name = "mysql"
    schemes = ("mysql", "mariadb")
    label = "MySQL/MariaDB"

    restore_action = (
        "load the dump into the target database with the mysql/mariadb client: every table in "
        "the backup is dropped and recreated with the backup's rows (DROP TABLE IF EXISTS + "
        "CREATE TABLE + INSERT, table by table; not one transaction); DEFINER clauses are removed"
    )
    restore_note = "tables that are only in the target are left as they are"

    def start_dump(self, request: DumpRequest) -> RunningDump:
        return _MySQLDump(request)

    def inspect_target(self, url: Secret) -> dict[str, Any]:
        import pymysql

        u = parse_mysql_url(url.reveal())
        if u.password:
            Redactor.global_().add(Secret(u.password))
        try:
            conn = pymysql.connect(
                host=u.host,
                port=u.port,
                user=u.user,
                password=u.password or "",
                database=u.database,
                connect_timeout=15,
                ssl={"ssl": {}} if u.tls else None,
            )
        except pymysql.Error as exc:
            raise BackupError(
                "cannot connect to the target: " + Redactor.global_().redact(str(exc.args[-1] if exc.args else exc)),
                hint="check the target's url, the network and the allowed clients",
            ) from None
        with contextlib.closing(conn), conn.cursor() as cur:
            cur.execute("SELECT VERSION()")
            version = str(cur.fetchone()[0])
            cur.execute(
                "SELECT TABLE_NAME, COALESCE(DATA_LENGTH + INDEX_LENGTH, 0) FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME",
                (u.database,),
            )
            rows = cur.fetchall()
            tables, size = [], 0
            for name, nbytes in rows:
                size += int(nbytes or 0)
                cur.execute(f"SELECT COUNT(*) FROM `{str(name).replace('`', '``')}`")
                tables.append({"name": f"{u.database}.{name}", "rows": int(cur.fetchone()[0])})
        return {
            "host": u.host,
            "port": u.port,
            "database": u.database,
            "user": u.user,
            "server_version": version,
            "size_bytes": size,
            "tables": tables,
        }

    def restore_into(self, dump: Path, url: Secret, manifest: Any) -> dict[str, Any]:
        u = parse_mysql_url(url.reveal())
        if u.password:
            Redactor.global_().add(Secret(u.password))
        client = find_binary(
            ("mariadb", "mysql") if _is_mariadb(manifest.server_version) else ("mysql",), package="mariadb-client"
        )
        assert client is not None
        with tempfile.TemporaryFile() as err_f, OptionFile(u.user, u.password) as cnf:  # kept until the client ends
            proc = subprocess.Popen(
                [
                    str(client),
                    f"--defaults-extra-file={cnf.path}",
                    f"--host={u.host}",
                    f"--port={u.port}",
                    "--protocol=TCP",
                    "--binary-mode",
                    "--max-allowed-packet=1G",
                    u.database,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=err_f,
                env={k: v for k, v in os.environ.items() if not k.startswith("MYSQL")},
                pass_fds=cnf.pass_fds,
            )
            assert proc.stdin is not None
            try:
                with open(dump, "rb") as fin:
                    carry = b""
                    while chunk := fin.read(1 << 20):
                        block = carry + chunk
                        cut = block.rfind(b"\n") + 1
                        block, carry = block[:cut], block[cut:]
                        proc.stdin.write(strip_definers(block))
                    proc.stdin.write(strip_definers(carry))
                proc.stdin.close()
            except BrokenPipeError:
                pass
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            rc = proc.wait()
            err_f.seek(0)
            stderr = err_f.read(8192)
        if rc != 0:
            err = " | ".join(stderr.decode(errors="replace").strip().splitlines()[:5])
            raise BackupError(
                f"{client.name} failed loading the dump into the target: " + Redactor.global_().redact(err),
                hint="the tables loaded before the error are replaced; the safety copy of the "
                "target is in the store (see the run's safety_dump)",
            )
        return {
            "method": f"{client.name} < dump (DROP TABLE IF EXISTS + CREATE TABLE + INSERT per table; "
            "DEFINER clauses removed, so views, triggers and routines belong to the restoring user)"
        }

    def magic_ok(self, head: bytes, tail: bytes) -> bool:
        starts = head.startswith((b"-- MySQL dump", b"-- MariaDB dump", b"/*M!999999", b"/*!999999"))
        return starts and _DONE in tail

    def quick_check(self, job: VerifyJob) -> None:
        out = job.stream_into(["cat"], {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        job.integrity_failed(out)

    def verify(self, job: VerifyJob) -> None:
        from ..verify import check_counts, fail_assertions

        manifest, result = job.manifest, job.result
        server, why = local_server_for(manifest.server_version)
        if server is None:
            result.fail(
                "no_scratch_server",
                f"not verified: this dump of {manifest.server_version} needs {why}. "
                "A MySQL 8+ dump does not load into MariaDB; this is a coverage gap, not a pass",
            )
            return
        client = find_binary(
            ("mariadb", "mysql") if _is_mariadb(manifest.server_version) else ("mysql",), package="mariadb-client"
        )
        assert client is not None
        srv = job.server if isinstance(job.server, ScratchMariaDB) else None
        own = srv is None
        db = manifest.source.database or "blastwall_verify"
        t = time.monotonic()
        if srv is None:
            srv = ScratchMariaDB(server, mariadb=_is_mariadb(manifest.server_version)).start()
            job.timings["scratch_start_s"] = time.monotonic() - t
        try:
            with contextlib.closing(srv.connect()) as c, c.cursor() as cur:
                cur.execute(f"DROP DATABASE IF EXISTS `{db.replace('`', '``')}`")
                cur.execute(f"CREATE DATABASE `{db.replace('`', '``')}`")
            t = time.monotonic()
            out = job.stream_into(srv.client_argv(client, db), {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
            job.timings["restore_s"] = time.monotonic() - t
            if job.integrity_failed(out):
                return
            if out.rc != 0:
                if srv.tmp is not None and _out_of_space(out.stderr, srv.tmp):
                    raise scratch.out_of_space(srv.tmp.parent)
                result.fail(
                    "restore_failed",
                    f"{client.name} reported errors loading the dump: "
                    + Redactor.global_().redact(_client_errors(out.stderr))
                    + "; fix the cause (version, collation, missing user) and verify again",
                )
                return
            with contextlib.closing(srv.connect(db)) as c, c.cursor() as cur:
                cur.execute(
                    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                    "AND TABLE_TYPE = 'BASE TABLE'",
                    (db,),
                )
                found: dict[str, int] = {}
                for (name,) in cur.fetchall():
                    cur.execute(f"SELECT COUNT(*) FROM `{str(name).replace('`', '``')}`")
                    found[f"{manifest.source.database}.{name}"] = int(cur.fetchone()[0])
                check_counts(result, manifest.expected_counts(), found)
                result.checks = _run_checks(c, job.checks)
            fail_assertions(result)
        finally:
            if own:
                srv.stop()


def _run_checks(conn: Any, checks: Any) -> list[Any]:
    import pymysql

    from ..verify import CheckResult, _jsonable, evaluate_expect

    out = []
    for chk in checks:
        try:
            with conn.cursor() as cur:
                cur.execute(chk.sql)
                row = cur.fetchone()
            value = row[0] if row else None
            passed = evaluate_expect(chk.expect, value)
        except pymysql.Error as exc:
            value, passed = f"error: {exc.args[-1] if exc.args else exc}", False
        out.append(CheckResult(chk.sql, chk.expect, _jsonable(value), passed))
    return out
