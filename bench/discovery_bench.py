"""Discovery end to end, side by side with peer secret scanners, on generated trees.

    python -m bench discovery [--against kingfisher] [--against detect-secrets]
                              [--trees 10000:105,100000:1050] [--repeat 3] [--dir /tmp/bw-bench] [--keep]

Each tree holds planted tokens in six formats that every compared tool documents (GitHub classic PAT,
Stripe live secret, DigitalOcean, npm, Heroku, Supabase management). For each tool and tree the bench
runs the real command line (start-up included) with the page cache warm, and prints wall time,
files/s, MB/s, peak RSS, recall of the planted tokens, and the ratio against Blastwall. Start-up is
measured separately on an empty directory. Peers come from the `bench` extra (`kingfisher-bin`,
`detect-secrets`); nothing is installed at run time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

WORDS = (
    "the quick brown fox jumps over lazy dog config value service deploy token key user host port "
    "database backup restore volume project environment region bucket cluster instance"
).split()
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


def _planted(rng: random.Random, i: int) -> tuple[str, str]:
    """(KEY, token) in one of six formats, chosen round-robin."""

    def r(n: int, alphabet: str = ALNUM) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    return [
        ("GITHUB_TOKEN", "ghp_" + r(36)),
        ("STRIPE_SECRET_KEY", "sk_live_" + r(48)),
        ("DIGITALOCEAN_TOKEN", "dop_v1_" + r(64, HEX)),
        ("NPM_TOKEN", "npm_" + r(36)),
        ("HEROKU_API_KEY", "HRKU-AA" + r(58, ALNUM + "_-")),
        ("SUPABASE_ACCESS_TOKEN", "sbp_" + r(40, HEX)),
    ][i % 6]


def generate(root: Path, n_files: int, total_mb: int, seed: int = 7) -> tuple[int, int, list[str]]:
    """A tree of `n_files` text files, about `total_mb` MB, one planted token per 1,000 files."""
    rng = random.Random(seed)
    avg = total_mb * 1024 * 1024 // n_files
    planted: list[str] = []
    total = 0
    exts = [".py", ".js", ".md", ".txt", ".yaml", ".json", ".env", ".toml", ".go", ".sh"]
    for i in range(n_files):
        d = root / f"d{i % 100:02d}" / f"s{(i // 100) % 100:02d}"
        if i % 10000 == 0 or not d.exists():
            d.mkdir(parents=True, exist_ok=True)
        size = max(200, int(rng.expovariate(1 / avg))) if i % 50 else avg
        lines = []
        cur = 0
        while cur < size:
            line = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 14)))
            if rng.random() < 0.02:
                line = f'{rng.choice(WORDS).upper()}_{rng.choice(WORDS).upper()} = "{rng.choice(WORDS)}-{rng.randint(0, 99999)}"'
            lines.append(line)
            cur += len(line) + 1
        if i % 1000 == 0:
            key, tok = _planted(rng, len(planted))
            lines.insert(len(lines) // 2, f"{key}={tok}")
            planted.append(tok)
        data = "\n".join(lines) + "\n"
        (d / f"f{i}{exts[i % len(exts)]}").write_text(data)
        total += len(data)
    return n_files, total, planted


@dataclass
class Run:
    wall_s: float
    peak_rss_mb: float
    found: set[str]  # planted values the tool reported


def _measure(argv: list[str], cwd: Path | None = None, timeout: float | None = None) -> tuple[float, float, int]:
    """Wall seconds, peak RSS (MB, the largest process of the run) and exit code of one command."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=cwd)
    deadline = None if timeout is None else t0 + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if deadline is not None and time.perf_counter() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            raise subprocess.TimeoutExpired(argv, timeout or 0)
        time.sleep(0.005)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss / 1024, proc.returncode


class Tool:
    name = ""

    def available(self) -> bool:
        raise NotImplementedError

    def run(self, root: Path, planted: list[str], out: Path, timeout: float | None) -> Run:
        raise NotImplementedError


def _bin(name: str) -> str | None:
    local = Path(sys.executable).with_name(name)
    return str(local) if local.exists() else shutil.which(name)


