"""The state database: SQLite in the user's state directory by default, any SQLAlchemy URL for teams.

Every subsystem declares its tables on the shared ``metadata`` in its own module (audit
history in ``auditor/history.py``, the backup catalogue in ``auditor/backup/catalog.py``,
workflow runs in ``auditor/workflow/store.py``, scheduler leases in ``auditor/scheduler``) and
calls ``StateDB.create_all()``. Secrets are never written here.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs
from sqlalchemy import MetaData, create_engine, event
from sqlalchemy.engine import Engine

__all__ = ["StateDB", "metadata", "default_state_url", "default_state_dir"]

metadata = MetaData()


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
                self.url = "postgresql+psycopg://" + self.url[len(prefix):]
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
        self._created_tables: frozenset[str] = frozenset()

    def create_all(self) -> None:
        """Create every table declared so far; cheap to call again after more modules were imported."""
        declared = frozenset(metadata.tables)
        if declared != self._created_tables:
            metadata.create_all(self.engine)
            self._created_tables = declared

    def dispose(self) -> None:
        self.engine.dispose()
