"""A real daemon process for the multi-process tests: the production `Daemon` (APScheduler, job store,
claims, signals) with an injected job function that appends one line per run to a log file.

    python -m tests.scheduler.daemon_proc CONFIG LOG [SLEEP_S]

Each line: "<job id> <slot> <pid> <start monotonic>"; a job sleeps SLEEP_S seconds (default 0.2).
"""

from __future__ import annotations

import logging
import os
import sys
import time

from auditor.config import load_config
from auditor.scheduler import Daemon, JobContext, JobResult, JobRunner, JobSpec


def main() -> int:
    config_path, log_path = sys.argv[1], sys.argv[2]
    sleep_s = float(sys.argv[3]) if len(sys.argv) > 3 else 0.2
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(process)d %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)

    def job(spec: JobSpec, ctx: JobContext) -> JobResult:
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{spec.id} {ctx.slot} {os.getpid()} start\n".encode())
        finally:
            os.close(fd)
        time.sleep(sleep_s)
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{spec.id} {ctx.slot} {os.getpid()} end\n".encode())
        finally:
            os.close(fd)
        return JobResult("succeeded", f"ran in {os.getpid()}")

    cfg = load_config(config_path)
    daemon = Daemon(cfg, runner=JobRunner(audit=job, backup=job, verification=job))
    print("ready", flush=True)
    return daemon.run_forever()


if __name__ == "__main__":
    sys.exit(main())
