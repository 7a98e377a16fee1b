"""The approval seam: a `Gate` decides whether the plan of a waiting run may go ahead.

`HumanGate` is the only gate the CLI builds: it counts recorded human decisions, bound to the
plan's SHA-256, that have not expired, under the configured policy (N approvals, optional
two-person rule). By default (`mode = "signed"`) a decision counts only when its SSH signature
over the run's statement verifies, at that moment, against the allowed-signers file (see
`approvals`); rows that do not verify count for nothing and are reported as suspicious. `UnsafeAutoApprove` approves everything; it exists for tests, says so at
WARNING level every time it is used, and nothing outside tests constructs it.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path

from ..config import ApprovalsConfig
from ..errors import ApprovalRequired, ConfigError
from .approvals import SignatureCheck, SignersFileUnsafe, SshKeygen, Statement, check_signers_file, decision_statement
from .store import DecisionRecord, RunRecord

__all__ = [
    "AUTO_APPROVER",
    "ApprovalPolicy",
    "ApprovalRefused",
    "DecisionReview",
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
    ignored: tuple[DecisionReview, ...] = ()


@dataclass(frozen=True)
class ApprovalPolicy:
    expire_after_s: int = 3600
    two_person: bool = False
    required: int = 1
    mode: str = "signed"  # "signed" | "unauthenticated"
    allowed_signers: Path | None = None
    allow_writable_signers: bool = False

    @classmethod
    def from_config(cls, cfg: ApprovalsConfig, base_dir: Path | None = None) -> ApprovalPolicy:
        signers: Path | None = None
        if cfg.allowed_signers:
            signers = Path(cfg.allowed_signers).expanduser()
            if not signers.is_absolute() and base_dir is not None:
                signers = base_dir / signers
        return cls(
            expire_after_s=cfg.expire_after_s,
            two_person=cfg.two_person,
            required=cfg.required,
            mode=cfg.mode,
            allowed_signers=signers,
            allow_writable_signers=cfg.allow_writable_signers,
        )

    @property
    def ttl(self) -> timedelta:
        return timedelta(seconds=self.expire_after_s)

    @property
    def signed(self) -> bool:
        return self.mode != "unauthenticated"


def _who(name: str) -> str:
    return name.strip().casefold()


@dataclass(frozen=True)
class DecisionReview:
    """One recorded decision as the gate sees it now. `verified` is None in unauthenticated mode;
    `suspicious` marks a row that does not verify for a reason of its own (forged, altered, not
    enrolled): evidence of an attack, reported and alerted on."""

    decision: DecisionRecord
    verified: bool | None
    reason: str
    key: str | None = None
    suspicious: bool = False


class Gate(ABC):
    policy: ApprovalPolicy

    def automatic_decisions(self, run: RunRecord, plan_sha256: str) -> list[tuple[str, str]]:
        """Decisions the gate itself makes when it opens, as (by, comment). Humans' gates make none."""
        return []

    def check_approval(self, run: RunRecord, by: str, now: datetime, decisions: Sequence[DecisionRecord]) -> None:
        """Raise `ApprovalRefused` when `by` may not approve the run's current plan now."""

    def preflight(self) -> None:
        """Raise when this gate could never open (checked before a run starts its work)."""

    def check_signed(
        self, run: RunRecord, decision: str, principal: str, statement: str, signature: str, now: datetime
    ) -> SignatureCheck:
        """Whether `signature` over `statement` is a valid `decision` on `run` by `principal` now."""
        return SignatureCheck(False, "this gate does not take signed decisions")

    def signature_matches(self, statement: Statement, signature: str) -> bool:
        """Whether `signature` is a well-formed signature over `statement` (no enrolment checked)."""
        return False

    def review(
        self, run: RunRecord, gate_step: str, decisions: Sequence[DecisionRecord], now: datetime
    ) -> list[DecisionReview]:
        return [DecisionReview(d, None, "not checked by this gate") for d in decisions if d.step == gate_step]

    @abstractmethod
    def decide(self, run: RunRecord, gate_step: str, decisions: Sequence[DecisionRecord], now: datetime) -> GateVerdict:
        """Decide on the run's current plan (`run.plan_sha256`), opened at `run.gate_opened_at`."""


