"""`run_backup`: the engine's dump -> optional age -> store -> manifest.

The database-specific part (which tool, which snapshot, where the counts come from) is an `Engine`
(`auditor/backup/engines/`), picked by the source URL's scheme; everything here is engine-neutral.

The pipeline streams, one thread per stage (`_pipeline`): the engine's stream (the dump tool's stdout, read in
1 MiB batches and counted as it passes) -> optional age encryption (`pyrage.encrypt_io`) -> SHA-256 and the
store's writer, with at most a few chunks queued between two stages and a few parts in the store's writer.
So memory is flat whatever the database size, and hashing and writing (which release the GIL) overlap with
counting the next chunk.

Consistency is the engine's: PostgreSQL counts in the exported snapshot pg_dump uses, MySQL/MariaDB
counts the rows in the dump stream as it passes, Redis reads the key counts from the RDB snapshot.

Failure: anything that goes wrong (dump tool error, network loss, disk full, Ctrl-C/SIGTERM)
aborts the upload, writes no manifest and records the run as failed with the reason. A run
killed outright (kill -9) is found 'running' with a dead pid by the next run or list, marked
failed, and its multipart upload aborted (`cleanup_interrupted`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import secrets as _secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, TYPE_CHECKING, Any

from ..config import Config, SourceConfig
from ..database_source import RefError
from ..errors import BackupError, BlastwallError, ConfigError
from ..provider import ProviderContext
from ..redact import Redactor
from ..registry import database_source
from ..secrets import Secret
from ..state import StateDB
from .catalog import BackupRecord, Catalog
from .engines import engine_for_url
from .engines.interface import DumpRequest, Engine
from .manifest import Manifest, ObjectInfo, SourceIdentity, TableCount, manifest_key, object_key
from .pipes import ReadStream
from .stores import BackupStore, ObjectWriter, open_store

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "run_backup",
    "cleanup_interrupted",
    "resolve_source_url",
    "source_via",
    "new_backup_id",
    "Progress",
    "parse_recipients",
    "TABLES_SQL",
    "count_rows",
]

log = logging.getLogger(__name__)

Progress = Callable[..., None]  # progress(stage, **info); stages below
# stages: "started", "dump_started", "part_uploaded" (n=), "object_committed", "manifest_written", "failed"

CHUNK = 1024 * 1024
QUEUE_DEPTH = 4  # chunks waiting between two pipeline stages

TABLES_SQL = """
SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e')
ORDER BY 1, 2
"""


COUNT_BATCH = 200  # tables per counting query


def count_rows(conn: psycopg.Connection[Any]) -> list[TableCount]:
    """Row count of every user table visible to `conn`'s current snapshot.

    One `count(*) … UNION ALL …` query per COUNT_BATCH tables: one round trip instead of one per table."""
    from psycopg import sql  # PostgreSQL only: MySQL and Redis backups start without loading psycopg

    tables = conn.execute(TABLES_SQL).fetchall()
    out = []
    for i in range(0, len(tables), COUNT_BATCH):
        batch = tables[i : i + COUNT_BATCH]
        query = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT {}::int, count(*) FROM {}.{}").format(
                sql.Literal(j), sql.Identifier(schema), sql.Identifier(name)
            )
            for j, (schema, name) in enumerate(batch)
        )
        counts = {int(j): int(n) for j, n in conn.execute(query).fetchall()}
        out += [TableCount(schema_name=schema, name=name, rows=counts[j]) for j, (schema, name) in enumerate(batch)]
    return out


def new_backup_id(source: str, now: datetime) -> str:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in source)
    return f"{safe}-{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{_secrets.token_hex(3)}"


def resolve_source_url(
    src: SourceConfig,
    environ: Mapping[str, str] | None = None,
    *,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> Secret:
    """The source's libpq URL as a `Secret`.

    `url = "env:…"`: read from the reference. `provider = "…"` with `ref = {…}`: looked up through the
    read-only `resolve_database_url` of that provider's `DatabaseSource`, with its `[providers.<name>]` settings.
    """
    if src.url is not None:
        return src.url.resolve(environ)
    pref = src.platform()
    assert pref is not None  # the config guarantees exactly one of url / provider
    token = pref.token.resolve(environ)
    Redactor.global_().add(token)
    try:
        seam = database_source(pref.provider)
    except ConfigError as exc:
        raise BackupError(
            f"source {src.name!r}: {exc.message}",
            hint=exc.hint or 'configure url = "env:NAME" with the database URL instead',
        ) from None
    env = dict(os.environ if environ is None else environ)
    ctx = ProviderContext(settings=dict((settings or {}).get(pref.provider) or {}), env=env)
    try:
        url = seam.resolve_database_url(seam.validate_database_ref(pref.ref), token, ctx)
    except RefError as exc:
        raise BackupError(f"source {src.name!r}: {exc.key or pref.key}: {exc.message}") from None
    except BlastwallError as exc:
        msg = Redactor.global_().redact(exc.message)
        if not msg.startswith(f"source {src.name!r}"):
            msg = f"source {src.name!r}: {msg}"
        raise BackupError(msg, hint=exc.hint) from None
    Redactor.global_().add(url)
    return url


def source_via(src: SourceConfig) -> str | None:
    """`railway:shop/production/Postgres` for a platform-resolved source (names only), else None."""
    pref = src.platform()
    if pref is None:
        return None
    try:
        seam = database_source(pref.provider)
        return f"{pref.provider}:" + seam.describe_ref(seam.validate_database_ref(pref.ref))
    except (ConfigError, RefError):
        return f"{pref.provider}:" + "/".join(str(v) for v in pref.ref.values())


def parse_recipients(recipients: tuple[str, ...] | list[str]) -> list[Any]:
    import pyrage

    out = []
    for r in recipients:
        try:
            out.append(
                pyrage.ssh.Recipient.from_str(r) if r.startswith("ssh-") else pyrage.x25519.Recipient.from_str(r)
            )
        except Exception as exc:
            raise BackupError(f"invalid age recipient {r[:16]}…", hint="check encrypt_to in [[backups]]") from exc
    return out


class _TapReader:
    """Reads the dump tool's stdout; remembers the first bytes and counts what went through."""

    def __init__(self, raw: IO[bytes], on_first: Callable[[], None]) -> None:
        self._raw = raw
        self.head = b""
        self.total = 0
        self._on_first = on_first

    def readable(self) -> bool:
        return True

    def _seen(self, data: bytes | memoryview) -> None:
        if self.total == 0 and len(data):
            self._on_first()
        if len(self.head) < 8:
            self.head += bytes(data[: 8 - len(self.head)])
        self.total += len(data)

    def read(self, n: int = -1) -> bytes:
        data = self._raw.read(n if n and n > 0 else CHUNK)
        self._seen(data)
        return data

    def readinto(self, b: bytearray | memoryview) -> int:
        n = self._raw.readinto(b)  # type: ignore[attr-defined]
        if n:
            self._seen(memoryview(b)[:n])
        return int(n or 0)


