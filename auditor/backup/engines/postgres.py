"""PostgreSQL: `pg_dump --format=custom --snapshot=<exported>` with the row counts from the same snapshot.

One REPEATABLE READ, READ ONLY transaction on the source exports its snapshot (`pg_export_snapshot()`);
pg_dump dumps from it while the same transaction counts every table's rows (`during`). The transaction
stays open until pg_dump has finished, so the manifest's counts describe exactly the data in the dump.
Verification restores with `pg_restore` into a scratch PostgreSQL (`auditor.backup.verify`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from ...errors import BackupError
from ...pgtools import PgTool, find_pg_dump
from ...redact import Redactor
from ...secrets import Secret
from ..manifest import DumpTool, TableCount
from ..pipes import grow_pipe
from .interface import DumpOutcome, DumpRequest, Engine, RunningDump, VerifyJob

__all__ = ["PostgresEngine"]


def _client_env(password: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if password:
        env["PGPASSWORD"] = password
    return env


def _pg_error(exc: psycopg.Error) -> str:
    text = str(exc).strip().splitlines()
    return Redactor.global_().redact(text[0] if text else type(exc).__name__)


def _source_info(conn: psycopg.Connection[Any]) -> tuple[str, int, str | None]:
    row = conn.execute(
        "SELECT current_setting('server_version'), current_setting('server_version_num')::int, "
        "has_function_privilege('pg_control_system()', 'execute')"
    ).fetchone()
    assert row is not None
    sysid = None
    if row[2]:
        r2 = conn.execute("SELECT system_identifier::text FROM pg_control_system()").fetchone()
        sysid = r2[0] if r2 else None
    return str(row[0]), int(row[1]), sysid


class _PgDump(RunningDump):
    def __init__(self, request: DumpRequest) -> None:
        from ..runner import count_rows  # noqa: F401 - imported here to fail early

        self.src = request.src
        params = {k: str(v) for k, v in conninfo_to_dict(request.url.reveal()).items() if v is not None}
        password = params.pop("password", None)
        if password:
            Redactor.global_().add(Secret(password))
        self.params: Mapping[str, str] = params
        conninfo = make_conninfo(**params) if params else ""
        try:
            conn = (
                psycopg.connect(conninfo, password=password, connect_timeout=15, application_name="blastwall-backup")
                if password
                else psycopg.connect(conninfo, connect_timeout=15, application_name="blastwall-backup")
            )
        except psycopg.Error as exc:
            raise BackupError(
                f"cannot connect to source {self.src.name!r}: {_pg_error(exc)}",
                hint="check the source URL, the network and the database's allowed clients",
            ) from None
        self.conn = conn
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr_f = tempfile.TemporaryFile()
        self.tables: list[TableCount] = []
        try:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            # Managed databases often set these; the exporting transaction must outlive the dump.
            conn.execute("SET LOCAL idle_in_transaction_session_timeout = 0")
            conn.execute("SET LOCAL statement_timeout = 0")
            self.server_version, self.server_num, self.sysid = _source_info(conn)
            row = conn.execute("SELECT pg_export_snapshot(), current_database()").fetchone()
            assert row is not None
            self.snapshot, self.dbname = str(row[0]), str(row[1])
            self.tool: PgTool = find_pg_dump(self.server_num // 10000, configured=self.src.pg_dump)
            argv = [
                str(self.tool.path),
                "--format=custom",
                f"--snapshot={self.snapshot}",
                "--no-password",
                f"--dbname={conninfo}",
            ]
            self.proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=self.stderr_f,
                stdin=subprocess.DEVNULL,
                env=_client_env(password),
                bufsize=0,
            )
        except BaseException:
            self.close()
            raise
        assert self.proc.stdout is not None
        grow_pipe(self.proc.stdout)
        self.stream = self.proc.stdout

    def during(self) -> None:
        from ..runner import count_rows

        self.tables = count_rows(self.conn)  # same snapshot as the dump, while pg_dump streams

    def finish(self, head: bytes) -> DumpOutcome:
        assert self.proc is not None
        rc = self.proc.wait()
        if rc != 0:
            self.stderr_f.seek(0)
            err = self.stderr_f.read(8192).decode(errors="replace").strip().splitlines()
            raise BackupError(
                "pg_dump failed: " + Redactor.global_().redact(" | ".join(err[:5])),
                hint="see pg_dump's message; check the source's privileges and version",
            )
        if not head.startswith(b"PGDMP"):
            raise BackupError("pg_dump did not produce a custom-format archive")
        with contextlib.suppress(psycopg.Error):
            self.conn.commit()  # ends the snapshot transaction
        port = self.params.get("port", "")
        return DumpOutcome(
            server_version=self.server_version,
            server_version_num=self.server_num,
            tool=DumpTool(name="pg_dump", version=self.tool.version, major=self.tool.major, format="custom"),
            tables=tuple(self.tables),
            host=self.params.get("host") or None,
            port=int(port) if port.isdigit() else None,
            database=self.dbname,
            system_identifier=self.sysid,
            snapshot=self.snapshot,
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
        with contextlib.suppress(Exception):
            self.conn.close()


class PostgresEngine(Engine):
    name = "postgres"
    schemes = ("postgres", "postgresql")
    label = "PostgreSQL"

    def start_dump(self, request: DumpRequest) -> RunningDump:
        return _PgDump(request)

    def magic_ok(self, head: bytes, tail: bytes) -> bool:
        return head.startswith(b"PGDMP")

    def quick_check(self, job: VerifyJob) -> None:
        from ..verify import pg_quick_check

        pg_quick_check(job)

    def verify(self, job: VerifyJob) -> None:
        from ..verify import pg_full_verify

        pg_full_verify(job)
