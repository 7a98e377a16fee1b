"""Canary test: after an audit, no planted secret appears in any output file, log line or CLI output."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.registry import BUILTIN_PROVIDERS
from tests.support.canary import Canaries
from tests.support.planted import build


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize("mode", ["offline", "unreachable-providers"])
def test_no_secret_in_any_output(tmp_path: Path, canaries: Canaries, mode: str) -> None:
    planted = build(tmp_path / "fx", canaries)
    out, state = tmp_path / "out", tmp_path / "state"
    env = {k: v for k, v in os.environ.items()}
    env.update(planted.env)  # the planted environment is scanned too
    env.update({"HOME": str(planted.home), "BLASTWALL_STATE_DIR": str(state), "COLUMNS": "200"})
    args = [
        str(Path(sys.executable).with_name("blastwall")),
        "--verbose",
        "audit",
        str(planted.repo),
        "--home",
        str(planted.home),
        "--format",
        "json",
        "--format",
        "html",
        "--format",
        "sarif",
        "--output-dir",
        str(out),
    ]
    if mode == "offline":
        args.append("--offline")
    else:
        # every provider endpoint points at a closed local port: all identify calls fail
        dead = f"http://127.0.0.1:{_closed_port()}"
        for name in BUILTIN_PROVIDERS:
            env[f"BLASTWALL_{name.upper()}_URL"] = dead
        env["AWS_ENDPOINT_URL"] = dead
        env["AWS_MAX_ATTEMPTS"] = "1"
    proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode in (0, 3), proc.stderr[-2000:]
    assert (out / "blastwall-report.json").exists()
    assert (out / "blastwall-report.html").exists()
    canaries.assert_absent(texts=[proc.stdout, proc.stderr], trees=[out, state])
    # and the JSON run (stdout) path too
    proc2 = subprocess.run(args + ["--json"], capture_output=True, text=True, env=env, timeout=300)
    assert proc2.returncode in (0, 3)
    canaries.assert_absent(texts=[proc2.stdout, proc2.stderr], trees=[out, state])
    assert '"schema_version": 1' in proc2.stdout


def test_no_database_password_in_any_output(
    tmp_path: Path, canaries: Canaries, pg_server, mariadb, redis_server
) -> None:
    """Online audit that really logs in to PostgreSQL, MariaDB and Redis with canary passwords (and one wrong
    password and one unreachable server): no password in stdout, stderr, reports or the state directory."""
    import psycopg

    pg_pw, my_pw, rd_pw = canaries.mint("pg{r}"), canaries.mint("my{r}"), canaries.mint("rd{r}")
    wrong, down = canaries.mint("wr{r}"), canaries.mint("dn{r}")
    canaries.add(redis_server.password)
    with pg_server.connect() as c:
        c.execute(psycopg.sql.SQL("CREATE ROLE canary_app LOGIN PASSWORD {}").format(psycopg.sql.Literal(pg_pw)))
    mariadb.admin(
        "CREATE DATABASE IF NOT EXISTS canary",
        f"CREATE OR REPLACE USER 'canary'@'%' IDENTIFIED BY '{my_pw}'",
        "GRANT ALL PRIVILEGES ON canary.* TO 'canary'@'%'",
    )
    redis_server.command("ACL", "SETUSER", "canary", "reset", "on", f">{rd_pw}", "~*", "+@all")
    repo, home, out, state = tmp_path / "repo", tmp_path / "home", tmp_path / "out", tmp_path / "state"
    repo.mkdir()
    home.mkdir()
    (repo / ".env").write_text(
        f"DATABASE_URL=postgresql://canary_app:{pg_pw}@127.0.0.1:{pg_server.port}/postgres\n"
        f"MYSQL_URL=mysql://canary:{my_pw}@127.0.0.1:{mariadb.port}/canary\n"
        f"REDIS_URL=redis://canary:{rd_pw}@127.0.0.1:{redis_server.port}/0\n"
        f"WRONG_URL=postgresql://canary_app:{wrong}@127.0.0.1:{pg_server.port}/postgres\n"
        f"DOWN_URL=mysql://nobody:{down}@127.0.0.1:{_closed_port()}/x\n"
    )
    env = {k: v for k, v in os.environ.items()}
    env.update({"HOME": str(home), "BLASTWALL_STATE_DIR": str(state), "COLUMNS": "200"})
    args = [
        str(Path(sys.executable).with_name("blastwall")),
        "--verbose",
        "audit",
        str(repo),
        "--home",
        str(home),
        "--no-env",
        "--format",
        "json",
        "--format",
        "html",
        "--format",
        "sarif",
        "--output-dir",
        str(out),
    ]
    proc = subprocess.run(args + ["--json"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode in (0, 3), proc.stderr[-2000:]
    import json

    doc = json.loads(proc.stdout)
    status = {c["sources"][0]["locator"]: c["status"] for c in doc["credentials"]}
    assert status == {
        "DATABASE_URL": "verified",
        "MYSQL_URL": "verified",
        "REDIS_URL": "verified",
        "WRONG_URL": "invalid",
        "DOWN_URL": "error",
    }, status
    assert doc["verdicts"], "the inspections produced verdicts"
    import jsonschema

    jsonschema.validate(doc, json.loads((Path(__file__).parents[1] / "schemas" / "report-v1.schema.json").read_text()))
    canaries.assert_absent(texts=[proc.stdout, proc.stderr], trees=[out, state])
