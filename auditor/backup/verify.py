"""The restore verifier: a backup counts only once it has been restored and checked.

Two tiers (restic's discipline: a cheap structural check, then a real restore):

- quick: the manifest exists; the object exists, its size and SHA-256 match the manifest; it
  decrypts with the configured identities; `pg_restore --list` reads it.
- full (default): everything above in the same single pass, written to a private temporary file while
  the scratch server starts, then `pg_restore` from that file into a scratch PostgreSQL at least as new
  as the dump (an embedded `ScratchPostgres`, or the user's `[verify] scratch_url` server); then every
  table's row count (one query) is compared with the manifest
  (counted in the dump's own snapshot), the source's `[[sources.checks]]` assertions run, and
  the scratch database is dropped.

Each failure has its own code (pinned by issue 11) and a message that says what to do:
object_missing, manifest_missing, size_mismatch, checksum_mismatch, decrypt_failed,
invalid_dump, restore_failed, count_mismatch, assertion_failed. Every result is recorded in
the catalogue (`backup_verifications`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any, Literal

from .. import scratch
from ..config import BackupConfig, CheckConfig, Config
from ..errors import BackupError, VerificationError
from ..pgserver import ConfiguredPostgres, RestoreServer, ScratchPostgres
from ..pgtools import find_server_bin_dir, find_tool
from ..redact import Redactor
from ..state import StateDB
from .catalog import BackupRecord, Catalog, VerificationRecord
from .engines import engine_named
from .engines.interface import Engine, VerifyJob
from .manifest import Manifest, manifest_key
from .pipes import grow_pipe as _grow_pipe
from .runner import count_rows
from .stores import BackupStore, open_store

__all__ = [
    "verify_backup",
    "VerificationResult",
    "TableResult",
    "CheckResult",
    "FAILURE_CODES",
    "load_identities",
    "evaluate_expect",
    "resolve_backup",
    "pg_quick_check",
    "pg_full_verify",
    "check_counts",
    "fail_assertions",
]

log = logging.getLogger(__name__)

FAILURE_CODES = (
    "object_missing",
    "manifest_missing",
    "size_mismatch",
    "checksum_mismatch",
    "decrypt_failed",
    "invalid_dump",
    "restore_failed",
    "count_mismatch",
    "assertion_failed",
    "no_scratch_server",
)
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class TableResult:
    name: str
    expected_rows: int | None
    found_rows: int | None

    @property
    def ok(self) -> bool:
        return self.expected_rows == self.found_rows


@dataclass(frozen=True)
class CheckResult:
    sql: str
    expect: str
    value: Any
    passed: bool


@dataclass
class VerificationResult:
    backup: str
    source: str | None
    mode: Literal["quick", "full"]
    outcome: Literal["passed", "failed"] = "passed"
    failure_code: str | None = None
    message: str = ""
    tables: list[TableResult] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    duration_s: float = 0.0
    at: datetime | None = None
    timings: dict[str, float] = field(default_factory=dict)  # phase -> seconds (not part of the JSON)

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    def fail(self, code: str, message: str) -> VerificationResult:
        assert code in FAILURE_CODES
        self.outcome, self.failure_code, self.message = "failed", code, message
        return self

    def to_json(self) -> dict[str, Any]:
        """The `blastwall verify --json` document (pinned by issue 11)."""
        return {
            "backup": self.backup,
            "mode": self.mode,
            "outcome": self.outcome,
            "failure_code": self.failure_code,
            "message": self.message,
            "tables": [
                {"name": t.name, "expected_rows": t.expected_rows, "found_rows": t.found_rows} for t in self.tables
            ],
            "checks": [
                {"sql": c.sql, "expect": c.expect, "value": _jsonable(c.value), "passed": c.passed} for c in self.checks
            ],
            "duration_s": round(self.duration_s, 3),
        }


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return str(v)


# ---- assertions ---------------------------------------------------------------------------------

_EXPECT = re.compile(r"^\s*(==|=|!=|>=|<=|>|<)\s*(.+?)\s*$")


def evaluate_expect(expect: str, value: Any) -> bool:
    """`expect` is an operator and a literal (`> 0`, `== 42`, `!= 'x'`); numbers compare as numbers."""
    m = _EXPECT.match(expect)
    if not m:
        raise ValueError(f"bad expect {expect!r}")
    op, lit = m.group(1), m.group(2).strip()
    if len(lit) >= 2 and lit[0] == lit[-1] and lit[0] in "'\"":
        left: Any = None if value is None else str(value)
        right: Any = lit[1:-1]
    else:
        try:
            right = Decimal(lit)
            left = None if value is None else Decimal(str(value))
        except InvalidOperation:
            left, right = (None if value is None else str(value)), lit
    if left is None:
        return op == "!=" and right is not None
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "==": lambda a, b: a == b,
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
    }
    try:
        return ops[op](left, right)
    except TypeError:
        return False


# ---- identities -----------------------------------------------------------------------------------


def load_identities(bcfg: BackupConfig | None, environ: Mapping[str, str] | None = None) -> list[Any]:
    """age identities from `[[backups]] identities` (each an env:/file: reference to identity text)."""
    import pyrage

    out: list[Any] = []
    if bcfg is None:
        return out
    for ref in bcfg.identities:
        text = ref.resolve(environ).reveal()
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("AGE-SECRET-KEY-"):
                try:
                    out.append(pyrage.x25519.Identity.from_str(line))
                except Exception as exc:
                    raise VerificationError(
                        f"the identity referenced by {ref} is not a valid age identity",
                        hint="check the identities in [[backups]]",
                    ) from exc
    return out


# ---- streaming ------------------------------------------------------------------------------------


class _HashReader:
    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.sha = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n if n and n > 0 else CHUNK)
        self.sha.update(data)
        self.size += len(data)
        return bytes(data)

    def readinto(self, b: bytearray | memoryview) -> int:
        readinto = getattr(self._raw, "readinto", None)
        if readinto is None:
            data = self.read(len(b))
            b[: len(data)] = data
            return len(data)
        n = int(readinto(b) or 0)  # straight into the caller's buffer: no copy
        view = memoryview(b)[:n]
        self.sha.update(view)
        self.size += n
        return n

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


class _PlainEnds:
    """A writable sink of plain (decrypted) bytes that remembers their first and last 64 bytes and their count
    (the engines' `magic_ok` looks at both ends)."""

    def __init__(self) -> None:
        self.head = b""
        self.tail = b""
        self.size = 0

    def _see(self, view: memoryview) -> None:
        if len(self.head) < 64:
            self.head += bytes(view[: 64 - len(self.head)])
        self.tail = (self.tail + bytes(view[-64:]))[-64:]
        self.size += len(view)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        pass


class _PlainSink(_PlainEnds):
    """Decrypted bytes -> pg_restore's stdin. Keeps going (discarding) once pg_restore stops reading."""

    def __init__(self, pipe: IO[bytes] | None) -> None:
        super().__init__()
        self._pipe = pipe
        self.pipe_closed = pipe is None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        view = memoryview(data).cast("B")
        n = len(view)
        self._see(view)
        if not self.pipe_closed and self._pipe is not None:
            try:
                self._pipe.write(data)
            except (BrokenPipeError, ValueError, OSError):
                self.pipe_closed = True
        return n

    def close(self) -> None:
        if self._pipe is not None and not self.pipe_closed:
            with contextlib.suppress(OSError, ValueError):
                self._pipe.close()
        self.pipe_closed = True


class _FetchCancelled(Exception):
    pass


class _FileSink(_PlainEnds):
    """Decrypted bytes -> a new file of our own (see `_fetch_into`)."""

    def __init__(self, fd: int, cancel: threading.Event | None) -> None:
        super().__init__()
        self._f = open(fd, "wb", buffering=0)  # noqa: SIM115 - closed by close()
        self._cancel = cancel
        self.error: OSError | None = None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        if self._cancel is not None and self._cancel.is_set():
            raise _FetchCancelled
        view = memoryview(data).cast("B")
        n = len(view)
        self._see(view)
        try:
            while view:
                view = view[self._f.write(view) :]
        except OSError as exc:  # kept: inside pyrage.decrypt_io it would look like a decryption error
            self.error = exc
            raise
        return n

    def close(self) -> None:
        self._f.close()


FETCH_CHUNK = 4 * 1024 * 1024


def _fetch_into(
    store: BackupStore, key: str, identities: list[Any] | None, dest: Path, cancel: threading.Event | None = None
) -> _StreamOutcome:
    """Read the object once: hash it, decrypt it (if `identities` is not None), write the plain bytes to
    `dest`, a new file created 0600 (never an existing one). The caller removes `dest`, also on failure.

    Returns the same outcome as `_stream_into` (rc 0, no output: no tool ran yet). `cancel` stops early."""

    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    sink = _FileSink(os.open(dest, flags, 0o600), cancel)
    decrypt_error: str | None = None
    try:
        raw = store.open_reader(key)
        reader = _HashReader(raw)
        try:
            try:
                decrypt_error = _copy_plain(reader, sink, identities)
            except OSError:
                if sink.error is None:
                    raise
            if cancel is not None and cancel.is_set():
                raise _FetchCancelled
            if sink.error is not None:
                raise VerificationError(
                    f"cannot write the plain copy of the dump to {dest.parent}: {sink.error.strerror or sink.error}",
                    hint=f"free space there, or point {scratch.SCRATCH_ENV} at a directory on a disk with room for the dump "
                    "and the restored database",
                ) from sink.error
            reader.drain()  # the checksum covers every stored byte, even after a decrypt error
        finally:
            with contextlib.suppress(Exception):
                raw.close()
    finally:
        sink.close()
    return _StreamOutcome(reader.sha.hexdigest(), reader.size, sink.head, decrypt_error, 0, "", 0, sink.tail)


def _copy_plain(reader: _HashReader, sink: Any, identities: list[Any] | None) -> str | None:
    """The stored object's plain bytes from `reader` into `sink`: decrypted with `identities`, or copied through
    one reused buffer when the backup is not encrypted. Returns why decryption failed, or None."""
    import pyrage

    if identities is None:
        buf = memoryview(bytearray(FETCH_CHUNK))
        while n := reader.readinto(buf):
            sink.write(buf[:n])
        return None
    try:
        pyrage.decrypt_io(reader, sink, identities)
    except (pyrage.DecryptError, OSError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return None


@dataclass
class _StreamOutcome:
    sha256: str
    size: int
    head: bytes
    decrypt_error: str | None
    rc: int
    stderr: str
    stdout_lines: int
    tail: bytes = b""


def _stream_into(
    store: BackupStore, key: str, identities: list[Any] | None, argv: list[str], env: dict[str, str]
) -> _StreamOutcome:
    """Read the object once: hash it, decrypt it (if `identities` is not None), pipe it into `argv`."""

    err_f = tempfile.TemporaryFile()
    out_f = tempfile.TemporaryFile()
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out_f, stderr=err_f, env=env, bufsize=0)
    assert proc.stdin is not None
    _grow_pipe(proc.stdin)
    sink = _PlainSink(proc.stdin)
    decrypt_error: str | None = None
    raw = store.open_reader(key)
    reader = _HashReader(raw)
    try:
        try:
            decrypt_error = _copy_plain(reader, sink, identities)
            reader.drain()  # the checksum covers every stored byte, even after a decrypt error
        finally:
            sink.close()
            with contextlib.suppress(Exception):
                raw.close()
        rc = proc.wait()
    except BaseException:
        with contextlib.suppress(Exception):
            proc.kill()
        with contextlib.suppress(Exception):
            proc.wait(10)
        raise
    finally:
        stderr = _stderr_excerpt(err_f)
        err_f.close()
        out_f.seek(0)
        lines = sum(1 for _ in out_f)
        out_f.close()
    return _StreamOutcome(reader.sha.hexdigest(), reader.size, sink.head, decrypt_error, rc, stderr, lines, sink.tail)


def _first_errors(stderr: str, n: int = 5) -> str:
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    errs = [ln for ln in lines if "error" in ln.lower()] or lines
    return Redactor.global_().redact(" | ".join(errs[:n]))


_INVALID_ARCHIVE = re.compile(
    r"(does not appear to be a valid archive|unsupported version|input file is too short|"
    r"could not read input file|unrecognized file format|unexpected end of file|"
    r"did not find magic string)",
    re.I,
)

# the scratch server's disk filled up: the restore says nothing about the backup
_NO_SPACE = re.compile(r"No space left on device|could not extend file", re.I)


def _no_space_error(stderr: str, srv: RestoreServer) -> VerificationError | None:
    """The error for a restore that failed because the scratch server ran out of disk space, else None."""
    own = srv.tmpdir if isinstance(srv, ScratchPostgres) else None
    log = srv.log_tail(20) if isinstance(srv, ScratchPostgres) and own is not None else ""
    if not (_NO_SPACE.search(stderr) or _NO_SPACE.search(log)):
        return None
    return scratch.out_of_space(own.parent if own is not None else "the configured server ([verify] scratch_url)")


# ---- resolving what to verify -------------------------------------------------------------------


def _backups_for(config: Config, source: str) -> list[BackupConfig]:
    return [b for b in config.backups if b.source == source]


def resolve_backup(config: Config, catalog: Catalog, target: str | None, *, latest: str | None = None) -> BackupRecord:
    """The catalogue record for a backup id, or the newest complete backup of source `latest`."""
    if latest:
        config.source(latest)  # a clear error for an unknown source
        rec = catalog.newest_complete(latest)
        if rec is None:
            raise VerificationError(
                f"no complete backup of source {latest!r} in the catalogue",
                hint=f"run `blastwall backup run {latest}` first",
            )
        return rec
    if not target:
        raise VerificationError("give a backup id or --latest SOURCE")
    rec = catalog.get(target)
    if rec is not None:
        return rec
    # Not catalogued here (e.g. made on another machine): look for it in the configured stores.
    for b in config.backups:
        scfg = config.store(b.store)
        mkey = manifest_key(scfg.prefix, b.source, target)
        store = open_store(scfg)
        try:
            keys = {k for k in store.list_keys(f"{scfg.prefix}{b.source}/{target}")}
        finally:
            store.close()
        if keys:
            okey = next((k for k in keys if not k.endswith(".manifest.json")), None)
            return BackupRecord(
                id=target,
                source=b.source,
                store=scfg.name,
                status="complete",
                created_at=datetime.now(UTC),
                object_key=okey,
                manifest_key=mkey,
            )
    raise VerificationError(
        f"unknown backup {target!r}", hint="see `blastwall backup list` for backup ids, or use --latest SOURCE"
    )


# ---- the verifier ----------------------------------------------------------------------------------


def verify_backup(
    config: Config,
    target: str | None = None,
    *,
    latest: str | None = None,
    sample: str | None = None,
    mode: Literal["quick", "full"] | None = None,
    quick: bool = False,
    db: StateDB | None = None,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], datetime] | None = None,
    server: RestoreServer | None = None,
    store: BackupStore | None = None,
    record: bool = True,
) -> VerificationResult:
    """Verify one backup and record the result. Never raises for a bad backup: the outcome says.

    `target` is a backup id; with `latest=SOURCE` (or `sample="latest"` and `target=SOURCE`, the
    scheduler's form) the newest complete backup of that source is verified. `server` reuses a
    running `ScratchPostgres`/`ConfiguredPostgres` (a fresh database is created and dropped in it).
    Raises `VerificationError` only when there is nothing to verify or no tool to verify with.
    """
    clock = clock or (lambda: datetime.now(UTC))
    if sample == "latest" and target and not latest:
        latest, target = target, None
    the_mode: Literal["quick", "full"] = mode or ("quick" if quick else "full")
    db = db or StateDB(config.state.url)
    catalog = Catalog(db, clock)
    catalog.reap_dead_runs()
    rec = resolve_backup(config, catalog, target, latest=latest)
    started_at = clock()
    t0 = time.monotonic()
    result = VerificationResult(backup=rec.id, source=rec.source, mode=the_mode, at=started_at)
    own_store = store is None
    scfg = config.store(rec.store)
    store = store or open_store(scfg, environ)
    try:
        _verify(config, rec, scfg.prefix, store, result, environ=environ, server=server)
    finally:  # an exception (no tool, interrupted) propagates unrecorded: it says nothing about the backup
        if own_store:
            store.close()
    result.duration_s = time.monotonic() - t0
    if result.outcome == "passed" and not result.message:
        result.message = (
            f"restored into a scratch database: {len(result.tables)} table(s) match the "
            f"manifest, {len(result.checks)} check(s) passed"
            if the_mode == "full"
            else "object, size, SHA-256, decryption and archive table of contents are good (quick: not restored)"
        )
    if record:
        doc = result.to_json()
        catalog.record_verification(
            VerificationRecord(
                backup_id=rec.id,
                at=started_at,
                mode=the_mode,
                outcome=result.outcome,
                failure_code=result.failure_code,
                message=result.message,
                duration_s=result.duration_s,
                details={"tables": doc["tables"], "checks": doc["checks"]},
            ),
            source=rec.source,
        )
    return result


