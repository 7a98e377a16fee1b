"""Gated workflows: a deterministic runner decides what runs next; humans approve what destroys.

See `model` (steps), `runner` (execution and crash-safe resume), `gate` (approvals), `store`
(persistence), `plan` (plan hashing), `notify` (webhooks) and `restore` (the restore workflow).
"""

from __future__ import annotations

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

__all__ = [
    "END",
    "Action",
    "ApprovalGate",
    "ApprovalPolicy",
    "ApprovalRefused",
    "Check",
    "DecisionRecord",
    "DecisionReview",
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
