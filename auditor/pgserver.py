"""`ScratchPostgres`: a throwaway PostgreSQL server for restore drills and tests.

    with ScratchPostgres.start_new(min_major=17) as pg:
        pg.create_database("drill")
        with pg.connect("drill") as conn: ...
        subprocess.run([pg.tool("pg_restore"), "-d", "drill", dump], env=pg.client_env())

Guarantees (the restore verifier and gated restores rely on them):
- Everything lives in one fresh temporary directory (data, socket, log, password file); nothing
  outside it is created or changed, except the cache of freshly initialised clusters it is copied from
  (`auditor/pgtemplate.py`; `template_cache=False` runs `initdb` instead). The directory is removed on stop. Only the directory itself, the
  socket directory and the password file are handed to the server's user; `private_dir()` gives the
  caller a 0700 directory of its own in it (the verifier's plain copy of a dump).
- It listens on 127.0.0.1 only, on a free port, with SCRAM password authentication and a
  random superuser password that is never printed (`client_env()` hands it to child
  processes through `PGPASSWORD`, never argv).
- When the caller is root it runs as `nobody` (PostgreSQL refuses to run as root): the child
  processes drop to that user's uid and gid with no supplementary groups, through `subprocess`
  itself, so no external helper (`runuser`, `su`) and no `/usr/sbin` on PATH is needed. Only the
  temporary directory is chowned to that user. No users are created and no other permissions are touched.
- It is always stopped: on leaving the `with` block (also on exceptions and Ctrl-C), on
  interpreter exit, and, if this process is killed outright, the server gets SIGTERM from the
  kernel (parent-death signal) so it does not outlive us.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import psycopg

from . import scratch
from .errors import VerificationError
from .pgtemplate import ClusterTemplates, scram_verifier
from .pgtools import find_server_bin_dir
from .secrets import Secret

__all__ = ["ScratchPostgres", "ConfiguredPostgres", "RestoreServer", "free_port"]

log = logging.getLogger(__name__)
_LIVE: weakref.WeakSet[ScratchPostgres] = weakref.WeakSet()
# initdb's options besides the data directory and password file (also part of a template's key)
_INITDB_ARGS = ("-U", "postgres", "--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
_UNPRIVILEGED_USER = "nobody"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Databases:
    """Database helpers shared by `ScratchPostgres` and `ConfiguredPostgres` (need `connect`, `running`)."""

    def connect(self, dbname: str = "postgres", **kw: Any) -> psycopg.Connection[Any]:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        raise NotImplementedError

    def create_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        with self.connect() as conn:
            conn.execute(
                psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(psycopg.sql.Identifier(name))
            )

    @contextlib.contextmanager
    def database(self, name: str | None = None) -> Iterator[str]:
        """A fresh database, dropped afterwards (also on failure)."""
        name = name or f"scratch_{secrets.token_hex(6)}"
        self.create_database(name)
        try:
            yield name
        finally:
            if self.running:
                self.drop_database(name)

    def server_version_num(self) -> int:
        with self.connect() as conn:
            row = conn.execute("SHOW server_version_num").fetchone()
            assert row is not None
            return int(row[0])


def _check_reachable(path: Path, user: str, uid: int, gid: int) -> None:
    """As root the server runs as `user`, which must be able to pass through every directory above `path` (the
    scratch directory itself is handed to it). Raises `VerificationError` naming the first one it cannot."""
    for parent in path.resolve().parents:
        st = parent.stat()
        mode = st.st_mode
        bit = stat.S_IXUSR if st.st_uid == uid else stat.S_IXGRP if st.st_gid == gid else stat.S_IXOTH
        if not mode & bit:
            raise VerificationError(
                f"the scratch directory {path.parent} is not reachable by the unprivileged user {user} the scratch "
                f"server runs as: {parent} has mode {stat.S_IMODE(mode):04o}",
                hint=f"use a directory every user can pass through (e.g. /var/tmp): set {scratch.SCRATCH_ENV}, "
                "or give each directory above it the x permission for others (e.g. mode 0711)",
            )


class ScratchPostgres(_Databases):
    """A PostgreSQL server in its own temporary directory. Use as a context manager."""

    superuser = "postgres"
    host = "127.0.0.1"

    def __init__(
        self,
        bin_dir: str | os.PathLike[str] | None = None,
        *,
        min_major: int = 0,
        settings: Mapping[str, str] | None = None,
        durable: bool = False,
        startup_timeout_s: float = 30.0,
        run_as: str | None = None,
        template_cache: bool = True,
        template_root: Path | None = None,
    ) -> None:
        """`bin_dir`: PostgreSQL bin directory (default: the newest suitable one, see
        `pgtools.find_server_bin_dir`). `durable=False` turns off fsync and friends and sets
        wal_level=minimal: right for a scratch server whose data is thrown away. `run_as`: user to drop to when root
        (default `nobody`).
        `template_cache`: copy a cached freshly initialised cluster instead of running `initdb` (see
        `auditor.pgtemplate`; `template_root` overrides where the templates live)."""
        self.bin_dir = Path(bin_dir) if bin_dir else find_server_bin_dir(min_major)
        self._settings = dict(settings or {})
        self._durable = durable
        self._timeout = startup_timeout_s
        self._user = run_as or _UNPRIVILEGED_USER
        self._password = Secret(secrets.token_urlsafe(24))
        self._template_cache = template_cache
        self._template_root = template_root
        self.from_template = False  # set by start(): the data directory was a copy of a cached template
        self.port = 0
        self.tmpdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._uid: int | None = None
        self._gid: int | None = None

    # ---- lifecycle ----------------------------------------------------------------------------

    @classmethod
    def start_new(cls, **kw: Any) -> ScratchPostgres:
        return cls(**kw).start()

    def __enter__(self) -> ScratchPostgres:
        if self._proc is None:
            self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def data_dir(self) -> Path:
        assert self.tmpdir is not None
        return self.tmpdir / "data"

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)

    def _as_user(self) -> dict[str, Any]:
        """`subprocess` arguments that drop a child to the unprivileged user when we are root."""
        if self._uid is None or self._gid is None:
            return {}
        return {"user": self._uid, "group": self._gid, "extra_groups": []}

    def prepare(self) -> Path:
        """Create the server's temporary directory (idempotent; `start()` does it too), so that
        `private_dir()` can be used while the server is still starting."""
        if self.tmpdir is None:
            self.tmpdir = scratch.make_dir("pg")
            _LIVE.add(self)
        return self.tmpdir

    def private_dir(self) -> Path:
        """A new directory inside the server's temporary directory that only the calling user can enter
        (0700, never handed to the server's user); removed with the server at the latest."""
        return Path(tempfile.mkdtemp(prefix="private-", dir=self.prepare()))

    def start(self) -> ScratchPostgres:
        if self._proc is not None:
            return self
        self.prepare()
        try:
            self._init()
            last: Exception | None = None
            for _ in range(3):  # a free port can be taken between probe and bind
                try:
                    self._launch()
                    return self
                except _PortTaken as exc:
                    last = exc
            raise VerificationError(f"scratch PostgreSQL could not bind a port: {last}")
        except BaseException:
            self.stop()
            raise

    def _chown(self, *paths: Path) -> None:
        assert self._uid is not None and self._gid is not None
        for path in paths:
            os.chown(path, self._uid, self._gid)

    def _init(self) -> None:
        assert self.tmpdir is not None
        if os.geteuid() == 0:
            import pwd

            pw = pwd.getpwnam(self._user)
            self._uid, self._gid = pw.pw_uid, pw.pw_gid
            _check_reachable(self.tmpdir, self._user, pw.pw_uid, pw.pw_gid)
        (self.tmpdir / "sock").mkdir()
        if self._uid is not None:
            # our own temporary directory and what the server needs in it; not a `private_dir()`
            self._chown(self.tmpdir, self.tmpdir / "sock")
        templates = ClusterTemplates(self._template_root) if self._template_cache else None
        key: str | None = None
        if templates is not None:
            try:
                key = templates.key(self.bin_dir, _INITDB_ARGS)
            except OSError:
                key = None
        if templates is not None and key is not None and (template := templates.find(key)) is not None:
            try:
                owner = (self._uid, self._gid) if self._uid is not None and self._gid is not None else None
                templates.copy_into(template, self.data_dir, owner)
                self._set_password()
                self.from_template = True
                return
            except (OSError, VerificationError) as exc:
                log.warning("PostgreSQL template %s did not work (%s): removed; running initdb", template, exc)
                templates.discard(key)
                shutil.rmtree(self.data_dir, ignore_errors=True)
        self._initdb()
        if templates is not None and key is not None:
            templates.save(key, self.data_dir)

    def _initdb(self) -> None:
        assert self.tmpdir is not None
        pwfile = self.tmpdir / "pwfile"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self._password.reveal() + "\n")
        if self._uid is not None:
            self._chown(pwfile)
        try:
            self._run(
                [self.tool("initdb"), "-D", str(self.data_dir), "--pwfile", str(pwfile), *_INITDB_ARGS], what="initdb"
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def _set_password(self) -> None:
        """Give the superuser of a copied template this server's password, before the server listens: in a
        single-user backend (no socket, no port) that reads the statement on stdin. What it reads is the SCRAM
        verifier, not the password."""
        statement = f"ALTER ROLE {self.superuser} PASSWORD '{scram_verifier(self._password.reveal())}';\n"
        argv = [self.tool("postgres"), "--single", "-D", str(self.data_dir), "-c", "fsync=off", "postgres"]
        out = subprocess.run(
            argv,
            input=statement,
            capture_output=True,
            text=True,
            cwd=self.tmpdir,
            timeout=60,
            check=False,
            env=self._server_env(),
            **self._as_user(),
        )
        # a failing statement does not change the exit status of a single-user backend: look for the error too
        text = out.stdout + out.stderr
        if out.returncode != 0 or "ERROR:" in text or "FATAL:" in text:
            tail = "\n".join(line for line in text.strip().splitlines()[-5:] if "SCRAM-SHA-256$" not in line)
            raise VerificationError(f"scratch PostgreSQL could not set its password: {tail}")

    def _run(self, argv: list[str], *, what: str, timeout: float = 120) -> None:
        out = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            cwd=self.tmpdir,
            timeout=timeout,
            check=False,
            env=self._server_env(),
            **self._as_user(),
        )
        if out.returncode != 0:
            tail = "\n".join((out.stderr or out.stdout).strip().splitlines()[-5:])
            raise VerificationError(
                f"scratch PostgreSQL {what} failed: {tail}",
                hint=f"see the PostgreSQL message above; check free disk space in {self.tmpdir}",
            )

    def _server_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        return env

    def _launch(self) -> None:
        assert self.tmpdir is not None
        self.port = free_port()
        opts = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.tmpdir / "sock"),
            "max_connections": "40",
            "shared_buffers": "128MB",
            "max_wal_size": "4GB",
            "max_locks_per_transaction": "1024",  # a single-transaction restore locks every table
            "log_min_messages": "warning",
        }
        if not self._durable:
            # Throwaway data: no crash safety, and no WAL for tables loaded in the transaction
            # that created them (pg_restore --single-transaction).
            opts.update(
                fsync="off", synchronous_commit="off", full_page_writes="off", wal_level="minimal", max_wal_senders="0"
            )
        opts.update(self._settings)
        argv = [self.tool("postgres"), "-D", str(self.data_dir)]
        for k, v in opts.items():
            argv += ["-c", f"{k}={v}"]
        log = open(self.tmpdir / "server.log", "ab")  # noqa: SIM115 - owned by the child
        try:
            self._proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.tmpdir,
                env=self._server_env(),
                preexec_fn=scratch.parent_death_signal,
                start_new_session=True,
                **self._as_user(),
            )
        finally:
            log.close()
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                text = self.log_tail()
                self._proc = None
                if "could not bind" in text or "Address already in use" in text:
                    raise _PortTaken(text)
                raise VerificationError(f"scratch PostgreSQL exited during start-up: {text}")
            try:
                with self.connect("postgres", connect_timeout=2):
                    return
            except psycopg.OperationalError:
                time.sleep(0.05)
        raise VerificationError(f"scratch PostgreSQL did not start within {self._timeout:.0f}s: {self.log_tail()}")

    def log_tail(self, n: int = 8) -> str:
        """The last `n` lines of the server's log."""
        assert self.tmpdir is not None
        try:
            lines = (self.tmpdir / "server.log").read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def stop(self) -> None:
        """Stop the server and remove its directory. Idempotent.

        Immediate shutdown (SIGQUIT: no shutdown checkpoint) because the data is thrown away;
        SIGKILL to the process group if it does not exit in 20 s."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            # Signal the postmaster through its pid file (it is our child; the file is the authority).
            pid = self._postmaster_pid()
            try:
                if pid:
                    self._signal(pid, signal.SIGQUIT)
                else:
                    proc.send_signal(signal.SIGQUIT)
                proc.wait(timeout=20)
            except (subprocess.TimeoutExpired, OSError):
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
        if self.tmpdir is not None:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
        _LIVE.discard(self)

    def _postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError, AssertionError):
            return None

    def _signal(self, pid: int, sig: int) -> None:
        os.kill(pid, sig)

    # ---- clients --------------------------------------------------------------------------------

    def conninfo(self, dbname: str = "postgres") -> Secret:
        """A libpq connection string (it contains the password, hence a `Secret`)."""
        return Secret(
            psycopg.conninfo.make_conninfo(
                host=self.host,
                port=str(self.port),
                user=self.superuser,
                password=self._password.reveal(),
                dbname=dbname,
            )
        )

    def client_env(self, dbname: str | None = None) -> dict[str, str]:
        """Environment for PostgreSQL client tools (psql, pg_restore) talking to this server."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(
            PGHOST=self.host,
            PGPORT=str(self.port),
            PGUSER=self.superuser,
            PGPASSWORD=self._password.reveal(),
            PGSSLMODE="disable",
            PGCONNECT_TIMEOUT="10",
        )
        if dbname:
            env["PGDATABASE"] = dbname
        return env

    def connect(self, dbname: str = "postgres", **kw: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.conninfo(dbname).reveal(), autocommit=True, **kw)


