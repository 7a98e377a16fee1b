"""The approval seam: a `Gate` decides whether the plan of a waiting run may go ahead.

`HumanGate` is the only gate the CLI builds: it counts recorded human decisions, bound to the
plan's SHA-256, that have not expired, under the configured policy (N approvals, optional
two-person rule). `UnsafeAutoApprove` approves everything; it exists for tests, says so at
WARNING level every time it is used, and nothing outside tests constructs it.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from ..config import ApprovalsConfig
from ..errors import ApprovalRequired
from .store import DecisionRecord, RunRecord

__all__ = [
    "AUTO_APPROVER",
    "ApprovalPolicy",
    "ApprovalRefused",
    "Gate",
    "GateOutcome",
    "GateVerdict",
    "HumanGate",
    "UnsafeAutoApprove",
]

log = logging.getLogger("blastwall.workflow.gate")

AUTO_APPROVER = "UnsafeAutoApprove"


class ApprovalRefused(ApprovalRequired):
    """An approval could not be recorded (wrong plan, expired, requester approving alone…)."""


class GateOutcome(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    WAITING = "waiting"


@dataclass(frozen=True)
class GateVerdict:
    outcome: GateOutcome
    reason: str
    approvers: tuple[str, ...] = ()


@dataclass(frozen=True)
class ApprovalPolicy:
    expire_after_s: int = 3600
    two_person: bool = False
    required: int = 1

    @classmethod
    def from_config(cls, cfg: ApprovalsConfig) -> ApprovalPolicy:
        return cls(expire_after_s=cfg.expire_after_s, two_person=cfg.two_person, required=cfg.required)

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self.expire_after_s)


def _who(name: str) -> str:
    return name.strip().casefold()


class Gate(ABC):
    policy: ApprovalPolicy

    def automatic_decisions(self, run: RunRecord, plan_sha256: str) -> list[tuple[str, str]]:
        """Decisions the gate itself makes when it opens, as (by, comment). Humans' gates make none."""
        return []

    def check_approval(
        self, run: RunRecord, by: str, now: datetime, decisions: Sequence[DecisionRecord]
    ) -> None:
        """Raise `ApprovalRefused` when `by` may not approve the run's current plan now."""

    @abstractmethod
    def decide(
        self, run: RunRecord, gate_step: str, decisions: Sequence[DecisionRecord], now: datetime
    ) -> GateVerdict:
        """Decide on the run's current plan (`run.plan_sha256`), opened at `run.gate_opened_at`."""


@dataclass
class HumanGate(Gate):
    policy: ApprovalPolicy = field(default_factory=ApprovalPolicy)

    def _valid_approvals(
        self, run: RunRecord, gate_step: str, decisions: Sequence[DecisionRecord], now: datetime
    ) -> list[DecisionRecord]:
        seen: set[str] = set()
        valid: list[DecisionRecord] = []
        for d in decisions:
            if d.step != gate_step or d.decision != "approve" or d.plan_sha256 != run.plan_sha256:
                continue
            if d.at > now or now - d.at > self.policy.ttl:
                continue
            if self.policy.two_person and _who(d.by) == _who(run.requested_by):
                continue
            if _who(d.by) in seen:
                continue
            seen.add(_who(d.by))
            valid.append(d)
        return valid

    def check_approval(
        self, run: RunRecord, by: str, now: datetime, decisions: Sequence[DecisionRecord]
    ) -> None:
        if not by.strip():
            raise ApprovalRefused("an approval needs a name", hint="pass --as NAME")
        if run.gate_opened_at is not None and now - run.gate_opened_at > self.policy.ttl:
            raise ApprovalRefused(
                f"run {run.id}: the approval request expired "
                f"({self.policy.expire_after_s} s after the plan was presented)",
                hint="start the workflow again to get a fresh plan",
            )
        if self.policy.two_person and _who(by) == _who(run.requested_by):
            raise ApprovalRefused(
                f"run {run.id}: {by} requested this run and cannot approve it (two-person rule)",
                hint="ask someone else to approve",
            )
        for d in self._valid_approvals(run, run.gate_step or "", decisions, now):
            if _who(d.by) == _who(by):
                raise ApprovalRefused(
                    f"run {run.id}: {by} has already approved this plan",
                    hint=f"{self.policy.required} different approver(s) are needed",
                )

    def decide(
        self, run: RunRecord, gate_step: str, decisions: Sequence[DecisionRecord], now: datetime
    ) -> GateVerdict:
        mine = [d for d in decisions if d.step == gate_step]
        rejects = [d for d in mine if d.decision == "reject"]
        if rejects:
            return GateVerdict(GateOutcome.REJECTED, f"rejected by {rejects[0].by}")
        valid = self._valid_approvals(run, gate_step, mine, now)
        if len(valid) >= self.policy.required:
            return GateVerdict(
                GateOutcome.APPROVED,
                f"approved by {', '.join(d.by for d in valid)}",
                tuple(d.by for d in valid),
            )
        stale = [
            d
            for d in mine
            if d.decision == "approve" and d.plan_sha256 == run.plan_sha256 and now - d.at > self.policy.ttl
        ]
        opened = run.gate_opened_at or now
        if now - opened > self.policy.ttl:
            why = "its approvals expired" if stale else "no approval arrived in time"
            return GateVerdict(
                GateOutcome.EXPIRED, f"{why} (approvals are valid for {self.policy.expire_after_s} s)"
            )
        return GateVerdict(
            GateOutcome.WAITING,
            f"{len(valid)} of {self.policy.required} approval(s) for plan sha256:{run.plan_sha256}",
        )


@dataclass
class UnsafeAutoApprove(Gate):
    """Approves every plan without a human. For tests only; logs a warning every time it is used."""

    policy: ApprovalPolicy = field(default_factory=ApprovalPolicy)

    def automatic_decisions(self, run: RunRecord, plan_sha256: str) -> list[tuple[str, str]]:
        log.warning(
            "UnsafeAutoApprove: approving run %s (plan sha256:%s) WITHOUT A HUMAN - "
            "this gate exists for tests only",
            run.id,
            plan_sha256,
        )
        return [(AUTO_APPROVER, "automatic approval by UnsafeAutoApprove (tests only)")]

    def decide(
        self, run: RunRecord, gate_step: str, decisions: Sequence[DecisionRecord], now: datetime
    ) -> GateVerdict:
        log.warning(
            "UnsafeAutoApprove: letting run %s pass gate %s WITHOUT A HUMAN - tests only", run.id, gate_step
        )
        return GateVerdict(GateOutcome.APPROVED, "UnsafeAutoApprove (tests only)", (AUTO_APPROVER,))