def _verify(
    config: Config,
    rec: BackupRecord,
    prefix: str,
    store: BackupStore,
    result: VerificationResult,
    *,
    environ: Mapping[str, str] | None,
    server: RestoreServer | None,
) -> None:
    mkey = rec.manifest_key or manifest_key(prefix, rec.source, rec.id)
    if store.stat(mkey) is None:
        why = f" (the run failed: {rec.error})" if rec.status == "failed" and rec.error else ""
        result.fail(
            "manifest_missing",
            f"no manifest at {store.location(mkey)}{why}: the backup never finished and does not count; "
            "run a new backup (`blastwall backup run " + rec.source + "`)",
        )
        return
    try:
        manifest = Manifest.from_json(store.read_bytes(mkey))
    except Exception as exc:
        result.fail(
            "manifest_missing",
            f"the manifest at {store.location(mkey)} is unreadable ({type(exc).__name__}); "
            "treat the backup as incomplete and run a new one",
        )
        return
    okey = manifest.object.key
    obj = store.stat(okey)
    if obj is None:
        result.fail(
            "object_missing",
            f"the backup object {store.location(okey)} is gone although its manifest "
            "exists: it was deleted or expired; check the store's retention/object lock and run a new backup",
        )
        return
    if obj.size != manifest.object.size:
        result.fail(
            "size_mismatch",
            f"the stored object is {obj.size} bytes but the manifest says "
            f"{manifest.object.size}: it was truncated or replaced; do not rely on it, run a new backup "
            "and check who can write to the store (`blastwall backup check-store`)",
        )
        return

    identities: list[Any] | None = None
    if manifest.object.encrypted:
        bcfg = next((b for b in config.backups if b.source == rec.source and b.store == rec.store), None)
        identities = load_identities(bcfg, environ)
        if not identities:
            result.fail(
                "decrypt_failed",
                "the backup is age-encrypted but no identities are configured; add "
                '`identities = ["file:..."]` with the key for '
                f"{', '.join(r[:16] + '…' for r in manifest.object.recipients)} to the [[backups]] entry",
            )
            return

    try:
        engine = engine_named(manifest.source.kind)
    except BackupError as exc:
        result.fail(
            "invalid_dump",
            f"the manifest names engine {manifest.source.kind!r}, which this version "
            f"of Blastwall does not know ({exc.message}); upgrade Blastwall to verify it",
        )
        return
    where = store.location(okey)
    job = VerifyJob(
        config=config,
        manifest=manifest,
        store=store,
        okey=okey,
        identities=identities,
        result=result,
        environ=environ,
        server=server,
        checks=config.source(rec.source).checks if any(s.name == rec.source for s in config.sources) else (),
        stream_into=lambda argv, env: _stream_into(store, okey, identities, argv, env=env),
        fetch_into=lambda dest, cancel: _fetch_into(store, okey, identities, dest, cancel),
        integrity_failed=lambda out: _integrity_failed(out, manifest, result, where, engine),
    )
    if result.mode == "quick":
        engine.quick_check(job)
    else:
        engine.verify(job)
        result.timings.update(job.timings)
        log.debug("verification phases (s): %s", {k: round(v, 3) for k, v in result.timings.items()})