class ConfiguredPostgres(_Databases):
    """A server the user runs (`[verify] scratch_url`), used like a `ScratchPostgres`.

    Only the databases it creates through `database()` are touched (and dropped afterwards);
    the connecting role needs CREATEDB. Nothing is started or stopped.
    """

    def __init__(self, url: Secret) -> None:
        self._info = psycopg.conninfo.conninfo_to_dict(url.reveal())
        self._password = self._info.pop("password", None)
        self.bin_dir: Path | None = None

    def __enter__(self) -> ConfiguredPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        pass

    @property
    def running(self) -> bool:
        return True

    def conninfo(self, dbname: str = "postgres") -> Secret:
        info = dict(self._info, dbname=dbname)
        if self._password:
            info["password"] = self._password
        return Secret(psycopg.conninfo.make_conninfo(**{k: str(v) for k, v in info.items()}))

    def client_env(self, dbname: str | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        mapping = {
            "host": "PGHOST",
            "port": "PGPORT",
            "user": "PGUSER",
            "sslmode": "PGSSLMODE",
            "sslrootcert": "PGSSLROOTCERT",
            "sslcert": "PGSSLCERT",
            "sslkey": "PGSSLKEY",
        }
        for k, var in mapping.items():
            if self._info.get(k):
                env[var] = str(self._info[k])
        if self._password:
            env["PGPASSWORD"] = str(self._password)
        if dbname:
            env["PGDATABASE"] = dbname
        return env

    def connect(self, dbname: str = "postgres", **kw: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.conninfo(dbname).reveal(), autocommit=True, **kw)


RestoreServer = ScratchPostgres | ConfiguredPostgres


class _PortTaken(Exception):
    pass


@atexit.register
def _stop_all() -> None:
    for pg in list(_LIVE):
        with contextlib.suppress(Exception):
            pg.stop()
