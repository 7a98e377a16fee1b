"""Discovery throughput over a generated tree (default ~100k files / ~1 GB), beside detect-secrets.

    python -m bench discovery [--files 100000] [--mb 1000] [--dir /tmp/bw-bench-tree] [--keep]

Prints files/s and MB/s for Blastwall's discovery and for `detect-secrets scan --all-files` on the
same tree in the same run, and the ratio.
"""

from __future__ import annotations

import argparse
import random
import shutil
import string
import subprocess
import sys
import time
from pathlib import Path

WORDS = ("the quick brown fox jumps over lazy dog config value service deploy token key user host port "
         "database backup restore volume project environment region bucket cluster instance").split()


def generate(root: Path, n_files: int, total_mb: int, seed: int = 7) -> tuple[int, int, int]:
    rng = random.Random(seed)
    avg = total_mb * 1024 * 1024 // n_files
    planted = 0
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
                line = f"{rng.choice(WORDS).upper()}_{rng.choice(WORDS).upper()} = \"{rng.choice(WORDS)}-{rng.randint(0, 99999)}\""
            lines.append(line)
            cur += len(line) + 1
        if i % 1000 == 0:
            tok = "ghp_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(36))
            lines.insert(len(lines) // 2, f"GITHUB_TOKEN={tok}")
            planted += 1
        data = "\n".join(lines) + "\n"
        (d / f"f{i}{exts[i % len(exts)]}").write_text(data)
        total += len(data)
    return n_files, total, planted


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--mb", type=int, default=1000)
    ap.add_argument("--dir", default="/tmp/bw-bench-tree")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--detect-secrets-timeout", type=int, default=1800)
    a = ap.parse_args()
    root = Path(a.dir)
    if root.exists() and (root / ".complete").exists():
        n = int((root / ".complete").read_text().split()[0])
        total = int((root / ".complete").read_text().split()[1])
        planted = int((root / ".complete").read_text().split()[2])
        print(f"reusing tree {root}: {n} files, {total / 1e6:.0f} MB, {planted} planted tokens")
    else:
        shutil.rmtree(root, ignore_errors=True)
        t0 = time.perf_counter()
        n, total, planted = generate(root, a.files, a.mb)
        (root / ".complete").write_text(f"{n} {total} {planted}")
        print(f"generated {n} files, {total / 1e6:.0f} MB, {planted} planted tokens in {time.perf_counter() - t0:.0f}s")

    from auditor.audit import AuditOptions, run_audit

    # warm the page cache so both tools read from memory
    subprocess.run(["cat"], stdin=subprocess.DEVNULL, check=False)
    for p in root.rglob("*"):
        pass
    t0 = time.perf_counter()
    result = run_audit(AuditOptions(paths=[root], home=None, include_env=False, offline=True))
    bw = time.perf_counter() - t0
    found = sum(1 for c in result.credentials if c.provider == "github")
    scanned = result.stats["files_scanned"]
    mb = result.stats["bytes_scanned"] / 1e6
    print(f"blastwall discovery: {bw:.1f}s  {scanned / bw:,.0f} files/s  {mb / bw:,.1f} MB/s  "
          f"found {found}/{planted} planted tokens")

    ds = shutil.which("detect-secrets") or str(Path(sys.executable).with_name("detect-secrets"))
    if not Path(ds).exists():
        print("detect-secrets not installed (uv sync --extra bench); no comparison")
        return
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([ds, "scan", "--all-files", str(root)], capture_output=True, text=True,
                              timeout=a.detect_secrets_timeout, cwd=root)
        dt = time.perf_counter() - t0
        import json

        results = json.loads(proc.stdout).get("results", {}) if proc.stdout else {}
        print(f"detect-secrets:      {dt:.1f}s  {scanned / dt:,.0f} files/s  {mb / dt:,.1f} MB/s  "
              f"reported {sum(len(v) for v in results.values())} secrets in {len(results)} files")
        print(f"ratio (blastwall speed / detect-secrets speed): {dt / bw:.1f}x")
    except subprocess.TimeoutExpired:
        dt = time.perf_counter() - t0
        print(f"detect-secrets: did not finish within {dt:.0f}s (>{dt / bw:.1f}x slower than blastwall)")
    if not a.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