def pg_quick_check(job: VerifyJob) -> None:
    """PostgreSQL's quick tier: `pg_restore --list` reads the archive's table of contents."""
    restore_tool = find_tool("pg_restore", job.manifest.dump_tool.major, configured=job.config.verify.pg_bin_dir)
    out = job.stream_into([str(restore_tool.path), "--list"], _plain_env())
    if job.integrity_failed(out):
        return
    if out.rc != 0 or out.stdout_lines == 0:
        job.result.fail(
            "invalid_dump",
            "pg_restore --list cannot read the archive: "
            + _first_errors(out.stderr)
            + "; the backup is unusable, run a new backup",
        )


class _Background:
    """`fn(cancel)` in a thread; `result()` waits and returns its value or raises its exception."""

    def __init__(self, fn: Callable[[threading.Event], Any], name: str) -> None:
        self.cancel = threading.Event()
        self.elapsed = 0.0
        self._value: Any = None
        self._exc: BaseException | None = None
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, args=(fn,), name=name, daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[[threading.Event], Any]) -> None:
        try:
            self._value = fn(self.cancel)
        except BaseException as exc:  # noqa: BLE001 - re-raised by result()
            self._exc = exc
        finally:
            self.elapsed = time.monotonic() - self._t0

    def result(self) -> Any:
        self._thread.join()
        if self._exc is not None:
            raise self._exc
        return self._value

    def stop(self) -> None:
        self.cancel.set()
        self._thread.join()


