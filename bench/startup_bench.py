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

    python -m bench startup --instructions

counts the instructions each command executes instead (one run of each under `valgrind --tool=callgrind`, with
PYTHONHASHSEED=0; about 30 s per command). Unlike wall time on a shared machine, the count repeats to within a
few parts per million, so a change of 1 % shows; it is printed with each command's share of the floor's count.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
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


def _instructions(argv: list[str], env: dict[str, str]) -> int:
    """Instructions one run of ``argv`` executes, counted by callgrind."""
    vg = [shutil.which("valgrind") or "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    out = subprocess.run(
        vg + argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, check=False, timeout=900
    )
    found = re.search(r"Collected : (\d+)", out.stderr)
    if out.returncode != 0 or found is None:
        raise SystemExit(f"{' '.join(argv)} under callgrind exited {out.returncode}: {out.stderr[-500:]}")
    return int(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=15, help="runs of each command, alternating")
    ap.add_argument("--instructions", action="store_true", help="count instructions (valgrind) instead of timing")
    args = ap.parse_args()
    if args.instructions and shutil.which("valgrind") is None:
        raise SystemExit("--instructions needs valgrind (Debian: apt-get install valgrind)")
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
        if args.instructions:
            counts = {name: _instructions(argv, {**env, "PYTHONHASHSEED": "0"}) for name, argv in commands.items()}
            print("start-up, instructions executed (millions; one run each under callgrind)")
            print(f"{'command':38s} {'instructions':>12s} {'÷ floor':>8s}")
            for name, n in counts.items():
                print(f"{name:38s} {n / 1e6:12.1f} {n / counts[FLOOR]:8.2f}")
            return
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
