"""`python -m bench backup --engine mysql|redis [--size MB] [--repeat N]`: blastwall vs the raw dump tool.

  * mysql: a MariaDB server (Debian's mariadbd, as the tests start it) with one InnoDB table grown to --size MB
    of data; raw = exactly the dump command `blastwall backup run` starts (`dump_argv` in
    auditor/backup/engines/mysql.py: `stdbuf -o1M mariadb-dump --single-transaction --routines --triggers
    --events --hex-blob --no-tablespaces --default-character-set=utf8mb4 …`, same tool, same flags) > /dev/null;
  * redis: a redis-server filled with 1 KiB values until used_memory reaches --size MB; raw =
    `redis-cli --rdb -` > /dev/null (both wait out the server's repl-diskless-sync-delay, 5 s by default);
  * blastwall: `blastwall backup run bench --json` into a local-directory store (counting, SHA-256, manifest),
    with its bytecode compiled beforehand (`compile_bytecode`), as an installed package has it.
Reports wall times, the throughput ratio (raw time / blastwall time; goal >= 0.8, aim 0.95) and peak RSS of
the blastwall process (goal: flat, < 150 MB).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ._pgbench_common import BLASTWALL, compile_bytecode, env_with, run_measured, write_config


def _mysql(size_mb: int) -> tuple[Any, str, list[str], dict[str, str], float]:
    from tests.support.mariadb import MariaDB

    m = MariaDB().start()
    m.admin(
        "CREATE DATABASE bench",
        "CREATE USER 'bench'@'%' IDENTIFIED BY 'benchpw'",
        "GRANT SELECT, SHOW VIEW, TRIGGER, EVENT ON bench.* TO 'bench'@'%'",
        "CREATE TABLE bench.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, a INT, pad VARCHAR(600)) ENGINE=InnoDB",
        "INSERT INTO bench.t (a, pad) SELECT seq, REPEAT(MD5(RAND()), 8) FROM bench.seq_1_to_10000",
    )
    with m.root() as c, c.cursor() as cur:
        while True:
            cur.execute(
                "SELECT DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA='bench' AND TABLE_NAME='t'"
            )
            have = int(cur.fetchone()[0])
            if have >= size_mb * 1024 * 1024:
                break
            cur.execute(
                "INSERT INTO bench.t (a, pad) SELECT a, REPEAT(MD5(RAND()), 8) FROM bench.t LIMIT %s",
                (max(10000, min(500000, (size_mb * 1024 * 1024 - have) // 300)),),
            )
            cur.execute("ANALYZE TABLE bench.t")
    cnf = Path(m.dir.path) / "bench.cnf"
    cnf.write_text("[client]\nuser=bench\npassword=benchpw\n")
    from auditor.backup.engines.mysql import dump_argv, find_dump_tool, parse_mysql_url

    url = m.url("bench", "benchpw", "bench")
    tool, _, tool_is_mariadb = find_dump_tool(mariadb=True)
    raw = dump_argv(tool, tool_is_mariadb, cnf, parse_mysql_url(url))  # the very command a backup runs
    return m, url, raw, {}, size_mb


def _redis(size_mb: int) -> tuple[Any, str, list[str], dict[str, str], float]:
    import os

    from tests.support.redis_server import RedisServer

    r = RedisServer().start()
    c = r.client()
    n = 0
    while int(c.info("memory")["used_memory"]) < size_mb * 1024 * 1024:
        p = c.pipeline(transaction=False)
        for _ in range(10000):
            p.set(f"key:{n}", os.urandom(1024))
            n += 1
        p.execute()
    raw = ["redis-cli", "-h", "127.0.0.1", "-p", str(r.port), "--no-auth-warning", "--rdb", "-"]
    return r, r.url(None, r.password), raw, {"REDISCLI_AUTH": r.password}, size_mb


def run(engine: str, size_mb: int, repeat: int) -> None:
    compile_bytecode()
    work = Path(tempfile.mkdtemp(prefix=f"bw-bench-{engine}-"))
    server, url, raw_argv, raw_env, _ = (_mysql if engine == "mysql" else _redis)(size_mb)
    try:
        store, state, cfg = work / "store", work / "state", work / "blastwall.toml"
        write_config(cfg, store, state)
        env = env_with(url, state)
        raws, bws = [], []
        for _ in range(repeat):
            raw = run_measured(raw_argv, env={**env, **raw_env}, stdout=subprocess.DEVNULL)
            assert raw.returncode == 0, raw.stderr
            raws.append(raw)
            bw = run_measured([BLASTWALL, "backup", "run", "bench", "--json", "--config", str(cfg)], env=env)
            assert bw.returncode == 0, bw.stderr
            bws.append(bw)
            shutil.rmtree(store, ignore_errors=True)
        raw = min(raws, key=lambda m: m.wall_s)
        bw = min(bws, key=lambda m: m.wall_s)
        rec = json.loads(bw.stdout)
        dump_mb = rec["size"] / 1024 / 1024
        row = {
            "engine": engine,
            "data_mb": size_mb,
            "dump_mb": round(dump_mb, 1),
            "raw_s": round(raw.wall_s, 2),
            "blastwall_s": round(bw.wall_s, 2),
            "raw_dump_MBps": round(dump_mb / raw.wall_s, 1),
            "blastwall_dump_MBps": round(dump_mb / bw.wall_s, 1),
            "throughput_ratio": round(raw.wall_s / bw.wall_s, 3),
            "blastwall_peak_rss_mb": round(max(m.peak_rss_mb or 0 for m in bws), 1),
            "raw_tool_peak_rss_mb": round(raw.peak_rss_mb or 0, 1),
            "all_raw_s": [round(m.wall_s, 1) for m in raws],
            "all_blastwall_s": [round(m.wall_s, 1) for m in bws],
        }
        print(json.dumps(row), flush=True)
        print("goals: ratio >= 0.8 (aim 0.95); peak RSS flat and < 150 MB")
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)
