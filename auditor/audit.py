"""The audit: discovery → offline classification → identify → inventory → engine → findings.

One provider's failure never aborts the audit: it becomes a coverage gap.
"""

from __future__ import annotations

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
from .discovery import DiscoveryOptions, discover
from .engine import analyse
from .errors import BlastwallError, ProviderAuthError, ProviderUnavailable
from .findings import core_findings
from .model import AuditResult, Backup, CoverageGap, Credential, Inventory, Resource, Status
from .provider import Provider, ProviderContext, system_clock
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
    config: Config | None = None
    max_file_bytes: int = 10 * 1024 * 1024
    only_providers: Sequence[str] | None = None
    workers: int = 8
    extra_gaps: Sequence[CoverageGap] = field(default_factory=tuple)


def _context(opts: AuditOptions, env: Mapping[str, str], provider: str, base: ProviderContext | None) -> ProviderContext:
    settings: Mapping[str, Any] = opts.config.providers.get(provider, {}) if opts.config else {}
    b = base or ProviderContext()
    return ProviderContext(clock=b.clock, offline=opts.offline, probe_writes=opts.probe_writes,
                           timeout_s=b.timeout_s, max_retries=b.max_retries, settings=settings or b.settings,
                           env=dict(env), sleep=b.sleep)


def _safe_classify(p: Provider, cand: Any, gaps: list[CoverageGap]) -> Credential:
    try:
        return p.classify(cand)
    except Exception as exc:  # a plugin bug must not lose the credential
        gaps.append(CoverageGap(subject=f"credential {cand.fingerprint}", provider=p.name,
                                reason=f"not classified: {p.name} provider failed ({type(exc).__name__})"))
        return Credential.from_candidate(cand, status=Status.error, reasons=("Classification failed.",))


