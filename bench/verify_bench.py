"""Full verification time vs raw `pg_restore` of the same dump into an empty database, same run.

    python -m bench verify [--size 1024]

Builds a database of ~size MB in a scratch PostgreSQL 17, backs it up with `blastwall backup run`
(local-directory store), then measures:
  * raw:       pg_restore --no-owner --no-privileges -d <empty db> <the stored dump file>, on a fresh
               scratch server with the same settings the verifier uses (server start-up not counted);
  * raw, same flags: the same with --single-transaction, as the verifier runs it on its own server (tables
               loaded in the transaction that created them skip WAL at wal_level=minimal): `overhead_ratio`
               is against this one, i.e. what Blastwall adds around the restore it runs;
  * fresh server by hand: a scratch server started from the same template, the same pg_restore
               --single-transaction into its `postgres` database, the server stopped: what any verifier that
               really restores into a server of its own must spend, without Blastwall's command line, fetch,
               SHA-256 check and row counts (`fresh_server_ratio` is against this one);
  * blastwall: `blastwall verify <id> --json` end to end (CLI start, scratch server start, streamed
               SHA-256 + restore, row counts of every table, one assertion, drop). The scratch server starts
               from the cluster template the bench's first server left in its own cache (as every verification
               after a machine's first does); `verify_cold_cache_s` is one more run with an empty cache (initdb).
Goal (issue 20): blastwall / raw <= 1.1 (`ratio`).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from auditor.pgserver import ScratchPostgres
from auditor.pgtools import find_tool

from ._pgbench_common import BLASTWALL, compile_bytecode, env_with, grow_to, run_measured, url_of, write_config

CHECK = '[[sources.checks]]\nsql = "select count(*) from bench_rows"\nexpect = "> 0"\n'


def _phases(stderr: str) -> dict[str, float] | None:
    """The phase timings from `blastwall -v verify`'s debug log."""
    m = re.search(r"verification phases \(s\): (\{[^}]*\})", stderr)
    return dict(ast.literal_eval(m.group(1))) if m else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1024, help="database size in MB")
    ap.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="runs of each side, alternating; the best of each is compared (shared machines are noisy)",
    )
    args = ap.parse_args()
    compile_bytecode()
    work = Path(tempfile.mkdtemp(prefix="bw-bench-verify-"))
    try:
        store, state, cfg = work / "store", work / "state", work / "blastwall.toml"
        write_config(cfg, store, state, extra_source=CHECK)
        templates = work / "cache" / "pg-templates"  # the bench's own cache (env_with points blastwall at it)
        with ScratchPostgres(min_major=17, template_root=templates) as src:
            src.create_database("bench")
            size = grow_to(src, "bench", args.size)
            env = env_with(url_of(src, "bench"), state)
            b = run_measured([BLASTWALL, "backup", "run", "bench", "--json", "--config", str(cfg)], env=env)
            assert b.returncode == 0, b.stderr
            rec = json.loads(b.stdout)
        dump = next(store.rglob(rec["id"] + ".dump"))
        pg_restore = find_tool("pg_restore", 17).path

        raws: list[float] = []
        sames: list[float] = []
        freshes: list[float] = []
        vers = []
        for _ in range(args.repeat):  # alternate, so load changes hit every side alike
            for flags, times in (([], raws), (["--single-transaction"], sames)):
                with ScratchPostgres(min_major=17, template_root=templates) as target:
                    target.create_database("restored")
                    argv = [str(pg_restore), "--no-owner", "--no-privileges", "--no-password", *flags]
                    t0 = time.perf_counter()
                    r = subprocess.run(
                        [*argv, "-d", "restored", str(dump)],
                        env=target.client_env("restored"),
                        capture_output=True,
                        text=True,
                    )
                    times.append(time.perf_counter() - t0)
                    assert r.returncode == 0, r.stderr
            t0 = time.perf_counter()
            with ScratchPostgres(min_major=17, template_root=templates) as target:
                argv = [str(pg_restore), "--no-owner", "--no-privileges", "--no-password", "--single-transaction"]
                r = subprocess.run(
                    [*argv, "-d", "postgres", str(dump)], env=target.client_env("postgres"), capture_output=True
                )
                assert r.returncode == 0, r.stderr
            freshes.append(time.perf_counter() - t0)
            # -v: the verifier logs its phases (not part of the --json document, which issue 11 pins)
            v = run_measured([BLASTWALL, "-v", "verify", rec["id"], "--json", "--config", str(cfg)], env=env)
            doc = json.loads(v.stdout)
            assert doc["outcome"] == "passed", doc
            vers.append((v, doc))
        cold = run_measured(
            [BLASTWALL, "verify", rec["id"], "--json", "--config", str(cfg)],
            env={**env, "BLASTWALL_CACHE_DIR": str(work / "cold-cache")},
        )
        assert json.loads(cold.stdout)["outcome"] == "passed"
        raw_s = min(raws)
        v, doc = min(vers, key=lambda x: x[0].wall_s)
        out = {
            "db_mb": round(size / 1024 / 1024),
            "dump_mb": round(rec["size"] / 1024 / 1024, 1),
            "raw_pg_restore_s": round(raw_s, 2),
            "blastwall_verify_s": round(v.wall_s, 2),
            "verifier_internal_s": doc["duration_s"],
            "ratio": round(v.wall_s / raw_s, 3),
            # the verifier's own pg_restore invocation (one transaction on a wal_level=minimal server), by hand:
            # what Blastwall adds around the restore it runs
            "raw_same_flags_s": round(min(sames), 2),
            "overhead_ratio": round(v.wall_s / min(sames), 3),
            # start, the same restore into its `postgres` database, stop: the floor of any fresh-server verifier
            "raw_fresh_server_s": round(min(freshes), 2),
            "fresh_server_ratio": round(v.wall_s / min(freshes), 3),
            "verify_peak_rss_mb": round(max(x[0].peak_rss_mb or 0 for x in vers), 1),
            "tables": len(doc["tables"]),
            "all_raw_s": [round(x, 1) for x in raws],
            "all_raw_same_flags_s": [round(x, 1) for x in sames],
            "all_raw_fresh_server_s": [round(x, 2) for x in freshes],
            "all_verify_s": [round(x[0].wall_s, 1) for x in vers],
            "verify_cold_cache_s": round(cold.wall_s, 2),
            "verifier_phases_s": _phases(v.stderr),
        }
        print(json.dumps(out))
        print(
            f"\nfull verify {out['blastwall_verify_s']}s vs raw pg_restore {out['raw_pg_restore_s']}s: "
            f"ratio {out['ratio']} (goal <= 1.1); against pg_restore --single-transaction by hand "
            f"{out['raw_same_flags_s']}s: {out['overhead_ratio']}; against a fresh server started, restored into "
            f"and stopped by hand {out['raw_fresh_server_s']}s: {out['fresh_server_ratio']}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