def pg_full_verify(job: VerifyJob) -> None:
    """PostgreSQL's full tier: pg_restore into a scratch server, exact counts, the source's checks.

    The object is read once (size, SHA-256, decryption) into a file in a private temporary directory
    while the scratch server starts; only an intact object is restored, from that file. The file is
    removed afterwards, also on failure or interrupt.
    """
    config, manifest, result, server = job.config, job.manifest, job.result, job.server
    assert job.fetch_into is not None
    fetch_into = job.fetch_into
    environ = job.environ
    dump_major = manifest.dump_tool.major
    restore_tool = find_tool("pg_restore", dump_major, configured=config.verify.pg_bin_dir)
    rec_id = manifest.backup_id
    own_server = server is None
    srv: RestoreServer
    if server is not None:
        srv = server
    elif config.verify.scratch_url is not None:
        srv = ConfiguredPostgres(config.verify.scratch_url.resolve(environ))
    else:
        srv = ScratchPostgres(
            find_server_bin_dir(dump_major, configured=config.verify.pg_bin_dir),
            template_cache=config.verify.scratch_template,
        )
    own_scratch = own_server and isinstance(srv, ScratchPostgres)
    workdir: Path | None = None
    fetch: _Background | None = None
    try:
        # 0700, ours: inside the scratch server's directory (never handed to its user), else a new temp dir
        workdir = srv.private_dir() if isinstance(srv, ScratchPostgres) else scratch.make_dir("verify")
        dump = workdir / "dump"
        fetch = _Background(lambda cancel: fetch_into(dump, cancel), "blastwall-verify-fetch")
        if own_scratch and isinstance(srv, ScratchPostgres):
            t = time.monotonic()
            srv.start()  # in this thread: the server gets SIGTERM when the thread that started it ends
            result.timings["scratch_start_s"] = time.monotonic() - t
        server_major = srv.server_version_num() // 10000
        if server_major < dump_major:
            raise VerificationError(
                f"the scratch server is PostgreSQL {server_major}, older than the dump's "
                f"pg_dump {manifest.dump_tool.version}",
                hint="use a newer scratch server ([verify] scratch_url or pg_bin_dir)",
            )
        # A server of our own is fresh and goes away afterwards: the restore goes into its `postgres` database
        # (initdb made it from template1, as CREATE DATABASE would; that takes 0.25 s). On a shared server a
        # database of our own is created and dropped.
        scratch_db = (
            contextlib.nullcontext("postgres")
            if own_scratch
            else srv.database(f"blastwall_verify_{rec_id[-6:]}_{int(time.time())}")
        )
        out = fetch.result()
        result.timings["fetch_s"] = fetch.elapsed
        if job.integrity_failed(out):
            return
        with scratch_db as dbname:
            argv = [str(restore_tool.path), "--no-owner", "--no-privileges", "--no-password", "-d", dbname]
            if isinstance(srv, ScratchPostgres):
                # our own server runs wal_level=minimal: tables loaded in the transaction that created them
                # skip WAL. (`--jobs 2` from the file measured no faster on 2 cores: see docs/architecture.md.)
                argv.append("--single-transaction")
            argv.append(str(dump))
            t = time.monotonic()
            rc, stderr = _run_tool(argv, srv.client_env(dbname))
            result.timings["restore_s"] = time.monotonic() - t
            if rc != 0:
                no_space = _no_space_error(stderr, srv)
                if no_space is not None:
                    raise no_space
                if _INVALID_ARCHIVE.search(stderr):
                    result.fail(
                        "invalid_dump",
                        "not a valid pg_dump archive: "
                        + _first_errors(stderr)
                        + "; the backup is unusable, run a new backup",
                    )
                else:
                    result.fail(
                        "restore_failed",
                        "pg_restore reported errors: "
                        + _first_errors(stderr)
                        + "; fix the cause (missing extension or role, version) and verify again",
                    )
                return
            with srv.connect(dbname) as conn:
                t = time.monotonic()
                found = {c.qualified: c.rows for c in count_rows(conn)}
                result.timings["count_s"] = time.monotonic() - t
                check_counts(result, manifest.expected_counts(), found)
                result.checks = _run_checks(conn, job.checks)
            fail_assertions(result)
    finally:
        try:
            if fetch is not None:
                fetch.stop()
        finally:
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)
            if own_server:
                srv.stop()


