"""Redis (and Valkey): an RDB snapshot over replication (`redis-cli --rdb -`), key counts from the snapshot.

- Dump: `redis-cli --rdb -` sends `SYNC` (with `REPLCONF rdb-only 1`): the server forks and streams a
  point-in-time RDB, so no `BGSAVE` (often disabled on managed servers) is needed. The password reaches
  redis-cli through `REDISCLI_AUTH`, never the command line.
- Counts: `RdbCounter` reads the stream as it passes: the per-database `RESIZEDB` sizes (the forked child's
  DBSIZE) and the keys it walks; the file must end with the EOF opcode.
- Where the server refuses replication (ElastiCache, Azure, Redis Cloud, Upstash: `SYNC` denied), the
  fallback is SCAN + DUMP + PTTL per key, written as an RDB file (`RdbWriter`): the manifest then says
  `point_in_time: false`, since keys changed during the scan may or may not be in it.
- Verify: the RDB is loaded by a scratch `redis-server` (no TCP port, unix socket only, persistence off) of
  the same or a newer major version than the source; the keyspace is compared with the manifest and the
  source's checks run (`sql` holds a Redis command, e.g. `GET app:schema`; `@3 SCARD users` runs in db 3).
  No such server, or an RDB format newer than the local server loads: `no_scratch_server`, naming the version.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ... import scratch
from ...errors import BackupError, VerificationError
from ...redact import Redactor
from ...secrets import Secret
from ..manifest import DumpTool, TableCount
from ..pipes import BatchedPipe, ReadStream, grow_pipe
from .interface import DumpOutcome, DumpRequest, Engine, RunningDump, VerifyJob
from .rdb import RdbCounter, RdbWriter, redis_for_rdb
from .tools import find_binary, version_of, version_tuple

__all__ = ["RedisEngine", "RedisURL", "parse_redis_url", "ScratchRedis", "local_redis_for"]


@dataclass(frozen=True)
class RedisURL:
    host: str
    port: int
    user: str | None
    password: str | None
    db: int
    tls: bool


def parse_redis_url(url: str) -> RedisURL:
    u = urlsplit(url)
    path = u.path.lstrip("/")
    return RedisURL(
        host=u.hostname or "localhost",
        port=u.port or 6379,
        user=unquote(u.username) if u.username else None,
        password=unquote(u.password) if u.password is not None else None,
        db=int(path) if path.isdigit() else 0,
        tls=u.scheme.lower() == "rediss",
    )


def _client(u: RedisURL, db: int = 0) -> Any:
    import redis

    return redis.Redis(
        host=u.host,
        port=u.port,
        username=u.user,
        password=u.password,
        db=db,
        ssl=u.tls,
        socket_timeout=60,
        socket_connect_timeout=15,
    )


def _counts_table(counts: dict[int, int]) -> tuple[TableCount, ...]:
    return tuple(TableCount(schema_name="redis", name=f"db{db}", rows=n) for db, n in sorted(counts.items()) if n)


class _CountingReader(ReadStream):
    """redis-cli's stdout, fed to an `RdbCounter`, cut at the RDB's end: redis-cli 7.0 writing to stdout
    leaves the 40-byte end-of-transfer mark of a diskless sync after the RDB, which is not part of it."""

    def __init__(self, first: bytes, raw: BatchedPipe, counter: RdbCounter) -> None:
        self._raw, self._counter = raw, counter
        self._emitted = 0
        self._first = self._cut(first)

    def _cut(self, data: bytes) -> bytes:
        if data:
            self._counter.feed(data)
        end = self._counter.end_offset
        if end is not None:
            data = data[: max(0, end - self._emitted)]
        self._emitted += len(data)
        return data

    def read(self, n: int = -1) -> bytes:
        if self._first:
            data, self._first = self._first, b""
            return data
        while True:
            raw = self._raw.read(n if n and n > 0 else 1 << 20) or b""
            if not raw:
                return b""
            data = self._cut(raw)
            if data:
                return data  # (after the end: keep draining the pipe until redis-cli exits)


class _GenReader(ReadStream):
    """A readable over a generator of byte chunks (the SCAN+DUMP fallback), fed to an `RdbCounter`."""

    def __init__(self, gen: Iterator[bytes], counter: RdbCounter) -> None:
        self._gen, self._counter, self._buf = gen, counter, b""

    def read(self, n: int = -1) -> bytes:
        n = n if n and n > 0 else 1 << 20
        while len(self._buf) < n:
            try:
                chunk = next(self._gen)
            except StopIteration:
                break
            self._counter.feed(chunk)
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


# what redis-cli reports when the server refuses SYNC (ACL, renamed/disabled command, managed service)
_REFUSED = (
    "NOPERM",
    "unknown command",
    "not allowed",
    "not available",
    "no permissions",
    "disabled",
    "Error reading RDB preamble",
    "MASTER aborted",
)


class _RedisDump(RunningDump):
    def __init__(self, request: DumpRequest) -> None:
        import redis

        self.src = request.src
        self.u = parse_redis_url(request.url.reveal())
        if self.u.password:
            Redactor.global_().add(Secret(self.u.password))
        try:
            with contextlib.closing(_client(self.u)) as c:
                info = c.info("server")
        except redis.RedisError as exc:
            raise BackupError(
                f"cannot connect to source {self.src.name!r}: " + Redactor.global_().redact(str(exc)),
                hint="check the source URL, the password and the network",
            ) from None
        self.server_version = str(info.get("redis_version") or info.get("valkey_version") or "0")
        self.cli = find_binary(("redis-cli", "valkey-cli"), package="redis-tools", configured=request.src.dump_tool)
        assert self.cli is not None
        self.cli_version = ".".join(map(str, version_tuple(version_of(self.cli)))) or "?"
        self.counter = RdbCounter()
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr_f = tempfile.TemporaryFile()
        self.point_in_time = True
        self.fallback_reason = ""
        argv = [str(self.cli), "-h", self.u.host, "-p", str(self.u.port), "--no-auth-warning"]
        if self.u.user:
            argv += ["--user", self.u.user]
        if self.u.tls:
            argv += ["--tls"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("REDISCLI")}
        if self.u.password:
            env["REDISCLI_AUTH"] = self.u.password
        self.proc = subprocess.Popen(
            argv + ["--rdb", "-"],
            stdout=subprocess.PIPE,
            stderr=self.stderr_f,
            stdin=subprocess.DEVNULL,
            env=env,
            bufsize=0,
        )
        assert self.proc.stdout is not None
        pipe_size = grow_pipe(self.proc.stdout)
        first = self.proc.stdout.read(9) or b""  # waits for the server's fork (repl-diskless-sync-delay)
        if first.startswith(b"REDIS"):
            pipe = BatchedPipe(self.proc.stdout, pipe_size)
            self.stream = _CountingReader(first, pipe, self.counter)  # type: ignore[assignment]
            return
        rc = self.proc.wait()
        err = self._stderr()
        self.proc = None
        if rc != 0 and any(word.lower() in err.lower() for word in _REFUSED):
            self.point_in_time = False
            self.fallback_reason = Redactor.global_().redact(err.splitlines()[-1] if err else "SYNC refused")
            self.stream = _GenReader(self._scan_dump(), self.counter)  # type: ignore[assignment]
            return
        raise BackupError(
            f"redis-cli --rdb failed (exit {rc}): {Redactor.global_().redact(err)[:400]}",
            hint="check the URL, the password and that the user may run SYNC and REPLCONF",
        )

    def _stderr(self) -> str:
        self.stderr_f.seek(0)
        lines = self.stderr_f.read(8192).decode(errors="replace").strip().splitlines()
        return " | ".join(ln for ln in lines[-5:] if not ln.startswith("sending REPLCONF"))

    def _scan_dump(self) -> Iterator[bytes]:
        """SCAN + DUMP + PTTL for each database with keys, as an RDB file (not point in time)."""
        writer = RdbWriter()
        with contextlib.closing(_client(self.u)) as c:
            keyspace = c.info("keyspace")
        dbs = sorted(int(k[2:]) for k in keyspace if str(k).startswith("db")) or [self.u.db]
        header_done = False
        pending: list[bytes] = []
        for db in dbs:
            with contextlib.closing(_client(self.u, db)) as c:
                out = [writer.select(db)]
                for key in c.scan_iter(count=1000):
                    pipe = c.pipeline(transaction=False)
                    pipe.dump(key)
                    pipe.pttl(key)
                    payload, pttl = pipe.execute()
                    if payload is None:  # gone since SCAN listed it
                        continue
                    if not header_done:
                        yield writer.header(max(writer.payload_version(payload), 9))
                        header_done = True
                        yield from pending
                        pending = []
                    expire = int(time.time() * 1000) + int(pttl) if pttl is not None and int(pttl) > 0 else None
                    out.append(writer.key(bytes(key), bytes(payload), expire))
                    if len(out) >= 256:
                        yield b"".join(out)
                        out = []
                if header_done:
                    yield b"".join(out)
                else:
                    pending.extend(out)
        if not header_done:
            yield writer.header(9)
        yield writer.end()

    def finish(self, head: bytes) -> DumpOutcome:
        name = self.cli.name if self.cli else "redis-cli"
        if self.proc is not None:
            rc = self.proc.wait()
            if rc != 0:
                raise BackupError(
                    f"{name} --rdb failed (exit {rc}): " + Redactor.global_().redact(self._stderr()),
                    hint="see redis-cli's message; check the network and the server's log",
                )
        if self.counter.unknown is None and not self.counter.eof:
            raise BackupError("the RDB transfer ended before the RDB's end marker: the snapshot is truncated")
        if self.counter.resize and self.counter.eof and self.counter.unknown is None:
            walked = {db: n for db, n in self.counter.keys.items() if n}
            sized = {db: n for db, n in self.counter.resize.items() if n}
            if walked != sized:
                raise BackupError(f"the RDB's RESIZEDB counts {sized} disagree with the keys in it {walked}")
        gaps = []
        if self.counter.unknown is not None:
            gaps.append(f"key counts read from RESIZEDB only after: {self.counter.unknown}")
        if not self.point_in_time:
            gaps.append(
                "not point-in-time: the server refused replication ("
                + self.fallback_reason
                + "), so keys were copied one by one with SCAN + DUMP + PTTL; keys changed during the "
                "copy may or may not be in it"
            )
        return DumpOutcome(
            server_version=self.server_version,
            server_version_num=_num(self.server_version),
            tool=DumpTool(
                name="redis-cli --rdb" if self.point_in_time else "scan+dump",
                version=self.cli_version,
                major=(version_tuple(self.cli_version) or (0,))[0],
                format=f"rdb-{self.counter.version or 0}",
            ),
            tables=_counts_table(self.counter.counts),
            host=self.u.host,
            port=self.u.port,
            database=None,
            point_in_time=self.point_in_time,
            gaps=tuple(gaps),
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


def _num(version: str) -> int:
    v = version_tuple(version) + (0, 0, 0)
    return v[0] * 10000 + v[1] * 100 + v[2]


# ---- scratch server -----------------------------------------------------------------------------------------


class ScratchRedis:
    """`redis-server` on a given RDB file in its own temporary directory: unix socket only, persistence off."""

    def __init__(self, server: Path, run_as: str = "nobody") -> None:
        self.server, self._user = server, run_as
        self.tmp = scratch.make_dir("redis")
        self.proc: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            import pwd

            pw = pwd.getpwnam(run_as)
            self._ids: tuple[int, int] | None = (pw.pw_uid, pw.pw_gid)
            os.chown(self.tmp, pw.pw_uid, pw.pw_gid)
        else:
            self._ids = None
        os.chmod(self.tmp, 0o700)

    @property
    def rdb(self) -> Path:
        return self.tmp / "dump.rdb"

    @property
    def sock(self) -> Path:
        return self.tmp / "s.sock"

    def start(self) -> ScratchRedis:
        if self._ids is not None and self.rdb.exists():
            os.chown(self.rdb, *self._ids)
        argv = [
            str(self.server),
            "--port",
            "0",
            "--unixsocket",
            str(self.sock),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.tmp),
            "--dbfilename",
            "dump.rdb",
            "--save",
            "",
            "--appendonly",
            "no",
            "--logfile",
            str(self.tmp / "server.log"),
            "--daemonize",
            "no",
        ]
        if self._ids is not None:
            argv = ["runuser", "-u", self._user, "--", *argv]
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.tmp,
            start_new_session=True,
            preexec_fn=scratch.parent_death_signal,  # not left serving restored data if we are killed
        )
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise VerificationError("scratch redis-server exited: " + self.log_tail())
            try:
                with contextlib.closing(self.client()) as c:
                    if int(c.info("persistence").get("loading", 1)) == 0:
                        return self
            except Exception:
                pass
            time.sleep(0.1)
        raise VerificationError("scratch redis-server did not finish loading the RDB within 600 s")

    def log_tail(self) -> str:
        p = self.tmp / "server.log"
        return " | ".join(p.read_text(errors="replace").strip().splitlines()[-4:]) if p.exists() else ""

    def client(self, db: int = 0) -> Any:
        import redis

        return redis.Redis(unix_socket_path=str(self.sock), db=db, socket_timeout=60)

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
        shutil.rmtree(self.tmp, ignore_errors=True)


def local_redis_for(source_version: str, rdb_format: str) -> tuple[Path | None, str]:
    """A local redis-server of the same or a newer major version than the source, able to load the RDB."""
    sv = version_tuple(source_version)
    rdb_v = int(rdb_format.split("-")[-1]) if rdb_format.split("-")[-1].isdigit() else 0
    need = f"a redis-server {sv[0] if sv else '?'}.x or newer" + (
        f" (RDB format {rdb_v} needs Redis {redis_for_rdb(rdb_v)}+)" if rdb_v else ""
    )
    path = find_binary(("redis-server",), package="redis-server", required=False)
    if path is None:
        return None, need + "; install it: `apt-get install redis-server`"
    lv = version_tuple(version_of(path).split("v=")[-1])
    ok_major = bool(lv and sv and lv[0] >= sv[0])
    ok_rdb = not rdb_v or (bool(lv) and version_tuple(redis_for_rdb(rdb_v))[:2] <= lv[:2])
    if not (ok_major and ok_rdb):
        return None, f"{need}; the local {path} is {'.'.join(map(str, lv))}"
    return path, ""


def _copy_keys(src: Any, dst: Any, keys: list[bytes]) -> int:
    p = src.pipeline(transaction=False)
    for k in keys:
        p.dump(k)
        p.pttl(k)
    got = p.execute()
    w = dst.pipeline(transaction=False)
    n = 0
    for i, k in enumerate(keys):
        payload, pttl = got[2 * i], got[2 * i + 1]
        if payload is None:
            continue
        w.restore(k, max(int(pttl), 0) if pttl is not None and int(pttl) > 0 else 0, payload, replace=True)
        n += 1
    w.execute()
    return n


class RedisEngine(Engine):
    name = "redis"
    schemes = ("redis", "rediss")
    label = "Redis"

    restore_action = (
        "load the RDB into a scratch redis-server, then copy every key into the target with "
        "RESTORE key ttl payload REPLACE (DUMP from the scratch server, TTLs kept), database by "
        "database; no FLUSHALL, no REPLICAOF, no DEBUG RELOAD"
    )
    restore_note = (
        "keys only in the target are left as they are (a FLUSHALL would need its own approval); keys "
        "in the backup replace the target's"
    )

    def start_dump(self, request: DumpRequest) -> RunningDump:
        return _RedisDump(request)

    def inspect_target(self, url: Secret) -> dict[str, Any]:
        import redis

        u = parse_redis_url(url.reveal())
        if u.password:
            Redactor.global_().add(Secret(u.password))
        try:
            with contextlib.closing(_client(u)) as c:
                server, memory, keyspace = c.info("server"), c.info("memory"), c.info("keyspace")
        except redis.RedisError as exc:
            raise BackupError(
                "cannot connect to the target: " + Redactor.global_().redact(str(exc)),
                hint="check the target's url, the password and the network",
            ) from None
        tables = [{"name": f"redis.db{str(k)[2:]}", "rows": int(v["keys"])} for k, v in sorted(keyspace.items())]
        return {
            "host": u.host,
            "port": u.port,
            "database": None,
            "user": u.user or "default",
            "server_version": str(server.get("redis_version")),
            "size_bytes": int(memory.get("used_memory", 0)),
            "used_memory_human": str(memory.get("used_memory_human", "")),
            "tables": tables,
        }

    def restore_into(self, dump: Path, url: Secret, manifest: Any) -> dict[str, Any]:
        import redis

        u = parse_redis_url(url.reveal())
        if u.password:
            Redactor.global_().add(Secret(u.password))
        server, why = local_redis_for(manifest.server_version, manifest.dump_tool.format)
        if server is None:
            raise BackupError(f"no local redis-server can load this RDB: needs {why}")
        srv = ScratchRedis(server)
        restored: dict[str, int] = {}
        try:
            shutil.copyfile(dump, srv.rdb)
            srv.start()
            with contextlib.closing(srv.client()) as c:
                dbs = sorted(int(str(k)[2:]) for k in c.info("keyspace"))
            for db in dbs:
                with contextlib.closing(srv.client(db)) as src, contextlib.closing(_client(u, db)) as dst:
                    n = 0
                    batch: list[bytes] = []
                    for key in src.scan_iter(count=1000):
                        batch.append(key)
                        if len(batch) >= 500:
                            n += _copy_keys(src, dst, batch)
                            batch = []
                    if batch:
                        n += _copy_keys(src, dst, batch)
                    restored[f"redis.db{db}"] = n
        except redis.RedisError as exc:
            raise BackupError(
                "restoring keys into the target failed: " + Redactor.global_().redact(str(exc)),
                hint="keys restored before the error are replaced; the safety copy (an RDB of the "
                "target) is in the store",
            ) from None
        finally:
            srv.stop()
        return {"method": "RESTORE … REPLACE per key from a scratch redis-server", "restored_keys": restored}

    def magic_ok(self, head: bytes, tail: bytes) -> bool:
        return head.startswith(b"REDIS") and len(tail) >= 9 and tail[-9] == 0xFF

    def quick_check(self, job: VerifyJob) -> None:
        out = job.stream_into(["sh", "-c", "exec cat >/dev/null"], {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
        job.integrity_failed(out)

    def verify(self, job: VerifyJob) -> None:
        from ..verify import CheckResult, _jsonable, check_counts, evaluate_expect, fail_assertions

        manifest, result = job.manifest, job.result
        server, why = local_redis_for(manifest.server_version, manifest.dump_tool.format)
        if server is None:
            result.fail(
                "no_scratch_server",
                f"not verified: this RDB from Redis {manifest.server_version} needs "
                f"{why}; this is a coverage gap, not a pass",
            )
            return
        srv = ScratchRedis(server)
        try:
            t = time.monotonic()
            out = job.stream_into(
                ["dd", f"of={srv.rdb}", "bs=1M", "status=none"], {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
            )
            if job.integrity_failed(out):
                return
            if out.rc != 0:
                raise VerificationError(
                    f"cannot write the RDB to {srv.tmp}: {out.stderr.strip()[:300]}",
                    hint=f"check free disk space there, or point {scratch.SCRATCH_ENV} at a directory with room",
                )
            try:
                srv.start()
            except VerificationError as exc:
                if "Can't handle RDB format version" in exc.message:
                    result.fail(
                        "no_scratch_server",
                        f"not verified: {exc.message}; needs {why or 'a newer Redis'}; "
                        "this is a coverage gap, not a pass",
                    )
                else:
                    result.fail(
                        "restore_failed",
                        f"redis-server could not load the RDB: {exc.message}; the backup is unusable, run a new backup",
                    )
                return
            job.timings["restore_s"] = time.monotonic() - t
            with contextlib.closing(srv.client()) as c:
                keyspace = c.info("keyspace")
                pers = c.info("persistence")
            found = {f"redis.db{str(k)[2:]}": int(v["keys"]) for k, v in keyspace.items()}
            expired = int(pers.get("rdb_last_load_keys_expired", 0) or 0)
            expected = manifest.expected_counts()
            if expired and sum(found.values()) + expired == sum(expected.values()):
                found = dict(expected)  # keys past their TTL are dropped on load, and accounted for
            check_counts(result, expected, found, what="key counts", unit="database(s)")
            checks = []
            for chk in job.checks:
                text, db = chk.sql.strip(), 0
                if text.startswith("@") and " " in text:
                    sel, text = text.split(" ", 1)
                    db = int(sel[1:]) if sel[1:].isdigit() else 0
                try:
                    with contextlib.closing(srv.client(db)) as c:
                        value = c.execute_command(*shlex.split(text))
                    if isinstance(value, bytes):
                        value = value.decode(errors="replace")
                    passed = evaluate_expect(chk.expect, value)
                except Exception as exc:
                    value, passed = f"error: {exc}", False
                checks.append(CheckResult(chk.sql, chk.expect, _jsonable(value), passed))
            result.checks = checks
            fail_assertions(result)
        finally:
            srv.stop()
