"""Start-up of the command line, against the libraries it is built on, measured in the same run.

    python -m bench startup [--repeat 15]

Times (wall clock, a fresh process each time, bytecode compiled as an install leaves it):
  * python:  the interpreter alone (`python -c pass`);
  * floor:   the smallest command line on the libraries the design fixes: a Typer app with one command and two
             options, which builds a pydantic model and prints a one-row Rich table. Typer (0.29) builds a
             pydantic TypeAdapter per option, so this imports what every Blastwall command with options
             imports first;
  * blastwall --version, --help, audit --help, and an offline audit of an empty directory (with and without
    the history it records in the state database; the state lives in a temporary directory, created by one
    untimed run first, as on any machine after its first audit).
Runs alternate between the commands; the best and the median of each are printed, with each command's best
time above the floor's. Goal (issue 20): --help, --version and the offline audit each ≤ 0.25 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ._pgbench_common import BLASTWALL, compile_bytecode

GOAL_S = 0.25
FLOOR = "floor (Typer + pydantic + Rich)"

FLOOR_APP = """
from pathlib import Path
import typer
from pydantic import BaseModel

app = typer.Typer(add_completion=False)


class Result(BaseModel):
    path: str
    offline: bool


@app.command()
def audit(path: Path, offline: bool = typer.Option(False, "--offline"), fmt: str = typer.Option("json", "--format")):
    from rich.console import Console
    from rich.table import Table

    result = Result(path=str(path), offline=offline)
    table = Table()
    table.add_row("credentials found", "0", result.path)
    Console().print(table)


app()
"""


def _time(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    rc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, check=False).returncode
    elapsed = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"{' '.join(argv)} exited {rc}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15, help="runs of each command, alternating")
    args = ap.parse_args()
    compile_bytecode()
    with tempfile.TemporaryDirectory(prefix="bw-bench-startup-") as tmp:
        work = Path(tmp)
        empty, out, state = work / "empty", work / "out", work / "state"
        for d in (empty, out, state):
            d.mkdir()
        floor_app = work / "floor_app.py"
        floor_app.write_text(FLOOR_APP)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BLASTWALL_", "PYTHONDONTWRITEBYTECODE"))}
        env["BLASTWALL_STATE_DIR"] = str(state)
        env["BLASTWALL_CACHE_DIR"] = str(work / "cache")
        audit = [BLASTWALL, "audit", "--no-home", "--no-env", "--offline", str(empty), "-o", str(out)]
        commands: dict[str, list[str]] = {
            "python -c pass": [sys.executable, "-c", "pass"],
            FLOOR: [sys.executable, str(floor_app), str(empty), "--offline"],
            "blastwall --version": [BLASTWALL, "--version"],
            "blastwall --help": [BLASTWALL, "--help"],
            "blastwall audit --help": [BLASTWALL, "audit", "--help"],
            "audit --offline EMPTY": audit,
            "audit --offline --no-history EMPTY": [*audit, "--no-history"],
        }
        for argv in commands.values():  # untimed: creates the state database, warms the page cache
            _time(argv, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, argv in commands.items():
                times[name].append(_time(argv, env))
    floor = min(times[FLOOR])
    with_goal = {"blastwall --version", "blastwall --help", "audit --offline EMPTY"}
    print(f"start-up, {args.repeat} alternating runs each (seconds)")
    print(f"{'command':38s} {'best':>6s} {'median':>7s} {'above floor':>12s}  goal")
    for name, ts in times.items():
        best = min(ts)
        above = f"{best - floor:+.3f}" if name.startswith(("blastwall", "audit")) else ""
        goal = f"≤ {GOAL_S}: {'met' if best <= GOAL_S else 'not met'}" if name in with_goal else ""
        print(f"{name:38s} {best:6.3f} {statistics.median(ts):7.3f} {above:>12s}  {goal}")


if __name__ == "__main__":
    main()
