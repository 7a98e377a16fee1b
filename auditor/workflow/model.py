"""What a workflow is: a fixed, pre-declared sequence of typed steps.

Step kinds:

* ``Read``   - gathers facts; may run again after a crash (reads are idempotent).
* ``Check``  - like a read, but returns ``{"passed": bool, "message": str, ...}``; a failed check
  fails the run.
* ``Route``  - returns a label; ``routes`` maps each label to a *later* step (or ``END``). The
  steps jumped over are recorded as skipped. Routing never goes backwards, so a run always ends.
* ``ApprovalGate`` - builds a plan, shows it to humans, and waits for a `Gate` to decide.
* ``Action`` - changes the world. It runs only after a gate approved the current plan, is recorded
  as started before it runs, and never runs twice unless it declares ``idempotent=True``.

Every step declares the secrets it needs (``secrets={"name": SecretRef}``); the runner resolves
them when that step starts and hands them to that step's `StepContext` only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar

from ..config import SecretRef
from ..errors import BlastwallError, StateError
from ..secrets import Secret

__all__ = [
    "END",
    "TERMINAL",
    "TRANSITIONS",
    "Action",
    "ApprovalGate",
    "Check",
    "Read",
    "Route",
    "RunState",
    "Step",
    "StepContext",
    "StepError",
    "StepKind",
    "StepPreconditionFailed",
    "StepState",
    "Workflow",
]

END = "__end__"


class RunState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


TERMINAL = frozenset({RunState.REJECTED, RunState.EXPIRED, RunState.SUCCEEDED, RunState.FAILED})

TRANSITIONS: Mapping[RunState, frozenset[RunState]] = MappingProxyType(
    {
        RunState.PENDING: frozenset({RunState.RUNNING, RunState.FAILED}),
        RunState.RUNNING: frozenset(
            {
                RunState.WAITING,
                RunState.APPROVED,
                RunState.REJECTED,
                RunState.EXPIRED,
                RunState.SUCCEEDED,
                RunState.FAILED,
            }
        ),
        RunState.WAITING: frozenset(
            {RunState.WAITING, RunState.APPROVED, RunState.REJECTED, RunState.EXPIRED, RunState.FAILED}
        ),
        # WAITING: an approval stopped verifying (key revoked) before the action it guards started
        RunState.APPROVED: frozenset({RunState.RUNNING, RunState.WAITING, RunState.FAILED, RunState.EXPIRED}),
        RunState.REJECTED: frozenset(),
        RunState.EXPIRED: frozenset(),
        RunState.SUCCEEDED: frozenset(),
        RunState.FAILED: frozenset(),
    }
)


class StepState(StrEnum):
    PENDING = "pending"
    STARTED = "started"
    WAITING = "waiting_approval"
    FINISHED = "finished"
    SKIPPED = "skipped"
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # an action found started but not finished: a human must look


class StepKind(StrEnum):
    READ = "read"
    CHECK = "check"
    ROUTE = "route"
    GATE = "approval_gate"
    ACTION = "action"


class StepError(BlastwallError):
    """A step failed. The message is recorded in the run (after redaction), so keep secrets out."""


class StepPreconditionFailed(StepError):
    """An action refused to start its side effect: nothing was changed."""


StepFn = Callable[["StepContext"], Any]


@dataclass(frozen=True)
class Step:
    name: str
    fn: StepFn
    secrets: Mapping[str, SecretRef] = field(default_factory=dict)
    description: str = ""
    kind: ClassVar[StepKind]

    @property
    def idempotent(self) -> bool:
        return True


@dataclass(frozen=True)
class Read(Step):
    kind: ClassVar[StepKind] = StepKind.READ


@dataclass(frozen=True)
class Check(Step):
    kind: ClassVar[StepKind] = StepKind.CHECK


@dataclass(frozen=True)
class Route(Step):
    routes: Mapping[str, str] = field(default_factory=dict)
    kind: ClassVar[StepKind] = StepKind.ROUTE


@dataclass(frozen=True)
class ApprovalGate(Step):
    """`fn` builds the plan (a JSON document). It is called again before every action it guards;
    if the plan it returns has a different hash, the approval does not carry over."""

    kind: ClassVar[StepKind] = StepKind.GATE


@dataclass(frozen=True)
class Action(Step):
    # True only when running the action twice is harmless by design (e.g. it writes a new,
    # uniquely named object). Then a crash mid-action is followed by a clean re-run on resume.
    is_idempotent: bool = False
    kind: ClassVar[StepKind] = StepKind.ACTION

    @property
    def idempotent(self) -> bool:
        return self.is_idempotent


@dataclass(frozen=True)
class Workflow:
    name: str
    steps: tuple[Step, ...]
    title: str = ""

    def __post_init__(self) -> None:
        names = [s.name for s in self.steps]
        if len(set(names)) != len(names):
            raise StateError(f"workflow {self.name}: step names must be unique")
        if END in names:
            raise StateError(f"workflow {self.name}: {END} is reserved")
        gate_seen = False
        for i, s in enumerate(self.steps):
            if isinstance(s, ApprovalGate):
                gate_seen = True
            if isinstance(s, Action) and not gate_seen:
                raise StateError(f"workflow {self.name}: action {s.name!r} has no approval gate before it")
            if isinstance(s, Route):
                later = set(names[i + 1 :]) | {END}
                bad = [t for t in s.routes.values() if t not in later]
                if bad or not s.routes:
                    raise StateError(
                        f"workflow {self.name}: route {s.name!r} must point at later steps "
                        f"(bad: {', '.join(bad) or 'no routes'})"
                    )

    def index(self, name: str) -> int:
        for i, s in enumerate(self.steps):
            if s.name == name:
                return i
        raise StateError(f"workflow {self.name} has no step {name!r}")

    def gate_for(self, name: str) -> ApprovalGate | None:
        """The closest gate before step `name`."""
        gate: ApprovalGate | None = None
        for s in self.steps[: self.index(name)]:
            if isinstance(s, ApprovalGate):
                gate = s
        return gate


class StepContext:
    """What a running step can see: the run's parameters, earlier outputs, and its own secrets."""

    def __init__(
        self,
        *,
        run_id: str,
        step: str,
        params: Mapping[str, Any],
        outputs: Mapping[str, Any],
        secrets: dict[str, Secret],
        clock: Callable[[], datetime],
        log: logging.Logger,
    ) -> None:
        self.run_id = run_id
        self.step = step
        self.params = MappingProxyType(dict(params))
        self.outputs = MappingProxyType(dict(outputs))
        self._secrets = secrets
        self._closed = False
        self.clock = clock
        self.log = log

    def secret(self, name: str) -> Secret:
        if self._closed:
            raise StepError(f"step {self.step!r} has ended; its secrets are gone")
        try:
            return self._secrets[name]
        except KeyError:
            raise StepError(
                f"step {self.step!r} did not declare a secret named {name!r}",
                hint="declare it in the step's secrets= so the runner resolves it for this step",
            ) from None

    def close(self) -> None:
        self._secrets.clear()
        self._closed = True

    def __repr__(self) -> str:
        return f"StepContext(run={self.run_id}, step={self.step}, secrets={sorted(self._secrets)})"
