"""The restore workflow: the only way Blastwall writes into a database.

    fetch_verify  (check)   fetch the backup and fully verify it in a scratch database
    plan          (read)    inspect the live target: what will be overwritten, its size, tables, rows
    approval      (gate)    a human approves the plan (bound to its SHA-256)
    safety_dump   (action)  dump the target to the backup's off-platform store (idempotent: a new object)
    restore       (action)  pg_restore into the target - the only step that gets the target's write credential
    post_check    (check)   every table of the backup's manifest has the manifest's row count
    report        (read)    what happened, for the run record

Rejected or expired: nothing after the gate runs, so the target is untouched. The target's
credentials are step secrets: resolved when a step that declares them starts, gone when it ends.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from .. import scratch
from ..config import BackupConfig, Config, SecretRef, TargetConfig
from ..errors import BlastwallError, ConfigError
from ..redact import Redactor
from ..secrets import Secret
from ..state import StateDB
from .backups import (
    SafetyDumpFailed,
    backup_secret_refs,
    count_tables,
    dump_to_store,
    fetch_backup_object,
    find_backup,
    find_pg_restore,
    referenced_env_names,
    scoped_environ,
    verify_full,
)
from .model import Action, ApprovalGate, Check, Read, StepContext, StepError, StepPreconditionFailed, Workflow

__all__ = ["PG_RESTORE_ARGS", "RESTORE_STEPS", "EngineRestore", "PostgresRestore", "inspect_target", "restore_workflow"]

log = logging.getLogger("blastwall.workflow.restore")

RESTORE_STEPS = ("fetch_verify", "plan", "approval", "safety_dump", "restore", "post_check", "report")
PG_RESTORE_ARGS = ("--clean", "--if-exists", "--single-transaction", "--exit-on-error", "--no-owner", "--no-privileges")


# ---- the target ------------------------------------------------------------------------------------


def _register(url: Secret) -> None:
    """Teach the log redactor the URL and its password (error texts may quote either)."""
    Redactor.global_().add(url)
    password = conninfo_to_dict(url.reveal()).get("password")
    if password:
        Redactor.global_().add(Secret(str(password)))


def _connect(url: Secret, *, application: str) -> psycopg.Connection[Any]:
    _register(url)
    try:
        return psycopg.connect(url.reveal(), connect_timeout=15, application_name=application, autocommit=False)
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StepError(
            f"cannot connect to the target: {Redactor.global_().redact(first)}",
            hint="check the target's url, the network and the database's allowed clients",
        ) from None


def _identity(url: Secret) -> dict[str, Any]:
    info = conninfo_to_dict(url.reveal())
    port = str(info.get("port") or "5432")
    return {
        "host": info.get("host") or "localhost",
        "port": int(port) if port.isdigit() else port,
        "database": info.get("dbname"),
        "user": info.get("user"),
    }


def inspect_target(url: Secret) -> dict[str, Any]:
    """Read-only look at the target: server version, database, size, and every table with its row count."""
    with _connect(url, application="blastwall-restore-inspect") as conn:
        conn.read_only = True
        row = conn.execute(
            "SELECT current_setting('server_version'), current_database(), pg_database_size(current_database())"
        ).fetchone()
        assert row is not None
        tables = count_tables(conn)
        conn.rollback()
    return {
        **_identity(url),
        "server_version": str(row[0]),
        "database": str(row[1]),
        "size_bytes": int(row[2]),
        "tables": tables,
    }


def _pg_restore(dump: Path, url: Secret, min_major: int, pg_bin_dir: str | None, base_env: Mapping[str, str]) -> None:
    tool = find_pg_restore(min_major, pg_bin_dir)
    _register(url)
    params = conninfo_to_dict(url.reveal())
    password = params.pop("password", None)
    env = {k: v for k, v in base_env.items() if not k.startswith("PG")}
    if password:
        env["PGPASSWORD"] = str(password)
    dbname = make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})
    argv = [str(tool), *PG_RESTORE_ARGS, "--no-password", f"--dbname={dbname}", str(dump)]
    out = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, check=False)
    env.clear()
    if out.returncode != 0:
        err = " | ".join((out.stderr or "").strip().splitlines()[:5])
        raise StepError(
            "pg_restore failed; it ran in a single transaction, which PostgreSQL rolled back: "
            + Redactor.global_().redact(err),
            hint="check the target with: blastwall runs show (the safety dump is in the store)",
        )


# ---- the workflow ---------------------------------------------------------------------------------


class PostgresRestore:
    """One restore of a PostgreSQL backup into a configured target: each step is a method, and `workflow()`
    wires them, with the secrets each declares, into the gated `Workflow`. `EngineRestore` reuses every step
    for the other backup engines (MySQL/MariaDB, Redis) through the engine's `inspect_target`/`restore_into`."""

    kinds: tuple[str, ...] = ("postgres",)
    action = "restore a PostgreSQL backup into the target: pg_restore " + " ".join(PG_RESTORE_ARGS)
    note = (
        "every object in the backup is dropped and recreated with the backup's data; tables that are only "
        "in the target are left as they are"
    )
    restore_description = "pg_restore into the target (the only step with its write credential)"

    def inspect(self, url: Secret) -> dict[str, Any]:
        return inspect_target(url)

    def apply(self, dump: Path, url: Secret, manifest: Any, env: Mapping[str, str]) -> dict[str, Any]:
        _pg_restore(dump, url, manifest.dump_tool.major, self.config.verify.pg_bin_dir, env)
        return {}

    @staticmethod
    def key(name: str) -> str:
        """How a table of the backup is matched with one of the target (qualified names for PostgreSQL)."""
        return name

    def __init__(
        self,
        config: Config,
        params: Mapping[str, Any],
        *,
        db: StateDB,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.config, self.db = config, db
        self.environ = os.environ if environ is None else environ
        self.now = clock or (lambda: datetime.now(UTC))
        self.backup_id = str(params["backup_id"])
        target: TargetConfig = config.target(str(params["target"]))
        if target.kind not in self.kinds or target.url is None:
            raise ConfigError(
                f"target {target.name!r} is a {target.kind} target; this workflow restores "
                f"{'/'.join(self.kinds)} backups",
                file=config.path,
            )
        self.target, self.write_ref = target, target.url
        self.read_ref: SecretRef = target.read_url or target.url
        # Secrets to read the backup (store keys, age identities) and the scratch server are step secrets too:
        # library calls get a step-local environment with every configured secret variable removed and
        # only the step's own put back.
        self.store_refs = backup_secret_refs(config, db, self.backup_id)
        self.scratch = {"verify.scratch_url": config.verify.scratch_url} if config.verify.scratch_url else {}
        self.hidden = referenced_env_names(config)

    def step_env(self, ctx: StepContext, refs: Mapping[str, SecretRef]) -> dict[str, str]:
        return scoped_environ(self.environ, self.hidden, {k: (r, ctx.secret(k)) for k, r in refs.items()})

    def fetch_verify(self, ctx: StepContext) -> dict[str, Any]:
        env = self.step_env(ctx, {**self.store_refs, **self.scratch})
        try:
            found = find_backup(self.config, self.db, self.backup_id, env)
            manifest = found.manifest
            try:
                location = found.store.location(manifest.object.key)
            finally:
                found.close()
            result = verify_full(self.config, self.backup_id, db=self.db, environ=env)
        finally:
            env.clear()
        passed = result.get("outcome") == "passed" and result.get("mode") == "full"
        return {
            "passed": passed,
            "message": f"backup {self.backup_id} failed full verification: "
            f"{result.get('failure_code')}: {result.get('message')}",
            "backup": {
                "id": manifest.backup_id,
                "source": manifest.source.name,
                "store": manifest.object.store,
                "location": location,
                "sha256": manifest.object.sha256,
                "size": manifest.object.size,
                "encrypted": manifest.object.encrypted,
                "created_at": manifest.finished_at.isoformat(),
                "server_version": manifest.server_version,
                "dump_tool": manifest.dump_tool.version,
                "dump_major": manifest.dump_tool.major,
                "tables": [{"name": t.qualified, "rows": t.rows} for t in manifest.tables],
            },
            "verification": {
                k: result.get(k) for k in ("mode", "outcome", "failure_code", "message", "duration_s", "tables")
            },
        }

    def plan(self, ctx: StepContext) -> dict[str, Any]:
        live = self.inspect(ctx.secret("target"))
        backup = ctx.outputs["fetch_verify"]["backup"]
        in_backup = {self.key(t["name"]) for t in backup["tables"]}
        return {
            "workflow": "restore",
            "action": self.action,
            "target": {
                "name": self.target.name,
                "kind": self.target.kind,
                "host": live["host"],
                "port": live["port"],
                "database": live["database"],
                "user": live["user"],
                "server_version": live["server_version"],
            },
            "will_overwrite": {
                "database": live["database"],
                "size_bytes": live["size_bytes"],
                "tables": live["tables"],
                "replaced_from_backup": sorted(t["name"] for t in live["tables"] if self.key(t["name"]) in in_backup),
                "left_as_is": sorted(t["name"] for t in live["tables"] if self.key(t["name"]) not in in_backup),
                "note": self.note,
                **({"used_memory": live["used_memory_human"]} if live.get("used_memory_human") else {}),
            },
            "backup": {
                k: backup[k]
                for k in (
                    "id",
                    "source",
                    "store",
                    "location",
                    "sha256",
                    "size",
                    "encrypted",
                    "created_at",
                    "server_version",
                    "tables",
                )
            },
            "verification": ctx.outputs["fetch_verify"]["verification"],
            "safety_dump": {"store": backup["store"], "before": "restore", "source_name": f"safety-{self.target.name}"},
            "post_check": "after the restore, every table in the backup's manifest must have its manifest's row count",
        }

    def safety_dump(self, ctx: StepContext) -> dict[str, Any]:
        approved = ctx.outputs["plan"]
        b = ctx.outputs["fetch_verify"]["backup"]
        try:
            like: BackupConfig | None = self.config.backup_for(b["source"])
        except ConfigError:
            like = None
        env = self.step_env(ctx, self.store_refs)
        try:
            return dump_to_store(
                self.config,
                name=approved["safety_dump"]["source_name"],
                store=self.config.store(approved["safety_dump"]["store"]),
                url=ctx.secret("target"),
                like=like,
                db=self.db,
                environ=env,
                clock=self.now,
            )
        except SafetyDumpFailed as exc:
            raise StepPreconditionFailed(
                f"safety dump of the target failed, so nothing was restored: {exc.message}"
            ) from None
        finally:
            env.clear()

    def restore(self, ctx: StepContext) -> dict[str, Any]:
        url = ctx.secret("target")
        approved = ctx.outputs["plan"]
        live = self.inspect(url)
        if (
            live["tables"] != approved["will_overwrite"]["tables"]
            or live["database"] != approved["will_overwrite"]["database"]
        ):
            raise StepPreconditionFailed(
                "the target changed since the plan was approved (tables or row counts differ); the approval "
                "does not cover what is there now. Start a new restore to get a fresh plan"
            )
        env = self.step_env(ctx, self.store_refs)
        try:
            return self._restore(url, approved, env)
        finally:
            env.clear()

    def _restore(self, url: Secret, approved: Mapping[str, Any], env: dict[str, str]) -> dict[str, Any]:
        found = find_backup(self.config, self.db, self.backup_id, env)
        manifest = found.manifest
        if manifest.object.sha256 != approved["backup"]["sha256"]:
            found.close()
            raise StepPreconditionFailed("the backup's manifest changed since the plan was approved")
        tmp = scratch.make_dir("restore")
        try:
            dump = tmp / "backup.dump"
            try:
                fetch_backup_object(found, dump, env)
            except StepError as exc:
                raise StepPreconditionFailed(exc.message) from None
            finally:
                found.close()
            started = self.now()
            detail = self.apply(dump, url, manifest, env)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return {
            **detail,
            "restored_backup": manifest.backup_id,
            "sha256": manifest.object.sha256,
            "started_at": started.isoformat(),
            "finished_at": self.now().isoformat(),
        }

    def post_check(self, ctx: StepContext) -> dict[str, Any]:
        live = self.inspect(ctx.secret("target"))
        found = {self.key(t["name"]): t["rows"] for t in live["tables"]}
        rows = [
            {"name": t["name"], "expected_rows": t["rows"], "found_rows": found.get(self.key(t["name"]))}
            for t in ctx.outputs["fetch_verify"]["backup"]["tables"]
        ]
        bad = [r for r in rows if r["expected_rows"] != r["found_rows"]]
        return {
            "passed": not bad,
            "tables": rows,
            "message": "row counts differ from the backup's manifest: "
            + ", ".join(f"{r['name']} expected {r['expected_rows']} found {r['found_rows']}" for r in bad),
        }

    def report(self, ctx: StepContext) -> dict[str, Any]:
        p = ctx.outputs["plan"]
        return {
            "outcome": "restored",
            "target": p["target"],
            "backup": {k: p["backup"][k] for k in ("id", "sha256", "location")},
            "verification": {k: p["verification"].get(k) for k in ("mode", "outcome")},
            "approved": ctx.outputs["approval"],
            "safety_dump": ctx.outputs["safety_dump"],
            "restore": ctx.outputs["restore"],
            "post_check": {
                "passed": ctx.outputs["post_check"]["passed"],
                "tables": ctx.outputs["post_check"]["tables"],
            },
        }

    def workflow(self) -> Workflow:
        reader: dict[str, SecretRef] = {"target": self.read_ref}
        return Workflow(
            "restore",
            (
                Check(
                    "fetch_verify",
                    self.fetch_verify,
                    secrets={**self.store_refs, **self.scratch},
                    description="fetch the backup and fully verify it in a scratch database",
                ),
                Read("plan", self.plan, secrets=reader, description="inspect the live target and build the plan"),
                ApprovalGate("approval", lambda ctx: ctx.outputs["plan"], description="a human approves the plan"),
                Action(
                    "safety_dump",
                    self.safety_dump,
                    secrets={**reader, **self.store_refs},
                    is_idempotent=True,
                    description="dump the target to the off-platform store",
                ),
                Action(
                    "restore",
                    self.restore,
                    secrets={"target": self.write_ref, **self.store_refs},
                    description=self.restore_description,
                ),
                Check(
                    "post_check", self.post_check, secrets=reader, description="row counts match the backup's manifest"
                ),
                Read("report", self.report, description="summary for the run record"),
            ),
            title=f"restore {self.backup_id} into {self.target.name}",
        )


class EngineRestore(PostgresRestore):
    """The same gated steps for a MySQL/MariaDB or Redis target: the plan shows the target's tables (or
    per-database key counts and memory), the safety copy is a normal backup of the target by its engine
    (`mariadb-dump`, or an RDB via `redis-cli --rdb`), and the restore step is the engine's `restore_into`."""

    kinds = ("mysql", "redis")

    def __init__(self, config: Config, params: Mapping[str, Any], **kw: Any) -> None:
        super().__init__(config, params, **kw)
        from ..backup.engines import engine_named

        self.engine = engine_named(self.target.kind)
        self.action = f"restore a {self.engine.label} backup into the target: {self.engine.restore_action}"
        self.note = self.engine.restore_note
        self.restore_description = (
            f"{self.engine.label} restore into the target (the only step with its write credential)"
        )

    def inspect(self, url: Secret) -> dict[str, Any]:
        _register_any(url)
        try:
            return self.engine.inspect_target(url)
        except BlastwallError as exc:
            raise StepError(exc.message, hint=exc.hint) from None

    def apply(self, dump: Path, url: Secret, manifest: Any, env: Mapping[str, str]) -> dict[str, Any]:
        if manifest.source.kind != self.engine.name:
            raise StepPreconditionFailed(
                f"backup {manifest.backup_id} is a {manifest.source.kind} backup; target "
                f"{self.target.name!r} is {self.target.kind}"
            )
        try:
            return self.engine.restore_into(dump, url, manifest)
        except BlastwallError as exc:
            raise StepError(exc.message, hint=exc.hint) from None

    def post_check(self, ctx: StepContext) -> dict[str, Any]:
        if self.target.kind != "redis":
            return super().post_check(ctx)
        # Keys only in the target survive (no FLUSHALL), so: every key of the backup was restored, and each
        # database holds at least that many keys.
        live = {t["name"]: t["rows"] for t in self.inspect(ctx.secret("target"))["tables"]}
        restored = ctx.outputs["restore"].get("restored_keys") or {}
        rows = [
            {
                "name": t["name"],
                "expected_rows": t["rows"],
                "found_rows": restored.get(t["name"]),
                "in_target": live.get(t["name"]),
            }
            for t in ctx.outputs["fetch_verify"]["backup"]["tables"]
        ]
        bad = [r for r in rows if r["expected_rows"] != r["found_rows"] or (r["in_target"] or 0) < r["expected_rows"]]
        return {
            "passed": not bad,
            "tables": rows,
            "message": "keys restored differ from the backup's manifest: "
            + ", ".join(
                f"{r['name']} expected {r['expected_rows']} restored {r['found_rows']} now {r['in_target']}"
                for r in bad
            ),
        }

    def key(self, name: str) -> str:  # type: ignore[override]
        # MySQL: the target's database may be named differently from the source's
        return name.split(".", 1)[-1] if self.target.kind == "mysql" else name


def _register_any(url: Secret) -> None:
    Redactor.global_().add(url)


def restore_workflow(
    config: Config,
    params: Mapping[str, Any],
    *,
    db: StateDB,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Workflow:
    """The gated restore workflow for `params` (``backup_id``, ``target``); see `PostgresRestore`."""
    cls = EngineRestore if config.target(str(params["target"])).kind in EngineRestore.kinds else PostgresRestore
    return cls(config, params, db=db, environ=environ, clock=clock).workflow()
