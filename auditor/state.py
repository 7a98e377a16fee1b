"""The state database: SQLite in the user's state directory by default, any SQLAlchemy URL for teams.

Every table is declared on the shared ``metadata`` (audit history and the backup catalogue in
``auditor/state_tables.py``, workflow runs in ``auditor/workflow/store.py``, scheduler leases in
``auditor/scheduler/store.py``), and code calls ``StateDB.ensure_schema()`` before its first query. The schema itself is owned by ONE
Alembic migration history (``auditor/migrations/versions``): a table or column added to a module
needs a migration there too (``tests/core/test_state_migrations.py`` fails until it exists).

``ensure_schema()`` upgrades an older database under a lock (a file lock next to a SQLite
database, a transaction-scoped advisory lock on PostgreSQL), so two daemons starting together
never race; a database written by a newer Blastwall is refused with a hint, never downgraded.
Secrets are never written here.

SQLAlchemy (~0.2 s to import) is loaded only when something needs it: the engine, the shared
``metadata``, a migration. The commands every user runs (``audit``, ``backup run``, ``verify``) reach
the database through ``StateDB.sql()``, plain SQL with ``:name`` parameters that runs on Python's
own ``sqlite3`` for the default SQLite file (storing values exactly as SQLAlchemy does, so both read
each other's rows) and through SQLAlchemy for any other URL.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import platformdirs

from .errors import StateError

if TYPE_CHECKING:
    from sqlalchemy import MetaData
    from sqlalchemy.engine import Connection, Engine

__all__ = [
    "SCHEMA_HEAD",
    "ColumnKind",
    "SchemaChange",
    "StateDB",
    "StateSQL",
    "as_utc",
    "default_state_dir",
    "default_state_url",
]

# The newest migration this code knows (tests check it is the head of auditor/migrations/versions).
# Comparing against it lets an up-to-date database skip loading Alembic at all.
SCHEMA_HEAD = "0003"
_PG_LOCK_KEY = 0x626C_6173_7477_616C  # "blastwal": pg_advisory_xact_lock key of schema upgrades

# The modules that declare tables on `metadata` (imported when `metadata` is first used, so it is complete).
_TABLE_MODULES = ("auditor.state_tables", "auditor.workflow.store", "auditor.scheduler.store")
_metadata: MetaData | None = None


def __getattr__(name: str) -> Any:
    """`metadata`, the SQLAlchemy `MetaData` every table is declared on, built on first use."""
    global _metadata
    if name != "metadata":
        raise AttributeError(name)
    if _metadata is None:
        import importlib

        from sqlalchemy import MetaData

        _metadata = MetaData()
        for mod in _TABLE_MODULES:
            importlib.import_module(mod)
    return _metadata


def default_state_dir() -> Path:
    override = os.environ.get("BLASTWALL_STATE_DIR")
    return Path(override) if override else Path(platformdirs.user_state_dir("blastwall"))


def default_state_url() -> str:
    return f"sqlite:///{default_state_dir() / 'state.db'}"


# How a column's values are stored, where a driver does not say it by itself: `datetime` (aware UTC in Python),
# `json` (any JSON value) and `bool`. Other columns are strings and numbers on every database.
ColumnKind = Literal["datetime", "json", "bool"]


class StateDB:
    def __init__(self, url: str | None = None) -> None:
        self.url = url or default_state_url()
        # SQLAlchemy's default PostgreSQL driver is psycopg2; Blastwall ships psycopg 3.
        for prefix in ("postgresql://", "postgres://"):
            if self.url.startswith(prefix):
                self.url = "postgresql+psycopg://" + self.url[len(prefix) :]
        # a plain SQLite file runs on Python's sqlite3; in-memory databases and URL options go through SQLAlchemy
        self.sqlite_path: Path | None = None
        if self.url.startswith("sqlite:///"):
            db_path = Path(self.url.removeprefix("sqlite:///"))
            db_path.parent.mkdir(parents=True, exist_ok=True)
            if "?" not in self.url and ":memory:" not in self.url:
                self.sqlite_path = db_path
        self._engine: Engine | None = None
        self._schema_ok = False

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (created, and SQLAlchemy imported, on first use)."""
        if self._engine is None:
            from sqlalchemy import create_engine, event

            if self.url.startswith("sqlite:///"):
                engine = create_engine(self.url, connect_args={"timeout": 30})

                @event.listens_for(engine, "connect")
                def _pragmas(dbapi_conn, _):  # type: ignore[no-untyped-def]
                    _sqlite_pragmas(dbapi_conn)

            else:
                engine = create_engine(self.url, pool_pre_ping=True)
            self._engine = engine
        return self._engine

    @property
    def safe_url(self) -> str:
        """The URL with any password masked, for messages."""
        if self.sqlite_path is not None:
            return self.url  # a file path: nothing to mask
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def sql(self) -> Iterator[StateSQL]:
        """One connection for plain SQL (`:name` parameters); what ran commits when the block ends without an
        exception, and is rolled back otherwise."""
        if self.sqlite_path is not None:
            conn = sqlite3.connect(self.sqlite_path, timeout=30)
            try:
                _sqlite_pragmas(conn)
                with conn:  # commit on success, rollback on an exception
                    yield _SqliteSQL(conn)
            finally:
                conn.close()
            return
        with self.engine.begin() as c:
            yield _AlchemySQL(c)

    def ensure_schema(self) -> None:
        """Bring the schema to `SCHEMA_HEAD` (once per StateDB; cheap when it already is)."""
        if self._schema_ok:
            return
        if self.current_revision() != SCHEMA_HEAD:
            self.upgrade()
        self._schema_ok = True

    def current_revision(self) -> str | None:
        """The Alembic revision recorded in the database; None for an empty or pre-migration database."""
        if self.sqlite_path is not None:
            if not self.sqlite_path.exists():
                return None
            try:
                lite = sqlite3.connect(self.sqlite_path, timeout=30)
                try:
                    row = lite.execute("SELECT version_num FROM alembic_version").fetchone()
                finally:
                    lite.close()
            except sqlite3.Error:
                return None
            return str(row[0]) if row and row[0] is not None else None
        from sqlalchemy import text
        from sqlalchemy.exc import DBAPIError

        try:
            with self.engine.connect() as conn:
                rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except DBAPIError:
            return None
        return str(rev) if rev is not None else None

    def upgrade(self) -> SchemaChange:
        """Apply every pending migration under the upgrade lock; refuse a database newer than the code."""
        from alembic import command
        from alembic.runtime.migration import MigrationContext
        from sqlalchemy.exc import DBAPIError

        cfg = _alembic_config()
        known = _known_revisions(cfg)
        with self._upgrade_lock() as conn:
            before = MigrationContext.configure(conn).get_current_revision()
            if before is not None and before not in known:
                raise StateError(
                    f"the state database {self.safe_url} has schema revision {before!r}, which is newer than "
                    f"this Blastwall (it knows revisions up to {SCHEMA_HEAD!r}); nothing was changed",
                    hint="upgrade Blastwall to the version that last used this database (e.g. "
                    "`pip install -U blastwall`), or set the state url in blastwall.toml (or BLASTWALL_STATE_DIR) "
                    "to another database",
                )
            if before != SCHEMA_HEAD:
                cfg.attributes["connection"] = conn
                try:
                    command.upgrade(cfg, "head")
                except DBAPIError as exc:
                    raise StateError(
                        f"cannot upgrade the state database {self.safe_url}: {type(exc).__name__}",
                        hint="check that the database is reachable and writable; "
                        "then run `blastwall state upgrade --verbose`",
                    ) from exc
            after = MigrationContext.configure(conn).get_current_revision()
        self._schema_ok = True
        return SchemaChange(before=before, after=after)

    @contextmanager
    def _upgrade_lock(self) -> Iterator[Connection]:
        """A connection in a transaction that holds the schema-upgrade lock of this database."""
        from sqlalchemy import text

        if self.engine.dialect.name == "postgresql":
            with self.engine.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
                yield conn
            return
        db_file = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        with _file_lock(Path(db_file + ".upgrade-lock") if db_file and db_file != ":memory:" else None):
            with self.engine.begin() as conn:
                yield conn

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