@dataclass
class HumanGate(Gate):
    """Counts human decisions. In signed mode (the default) a decision counts only when its SSH
    signature verifies, now, against the allowed-signers file as it is now."""

    policy: ApprovalPolicy = field(default_factory=ApprovalPolicy)
    keygen: SshKeygen | None = None
    euid: int | None = None

    def preflight(self) -> None:
        if self.policy.signed:
            self.signers_file()

    # -- signatures ----------------------------------------------------------------------
    def _keygen(self) -> SshKeygen:
        if self.keygen is None:
            self.keygen = SshKeygen()
        return self.keygen

    def signers_file(self) -> Path:
        """The allowed-signers file, after the StrictModes check; raises when it cannot be trusted."""
        path = self.policy.allowed_signers
        if path is None:
            raise SignersFileUnsafe(
                'approvals are signed ([approvals] mode = "signed") but no [approvals] allowed_signers '
                "file is configured, so no decision can be verified",
                hint='enrol approvers: [approvals] allowed_signers = "/etc/blastwall/allowed_signers"',
            )
        refusals = [p for p in check_signers_file(path, euid=self.euid) if p.refuse]
        if refusals and not self.policy.allow_writable_signers:
            raise SignersFileUnsafe(
                "refusing to open the approval gate: " + "; ".join(p.message for p in refusals),
                hint=f"chown root:root and chmod go-w {refusals[0].path} (see the README, Approvals)",
            )
        if refusals:
            log.warning("allow_writable_signers = true: %s", "; ".join(p.message for p in refusals))
        return path

    def _verify(
        self,
        run: RunRecord,
        decision: str,
        principal: str,
        statement: str,
        signature: str,
        now: datetime,
        signers: Path,
    ) -> SignatureCheck:
        try:
            stmt = Statement.parse(statement)
        except ValueError as exc:
            return SignatureCheck(False, f"the stored statement is not a Blastwall statement ({exc})")
        wrong = stmt.mismatches(decision_statement(run, decision, principal))
        if wrong:
            return SignatureCheck(False, "the signed statement does not match this decision: " + "; ".join(wrong))
        return self._keygen().verify(signers, principal, stmt, signature, now)

    def signature_matches(self, statement: Statement, signature: str) -> bool:
        return self._keygen().matches(statement, signature)

    def check_signed(
        self, run: RunRecord, decision: str, principal: str, statement: str, signature: str, now: datetime
    ) -> SignatureCheck:
        return self._verify(run, decision, principal, statement, signature, now, self.signers_file())

    def requester(self, run: RunRecord, now: datetime, signers: Path) -> tuple[str | None, str | None, str]:
        """(principal, key fingerprint, why) of the run's verified requester; principal None if unverified."""
        if not run.request_statement or not run.request_signature:
            return None, None, "the request is not signed (start it with: blastwall restore … --key KEY)"
        try:
            who = Statement.parse(run.request_statement).principal
        except ValueError as exc:
            return None, None, f"the stored request is not a Blastwall statement ({exc})"
        chk = self._verify(run, "request", who, run.request_statement, run.request_signature, now, signers)
        if not chk.ok:
            return None, None, f"the request signature does not verify: {chk.reason}"
        return who, chk.key, f"requested by {who}"

    def review(
        self, run: RunRecord, gate_step: str, decisions: Sequence[DecisionRecord], now: datetime
    ) -> list[DecisionReview]:
        mine = [d for d in decisions if d.step == gate_step]
        if not self.policy.signed:
            return [DecisionReview(d, None, 'unauthenticated ([approvals] mode = "unauthenticated")') for d in mine]
        try:
            signers = self.signers_file()
        except (SignersFileUnsafe, ConfigError) as exc:
            return [DecisionReview(d, False, exc.message) for d in mine]
        out = []
        for d in mine:
            if not d.signature or not d.statement:
                out.append(DecisionReview(d, False, "no signature: an unsigned decision row", None, True))
                continue
            chk = self._verify(run, d.decision, d.by, d.statement, d.signature, now, signers)
            out.append(DecisionReview(d, chk.ok, chk.reason, chk.key, not chk.ok))
        return out

    # -- policy --------------------------------------------------------------------------
    def _valid_approvals(
        self, run: RunRecord, reviews: Sequence[DecisionReview], now: datetime, requester: tuple[str | None, str | None]
    ) -> list[DecisionReview]:
        seen: set[str] = set()
        keys: set[str] = set()
        valid: list[DecisionReview] = []
        req_who, req_key = requester
        for r in reviews:
            d = r.decision
            if r.verified is False or d.decision != "approve" or d.plan_sha256 != run.plan_sha256:
                continue
            if d.at > now or now - d.at > self.policy.ttl:
                continue
            if self.policy.two_person:
                if req_who is None or _who(d.by) == _who(req_who) or (r.key is not None and r.key == req_key):
                    continue
            if _who(d.by) in seen or (r.key is not None and r.key in keys):
                continue  # one person, one vote: distinct principals and distinct keys
            seen.add(_who(d.by))
            if r.key is not None:
                keys.add(r.key)
            valid.append(r)
        return valid

    def _requester(self, run: RunRecord, now: datetime) -> tuple[tuple[str | None, str | None], str]:
        if not self.policy.two_person:
            return (run.requested_by, None), ""
        if not self.policy.signed:
            return (run.requested_by, None), ""
        try:
            who, key, why = self.requester(run, now, self.signers_file())
        except (SignersFileUnsafe, ConfigError) as exc:
            return (None, None), exc.message
        return (who, key), ("" if who else why)

    def check_approval(self, run: RunRecord, by: str, now: datetime, decisions: Sequence[DecisionRecord]) -> None:
        if not by.strip():
            raise ApprovalRefused("an approval needs a name", hint="pass --as NAME")
        if run.gate_opened_at is not None and now - run.gate_opened_at > self.policy.ttl:
            raise ApprovalRefused(
                f"run {run.id}: the approval request expired "
                f"({self.policy.expire_after_s} s after the plan was presented)",
                hint="start the workflow again to get a fresh plan",
            )
        (req_who, _), why = self._requester(run, now)
        if self.policy.two_person and req_who is None:
            raise ApprovalRefused(
                f"run {run.id}: two-person rule, but {why}",
                hint="start the restore again with --key so the requester signs the request",
            )
        if self.policy.two_person and req_who is not None and _who(by) == _who(req_who):
            raise ApprovalRefused(
                f"run {run.id}: {by} requested this run and cannot approve it (two-person rule)",
                hint="ask someone else to approve",
            )
        reviews = self.review(run, run.gate_step or "", decisions, now)
        for r in self._valid_approvals(run, reviews, now, (req_who, None)):
            if _who(r.decision.by) == _who(by):
                raise ApprovalRefused(
                    f"run {run.id}: {by} has already approved this plan",
                    hint=f"{self.policy.required} different approver(s) are needed",
                )

    def decide(self, run: RunRecord, gate_step: str, decisions: Sequence[DecisionRecord], now: datetime) -> GateVerdict:
        if self.policy.signed:
            self.signers_file()  # an untrustworthy file refuses the gate outright (error, not a wait)
        reviews = self.review(run, gate_step, decisions, now)
        ignored = tuple(r for r in reviews if r.verified is False)
        rejects = [r for r in reviews if r.decision.decision == "reject" and r.verified is not False]
        if rejects:
            return GateVerdict(GateOutcome.REJECTED, f"rejected by {rejects[0].decision.by}", (), ignored)
        requester, why = self._requester(run, now)
        valid = self._valid_approvals(run, reviews, now, requester)
        if len(valid) >= self.policy.required:
            names = tuple(r.decision.by for r in valid)
            return GateVerdict(GateOutcome.APPROVED, f"approved by {', '.join(names)}", names, ignored)
        stale = [
            r
            for r in reviews
            if r.decision.decision == "approve"
            and r.verified is not False
            and r.decision.plan_sha256 == run.plan_sha256
            and now - r.decision.at > self.policy.ttl
        ]
        opened = run.gate_opened_at or now
        if now - opened > self.policy.ttl:
            what = "its approvals expired" if stale else "no approval arrived in time"
            return GateVerdict(
                GateOutcome.EXPIRED, f"{what} (approvals are valid for {self.policy.expire_after_s} s)", (), ignored
            )
        reason = f"{len(valid)} of {self.policy.required} approval(s) for plan sha256:{run.plan_sha256}"
        if ignored:
            reason += f"; {len(ignored)} decision(s) ignored: " + "; ".join(
                f"#{r.decision.id} by {r.decision.by}: {r.reason}" for r in ignored
            )
        if why:
            reason += f"; two-person rule: {why}"
        return GateVerdict(GateOutcome.WAITING, reason, (), ignored)


@dataclass
class UnsafeAutoApprove(Gate):
    """Approves every plan without a human. For tests only; logs a warning every time it is used."""

    policy: ApprovalPolicy = field(default_factory=lambda: ApprovalPolicy(mode="unauthenticated"))

    def automatic_decisions(self, run: RunRecord, plan_sha256: str) -> list[tuple[str, str]]:
        log.warning(
            "UnsafeAutoApprove: approving run %s (plan sha256:%s) WITHOUT A HUMAN - this gate exists for tests only",
            run.id,
            plan_sha256,
        )
        return [(AUTO_APPROVER, "automatic approval by UnsafeAutoApprove (tests only)")]

    def decide(self, run: RunRecord, gate_step: str, decisions: Sequence[DecisionRecord], now: datetime) -> GateVerdict:
        log.warning("UnsafeAutoApprove: letting run %s pass gate %s WITHOUT A HUMAN - tests only", run.id, gate_step)
        return GateVerdict(GateOutcome.APPROVED, "UnsafeAutoApprove (tests only)", (AUTO_APPROVER,))