def _link_to_platform_resources(backups: Sequence[Backup], resources: Sequence[Resource]) -> list[Backup]:
    """An off-platform backup of a platform-resolved source (`via`, e.g. `railway:shop/production/Postgres`)
    protects the platform's own resource for that database: providers list the same reference in the
    resource's `source_refs`. Provider-neutral: only the strings are compared."""
    by_ref: dict[str, str] = {}
    for r in resources:
        if r.holds_data:
            for ref in r.metadata.get("source_refs") or ():
                by_ref.setdefault(str(ref), r.id)
    out = []
    for b in backups:
        target = by_ref.get(str(b.metadata.get("via") or ""))
        out.append(b.model_copy(update={"protects": target}) if target else b)
    return out


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

    # 1. discovery
    progress.phase("discovering credentials")
    recognisers = [r for p in providers.values() for r in p.recognisers() if r.provider in providers]
    disc = discover(
        recognisers,
        DiscoveryOptions(paths=tuple(opts.paths), home=opts.home, env=env if opts.include_env else None,
                         max_file_bytes=opts.max_file_bytes),
        progress=progress.files,
    )
    gaps += disc.gaps
    redactor = Redactor.global_()
    for cand in disc.candidates:
        redactor.add(cand.secret)
        for s in cand.companions.values():
            redactor.add(s)

    # 2. offline classification
    creds = [_safe_classify(providers[c.provider], c, gaps) for c in disc.candidates]

    # 3. identify (read-only API calls), concurrently
    if not opts.offline:
        todo = [c for c in creds if providers[c.provider].supports_identify]
        progress.phase("identifying credentials", len(todo))

        def ident(c: Credential) -> Credential:
            p = providers[c.provider]
            try:
                return p.identify(c, _context(opts, env, c.provider, ctx))
            except ProviderAuthError:
                return c.model_copy(update={"status": Status.invalid,
                                            "reasons": c.reasons + ("The provider rejected this credential.",)})
            except ProviderUnavailable as exc:
                gaps.append(CoverageGap(subject=c.id, provider=c.provider,
                                        reason=f"not inspected: {exc.message}"))
                return c.model_copy(update={"status": Status.error})
            except Exception as exc:
                gaps.append(CoverageGap(subject=c.id, provider=c.provider,
                                        reason=f"not inspected: {c.provider} identify failed ({type(exc).__name__}: "
                                        f"{redactor.redact(str(exc))[:200]})"))
                return c.model_copy(update={"status": Status.error})
            finally:
                progress.advance()

        with ThreadPoolExecutor(max_workers=max(1, opts.workers)) as pool:
            identified = {c.id: r for c, r in zip(todo, pool.map(ident, todo), strict=True)}
        creds = [identified.get(c.id, c) for c in creds]

    # 4. inventory, one provider at a time per thread
    by_provider: dict[str, list[Credential]] = defaultdict(list)
    for c in creds:
        by_provider[c.provider].append(c)
    inv = Inventory()
    if not opts.offline:
        progress.phase("inventorying resources and backups", len(by_provider))

        def invent(name: str) -> Inventory:
            try:
                return providers[name].inventory(by_provider[name], _context(opts, env, name, ctx))
            except BlastwallError as exc:
                return Inventory(gaps=(CoverageGap(subject=f"{name} inventory", provider=name,
                                                   reason=f"not inspected: {redactor.redact(exc.message)}"),))
            except Exception as exc:
                log.debug("inventory of %s failed", name, exc_info=True)
                return Inventory(gaps=(CoverageGap(subject=f"{name} inventory", provider=name,
                                                   reason=f"not inspected: {name} inventory failed "
                                                   f"({type(exc).__name__})"),))
            finally:
                progress.advance()

        with ThreadPoolExecutor(max_workers=max(1, opts.workers)) as pool:
            for part in pool.map(invent, sorted(by_provider)):
                inv = inv.merge(part)
    else:
        gaps.append(CoverageGap(subject="providers", reason="not inspected: offline audit; credentials were "
                                "classified from their format and location only, resources and backups were not listed"))

    # Credentials refined during inventory replace the identified ones.
    refined = {c.id: c for c in inv.credentials}
    creds = [refined.get(c.id, c) for c in creds]

    # A credential left in error must show up as a gap even when its provider forgot to say so.
    covered = {g.subject for g in gaps} | {g.subject for g in inv.gaps}
    for c in creds:
        if c.status == Status.error and c.id not in covered:
            why = f" ({c.reasons[-1]})" if c.reasons else ""
            gaps.append(CoverageGap(subject=c.id, provider=c.provider,
                                    reason=f"not inspected: {c.provider} could not verify this credential{why}"))

    # 5. off-platform backups Blastwall itself made (if configured)
    backups = list(inv.backups)
    extra_findings = []
    if opts.config is not None and opts.config.backups:
        try:
            from .backup import offsite_backups_for_audit, verification_findings

            offsite = _link_to_platform_resources(offsite_backups_for_audit(opts.config, db), inv.resources)
            backups += offsite
            extra_findings += verification_findings(opts.config, db, clock)
            known = {r.id for r in inv.resources}
            extra_resources = {
                b.protects: Resource(id=b.protects, provider=b.provider, type="database",
                                     name=str(b.metadata.get("source") or b.protects), holds_data=True,
                                     metadata={"configured_source": True})
                for b in offsite if b.protects not in known
            }
            inv = inv.merge(Inventory(resources=tuple(extra_resources.values())))
        except ImportError as exc:  # a broken install: say so, never drop the backups silently
            gaps.append(CoverageGap(subject="off-platform backups",
                                    reason=f"not inspected: Blastwall's backup module could not be loaded ({exc.name or exc})"
                                    "; the configured backups are missing from this audit"))
        except Exception as exc:
            gaps.append(CoverageGap(subject="off-platform backups",
                                    reason=f"not inspected: the backup catalogue could not be read ({type(exc).__name__})"))

    # 6. engine
    progress.phase("analysing blast radius")
    br = analyse(creds, inv.resources, backups, inv.facts, inv.denials)
    findings = list(inv.findings) + extra_findings + core_findings(creds, inv.resources, br.backups, br.exposure)
    # one finding per id
    uniq = {f.id: f for f in findings}
    sev_order = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
    ordered = sorted(uniq.values(), key=lambda f: (sev_order[f.severity.value], f.rule, f.subject))
    gaps = list({(g.subject, g.reason): g for g in gaps + list(inv.gaps)}.values())
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
        coverage_gaps=tuple(gaps),
        stats={**disc.stats, "duration_s": round((finished - started).total_seconds(), 3),
               "credentials": len(creds), "findings": len(ordered)},
    )