def _stderr_excerpt(err_f: IO[bytes], keep: int = 64 * 1024) -> str:
    """A tool's stderr: all of it, or its first and last `keep` bytes (a client that echoes a failed statement
    puts megabytes before the error line)."""
    size = err_f.seek(0, os.SEEK_END)
    err_f.seek(0)
    if size <= 2 * keep:
        return err_f.read().decode(errors="replace")
    head = err_f.read(keep)
    err_f.seek(size - keep)
    return (head + b"\n[...]\n" + err_f.read(keep)).decode(errors="replace")


def _run_tool(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run a client tool to completion (killed if we are interrupted); its exit code and stderr's excerpt."""
    with tempfile.TemporaryFile() as err_f:
        rc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err_f, env=env).returncode
        return rc, _stderr_excerpt(err_f)


def check_counts(
    result: VerificationResult,
    expected: Mapping[str, int],
    found: Mapping[str, int],
    what: str = "row counts",
    unit: str = "table(s)",
) -> None:
    """Compare the restored counts with the manifest's; `count_mismatch` on any difference."""
    result.tables = [TableResult(name, exp, found.get(name)) for name, exp in expected.items()]
    result.tables += [TableResult(name, None, n) for name, n in found.items() if name not in expected]
    bad = [t for t in result.tables if not t.ok]
    if bad:
        detail = "; ".join(f"{t.name}: expected {t.expected_rows}, found {t.found_rows}" for t in bad[:10])
        result.fail(
            "count_mismatch",
            f"{what} differ from the manifest in {len(bad)} {unit}: "
            f"{detail}; the dump does not hold what was counted at backup time — "
            "do not rely on it, run a new backup and investigate",
        )


