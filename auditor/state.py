"""The state database: SQLite in the user's state directory by default, any SQLAlchemy URL for teams.

Every subsystem declares its tables on the shared ``metadata`` in its own module (audit
history in ``auditor/history.py``, the backup catalogue in ``auditor/backup/catalog.py``,
workflow runs in ``auditor/workflow/store.py``, scheduler leases in ``auditor/scheduler``) and
calls ``StateDB.ensure_schema()`` before its first query. The schema itself is owned by ONE
Alembic migration history (``auditor/migrations/versions``): a table or column added to a module
needs a migration there too (``tests/core/test_state_migrations.py`` fails until it exists).

``ensure_schema()`` upgrades an older database under a lock (a file lock next to a SQLite
database, a transaction-scoped advisory lock on PostgreSQL), so two daemons starting together
never race; a database written by a newer Blastwall is refused with a hint, never downgraded.
Secrets are never written here.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs
from sqlalchemy import MetaData, create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from .errors import StateError

__all__ = ["SCHEMA_HEAD", "SchemaChange", "StateDB", "default_state_dir", "default_state_url", "metadata"]

metadata = MetaData()

# The newest migration this code knows (tests check it is the head of auditor/migrations/versions).
# Comparing against it lets an up-to-date database skip loading Alembic at all.
SCHEMA_HEAD = "0003"
_PG_LOCK_KEY = 0x626C_6173_7477_616C  # "blastwal": pg_advisory_xact_lock key of schema upgrades


def default_state_dir() -> Path:
    override = os.environ.get("BLASTWALL_STATE_DIR")
    return Path(override) if override else Path(platformdirs.user_state_dir("blastwall"))


def default_state_url() -> str:
    return f"sqlite:///{default_state_dir() / 'state.db'}"


class StateDB:
    def __init__(self, url: str | None = None) -> None:
        self.url = url or default_state_url()
        # SQLAlchemy's default PostgreSQL driver is psycopg2; Blastwall ships psycopg 3.
        for prefix in ("postgresql://", "postgres://"):
            if self.url.startswith(prefix):
                self.url = "postgresql+psycopg://" + self.url[len(prefix) :]
        if self.url.startswith("sqlite:///"):
            db_path = Path(self.url.removeprefix("sqlite:///"))
            db_path.parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(self.url, connect_args={"timeout": 30})

            @event.listens_for(self.engine, "connect")
            def _pragmas(dbapi_conn, _):  # type: ignore[no-untyped-def]
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
                cur.execute("PRAGMA busy_timeout=30000")
                cur.close()
        else:
            self.engine = create_engine(self.url, pool_pre_ping=True)
        self._schema_ok = False

    @property
    def safe_url(self) -> str:
        """The URL with any password masked, for messages."""
        return self.engine.url.render_as_string(hide_password=True)

    def ensure_schema(self) -> None:
        """Bring the schema to `SCHEMA_HEAD` (once per StateDB; cheap when it already is)."""
        if self._schema_ok:
            return
        if self.current_revision() != SCHEMA_HEAD:
            self.upgrade()
        self._schema_ok = True

    def current_revision(self) -> str | None:
        """The Alembic revision recorded in the database; None for an empty or pre-migration database."""
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
        self.engine.dispose()


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
