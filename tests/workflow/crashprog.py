"""Drive a workflow in a separate process so tests can kill it with SIGKILL at a chosen point.

    python -m tests.workflow.crashprog [--after STEP] [--inside STEP] start LOG REQUESTER
    python -m tests.workflow.crashprog [--after STEP] [--inside STEP] approve RUN NAME
    python -m tests.workflow.crashprog [--after STEP] [--inside STEP] resume RUN
    python -m tests.workflow.crashprog [--after STEP] [--inside STEP] cli BLASTWALL-ARGS…

The first three drive the demo workflow and print the run id and final state. `cli` runs Blastwall's own
CLI `main()` after installing the kill hook on every runner the CLI opens. The hook is a `StepHooks`
installed on the runner object: production code has no crash switch and reads no test variables.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any

from auditor.workflow import ApprovalPolicy, HumanGate, Runner, StepHooks

from .flows import make_runner


class KillAt(StepHooks):
    """SIGKILL this process after step `after` was recorded, or inside step `inside` after its work
    was done but before its completion was recorded."""

    def __init__(self, after: str | None = None, inside: str | None = None) -> None:
        self.after, self.inside = after, inside

    def _die(self, where: str) -> None:
        logging.getLogger("tests.crashprog").warning("killing this process %s", where)
        os.kill(os.getpid(), signal.SIGKILL)

    def after_step(self, name: str) -> None:
        if self.after == name:
            self._die(f"after step {name}")

    def inside_step(self, name: str) -> None:
        if self.inside == name:
            self._die(f"inside step {name}")


def crash_args(after: str | None = None, inside: str | None = None) -> list[str]:
    return (["--after", after] if after else []) + (["--inside", inside] if inside else [])


def _parse(argv: list[str]) -> tuple[KillAt, list[str]]:
    after = inside = None
    while argv and argv[0] in ("--after", "--inside"):
        if argv[0] == "--after":
            after = argv[1]
        else:
            inside = argv[1]
        argv = argv[2:]
    return KillAt(after, inside), argv


def run_cli(hook: KillAt, args: list[str]) -> None:
    import auditor.cli.runs as runs_cli
    from auditor.cli import main as cli_main

    opened = runs_cli.open_runner

    def open_with_hook(*a: Any, **kw: Any) -> Runner:
        runner = opened(*a, **kw)
        runner.hooks = hook
        return runner

    runs_cli.open_runner = open_with_hook  # type: ignore[assignment]
    sys.argv = ["blastwall", *args]
    cli_main()


def main(argv: list[str]) -> int:
    hook, argv = _parse(argv)
    if argv and argv[0] == "cli":
        run_cli(hook, argv[1:])
        return 0
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    runner = make_runner(HumanGate(ApprovalPolicy(mode="unauthenticated")), crash=hook)
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
