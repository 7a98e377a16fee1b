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
  * A pair (credential, target) with no fact is *unknown* when the credential belongs to the
    platform the target lives on, and *cannot* when the platforms are unrelated (a GitHub token
    cannot delete a Railway volume). A target lives on its provider's platform unless it declares
    its storage (``metadata["storage"]["platform"]``): an off-platform backup in AWS S3 lives on
    ``aws`` and AWS credentials are judged against it, whatever provider reported it. Providers
    report cross-platform reach (e.g. a Vercel token that can remove a Supabase integration) as
    explicit facts.
  * ``same_blast_radius`` of a backup is True when it dies with what it protects, or when one
    credential can definitely destroy both; False only when it is proven independent (it
    survives the resource and no credential can destroy it); None otherwise.
  * A credential's exposure: the data-holding resources it can destroy, and of those the ones
    for which no backup survives that credential (unrecoverable), or for which survival is
    unknown (possibly unrecoverable).
  * Databases have two destroy targets: their contents (the database resource: DROP, DELETE,
    FLUSHALL) and their ``container`` (the volume, instance or project holding them). A backup of
    the container survives the loss of the contents when the provider says so
    (``survives_contents_loss``) and the credential cannot delete the backup; it survives the loss
    of the container only when it does not die with it. `database_verdicts` states both per
    credential, naming the survivors.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .model import Backup, CannotDestroyType, Credential, DestroyFact, DestroyVerdict, Exposure, Resource, Status

__all__ = ["BlastRadius", "analyse", "database_verdicts"]

Tri = bool | None


@dataclass(frozen=True)
class BlastRadius:
    backups: tuple[Backup, ...]
    exposure: tuple[Exposure, ...]


class _Facts:
    def __init__(
        self,
        credentials: Sequence[Credential],
        resources: Sequence[Resource],
        backups: Sequence[Backup],
        facts: Iterable[DestroyFact],
        denials: Iterable[CannotDestroyType] = (),
    ) -> None:
        self.provider_of: dict[str, str] = {c.id: c.provider for c in credentials}
        self.provider_of.update({r.id: r.provider for r in resources})
        self.provider_of.update({b.id: _platform(b) for b in backups})
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
            return (
                False,
                f"different platform (credential of {self.provider_of.get(cred)}, target on "
                f"{self.provider_of.get(target)})",
            )
        return None, "not determined"


def _platform(b: Backup) -> str:
    """The platform a backup lives on: its declared storage platform, else its provider's."""
    storage = b.metadata.get("storage")
    if isinstance(storage, dict) and storage.get("platform"):
        return str(storage["platform"])
    return b.provider


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


def analyse(
    credentials: Sequence[Credential],
    resources: Sequence[Resource],
    backups: Sequence[Backup],
    facts: Iterable[DestroyFact],
    denials: Iterable[CannotDestroyType] = (),
) -> BlastRadius:
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
            survival = [_survives(c.id, r, b, f) for b in _protecting(r, by_resource)]
            if True in survival:
                continue
            if None in survival:
                maybe_lost.append(r.id)
            elif v is True:
                lost.append(r.id)
            else:
                maybe_lost.append(r.id)
        if can or may:
            exposures.append(
                Exposure(
                    credential=c.id,
                    can_destroy=tuple(can),
                    may_destroy=tuple(may),
                    unrecoverable=tuple(lost),
                    possibly_unrecoverable=tuple(maybe_lost),
                )
            )
    return BlastRadius(backups=tuple(judged), exposure=tuple(exposures))


def _protecting(r: Resource, by_resource: dict[str, list[Backup]]) -> list[Backup]:
    """For a database the backups of its container (platform snapshots), then its own; else `r`'s backups."""
    own = list(by_resource.get(r.id, ()))
    return (list(by_resource.get(r.container, ())) if r.container else []) + own


def _survives(cred: str, r: Resource, b: Backup, f: _Facts) -> Tri:
    """Does backup `b` survive `cred` destroying `r`?"""
    bv, _ = f.can(cred, b.id)
    if b.protects != r.id:  # a backup of r's container, judged for the loss of r's contents
        if b.dies_with_resource and r.container and f.can(cred, r.container)[0] is True:
            return False
        if bv is True:
            return False
        return True if bv is False and b.survives_contents_loss else None
    if b.dies_with_resource:
        return False
    if bv is True:
        return False
    if bv is False and b.dies_with_resource is False:
        return True
    return None


def _cred_label(c: Credential) -> str:
    if c.metadata.get("db"):
        key = c.sources[0].locator.rsplit(".", 1)[-1] if c.sources else ""
        return f"this {key}" if key and key.isupper() else f"this {c.kind.replace('_', ' ')}"
    return f"the {c.provider} {c.kind.replace('_', ' ')}"


def _survivor_text(bs: Sequence[Backup]) -> str:
    groups: dict[str, int] = {}
    for b in bs:
        label = str(b.metadata.get("label") or f"{b.provider} backups")
        groups[label] = groups.get(label, 0) + 1
    names = list(groups)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def database_verdicts(
    credentials: Sequence[Credential],
    resources: Sequence[Resource],
    backups: Sequence[Backup],
    facts: Iterable[DestroyFact],
    denials: Iterable[CannotDestroyType] = (),
) -> tuple[DestroyVerdict, ...]:
    """Per database and credential with a fact about it: wiping the contents, deleting the container, and
    which backups survive each. Only pairs with an explicit fact get a verdict; a dead credential gets none."""
    facts = list(facts)
    f = _Facts(credentials, resources, backups, facts, denials)
    credentials = [c for c in credentials if c.status != Status.invalid]
    explicit = {(x.credential, x.target): x for x in facts}
    by_resource: dict[str, list[Backup]] = defaultdict(list)
    for b in backups:
        by_resource[b.protects].append(b)
    names = {r.id: r.name for r in resources}
    out: list[DestroyVerdict] = []
    for r in resources:
        if r.type != "database" or not r.holds_data or not (r.container or r.metadata.get("layer") == "contents"):
            continue
        pool = _protecting(r, by_resource)
        dbname = str(r.metadata.get("database") or r.name)
        for c in credentials:
            fc = explicit.get((c.id, r.id))
            label = _cred_label(c)
            role = str((c.metadata.get("db") or {}).get("summary") or "")
            who = f"{label} ({role})" if role else label
            if fc is not None and fc.capability != "delete:container":
                v = fc.verdict
                alive = [b for b in pool if _survives(c.id, r, b, f) is True]
                surv = [b for b in alive if b.survives_contents_loss]
                unproven = [b for b in alive if not b.survives_contents_loss]
                if v is False:
                    text = f"{who} cannot wipe {dbname}: {fc.reason}"
                else:
                    verb = "can wipe" if v else "may be able to wipe"
                    text = f"{who} {verb} {dbname}; " + (
                        f"{_survivor_text(surv)} survive that" if surv else "no known backup survives that"
                    )
                    if unproven:
                        text += f" ({_survivor_text(unproven)}: not counted until a restore of it is verified)"
                out.append(
                    DestroyVerdict(
                        credential=c.id,
                        database=r.id,
                        kind="contents",
                        target=r.id,
                        verdict=v,
                        survivors=tuple(b.id for b in surv),
                        text=text,
                    )
                )
            fk = explicit.get((c.id, r.container)) if r.container else None
            if fk is not None and r.container and fk.verdict is not False:
                # only a proven copy (survives_contents_loss: a verified dump) that does not die with the container
                surv = [
                    b
                    for b in pool
                    if b.dies_with_resource is False and b.survives_contents_loss and f.can(c.id, b.id)[0] is False
                ]
                what = names.get(r.container, r.container)
                verb = "can delete" if fk.verdict else "may be able to delete"
                text = f"{who} {verb} {what} (holding {dbname}); " + (
                    f"only {_survivor_text(surv)} survives" if surv else "no backup survives"
                )
                out.append(
                    DestroyVerdict(
                        credential=c.id,
                        database=r.id,
                        kind="container",
                        target=r.container,
                        verdict=fk.verdict,
                        survivors=tuple(b.id for b in surv),
                        text=text,
                    )
                )
    return tuple(out)