@dataclass(frozen=True)
class SchemaChange:
    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        return self.before != self.after


@contextmanager
def _file_lock(path: Path | None) -> Iterator[None]:
    """An exclusive flock on `path` (released when the process dies, so never stale)."""
    if path is None:
        yield
        return
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: SQLite's own write lock serialises the DDL
        yield
        return
    with open(path, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    return cfg


def _known_revisions(cfg: Any) -> set[str]:
    from alembic.script import ScriptDirectory

    return {rev.revision for rev in ScriptDirectory.from_config(cfg).walk_revisions()}


def _sqlite_pragmas(conn: Any) -> None:
    cur = conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class StateSQL:
    """Plain SQL on the state database: `:name` parameters, rows as dicts.

    `kinds` names the columns (parameters and result columns alike) whose values need converting:
    `datetime` (aware, UTC), `json`, `bool`; see `ColumnKind`."""

    def rows(
        self, sql: str, params: Mapping[str, Any] | None = None, kinds: Mapping[str, ColumnKind] | None = None
    ) -> list[dict[str, Any]]:
        raise NotImplementedError

    def run(
        self, sql: str, params: Mapping[str, Any] | None = None, kinds: Mapping[str, ColumnKind] | None = None
    ) -> None:
        self.run_many(sql, [params or {}], kinds)

    def run_many(
        self, sql: str, rows: Sequence[Mapping[str, Any]], kinds: Mapping[str, ColumnKind] | None = None
    ) -> None:
        raise NotImplementedError


def as_utc(value: datetime) -> datetime:
    """`value` as an aware UTC datetime (a naive one is taken to be UTC, as the state database stores them)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _to_sqlite(value: Any, kind: ColumnKind | None) -> Any:
    # the storage SQLAlchemy's SQLite dialect uses: DATETIME as "YYYY-MM-DD HH:MM:SS.ffffff" (no zone: UTC here),
    # JSON as its serialised text (None too, as 'null'), BOOLEAN as 0/1
    if kind == "datetime" and value is not None:
        v = as_utc(value)
        return f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"
    if kind == "json":
        return json.dumps(value)
    if kind == "bool" and value is not None:
        return int(bool(value))
    return value


def _sqlite_params(params: Mapping[str, Any], kinds: Mapping[str, ColumnKind]) -> dict[str, Any]:
    return {k: _to_sqlite(v, kinds.get(k)) for k, v in params.items()}


def _from_db(value: Any, kind: ColumnKind | None) -> Any:
    if value is None or kind is None:
        return value
    if kind == "datetime":
        return as_utc(datetime.fromisoformat(value) if isinstance(value, str) else value)
    if kind == "json":
        return json.loads(value) if isinstance(value, str | bytes) else value
    return bool(value)


class _SqliteSQL(StateSQL):
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def rows(
        self, sql: str, params: Mapping[str, Any] | None = None, kinds: Mapping[str, ColumnKind] | None = None
    ) -> list[dict[str, Any]]:
        kinds = kinds or {}
        cur = self._conn.execute(sql, _sqlite_params(params or {}, kinds))
        names = [d[0] for d in cur.description or ()]
        conv = [kinds.get(n) for n in names]
        return [{n: _from_db(v, k) for n, v, k in zip(names, row, conv, strict=True)} for row in cur.fetchall()]

    def run_many(
        self, sql: str, rows: Sequence[Mapping[str, Any]], kinds: Mapping[str, ColumnKind] | None = None
    ) -> None:
        kinds = kinds or {}
        self._conn.executemany(sql, [_sqlite_params(r, kinds) for r in rows])


def _bind(params: Mapping[str, Any], kinds: Mapping[str, ColumnKind]) -> dict[str, Any]:
    # datetimes as UTC: SQLite keeps a DATETIME's wall-clock fields and drops the zone
    return {k: as_utc(v) if kinds.get(k) == "datetime" and v is not None else v for k, v in params.items()}


class _AlchemySQL(StateSQL):
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _stmt(self, sql: str, names: Sequence[str], kinds: Mapping[str, ColumnKind]) -> Any:
        from sqlalchemy import JSON, Boolean, DateTime, bindparam, text

        types: dict[str, Any] = {"datetime": DateTime(timezone=True), "json": JSON(), "bool": Boolean()}
        return text(sql).bindparams(*(bindparam(n, type_=types[kinds[n]]) for n in names if n in kinds))

    def rows(
        self, sql: str, params: Mapping[str, Any] | None = None, kinds: Mapping[str, ColumnKind] | None = None
    ) -> list[dict[str, Any]]:
        kinds = kinds or {}
        params = _bind(params or {}, kinds)
        res = self._conn.execute(self._stmt(sql, list(params), kinds), params)
        return [{k: _from_db(v, kinds.get(k)) for k, v in row.items()} for row in res.mappings().all()]

    def run_many(
        self, sql: str, rows: Sequence[Mapping[str, Any]], kinds: Mapping[str, ColumnKind] | None = None
    ) -> None:
        if not rows:
            return
        kinds = kinds or {}
        stmt = self._stmt(sql, list(rows[0]), kinds)
        self._conn.execute(stmt, [_bind(r, kinds) for r in rows])
