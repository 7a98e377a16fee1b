"""The verify tests reuse the backup fixtures (source database with known rows, stores, configs)."""

from tests.backup.conftest import make_setup, mysql_setup, redis_setup, source_db  # noqa: F401