def fail_assertions(result: VerificationResult) -> None:
    """`assertion_failed` for the first failed check (unless the result already failed)."""
    failed = [c for c in result.checks if not c.passed]
    if failed and result.outcome == "passed":
        c = failed[0]
        result.fail(
            "assertion_failed",
            f"check `{c.sql}` expected {c.expect.strip()}, found {c.value!r}"
            + (f" (and {len(failed) - 1} more failed)" if len(failed) > 1 else "")
            + "; the restored data is not what you expect: inspect the source and the backup",
        )


def _integrity_failed(
    out: _StreamOutcome, manifest: Manifest, result: VerificationResult, where: str, engine: Engine
) -> bool:
    if out.size != manifest.object.size:
        result.fail(
            "size_mismatch",
            f"read {out.size} bytes from {where} but the manifest says "
            f"{manifest.object.size}: it was truncated or replaced; run a new backup",
        )
        return True
    if out.sha256 != manifest.object.sha256:
        result.fail(
            "checksum_mismatch",
            f"the SHA-256 of {where} ({out.sha256[:16]}…) differs from the "
            f"manifest's ({manifest.object.sha256[:16]}…): the stored bytes were changed or corrupted; "
            "do not rely on this backup, run a new one and check who can write to the store",
        )
        return True
    if out.decrypt_error is not None:
        result.fail(
            "decrypt_failed",
            f"cannot decrypt with the configured identities ({out.decrypt_error}); "
            "the object is intact, so configure the identity for its recipients "
            f"({', '.join(r[:16] + '…' for r in manifest.object.recipients)}) in [[backups]] identities",
        )
        return True
    if not engine.magic_ok(out.head, out.tail):
        result.fail(
            "invalid_dump",
            f"the (decrypted) object is not a complete {engine.label} dump "
            f"({manifest.dump_tool.name}); the backup is unusable, run a new backup",
        )
        return True
    return False


def _run_checks(conn: Any, checks: tuple[CheckConfig, ...]) -> list[CheckResult]:
    import psycopg

    out = []
    for chk in checks:
        try:
            with conn.transaction():
                row = conn.execute(chk.sql).fetchone()
            value = row[0] if row else None
            passed = evaluate_expect(chk.expect, value)
        except psycopg.Error as exc:
            value, passed = f"error: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}", False
        out.append(CheckResult(chk.sql, chk.expect, _jsonable(value), passed))
    return out


def _plain_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}
