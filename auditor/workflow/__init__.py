"""Gated workflows: a deterministic runner decides what runs next; humans approve what destroys.

See `model` (steps), `runner` (execution and crash-safe resume), `gate` (approvals), `store`
(persistence), `plan` (plan hashing), `notify` (webhooks) and `restore` (the restore workflow).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .gate import (
        ApprovalPolicy,
        ApprovalRefused,
        DecisionReview,
        Gate,
        GateOutcome,
        GateVerdict,
        HumanGate,
        UnsafeAutoApprove,
    )
    from .model import (
        END,
        Action,
        ApprovalGate,
        Check,
        Read,
        Route,
        RunState,
        Step,
        StepContext,
        StepError,
        StepKind,
        StepPreconditionFailed,
        StepState,
        Workflow,
    )
    from .notify import Notifier, NullNotifier, RecordingNotifier, WebhookNotifier
    from .plan import canonical_json, plan_sha256
    from .runner import Runner, StepHooks, WorkflowFactory, utcnow
    from .store import DecisionRecord, RunRecord, RunStore, StepRecord

_EXPORTS = {
    "ApprovalPolicy": "gate",
    "ApprovalRefused": "gate",
    "DecisionReview": "gate",
    "Gate": "gate",
    "GateOutcome": "gate",
    "GateVerdict": "gate",
    "HumanGate": "gate",
    "UnsafeAutoApprove": "gate",
    "END": "model",
    "Action": "model",
    "ApprovalGate": "model",
    "Check": "model",
    "Read": "model",
    "Route": "model",
    "RunState": "model",
    "Step": "model",
    "StepContext": "model",
    "StepError": "model",
    "StepKind": "model",
    "StepPreconditionFailed": "model",
    "StepState": "model",
    "Workflow": "model",
    "Notifier": "notify",
    "NullNotifier": "notify",
    "RecordingNotifier": "notify",
    "WebhookNotifier": "notify",
    "canonical_json": "plan",
    "plan_sha256": "plan",
    "StepHooks": "runner",
    "Runner": "runner",
    "WorkflowFactory": "runner",
    "utcnow": "runner",
    "DecisionRecord": "store",
    "RunRecord": "store",
    "RunStore": "store",
    "StepRecord": "store",
}
__all__ = [
    "Action",
    "ApprovalGate",
    "ApprovalPolicy",
    "ApprovalRefused",
    "Check",
    "DecisionRecord",
    "DecisionReview",
    "END",
    "Gate",
    "GateOutcome",
    "GateVerdict",
    "HumanGate",
    "Notifier",
    "NullNotifier",
    "Read",
    "RecordingNotifier",
    "Route",
    "RunRecord",
    "RunState",
    "RunStore",
    "Runner",
    "Step",
    "StepContext",
    "StepError",
    "StepHooks",
    "StepKind",
    "StepPreconditionFailed",
    "StepRecord",
    "StepState",
    "UnsafeAutoApprove",
    "WebhookNotifier",
    "Workflow",
    "WorkflowFactory",
    "canonical_json",
    "plan_sha256",
    "utcnow",
]


def __getattr__(name: str) -> Any:  # PEP 562: a submodule is imported only when one of its names is used
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
