"""The import budget of start-up: `blastwall --help` and `--version` load no command module or heavy library."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = (
    "boto3",
    "botocore",
    "psycopg",
    "jinja2",
    "sqlalchemy",
    "graphql",
    "httpx",
    "pydantic",
    "rich",
    "click",
    "auditor.audit",
    "auditor.config",
    "auditor.cli.audit",
    "auditor.cli.backup",
    "auditor.cli.runs",
    "auditor.cli.schedule",
    "auditor.cli.report",
    "providers",
)


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nimport json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _heavy(mods: set[str]) -> list[str]:
    return sorted(m for m in mods if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_importing_the_cli_imports_nothing_heavy() -> None:
    assert _heavy(_loaded_after("import auditor.cli")) == []


def test_version_loads_no_command_module() -> None:
    code = (
        "from auditor.cli import main\nsys.argv = ['blastwall', '--version']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
    )
    assert _heavy(_loaded_after(code)) == []


def test_root_help_lists_every_command_without_importing_it() -> None:
    code = (
        "import io, contextlib\nfrom auditor.cli import main\nsys.argv = ['blastwall', '--help']\nbuf = io.StringIO()\n"
        "with contextlib.redirect_stdout(buf):\n    try:\n        main()\n    except SystemExit:\n        pass\n"
        "sys.stderr.write(buf.getvalue())\n"
    )
    mods = _loaded_after(code)
    assert not [
        m
        for m in mods
        if m.startswith("auditor.cli.") and m != "auditor.cli._common" and not m.startswith("auditor.cli._")
    ], mods
    assert not [m for m in mods if m.split(".")[0] in {"boto3", "psycopg", "jinja2", "sqlalchemy", "providers"}]
    out = subprocess.run(
        [sys.executable, "-c", "from auditor.cli import main; main()", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    from auditor.cli import COMMANDS

    for name in COMMANDS:
        assert f" {name} " in out.stdout, name


def test_audit_help_loads_the_command_but_not_the_audit() -> None:
    code = (
        "import io, contextlib\nfrom auditor.cli import main\nsys.argv = ['blastwall', 'audit', '--help']\n"
        "buf = io.StringIO()\nwith contextlib.redirect_stdout(buf):\n    try:\n        main()\n"
        "    except SystemExit as e:\n        assert e.code in (0, None), e.code\n"
        "assert '--offline' in buf.getvalue()\n"
    )
    mods = _loaded_after(code)
    assert "auditor.cli.audit" in mods
    assert [m for m in mods if m in {"auditor.audit", "auditor.config", "auditor.model", "sqlalchemy"}] == []


def test_version_prints_the_package_version() -> None:
    from auditor import __version__

    out = subprocess.run(
        [sys.executable, "-c", "from auditor.cli import main; main()", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and out.stdout.strip() == f"blastwall {__version__}"


# What an offline audit of an empty directory must not load: cloud SDKs, GraphQL, HTTP and database drivers are
# imported by the code that talks to the network or a database (httpx through `auditor._lazy`: the providers
# hold a lazy stand-in, loaded by their first request), YAML by the first YAML file parsed, jinja2 only when
# HTML is written, and SQLAlchemy and Alembic only when the state schema must be created or upgraded (the audit is
# recorded through `StateDB.sql()`, Python's own sqlite3 for the default state file).
AUDIT_FORBIDDEN = (
    "sqlalchemy",
    "boto3",
    "botocore",
    "graphql",
    "google.auth",
    "google.cloud",
    "psycopg",
    "psycopg2",
    "pymysql",
    "redis",
    "pymongo",
    "jinja2",
    "alembic",
    "httpx",
    "httpcore",
    "yaml",
    "tomlkit",  # only to write a starter blastwall.toml
    "auditor.workflow.store",  # the approvals check reads the config, not the run store
    "ssl",  # the TLS context of the first HTTPS request
    # the AWS analysis, imported by the first credential identified online
    "providers.aws.capabilities",
    "providers.aws.catalogue",
    "providers.aws.collect",
    "providers.aws.graph",
    "providers.aws.iam",
    "providers.aws.judge",
    "providers.aws.policy",
    "providers.aws.resolve",
    # what talks to a platform or a database, imported by its first use: an offline audit recognises and
    # classifies only
    "providers.gcp.api",
    "providers.gcp.auth",
    "providers.gcp.inventory",
    "providers.gcp.permissions",
    "providers.postgres.privileges",
    "providers.railway.client",
    "providers.railway.database_url",
    "providers.railway.inventory",
    "providers.railway.proposal",
    "providers.railway.queries",
    "providers.railway.refs",
)


def _offline_audit_modules(tmp_path: Path, *extra: str) -> set[str]:
    """The modules loaded by one `blastwall audit --no-home --no-env --offline EMPTY_DIR` process."""
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    out_dir = tmp_path / "out"
    code = (
        "import io, contextlib\nfrom auditor.cli import main\n"
        f"sys.argv = ['blastwall', 'audit', '--no-home', '--no-env', '--offline', {str(empty)!r}, "
        f"'--output-dir', {str(out_dir)!r}, *{list(extra)!r}]\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n    try:\n        main()\n"
        "    except SystemExit as e:\n        assert e.code in (0, None), e.code\n"
    )
    env = {**os.environ, "BLASTWALL_STATE_DIR": str(tmp_path / "state")}
    probe = f"import sys\n{code}\nimport json; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    if "--format" not in extra:
        report = json.loads((out_dir / "blastwall-report.json").read_text())  # the audit really ran
        assert report["credentials"] == []
        # ...and was recorded in history (unless asked not to)
        assert (report["changes"] is None) == ("--no-history" in extra)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _loaded(mods: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in mods if any(m == n or m.startswith(n + ".") for n in names))


def test_offline_audit_of_an_empty_dir_loads_no_sdk_driver_alembic_or_jinja2(tmp_path: Path) -> None:
    first = _offline_audit_modules(tmp_path)
    assert {"alembic", "sqlalchemy"} <= first  # a new state database: its schema is created by the migrations
    mods = _offline_audit_modules(tmp_path)  # the usual case: the schema is already at head
    assert {
        "providers.aws.provider",
        "providers.railway.provider",
        "providers.gcp.provider",
        "providers.postgres.endpoints",
        "auditor.history",
    } <= mods  # every provider and the history loaded
    assert _loaded(mods, AUDIT_FORBIDDEN) == []
    assert "httpx._client" not in mods  # the REST providers were loaded, yet httpx never executed
    assert "rich.progress" not in mods  # stderr is not a terminal: no progress is drawn


def test_the_audit_closes_the_state_database_before_the_process_ends(tmp_path: Path) -> None:
    # the process ends with gc.freeze (no final collection): the state database must be closed by the command
    # itself, which in WAL mode checkpoints and removes the -wal file
    empty = tmp_path / "empty"
    empty.mkdir()
    state = tmp_path / "state"
    code = (
        "import io, contextlib, os, sys\nfrom auditor.cli import main\n"
        f"sys.argv = ['blastwall', 'audit', '--no-home', '--no-env', '--offline', {str(empty)!r}, "
        f"'--output-dir', {str(tmp_path / 'out')!r}]\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n    try:\n        main()\n"
        "    except SystemExit as e:\n        assert e.code in (0, None), e.code\n"
        f"print(sorted(os.listdir({str(state)!r})))\n"
    )
    env = {**os.environ, "BLASTWALL_STATE_DIR": str(state)}
    for _ in range(2):  # a new database, then one at the schema head
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
        )
        assert out.returncode == 0, out.stderr
        files = json.loads(out.stdout.strip().splitlines()[-1].replace("'", '"'))
        assert "state.db" in files and "state.db-wal" not in files, files


def test_an_offline_audit_without_history_or_backups_loads_no_sqlalchemy(tmp_path: Path) -> None:
    mods = _offline_audit_modules(tmp_path, "--no-history")
    assert _loaded(mods, AUDIT_FORBIDDEN + ("auditor.state", "auditor.history")) == []
    assert not (tmp_path / "state").exists()  # nothing was opened


def test_html_report_still_loads_jinja2(tmp_path: Path) -> None:
    mods = _offline_audit_modules(tmp_path, "--format", "html")
    assert "jinja2" in mods and (tmp_path / "out" / "blastwall-report.html").is_file()
