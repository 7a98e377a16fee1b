"""`blastwall init`: a commented starter `blastwall.toml`, or one proposed from an audit report.

From a report (`--from-report REPORT.json`), every database the audit found without an
off-platform backup gets a `[[sources]]` entry, a `[[backups]]` entry with a daily schedule and a
`[[verifications]]` entry with a weekly one, all into one `[[stores]]` entry. Two kinds of finding
lead to a proposal:

* a resource that holds data, has no backup outside its blast radius in the report, and whose
  provider can name it as a backup source (a provider class with a `propose_source(resource)`
  method returning a `SourceProposal`; Railway does this for its PostgreSQL volumes);
* a PostgreSQL URL credential (provider `postgres`) whose database no off-platform backup in the
  report protects.

Secrets are never written: every secret is an `env:NAME` reference, and the plan lists each
variable to set and what belongs in it. The text is validated with the config loader before it
is written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._lazy import lazy_module
from .config import parse_config
from .errors import ConfigError

if TYPE_CHECKING:
    import tomlkit
else:
    tomlkit = lazy_module("tomlkit")  # only to write a starter file (providers import this module for its types)

__all__ = ["InitPlan", "SourceProposal", "StoreChoice", "load_report", "plan_from_report", "starter_plan"]


@dataclass(frozen=True)
class SourceProposal:
    """What a provider proposes for one of its databases. `entry` holds no secret, only `env:` references."""

    name: str  # suggested [[sources]] name
    label: str  # what the database is, for the plan ("railway volume shop/production/Postgres:pgdata")
    entry: dict[str, Any]  # the [[sources]] keys other than name (e.g. url = "env:X", or a provider reference)
    env: dict[str, str] = field(default_factory=dict)  # variable -> what to put in it (never the value)


@dataclass(frozen=True)
class StoreChoice:
    """`--store`: a local directory or `s3://bucket[/prefix]` (credentials as env: references)."""

    spec: str

    def entry(self) -> tuple[dict[str, Any], dict[str, str], str]:
        if self.spec.startswith("s3://"):
            u = urlsplit(self.spec)
            if not u.netloc:
                raise ConfigError(f"--store {self.spec!r} names no bucket", hint="use --store s3://BUCKET[/PREFIX]")
            ent: dict[str, Any] = {"name": "offsite", "kind": "s3", "bucket": u.netloc, "region": "us-east-1"}
            if u.path.strip("/"):
                ent["prefix"] = u.path.strip("/") + "/"
            ent |= {
                "access_key_id": "env:BLASTWALL_STORE_ACCESS_KEY_ID",
                "secret_access_key": "env:BLASTWALL_STORE_SECRET_ACCESS_KEY",
                "object_lock": {"mode": "COMPLIANCE", "days": 30},
            }
            env = {
                "BLASTWALL_STORE_ACCESS_KEY_ID": f"access key id of an S3 user that can write to {u.netloc} "
                "(and, with object lock, cannot delete)",
                "BLASTWALL_STORE_SECRET_ACCESS_KEY": "its secret access key",
            }
            note = (
                f"S3 bucket {u.netloc}: create it with object lock enabled, in an account the database's "
                'platform credentials cannot reach; set endpoint = "..." for a non-AWS S3'
            )
            return ent, env, note
        path = str(Path(self.spec).expanduser().resolve())
        return (
            {"name": "offsite", "kind": "local", "path": path},
            {},
            f"local directory {path}: only off-platform if this machine is; prefer an object-locked S3 bucket",
        )


@dataclass
class InitPlan:
    store: StoreChoice
    proposals: list[SourceProposal] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # databases found but not proposed, and why
    covered: list[str] = field(default_factory=list)  # databases that already have an off-platform backup

    def env(self) -> dict[str, str]:
        out = dict(self.store.entry()[1])
        for p in self.proposals:
            out.update(p.env)
        return out

    def render(self, *, header: str = "") -> str:
        """The commented TOML text; raises ConfigError (a bug) if the config loader rejects it."""
        store, _, store_note = self.store.entry()
        doc = tomlkit.document()
        for line in (header or _STARTER_HEADER).strip("\n").splitlines():
            doc.add(tomlkit.comment(line.removeprefix("# ").removeprefix("#")))
        doc.add(tomlkit.nl())
        stores = tomlkit.aot()
        stores.append(_table(store, f"Where backups go: {store_note}."))
        doc.add("stores", stores)
        if self.proposals:
            sources, backups, verifications = tomlkit.aot(), tomlkit.aot(), tomlkit.aot()
            for i, p in enumerate(self.proposals):
                sources.append(_table({"name": p.name, **p.entry}, p.label))
                backups.append(
                    _table(
                        {
                            "source": p.name,
                            "store": store["name"],
                            "schedule": f"{(i * 10) % 60} {3 + i // 6} * * *",
                            "keep_days": 30,
                        },
                        f"{p.name}: a daily dump (pg_dump) to {store['name']}. To encrypt it, add "
                        'encrypt_to = ["age1..."] (the public key; keep the identity elsewhere).',
                    )
                )
                verifications.append(
                    _table(
                        {"source": p.name, "schedule": f"{(i * 10) % 60} {5 + i // 6} * * 0", "mode": "full"},
                        f"{p.name}: every Sunday, restore the latest backup into a scratch PostgreSQL and check it.",
                    )
                )
            doc.add(tomlkit.nl())
            doc.add("sources", sources)
            doc.add(tomlkit.nl())
            doc.add("backups", backups)
            doc.add(tomlkit.nl())
            doc.add("verifications", verifications)
        text = tomlkit.dumps(doc)
        if not self.proposals:
            text += _STARTER_EXAMPLES
        for note in [f"Not proposed: {s}" for s in self.skipped] + [
            f"Already backed up off-platform: {c}" for c in self.covered
        ]:
            text += f"\n# {note}"
        text = text.rstrip("\n") + "\n"
        parse_config(text, "<blastwall init>")  # never write a config the loader rejects
        return text

    def summary(self) -> list[str]:
        lines = [f"proposed: {p.name} <- {p.label}" for p in self.proposals]
        lines += [f"not proposed: {s}" for s in self.skipped]
        lines += [f"already backed up off-platform: {c}" for c in self.covered]
        return lines


def _table(values: Mapping[str, Any], comment: str) -> Any:
    t = tomlkit.table()
    for line in _wrap(comment):
        t.add(tomlkit.comment(line))
    for k, v in values.items():
        if isinstance(v, Mapping):
            inline = tomlkit.inline_table()
            inline.update(v)
            t.add(k, inline)
        else:
            t.add(k, v)
    return t


def _wrap(text: str, width: int = 100) -> list[str]:
    lines, cur = [], ""
    for word in text.split():
        if cur and len(cur) + 1 + len(word) > width:
            lines.append(cur)
            cur = word
        else:
            cur = f"{cur} {word}".strip()
    return [*lines, cur] if cur else lines


_STARTER_HEADER = """
blastwall.toml, written by `blastwall init`. Every key: docs/reference/configuration.md.
Secrets are never written here: use env:NAME (an environment variable) or file:PATH references.
Check it with `blastwall backup list --config blastwall.toml`; run `blastwall init --from-report
blastwall-report/blastwall-report.json` after `blastwall audit` to have backups proposed for you.
"""

_STARTER_EXAMPLES = """
# A PostgreSQL database to back up (the URL comes from an environment variable, never this file):
# [[sources]]
# name = "app"
# url = "env:APP_DATABASE_URL"
#
# A daily dump of it into the store above, kept 30 days:
# [[backups]]
# source = "app"
# store = "offsite"
# schedule = "0 3 * * *"
# keep_days = 30
#
# Every Sunday, restore the latest backup into a scratch PostgreSQL and check it:
# [[verifications]]
# source = "app"
# schedule = "0 5 * * 0"
#
# A scheduled audit of this machine (run scheduled jobs with `blastwall daemon`):
# [[audits]]
# name = "nightly"
# schedule = "30 2 * * *"
# output_dir = "blastwall-report"
#
# Where run history, approvals and the backup catalogue live (default: SQLite in the user's state
# directory); a PostgreSQL URL lets several daemons share it:
# [state]
# url = "postgresql://blastwall@db.internal/blastwall"
"""


def starter_plan(store: StoreChoice) -> InitPlan:
    return InitPlan(store=store)


# -- from a report ------------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "db"


def _env_name(source: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", source.upper()).strip("_") + "_DATABASE_URL"


def _db_key(host: str | None, port: int | None, database: str) -> str:
    return f"{(host or '').lower()}:{port or 5432}/{database}"


def _offsite_protected(report: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """(resource ids, host:port/db keys) that some backup outside their blast radius protects."""
    ids, keys = set(), set()
    for b in report.get("backups") or ():
        if b.get("same_blast_radius") is not False:
            continue
        protects = str(b.get("protects") or "")
        ids.add(protects)
        if protects.startswith(("postgres://", "postgresql://")):
            u = urlsplit(protects)
            keys.add(_db_key(u.hostname, u.port, u.path.lstrip("/")))
    return ids, keys


def _url_parts(principal: str) -> tuple[str | None, int | None, str] | None:
    """`user@host:port/db` (the postgres provider's principal, no password) -> (host, port, db)."""
    m = re.match(r"^[^@]*@(?P<host>\[[^\]]+\]|[^:/]+)(?::(?P<port>\d+))?/(?P<db>[^/?#]+)$", principal)
    if not m:
        return None
    return m.group("host"), int(m.group("port")) if m.group("port") else None, m.group("db")


def plan_from_report(
    report: Mapping[str, Any], store: StoreChoice, providers: Mapping[str, Any] | None = None
) -> InitPlan:
    """Propose sources, backups and verifications for the unprotected databases of an audit report."""
    if providers is None:
        from .registry import load_providers

        providers = load_providers()[0]
    plan = InitPlan(store=store)
    names: set[str] = set()

    def unique(name: str) -> str:
        base, n = _slug(name), 2
        out = base
        while out in names:
            out, n = f"{base}-{n}", n + 1
        names.add(out)
        return out

    protected_ids, protected_keys = _offsite_protected(report)
    # databases reached by a postgres:// URL the audit found are proposed from that URL (below)
    by_url = {
        str((c.get("metadata") or {}).get("database_resource"))
        for c in report.get("credentials") or ()
        if (c.get("metadata") or {}).get("scheme") in ("postgres", "postgresql")
    }
    for r in report.get("resources") or ():
        if not r.get("holds_data") or r.get("provider") == "blastwall" or r.get("id") in by_url:
            continue
        label = f"{r.get('provider')} {r.get('type')} {r.get('name')}"
        if r.get("id") in protected_ids:
            plan.covered.append(label)
            continue
        propose = getattr(providers.get(str(r.get("provider"))), "propose_source", None)
        proposal = propose(r) if callable(propose) else None
        if isinstance(proposal, SourceProposal):
            plan.proposals.append(
                SourceProposal(name=unique(proposal.name), label=proposal.label, entry=proposal.entry, env=proposal.env)
            )
        elif (r.get("metadata") or {}).get("database"):
            plan.skipped.append(
                f"{label} ({r['metadata']['database']}): no backup source can be proposed for it; "
                "Blastwall dumps PostgreSQL (configure other databases by hand)"
            )
    seen: set[str] = set()
    for c in report.get("credentials") or ():
        meta = c.get("metadata") or {}
        if c.get("provider") != "postgres" or meta.get("scheme") not in ("postgres", "postgresql"):
            continue
        parts = (
            (str(meta["host"]), int(meta["port"]) if meta.get("port") else None, str(meta["database"]))
            if meta.get("host") and meta.get("database")
            else _url_parts(str(c.get("principal") or ""))
        )
        if parts is None:
            continue
        host, port, db = parts
        key = _db_key(host, port, db)
        if key in seen:
            continue
        seen.add(key)
        label = f"PostgreSQL database {db} on {host}:{port or 5432}"
        if key in protected_keys:
            plan.covered.append(label)
            continue
        name = unique(f"{db}-{host}" if host not in ("localhost", "127.0.0.1", "::1") else db)
        where = ", ".join(f"{s.get('path')} ({s.get('locator')})" for s in (c.get("sources") or ())[:3])
        var = _env_name(name)
        plan.proposals.append(
            SourceProposal(
                name=name,
                label=f"{label} (URL found in {where or 'the audit'})",
                entry={"url": f"env:{var}"},
                env={
                    var: f"the postgresql:// URL of {db} on {host} (the audit found one in {where or 'the audit'}); "
                    "a read-only role (pg_read_all_data) is enough"
                },
            )
        )
    for p in plan.proposals:
        for ref in _refs(p.entry):
            if not ref.startswith(("env:", "file:")):  # a provider returned a literal: refuse, never write it
                raise ConfigError(
                    f"proposal for {p.label} holds a value that is not an env:/file: reference",
                    hint="this is a bug in the provider's propose_source",
                )
    return plan


def _refs(entry: Mapping[str, Any]) -> list[str]:
    out = []
    for k, v in entry.items():
        if isinstance(v, Mapping):
            out += _refs(v)
        elif k in ("url", "token", "read_url") and isinstance(v, str):
            out.append(v)
    return out


def load_report(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read report {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(
            f"{path} is not a JSON report: {exc}", hint="pass the .json file written by `blastwall audit --format json`"
        ) from None
    if not isinstance(doc, dict) or "schema_version" not in doc or "resources" not in doc:
        raise ConfigError(
            f"{path} is not a Blastwall JSON report (no schema_version/resources)",
            hint="pass the .json file written by `blastwall audit --format json`",
        )
    return doc