class Blastwall(Tool):
    name = "blastwall"

    def available(self) -> bool:
        return _bin("blastwall") is not None

    def argv(self, root: Path, out: Path) -> list[str]:
        return [
            str(_bin("blastwall")),
            "audit",
            "--no-home",
            "--no-env",
            "--offline",
            "--no-history",
            "--format",
            "json",
            "--output-dir",
            str(out),
            str(root),
        ]

    def run(self, root: Path, planted: list[str], out: Path, timeout: float | None) -> Run:
        from auditor.secrets import fingerprint

        wall, rss, rc = _measure(self.argv(root, out), timeout=timeout)
        if rc != 0:
            raise RuntimeError(f"blastwall exited {rc}")
        doc = json.loads((out / "blastwall-report.json").read_text())
        fps = {c["fingerprint"] for c in doc["credentials"]}
        return Run(wall, rss, {p for p in planted if fingerprint(p) in fps})


class Kingfisher(Tool):
    name = "kingfisher"

    def available(self) -> bool:
        return _bin("kingfisher") is not None

    def argv(self, root: Path, out: Path) -> list[str]:
        # no network: no update check, no validation of found secrets; the working tree only
        return [
            str(_bin("kingfisher")),
            "scan",
            "--no-update-check",
            "--no-validate",
            "--git-history",
            "none",
            "--quiet",
            "--format",
            "jsonl",
            "--output",
            str(out / "kingfisher.jsonl"),
            str(root),
        ]

    def run(self, root: Path, planted: list[str], out: Path, timeout: float | None) -> Run:
        wall, rss, rc = _measure(self.argv(root, out), timeout=timeout)
        if rc not in (0, 200, 205):  # kingfisher exits 200/205 when it found secrets
            raise RuntimeError(f"kingfisher exited {rc}")
        snippets: set[str] = set()
        for line in (out / "kingfisher.jsonl").read_text().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            snip = (rec.get("finding") or {}).get("snippet")
            if isinstance(snip, str):
                snippets.add(snip)
        (out / "kingfisher.jsonl").unlink()  # it holds the raw planted values
        return Run(wall, rss, {p for p in planted if p in snippets})


