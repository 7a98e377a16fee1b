"""A small workflow exercising every step kind, with a side-effect log to count executions.

Used in-process by the engine tests and by `crashprog.py` in a subprocess (kill -9 tests).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from auditor.config import SecretRef
from auditor.state import StateDB
from auditor.workflow import (
    END,
    Action,
    ApprovalGate,
    Check,
    Gate,
    Notifier,
    Read,
    Route,
    Runner,
    RunStore,
    StepContext,
    StepHooks,
    Workflow,
    utcnow,
)

STEPS = ["inventory", "sanity", "choose", "unused", "approval", "apply", "publish", "report"]


def _log(ctx: StepContext, what: str) -> None:
    with open(ctx.params["log"], "a") as f:
        f.write(f"{what}\n")


def demo_workflow(params: Mapping[str, Any]) -> Workflow:
    secret_env = str(params.get("secret_env", "DEMO_TOKEN"))

    def inventory(ctx: StepContext) -> dict[str, Any]:
        _log(ctx, "inventory")
        return {"items": int(ctx.params.get("items", 3))}

    def sanity(ctx: StepContext) -> dict[str, Any]:
        _log(ctx, "sanity")
        return {"passed": ctx.outputs["inventory"]["items"] > 0, "message": "no items"}

    def choose(ctx: StepContext) -> str:
        _log(ctx, "choose")
        return str(ctx.params.get("route", "full"))

    def unused(ctx: StepContext) -> None:
        _log(ctx, "unused")

    def plan(ctx: StepContext) -> dict[str, Any]:
        _log(ctx, "approval")
        return {
            "action": "apply",
            "items": ctx.outputs["inventory"]["items"],
            "variant": ctx.params.get("variant", "A"),
        }

    def apply(ctx: StepContext) -> dict[str, Any]:
        token = ctx.secret("token")  # only this step declared it
        _log(ctx, "apply")
        if ctx.params.get("fail_apply"):
            raise RuntimeError(f"apply broke (token {token.reveal()} should never be recorded)")
        return {"applied": ctx.outputs["inventory"]["items"], "token_len": len(token)}

    def publish(ctx: StepContext) -> dict[str, Any]:
        _log(ctx, "publish")
        return {"published": True}

    def report(ctx: StepContext) -> dict[str, Any]:
        _log(ctx, "report")
        return {"done": sorted(ctx.outputs)}

    return Workflow(
        "demo",
        (
            Read("inventory", inventory),
            Check("sanity", sanity),
            Route("choose", choose, routes={"full": "approval", "light": "unused", "nothing": END}),
            Read("unused", unused),
            ApprovalGate("approval", plan),
            Action("apply", apply, secrets={"token": SecretRef.parse(f"env:{secret_env}")}),
            Action("publish", publish, is_idempotent=True),
            Read("report", report),
        ),
    )


def make_runner(
    gate: Gate,
    *,
    clock: Callable[[], datetime] = utcnow,
    notifier: Notifier | None = None,
    environ: Mapping[str, str] | None = None,
    crash: StepHooks | None = None,
    state_url: str | None = None,
) -> Runner:
    store = RunStore(StateDB(state_url))
    return Runner(store, {"demo": demo_workflow}, gate, clock=clock, notifier=notifier, environ=environ, hooks=crash)


def side_effects(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []
