"""The blast-radius engine. Provider-agnostic: it only sees facts.

Inputs: credentials, resources, backups (with ``dies_with_resource`` / ``independent`` facts),
``DestroyFact``s ("credential C can / cannot / might destroy target T") and ``CannotDestroyType``
statements ("credential C cannot destroy any resource of type T").

Rules
  * A credential the provider rejected (``status: invalid``, revoked or expired) destroys nothing:
    it has no exposure and does not count as a threat to any backup. Findings only say "revoke and
    remove it".
  * A ``CannotDestroyType`` makes every resource of that provider and type "cannot" for that
    credential, also those only another credential listed. Only an explicit "can" fact beats it
    (the conservative side wins a contradiction).
  * A pair (credential, target) with no fact is *unknown* when both belong to the same
    provider, and *cannot* when they do not (a GitHub token cannot delete a Railway volume).
    Providers report cross-provider reach (e.g. a Vercel token that can remove a Supabase
    integration) as explicit facts.
  * ``same_blast_radius`` of a backup is True when it dies with what it protects, or when one
    credential can definitely destroy both; False only when it is proven independent (it
    survives the resource and no credential can destroy it); None otherwise.
  * A credential's exposure: the data-holding resources it can destroy, and of those the ones
    for which no backup survives that credential (unrecoverable), or for which survival is
    unknown (possibly unrecoverable).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .model import Backup, CannotDestroyType, Credential, DestroyFact, Exposure, Resource, Status

__all__ = ["BlastRadius", "analyse"]

Tri = bool | None


@dataclass(frozen=True)
class BlastRadius:
    backups: tuple[Backup, ...]
    exposure: tuple[Exposure, ...]


class _Facts:
    def __init__(self, credentials: Sequence[Credential], resources: Sequence[Resource],
                 backups: Sequence[Backup], facts: Iterable[DestroyFact],
                 denials: Iterable[CannotDestroyType] = ()) -> None:
        self.provider_of: dict[str, str] = {c.id: c.provider for c in credentials}
        self.provider_of.update({r.id: r.provider for r in resources})
        self.provider_of.update({b.id: b.provider for b in backups})
        self.type_of: dict[str, tuple[str, str]] = {r.id: (r.provider, r.type) for r in resources}
        self.denied: dict[tuple[str, str, str], str] = {}
        for d in denials:
            self.denied.setdefault((d.credential, d.provider, d.resource_type), d.reason)
        self.verdict: dict[tuple[str, str], tuple[Tri, str]] = {}
        for f in facts:
            key = (f.credential, f.target)
            old = self.verdict.get(key)
            # Conservative merge: True beats None beats False.
            if old is None or _rank(f.verdict) > _rank(old[0]):
                self.verdict[key] = (f.verdict, f.reason)

    def can(self, cred: str, target: str) -> tuple[Tri, str]:
        hit = self.verdict.get((cred, target))
        if hit is not None and hit[0] is True:
            return hit
        kind = self.type_of.get(target)
        if kind is not None and (cred, *kind) in self.denied:
            return False, self.denied[(cred, *kind)]
        if hit is not None:
            return hit
        if self.provider_of.get(cred) != self.provider_of.get(target):
            return False, "different platform"
        return None, "not determined"


def _rank(v: Tri) -> int:
    return {False: 0, None: 1, True: 2}[v]


def _backup_verdict(b: Backup, creds: Sequence[Credential], f: _Facts, names: dict[str, str]) -> tuple[Tri, list[str]]:
    reasons: list[str] = list(b.reasons)
    if b.dies_with_resource:
        reasons.append("Deleted together with the resource it protects.")
        return True, reasons
    both = []
    for c in creds:
        r_ok, _ = f.can(c.id, b.protects)
        b_ok, why = f.can(c.id, b.id)
        if r_ok is True and b_ok is True:
            both.append(c)
    if both:
        label = ", ".join(c.label for c in both[:3]) + (" …" if len(both) > 3 else "")
        reasons.append(f"One credential can delete both the data and this backup: {label}.")
        return True, reasons
    if b.dies_with_resource is False and b.independent is True:
        reasons.append("Survives deletion of the resource and no credential can delete it.")
        return False, reasons
    if b.dies_with_resource is False:
        unknown = [c for c in creds if f.can(c.id, b.id)[0] is not False]
        if not unknown and b.independent is not False:
            reasons.append("Survives deletion of the resource; none of the discovered credentials can delete it.")
            return False, reasons
        if unknown:
            reasons.append(f"Whether {len(unknown)} credential(s) can delete it is not determined.")
    else:
        reasons.append("Whether it survives deletion of the resource is not known.")
    return None, reasons


def analyse(credentials: Sequence[Credential], resources: Sequence[Resource],
            backups: Sequence[Backup], facts: Iterable[DestroyFact],
            denials: Iterable[CannotDestroyType] = ()) -> BlastRadius:
    f = _Facts(credentials, resources, backups, facts, denials)
    credentials = [c for c in credentials if c.status != Status.invalid]  # a dead credential destroys nothing
    names = {r.id: r.name for r in resources}
    judged: list[Backup] = []
    for b in backups:
        verdict, reasons = _backup_verdict(b, credentials, f, names)
        judged.append(b.model_copy(update={"same_blast_radius": verdict, "reasons": tuple(dict.fromkeys(reasons))}))

    by_resource: dict[str, list[Backup]] = defaultdict(list)
    for b in judged:
        by_resource[b.protects].append(b)

    data = [r for r in resources if r.holds_data]
    exposures: list[Exposure] = []
    for c in credentials:
        can: list[str] = []
        may: list[str] = []
        lost: list[str] = []
        maybe_lost: list[str] = []
        for r in data:
            v, _ = f.can(c.id, r.id)
            if v is False:
                continue
            (can if v is True else may).append(r.id)
            survival: list[Tri] = []
            for b in by_resource.get(r.id, ()):
                if b.dies_with_resource:
                    survival.append(False)
                    continue
                bv, _ = f.can(c.id, b.id)
                if bv is True:
                    survival.append(False)
                elif bv is False and b.dies_with_resource is False:
                    survival.append(True)
                else:
                    survival.append(None)
            if True in survival:
                continue
            if None in survival:
                maybe_lost.append(r.id)
            elif v is True:
                lost.append(r.id)
            else:
                maybe_lost.append(r.id)
        if can or may:
            exposures.append(Exposure(credential=c.id, can_destroy=tuple(can), may_destroy=tuple(may),
                                      unrecoverable=tuple(lost), possibly_unrecoverable=tuple(maybe_lost)))
    return BlastRadius(backups=tuple(judged), exposure=tuple(exposures))