class DetectSecrets(Tool):
    name = "detect-secrets"

    def available(self) -> bool:
        return _bin("detect-secrets") is not None

    def run(self, root: Path, planted: list[str], out: Path, timeout: float | None) -> Run:
        # detect-secrets reports hashes, not values: recall is counted by planted file and line
        t0 = time.perf_counter()
        proc = subprocess.run(
            [str(_bin("detect-secrets")), "scan", "--all-files", str(root)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=root,
        )
        wall = time.perf_counter() - t0
        results = json.loads(proc.stdout).get("results", {}) if proc.stdout else {}
        lines = {(str((root / f).resolve()), h["line_number"]) for f, hs in results.items() for h in hs}
        found = set()
        for p in planted:
            loc = _location.get(p)
            if loc and loc in lines:
                found.add(p)
        return Run(wall, 0.0, found)


_location: dict[str, tuple[str, int]] = {}


def _index_planted(root: Path, planted: list[str]) -> None:
    want = set(planted)
    for path in root.rglob("f*"):
        if path.is_file():
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if "=" in line:
                    v = line.split("=", 1)[1]
                    if v in want:
                        _location[v] = (str(path.resolve()), n)


TOOLS: dict[str, Callable[[], Tool]] = {"kingfisher": Kingfisher, "detect-secrets": DetectSecrets}


def _startup(tool: Tool, empty: Path, out: Path, n: int = 5) -> float:
    times = []
    for _ in range(n):
        argv = tool.argv(empty, out) if isinstance(tool, (Blastwall, Kingfisher)) else []
        if not argv:
            return float("nan")
        times.append(_measure(argv)[0])
    return statistics.median(times)


def _warm(root: Path) -> None:
    for dirpath, _, files in os.walk(root):
        for f in files:
            with open(os.path.join(dirpath, f), "rb") as fh:
                while fh.read(1 << 20):
                    pass


def _tree(base: Path, n_files: int, mb: int) -> tuple[Path, int, int, list[str]]:
    root = base / f"tree-{n_files}-{mb}"
    marker = root / ".complete.json"
    if marker.exists():
        meta = json.loads(marker.read_text())
        print(f"reusing {root}: {meta['files']} files, {meta['bytes'] / 1e6:.0f} MB, {len(meta['planted'])} planted")
        return root, meta["files"], meta["bytes"], meta["planted"]
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    n, total, planted = generate(root, n_files, mb)
    marker.write_text(json.dumps({"files": n, "bytes": total, "planted": planted}))
    print(
        f"generated {root}: {n} files, {total / 1e6:.0f} MB, {len(planted)} planted tokens "
        f"in {time.perf_counter() - t0:.0f}s"
    )
    return root, n, total, planted


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m bench discovery")
    ap.add_argument(
        "--against",
        action="append",
        choices=sorted(TOOLS),
        help="peer to compare with (repeatable) [default: kingfisher]",
    )
    ap.add_argument("--trees", default="10000:105,100000:1050", help="FILES:MB,... trees to generate")
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool and tree; the median is reported")
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "bw-bench"))
    ap.add_argument("--keep", action="store_true", help="keep the generated trees for the next run")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds before a peer's run is abandoned")
    a = ap.parse_args()
    peers = [TOOLS[name]() for name in (a.against or ["kingfisher"])]
    tools: list[Tool] = [Blastwall(), *peers]
    for t in tools:
        if not t.available():
            print(f"{t.name} is not installed (uv sync --extra bench); it is left out")
    tools = [t for t in tools if t.available()]
    base = Path(a.dir)
    base.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix="bw-bench-out-"))
    empty = Path(tempfile.mkdtemp(prefix="bw-bench-empty-"))
    print(f"machine: {os.cpu_count()} cores; tools: " + ", ".join(t.name for t in tools))
    from ._pgbench_common import compile_bytecode

    compile_bytecode()  # start-up is measured as installed, not the compilation of every module
    print("start-up (median of 5, empty directory):")
    startups = {t.name: _startup(t, empty, out) for t in tools}
    for name, s in startups.items():
        print(f"  {name:<15} {s:6.3f} s")
    rows: list[tuple[str, str, Run, int, int, int]] = []
    try:
        for spec in a.trees.split(","):
            n_files, mb = (int(x) for x in spec.split(":"))
            root, n, total, planted = _tree(base, n_files, mb)
            if any(isinstance(t, DetectSecrets) for t in tools):
                _index_planted(root, planted)
            _warm(root)
            runs: dict[str, list[Run]] = {t.name: [] for t in tools}
            for _ in range(a.repeat):
                for t in tools:  # alternate, so that both see the same machine state
                    try:
                        runs[t.name].append(t.run(root, planted, out, a.timeout))
                    except subprocess.TimeoutExpired:
                        print(f"  {t.name}: did not finish within {a.timeout:.0f}s")
            label = f"{n:,} files / {total / 1e6:,.0f} MB"
            print(f"\n{label}, {len(planted)} planted tokens, median of {a.repeat}:")
            print(f"  {'tool':<15} {'wall s':>8} {'files/s':>10} {'MB/s':>8} {'peak RSS MB':>12} {'recall':>9}")
            bw_wall = None
            for t in tools:
                rs = runs[t.name]
                if not rs:
                    continue
                wall = statistics.median(r.wall_s for r in rs)
                rss = max(r.peak_rss_mb for r in rs)
                found = min(len(r.found) for r in rs)
                if t.name == "blastwall":
                    bw_wall = wall
                print(
                    f"  {t.name:<15} {wall:8.2f} {n / wall:10,.0f} {total / 1e6 / wall:8.1f} {rss:12.0f} "
                    f"{found:>4}/{len(planted)}"
                )
                rows.append((label, t.name, rs[0], n, total, found))
            for t in peers:
                if runs.get(t.name) and bw_wall:
                    ratio = statistics.median(r.wall_s for r in runs[t.name]) / bw_wall
                    print(f"  blastwall / {t.name} end-to-end throughput: {ratio:.2f}x")
            if not a.keep:
                shutil.rmtree(root, ignore_errors=True)
    finally:
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(empty, ignore_errors=True)


if __name__ == "__main__":
    main()