class _HashingSink:
    def __init__(self, writer: ObjectWriter) -> None:
        self.writer = writer
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self.sha.update(data)
        self.writer.write(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


class _Handoff:
    """A bounded queue of chunks between two pipeline threads; `stop` ends waits on either side.

    Both sides wait in short slices, so a stage that failed (or a run that is being aborted) never leaves the
    other blocked: `put` and `get` raise `_Stopped` once `stop` is set."""

    def __init__(self, stop: threading.Event, depth: int = QUEUE_DEPTH) -> None:
        self._q: queue.Queue[bytes | None] = queue.Queue(maxsize=depth)
        self._stop = stop

    def put(self, item: bytes | None) -> None:
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                self._q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def get(self) -> bytes | None:
        while True:
            if self._stop.is_set():
                raise _Stopped
            try:
                return self._q.get(timeout=0.2)
            except queue.Empty:
                continue


class _Stopped(Exception):
    pass


class _HandoffWriter:
    """File-like end of a `_Handoff` (what `pyrage.encrypt_io` writes its ciphertext to)."""

    def __init__(self, out: _Handoff) -> None:
        self._out = out

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._out.put(data if type(data) is bytes else bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


class _HandoffReader(ReadStream):
    """File-like start of a `_Handoff` (what `pyrage.encrypt_io` reads the plain dump from)."""

    def __init__(self, src: _Handoff) -> None:
        self._src = src
        self._buf = b""
        self._eof = False

    def read(self, n: int = -1) -> bytes:
        n = n if n and n > 0 else CHUNK
        while not self._buf and not self._eof:
            item = self._src.get()
            if item is None:
                self._eof = True
            else:
                self._buf = item
        out, self._buf = self._buf[:n], self._buf[n:]
        return out


def _pipeline(tap: _TapReader, sink: _HashingSink, recipients: list[Any], stop: threading.Event) -> _Pipeline:
    """Start the threads that move the dump into the store, each stage in its own thread:

        read + count (the engine's stream)  ->  [age encryption]  ->  SHA-256 + store write

    with at most `QUEUE_DEPTH` chunks of `CHUNK` bytes between two stages, so memory stays flat. Counting and
    encryption hold the GIL; hashing and the write release it, so they overlap with the next chunk's count."""
    failures: list[BaseException] = []

    def stage(fn: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                fn()
            except _Stopped:
                pass
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
                failures.append(exc)
                stop.set()

        return run

    plain = _Handoff(stop)
    stored = _Handoff(stop) if recipients else plain

    def read() -> None:
        while chunk := tap.read(CHUNK):
            plain.put(chunk)
        plain.put(None)

    def encrypt() -> None:
        import pyrage

        pyrage.encrypt_io(_HandoffReader(plain), _HandoffWriter(stored), recipients)
        stored.put(None)

    def write() -> None:
        while (chunk := stored.get()) is not None:
            sink.write(chunk)

    threads = [threading.Thread(target=stage(read), name="blastwall-dump-read", daemon=True)]
    if recipients:
        threads.append(threading.Thread(target=stage(encrypt), name="blastwall-dump-encrypt", daemon=True))
    threads.append(threading.Thread(target=stage(write), name="blastwall-dump-write", daemon=True))
    for t in threads:
        t.start()
    return _Pipeline(threads, failures)


@dataclass
class _Pipeline:
    threads: list[threading.Thread]
    failures: list[BaseException]

    def wait(self, timeout: float, *, until_failure: bool = False) -> None:
        """Wait (in short slices, so Ctrl-C and SIGTERM are delivered) until every stage ended or `timeout`
        passed (or, with `until_failure`, a stage failed)."""
        deadline = time.monotonic() + timeout
        for t in self.threads:
            while t.is_alive() and time.monotonic() < deadline and not (until_failure and self.failures):
                t.join(0.2)


def cleanup_interrupted(catalog: Catalog, stores: Mapping[str, BackupStore]) -> list[str]:
    """Mark dead 'running' runs failed and abort the multipart uploads of failed runs.

    Also aborts incomplete uploads under each store's backup prefix that are older than a day
    (from a run whose upload id was never recorded). Returns human-readable notes.
    """
    notes: list[str] = []
    for rec in catalog.reap_dead_runs():
        notes.append(f"marked interrupted backup {rec.id} as failed")
        store = stores.get(rec.store)
        if store is not None and rec.object_key and store.abort_upload(rec.object_key, rec.upload_id or ""):
            catalog.update_run(rec.id, upload_id=None)
    for rec in catalog.with_upload_ids():
        store = stores.get(rec.store)
        if store is None or not rec.object_key or not rec.upload_id:
            continue
        if store.abort_upload(rec.object_key, rec.upload_id):
            catalog.update_run(rec.id, upload_id=None)
            notes.append(f"aborted the incomplete upload of {rec.id}")
    now = datetime.now(UTC)
    for store in stores.values():
        prefix = getattr(store, "prefix", "")
        try:
            uploads = store.incomplete_uploads(prefix)
        except BlastwallError:
            continue
        for up in uploads:
            if up.initiated is not None and now - up.initiated > timedelta(days=1):
                store.abort_upload(up.key, up.upload_id)
                notes.append(f"aborted a stale incomplete upload of {up.key}")
    return notes


def run_backup(
    config: Config,
    source_name: str,
    *,
    db: StateDB | None = None,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], datetime] | None = None,
    progress: Progress | None = None,
    store: str | BackupStore | None = None,
) -> BackupRecord:
    """Back up `source_name` to the store of its `[[backups]]` entry; return the catalogue record.

    `store`: a store name (choosing among several [[backups]] entries of the source), or a
    ready `BackupStore` instance (tests, embedding). Raises `BackupError` (the run is then
    recorded as failed with the reason).
    """
    clock = clock or (lambda: datetime.now(UTC))
    src = config.source(source_name)
    if isinstance(store, str):
        entries = [b for b in config.backups if b.source == source_name and b.store == store]
        if not entries:
            raise BackupError(
                f"no [[backups]] entry for source {source_name!r} and store {store!r}",
                hint="check `source` and `store` in the [[backups]] entries",
            )
        bcfg, store = entries[0], None
    else:
        bcfg = config.backup_for(source_name)
    scfg = config.store(bcfg.store)
    db = db or StateDB(config.state.url)
    catalog = Catalog(db, clock)
    emit = progress or (lambda stage, **info: None)
    own_store = store is None
    store = store or open_store(scfg, environ)
    try:
        cleanup_interrupted(catalog, {scfg.name: store})
        url = resolve_source_url(src, environ, settings=config.providers)
        Redactor.global_().add(url)
        engine = engine_for_url(url.reveal())
        recipients = parse_recipients(bcfg.encrypt_to) if bcfg.encrypt_to else []
        started = clock()
        backup_id = new_backup_id(source_name, started)
        okey = object_key(scfg.prefix, source_name, backup_id, bool(recipients))
        mkey = manifest_key(scfg.prefix, source_name, backup_id)
        catalog.start_run(backup_id, source_name, scfg.name, started)
        catalog.update_run(
            backup_id,
            object_key=okey,
            manifest_key=mkey,
            location=store.location(okey),
            encrypted=bool(recipients),
            recipients=list(bcfg.encrypt_to),
        )
        emit("started", backup_id=backup_id)
        try:
            manifest = _dump_to_store(
                DumpJob(
                    backup_id=backup_id,
                    src=src,
                    url=url,
                    engine=engine,
                    store=store,
                    okey=okey,
                    mkey=mkey,
                    recipients=recipients,
                    recipient_names=bcfg.encrypt_to,
                    started=started,
                    clock=clock,
                    catalog=catalog,
                    emit=emit,
                )
            )
        except BaseException as exc:
            reason = _reason(exc)
            with contextlib.suppress(Exception):
                catalog.fail_run(backup_id, reason)
            emit("failed", backup_id=backup_id, error=reason)
            if isinstance(exc, BlastwallError):
                raise
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            raise BackupError(reason) from exc
        catalog.finish_run(
            backup_id,
            size=manifest.object.size,
            sha256=manifest.object.sha256,
            upload_id=None,
            source_identity=manifest.source.uri,
            server_version=manifest.server_version,
            dump_version=manifest.dump_tool.version,
            lock_mode=manifest.object.lock_mode,
            retain_until=manifest.object.retain_until,
            tables=len(manifest.tables),
            total_rows=sum(t.rows for t in manifest.tables),
        )
        rec = catalog.get(backup_id)
        assert rec is not None
        return rec
    finally:
        if own_store:
            store.close()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (Ctrl-C or SIGTERM); the upload was aborted and no manifest was written"
    if isinstance(exc, SystemExit):
        return "interrupted (process exit); the upload was aborted and no manifest was written"
    if isinstance(exc, BlastwallError):
        return Redactor.global_().redact(exc.message)
    if isinstance(exc, OSError):
        return f"{type(exc).__name__}: {exc.strerror or exc}"
    return Redactor.global_().redact(f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class DumpJob:
    """One dump of a source into a store: everything `_dump_to_store` needs, prepared by `run_backup`."""

    backup_id: str
    src: SourceConfig
    url: Secret  # the source's database URL
    engine: Engine  # picked by the URL's scheme
    store: BackupStore
    okey: str  # the object's key
    mkey: str  # the manifest's key
    recipients: list[Any]  # age recipients (empty: not encrypted)
    recipient_names: tuple[str, ...]
    started: datetime
    clock: Callable[[], datetime]
    catalog: Catalog
    emit: Progress


def _dump_to_store(job: DumpJob) -> Manifest:
    """Engine-neutral: the engine's dump stream -> (age) -> SHA-256 -> store; then the manifest, last."""
    running = job.engine.start_dump(DumpRequest(url=job.url, src=job.src, backup_id=job.backup_id))
    writer: ObjectWriter | None = None
    stop = threading.Event()
    pipeline: _Pipeline | None = None
    try:
        writer = job.store.open_writer(
            job.okey, on_upload_started=lambda uid: job.catalog.update_run(job.backup_id, upload_id=uid)
        )
        writer.on_part = lambda n: job.emit("part_uploaded", n=n)
        sink = _HashingSink(writer)
        tap = _TapReader(running.stream, lambda: job.emit("dump_started", backup_id=job.backup_id))
        pipeline = _pipeline(tap, sink, job.recipients, stop)
        running.during()
        pipeline.wait(float("inf"), until_failure=True)
        if pipeline.failures:
            running.kill()  # it may be blocked writing to the pipe nobody reads any more
            raise pipeline.failures[0]
        outcome = running.finish(tap.head)
        stored = writer.commit()
        writer = None
    except BaseException:
        stop.set()
        running.kill()
        if pipeline is not None:
            pipeline.wait(5)  # the stages notice `stop` (or the dump's end) within a fraction of a second
        if writer is not None:
            if writer.abort() and writer.upload_id:
                # the abort reached the store: nothing left for cleanup_interrupted
                with contextlib.suppress(Exception):
                    job.catalog.update_run(job.backup_id, upload_id=None)
        raise
    finally:
        running.close()
    job.emit("object_committed", backup_id=job.backup_id, size=stored.size)
    manifest = Manifest(
        backup_id=job.backup_id,
        source=SourceIdentity(
            name=job.src.name,
            kind=job.engine.name,
            host=outcome.host,
            port=outcome.port,
            database=outcome.database,
            system_identifier=outcome.system_identifier,
            via=source_via(job.src),
        ),
        server_version=outcome.server_version,
        server_version_num=outcome.server_version_num,
        dump_tool=outcome.tool,
        started_at=job.started,
        finished_at=job.clock(),
        object=ObjectInfo(
            key=job.okey,
            store=job.store.name,
            location=job.store.location(job.okey),
            size=sink.size,
            sha256=sink.sha.hexdigest(),
            encrypted=bool(job.recipients),
            recipients=job.recipient_names,
            version_id=stored.version_id,
            lock_mode=stored.lock_mode,
            retain_until=stored.retain_until,
        ),
        tables=outcome.tables,
        snapshot=outcome.snapshot,
        point_in_time=outcome.point_in_time,
        gaps=outcome.gaps,
    )
    if stored.size != sink.size:
        raise BackupError(f"store reports {stored.size} bytes written but {sink.size} were sent")
    job.store.put_bytes(job.mkey, manifest.to_json())
    job.emit("manifest_written", backup_id=job.backup_id)
    return manifest
