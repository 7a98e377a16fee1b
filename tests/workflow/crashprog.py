"""Drive the demo workflow in a separate process so tests can kill it with SIGKILL.

    python -m tests.workflow.crashprog start LOG REQUESTER   -> prints the run id
    python -m tests.workflow.crashprog approve RUN NAME
    python -m tests.workflow.crashprog resume RUN
Prints the final run state on the last line. The crash point comes from the test hook env vars.
"""

from __future__ import annotations

import logging
import os
import sys

from auditor.workflow import ApprovalPolicy, CrashHook, HumanGate

from .flows import make_runner


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    runner = make_runner(HumanGate(ApprovalPolicy()), crash=CrashHook.from_env(os.environ))
    cmd = argv[0]
    if cmd == "start":
        run = runner.start("demo", {"log": argv[1]}, argv[2])
    elif cmd == "approve":
        run = runner.approve(argv[1], argv[2])
    elif cmd == "resume":
        run = runner.advance(argv[1])
    else:
        raise SystemExit(f"unknown command {cmd}")
    print(run.id)
    print(run.state.value)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
