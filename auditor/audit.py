"""The audit: discovery → offline classification → identify → inventory → engine → findings.

One provider's failure never aborts the audit: it becomes a coverage gap.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import __version__
from .config import Config
from .dblinks import link_databases
from .discovery import DiscoveryOptions, DiscoveryResult, discover
from .engine import analyse, database_verdicts
from .errors import BlastwallError, ProviderAuthError, ProviderUnavailable
from .findings import core_findings
from .model import AuditResult, Backup, CoverageGap, Credential, Finding, Inventory, Resource, Status
from .provider import Clock, Provider, ProviderContext, system_clock
from .redact import Redactor
from .registry import load_providers

__all__ = ["AuditOptions", "run_audit", "AuditProgress"]

log = logging.getLogger(__name__)


class AuditProgress:
    """Callbacks for long audits; the CLI renders them with rich. All optional."""

    def files(self, n_files: int, n_bytes: int, path: str) -> None: ...
    def phase(self, name: str, total: int | None = None) -> None: ...
    def advance(self, n: int = 1) -> None: ...


@dataclass(frozen=True)
class AuditOptions:
    paths: Sequence[Path] = ()
    home: Path | None = None
    include_env: bool = True
    env: Mapping[str, str] | None = None  # None: os.environ
    offline: bool = False
    probe_writes: bool = False
    db_connect: bool = True  # False: never connect to a database found in a URL (--no-db-connect)
    config: Config | None = None
    max_file_bytes: int = 10 * 1024 * 1024
    only_providers: Sequence[str] | None = None
    workers: int = 8
    jobs: int | None = None  # file-scanning processes; None: one per available core
    extra_gaps: Sequence[CoverageGap] = field(default_factory=tuple)


def _context(
    opts: AuditOptions, env: Mapping[str, str], provider: str, base: ProviderContext | None
) -> ProviderContext:
    settings: Mapping[str, Any] = opts.config.providers.get(provider, {}) if opts.config else {}
    b = base or ProviderContext()
    return ProviderContext(
        clock=b.clock,
        offline=opts.offline,
        probe_writes=opts.probe_writes,
        db_connect=opts.db_connect and b.db_connect,
        timeout_s=b.timeout_s,
        max_retries=b.max_retries,
        settings=settings or b.settings,
        env=dict(env),
        sleep=b.sleep,
    )


def _safe_classify(p: Provider, cand: Any, gaps: list[CoverageGap]) -> Credential:
    try:
        return p.classify(cand)
    except Exception as exc:  # a plugin bug must not lose the credential
        gaps.append(
            CoverageGap(
                subject=f"credential {cand.fingerprint}",
                provider=p.name,
                reason=f"not classified: {p.name} provider failed ({type(exc).__name__})",
            )
        )
        return Credential.from_candidate(cand, status=Status.error, reasons=("Classification failed.",))


def _link_to_platform_resources(backups: Sequence[Backup], resources: Sequence[Resource]) -> list[Backup]:
    """An off-platform backup of a platform-resolved source (`via`, e.g. `railway:shop/production/Postgres`)
    protects the platform's own resource for that database: providers list the same reference in the
    resource's `source_refs`; so does a source given by URL whose server a provider lists
    (`postgres://host:port`, e.g. an RDS endpoint). A source named by its address matches a ref such as `postgres://203.0.113.7:*/*`
    (a managed database's public address). Provider-neutral: only the strings are compared."""
    by_ref: dict[str, str] = {}
    for r in resources:
        if r.holds_data:
            for ref in r.metadata.get("source_refs") or ():
                by_ref.setdefault(str(ref), r.id)
    out = []
    for b in backups:
        target = (
            by_ref.get(str(b.metadata.get("via") or ""))
            or _ref_matching(by_ref, b.protects)
            or by_ref.get(_server_of(b.protects))
        )
        out.append(b.model_copy(update={"protects": target}) if target else b)
    return out


def _ref_matching(by_ref: Mapping[str, str], identity: str) -> str | None:
    """A source identity (`postgres://host:port/db`, `mysql://…`, `redis://…`) against refs that may use `*` for any port or database
    (a managed database's address, e.g. `postgres://203.0.113.7:*/*`)."""
    for ref, rid in by_ref.items():
        if ref.startswith(("postgres:", "mysql:", "redis:")) and fnmatch.fnmatchcase(identity, ref):
            return rid
    return None


def _server_of(identity: str) -> str:
    """`postgres://host:port` of a source identity `postgres://host:port/dbname` (a database server a
    provider may list, e.g. an RDS instance's endpoint); '' for anything else."""
    from urllib.parse import urlsplit

    parts = urlsplit(identity)
    if parts.scheme not in ("postgres", "postgresql") or not parts.hostname:
        return ""
    return f"postgres://{parts.hostname}:{parts.port or 5432}"


def _stored_backup_facts(
    offsite: Sequence[Backup],
    providers: Mapping[str, Provider],
    by_provider: Mapping[str, Sequence[Credential]],
    opts: AuditOptions,
    env: Mapping[str, str],
    ctx: ProviderContext | None,
) -> Inventory:
    """Each provider judges the off-platform backups stored on its own platform (``storage.platform``),
    for the credentials it identified. Provider-neutral: the platform string is matched to provider names."""
    out = Inventory()
    if opts.offline:
        return out
    platforms = {str((b.metadata.get("storage") or {}).get("platform") or "") for b in offsite}
    for name in sorted(platforms & set(providers)):
        if not by_provider.get(name):
            continue
        mine = [b for b in offsite if (b.metadata.get("storage") or {}).get("platform") == name]
        try:
            out = out.merge(providers[name].judge_stored_backups(mine, _context(opts, env, name, ctx)))
        except Exception as exc:  # one provider failing is a coverage gap, never an abort
            out = out.merge(
                Inventory(
                    gaps=(
                        CoverageGap(
                            subject=f"{name}: off-platform backups stored there",
                            provider=name,
                            reason=f"not judged ({type(exc).__name__}): whether its credentials can delete them is unknown",
                        ),
                    )
                )
            )
    return out


@dataclass
class _Audit:
    """What every phase of one audit shares: options, environment, providers, and the gaps found so far."""

    opts: AuditOptions
    env: dict[str, str]
    providers: Mapping[str, Provider]
    ctx: ProviderContext | None
    progress: AuditProgress
    gaps: list[CoverageGap]
    redactor: Redactor = field(default_factory=Redactor.global_)

    def context(self, provider: str) -> ProviderContext:
        return _context(self.opts, self.env, provider, self.ctx)


def run_audit(
    opts: AuditOptions,
    *,
    providers: Mapping[str, Provider] | None = None,
    ctx: ProviderContext | None = None,
    progress: AuditProgress | None = None,
    db: Any = None,
) -> AuditResult:
    progress = progress or AuditProgress()
    env = dict(os.environ if opts.env is None else opts.env)
    gaps: list[CoverageGap] = list(opts.extra_gaps)
    if providers is None:
        loaded, load_gaps = load_providers(opts.only_providers)
        gaps += load_gaps
        providers = loaded
    clock = (ctx.clock if ctx else None) or system_clock
    started = clock()
    run = _Audit(opts, env, providers, ctx, progress, gaps)

    disc = _discover(run)  # 1. discovery
    creds = [_safe_classify(providers[c.provider], c, gaps) for c in disc.candidates]  # 2. offline classification
    if not opts.offline:
        creds = _identify(run, creds)  # 3. identify (read-only API calls), concurrently
    inv = _inventory(run, creds)  # 4. inventory, one provider at a time per thread
    creds = _refine(run, creds, inv)
    backups, extra_findings, inv = _offsite_backups(run, inv, db, clock, creds)  # 5. Blastwall's own backups
    if opts.config is not None:  # 5b. the approval gate itself (who could approve a destructive restore)
        from .workflow.approvals import approvals_findings

        cfg_dir = Path(opts.config.path).resolve().parent if opts.config.path else None
        extra_findings += approvals_findings(opts.config, cfg_dir)
    # 6. engine (databases first linked to the platform resources that hold them)
    progress.phase("analysing blast radius")
    linked = link_databases(inv.resources, backups, inv.facts)
    inv = inv.model_copy(update={"resources": linked.resources, "facts": linked.facts})
    backups = list(linked.backups)
    br = analyse(creds, inv.resources, backups, inv.facts, inv.denials)
    verdicts = database_verdicts(creds, inv.resources, br.backups, inv.facts, inv.denials)
    findings = list(inv.findings) + extra_findings + core_findings(creds, inv.resources, br.backups, br.exposure)
    # one finding per id
    uniq = {f.id: f for f in findings}
    sev_order = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
    ordered = sorted(uniq.values(), key=lambda f: (sev_order[f.severity.value], f.rule, f.subject))
    all_gaps = list({(g.subject, g.reason): g for g in gaps + list(inv.gaps)}.values())
    finished = clock()
    return AuditResult(
        generated_at=finished,
        tool_version=__version__,
        scope={
            "home": str(opts.home) if opts.home else None,
            "paths": [str(p) for p in opts.paths],
            "environment": opts.include_env,
            "offline": opts.offline,
            "providers": sorted(providers),
        },
        credentials=tuple(sorted(creds, key=lambda c: (c.root_equivalent is not True, c.provider, c.id))),
        resources=inv.resources,
        backups=br.backups,
        findings=tuple(ordered),
        exposure=br.exposure,
        verdicts=verdicts,
        coverage_gaps=tuple(all_gaps),
        stats={
            **disc.stats,
            "duration_s": round((finished - started).total_seconds(), 3),
            "credentials": len(creds),
            "findings": len(ordered),
        },
    )


def _discover(run: _Audit) -> DiscoveryResult:
    """Phase 1: the candidates on disk and in the environment; every secret found is registered for redaction."""
    opts = run.opts
    run.progress.phase("discovering credentials")
    recognisers = [r for p in run.providers.values() for r in p.recognisers() if r.provider in run.providers]
    disc = discover(
        recognisers,
        DiscoveryOptions(
            paths=tuple(opts.paths),
            home=opts.home,
            env=run.env if opts.include_env else None,
            max_file_bytes=opts.max_file_bytes,
            jobs=opts.jobs,
        ),
        progress=run.progress.files,
    )
    run.gaps += disc.gaps
    for cand in disc.candidates:
        run.redactor.add(cand.secret)
        for s in cand.companions.values():
            run.redactor.add(s)
    return disc


def _identify(run: _Audit, creds: list[Credential]) -> list[Credential]:
    """Phase 3: each provider identifies its credentials (read-only); a failure is a gap, never an abort."""
    todo = [c for c in creds if run.providers[c.provider].supports_identify]
    run.progress.phase("identifying credentials", len(todo))

    def ident(c: Credential) -> Credential:
        p = run.providers[c.provider]
        try:
            return p.identify(c, run.context(c.provider))
        except ProviderAuthError:
            return c.model_copy(
                update={"status": Status.invalid, "reasons": c.reasons + ("The provider rejected this credential.",)}
            )
        except ProviderUnavailable as exc:
            run.gaps.append(CoverageGap(subject=c.id, provider=c.provider, reason=f"not inspected: {exc.message}"))
            return c.model_copy(update={"status": Status.error})
        except Exception as exc:
            run.gaps.append(
                CoverageGap(
                    subject=c.id,
                    provider=c.provider,
                    reason=f"not inspected: {c.provider} identify failed ({type(exc).__name__}: "
                    f"{run.redactor.redact(str(exc))[:200]})",
                )
            )
            return c.model_copy(update={"status": Status.error})
        finally:
            run.progress.advance()

    with ThreadPoolExecutor(max_workers=max(1, run.opts.workers)) as pool:
        identified = {c.id: r for c, r in zip(todo, pool.map(ident, todo), strict=True)}
    return [identified.get(c.id, c) for c in creds]


def _inventory(run: _Audit, creds: list[Credential]) -> Inventory:
    """Phase 4: each provider's resources, backups and facts; a failed provider is a gap about its inventory."""
    by_provider: dict[str, list[Credential]] = defaultdict(list)
    for c in creds:
        by_provider[c.provider].append(c)
    inv = Inventory()
    if run.opts.offline:
        run.gaps.append(
            CoverageGap(
                subject="providers",
                reason="not inspected: offline audit; credentials were "
                "classified from their format and location only, resources and backups were not "
                "listed",
            )
        )
        return inv
    run.progress.phase("inventorying resources and backups", len(by_provider))

    def invent(name: str) -> Inventory:
        try:
            return run.providers[name].inventory(by_provider[name], run.context(name))
        except BlastwallError as exc:
            return Inventory(
                gaps=(
                    CoverageGap(
                        subject=f"{name} inventory",
                        provider=name,
                        reason=f"not inspected: {run.redactor.redact(exc.message)}",
                    ),
                )
            )
        except Exception as exc:
            log.debug("inventory of %s failed", name, exc_info=True)
            return Inventory(
                gaps=(
                    CoverageGap(
                        subject=f"{name} inventory",
                        provider=name,
                        reason=f"not inspected: {name} inventory failed ({type(exc).__name__})",
                    ),
                )
            )
        finally:
            run.progress.advance()

    with ThreadPoolExecutor(max_workers=max(1, run.opts.workers)) as pool:
        for part in pool.map(invent, sorted(by_provider)):
            inv = inv.merge(part)
    return inv


def _refine(run: _Audit, creds: list[Credential], inv: Inventory) -> list[Credential]:
    """Credentials refined during inventory replace the identified ones; one left in error is always a gap."""
    refined = {c.id: c for c in inv.credentials}
    creds = [refined.get(c.id, c) for c in creds]
    # A credential left in error must show up as a gap even when its provider forgot to say so.
    covered = {g.subject for g in run.gaps} | {g.subject for g in inv.gaps}
    for c in creds:
        if c.status == Status.error and c.id not in covered:
            why = f" ({c.reasons[-1]})" if c.reasons else ""
            run.gaps.append(
                CoverageGap(
                    subject=c.id,
                    provider=c.provider,
                    reason=f"not inspected: {c.provider} could not verify this credential{why}",
                )
            )
    return creds


def _offsite_backups(
    run: _Audit, inv: Inventory, db: Any, clock: Clock, creds: Sequence[Credential] = ()
) -> tuple[list[Backup], list[Finding], Inventory]:
    """Phase 5: the off-platform backups Blastwall itself made (if configured), linked to the platform's
    resources; the backups, verification findings, and the inventory with any configured source added."""
    backups = list(inv.backups)
    extra_findings: list[Finding] = []
    config = run.opts.config
    if config is None or not config.backups:
        return backups, extra_findings, inv
    try:
        from .backup import offsite_backups_for_audit, verification_findings

        offsite = _link_to_platform_resources(offsite_backups_for_audit(config, db), inv.resources)
        backups += offsite
        by_provider: dict[str, list[Credential]] = defaultdict(list)
        for c in creds:
            by_provider[c.provider].append(c)
        inv = inv.merge(_stored_backup_facts(offsite, run.providers, by_provider, run.opts, run.env, run.ctx))
        extra_findings += verification_findings(config, db, clock)
        known = {r.id for r in inv.resources}
        extra_resources = {
            b.protects: Resource(
                id=b.protects,
                provider=b.provider,
                type="database",
                name=str(b.metadata.get("source") or b.protects),
                holds_data=True,
                metadata={"configured_source": True},
            )
            for b in offsite
            if b.protects not in known
        }
        inv = inv.merge(Inventory(resources=tuple(extra_resources.values())))
    except ImportError as exc:  # a broken install: say so, never drop the backups silently
        run.gaps.append(
            CoverageGap(
                subject="off-platform backups",
                reason="not inspected: Blastwall's backup module could not be loaded "
                f"({exc.name or exc}); the configured backups are missing from this audit",
            )
        )
    except Exception as exc:
        run.gaps.append(
            CoverageGap(
                subject="off-platform backups",
                reason=f"not inspected: the backup catalogue could not be read ({type(exc).__name__})",
            )
        )
    return backups, extra_findings, inv
