"""Shared helpers for the backup and verify benchmarks (not a benchmark itself)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from auditor.pgserver import ScratchPostgres

REPO = Path(__file__).resolve().parent.parent
BLASTWALL = str(Path(sys.executable).parent / "blastwall")  # the running environment's console script


def compile_bytecode() -> None:
    """Compile Blastwall's own modules (and, if `make setup` has not, the environment's) to bytecode before
    timing anything, as an installed package has them: with PYTHONDONTWRITEBYTECODE set (CI, containers) no
    run would cache it and each `blastwall` start would compile from source (~1 s on a loaded 2-core machine),
    which measures the checkout, not Blastwall."""
    import compileall
    import sysconfig

    for d in (REPO / "auditor", REPO / "providers", REPO / "reports", Path(sysconfig.get_paths()["purelib"])):
        if d.is_dir():
            compileall.compile_dir(d, quiet=1, workers=0)


def grow_to(pg: ScratchPostgres, db: str, target_mb: int) -> int:
    """Add rows to `bench_rows` until the database is ~target_mb; returns its size in bytes.

    Rows mix compressible text with random-ish digits, roughly like application data."""
    with pg.connect(db) as conn:
        conn.execute(
            "create table if not exists bench_rows(id bigint primary key, customer int, amount numeric, "
            "note text, created_at timestamptz)"
        )
        conn.execute("create table if not exists bench_small(id int primary key, name text)")
        conn.execute(
            "insert into bench_small select g, 'n' || g from generate_series(1, 1000) g on conflict do nothing"
        )
        while True:
            size = int(conn.execute("select pg_database_size(current_database())").fetchone()[0])  # type: ignore[index]
            if size >= target_mb * 1024 * 1024:
                return size
            start = int(conn.execute("select coalesce(max(id), 0) from bench_rows").fetchone()[0])  # type: ignore[index]
            batch = max(50_000, min(1_000_000, (target_mb * 1024 * 1024 - size) // 170))
            conn.execute(
                "insert into bench_rows select g, ((g * 7919) % 100000)::int, (g % 100000) / 100.0, "
                "md5(g::text) || ' order note ' || repeat(chr(65 + (g % 26)::int), 20) || md5((g * 31)::text), "
                "timestamptz '2024-01-01' + (g || ' seconds')::interval "
                f"from generate_series({start + 1}::bigint, {start + batch}::bigint) g"
            )
            conn.execute("vacuum analyze bench_rows")


@dataclass
class Measured:
    wall_s: float
    peak_rss_mb: float | None
    returncode: int
    stdout: str
    stderr: str


def run_measured(
    argv: list[str], env: dict[str, str] | None = None, stdout: Any = subprocess.PIPE, cwd: Path | None = None
) -> Measured:
    """Run argv, sampling the process's VmHWM (peak resident set) until it exits."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=stdout, stderr=subprocess.PIPE, cwd=cwd)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            try:
                for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        peak[0] = max(peak[0], int(line.split()[1]))
            except OSError:
                pass
            time.sleep(0.05)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    t.join()
    return Measured(
        wall,
        peak[0] / 1024 if peak[0] else None,
        proc.returncode,
        out.decode(errors="replace") if isinstance(out, bytes) else "",
        err.decode(errors="replace") if isinstance(err, bytes) else "",
    )


def url_of(pg: ScratchPostgres, db: str) -> str:
    from urllib.parse import quote

    info = psycopg.conninfo.conninfo_to_dict(pg.conninfo(db).reveal())
    return f"postgresql://{info['user']}:{quote(str(info['password']), safe='')}@{info['host']}:{info['port']}/{db}"


def write_config(path: Path, store_dir: Path, state_dir: Path, extra_source: str = "") -> None:
    path.write_text(f"""
[state]
url = "sqlite:///{state_dir / "state.db"}"

[[sources]]
name = "bench"
url = "env:BENCH_DATABASE_URL"
{extra_source}

[[stores]]
name = "local"
kind = "local"
path = "{store_dir}"

[[backups]]
source = "bench"
store = "local"
""")


def env_with(url: str, state_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["BENCH_DATABASE_URL"] = url
    env["BLASTWALL_STATE_DIR"] = str(state_dir)
    env["BLASTWALL_CACHE_DIR"] = str(state_dir.parent / "cache")  # never the user's own cache
    return env
