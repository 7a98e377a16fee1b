"""Configuration: `blastwall.toml`, validated strictly.

Secrets are only ever references (`env:NAME` or `file:PATH`), resolved when the step that
needs them runs. Every error names the file, the line and the key.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from .errors import ConfigError
from .secrets import Secret

__all__ = [
    "SecretRef",
    "Config",
    "SourceConfig",
    "StoreConfig",
    "BackupConfig",
    "TargetConfig",
    "VerificationConfig",
    "AuditJobConfig",
    "CheckConfig",
    "load_config",
    "DEFAULT_CONFIG_NAME",
    "validate_cron",
    "NotificationsConfig",
    "SchedulerConfig",
    "PlatformRef",
]

_log = logging.getLogger("blastwall.config")

DEFAULT_CONFIG_NAME = "blastwall.toml"
_REF = re.compile(r"^(env|file):(.+)$")


class SecretRef(BaseModel):
    """`env:NAME` or `file:PATH`. Holds where the secret is, never the secret."""

    model_config = ConfigDict(frozen=True)
    scheme: Literal["env", "file"]
    target: str
    origin: str = ""  # "file:line key" for error messages

    @classmethod
    def parse(cls, value: str, origin: str = "") -> SecretRef:
        m = _REF.match(value.strip())
        if not m:
            raise ValueError("must be a secret reference: env:NAME or file:PATH (never the secret itself)")
        return cls(scheme=m.group(1), target=m.group(2), origin=origin)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return f"{self.scheme}:{self.target}"

    def resolve(self, environ: Mapping[str, str] | None = None) -> Secret:
        environ = os.environ if environ is None else environ
        where = f" (referenced at {self.origin})" if self.origin else ""
        if self.scheme == "env":
            value = environ.get(self.target)
            if value is None or value == "":
                raise ConfigError(
                    f"environment variable {self.target} is not set{where}",
                    hint=f"export {self.target} before running, or change the reference",
                )
            return Secret(value)
        path = Path(self.target).expanduser()
        try:
            return Secret(path.read_text().strip())
        except OSError as exc:
            raise ConfigError(
                f"cannot read secret file {path}: {exc.strerror}{where}", hint="check the path and its permissions"
            ) from None


def _ref(v: Any) -> Any:
    if isinstance(v, str):
        return SecretRef.parse(v)
    return v


def validate_cron(expr: str) -> str:
    # crontab semantics (0 = Sunday), optional leading seconds field; see auditor/cron.py
    from .cron import validate_expression

    return validate_expression(expr)


def _tz(v: str) -> str:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(v)
    except Exception:
        raise ValueError(f"unknown time zone {v!r}") from None
    return v


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckConfig(Strict):
    sql: str
    expect: str

    @field_validator("expect")
    @classmethod
    def _expect(cls, v: str) -> str:
        if not re.match(r"^\s*(==|=|!=|>=|<=|>|<)\s*\S.*$", v):
            raise ValueError("expect must be an operator and a value, e.g. '> 0' or '== 42'")
        return v


@dataclass(frozen=True)
class PlatformRef:
    """A database or volume named on a platform: ``provider``, the provider's ``ref`` table and its token.

    ``key`` is the config key that held the table (``ref``, or ``<provider>`` in the deprecated
    ``<provider> = {…}`` form), for error messages. The core never looks inside ``ref``: the provider
    validates it (see `auditor.database_source` and `auditor.volume_restorer`).
    """

    provider: str
    ref: Mapping[str, Any]
    token: SecretRef
    key: str = "ref"


_LEGACY = "\0legacy"  # marks a rewritten deprecated table; never a TOML key


def _with_legacy(data: Any, handler: Any, kind_suffix: str | None) -> Any:
    data = _legacy_platform_table(data, kind_suffix)
    key = data.pop(_LEGACY, None) if isinstance(data, dict) else None
    model = handler(data)
    model._legacy_key = key
    return model


def _legacy_platform_table(data: Any, kind_suffix: str | None = None) -> Any:
    """Deprecated form ``<provider> = { …, token = "env:…" }`` -> ``provider``, ``ref``, ``token``.

    Only the key of a known provider (registry names, nothing loaded) is taken as the alias; for targets,
    ``kind = "<provider>-volume"`` becomes ``kind = "volume"``. Existing configs keep working; new ones
    should use ``provider = "…"`` and ``ref = {…}``.
    """
    if not isinstance(data, dict):
        return data
    from .registry import known_providers

    known = known_providers()
    keys = [k for k in data if isinstance(data.get(k), dict) and k in known]
    kind = data.get("kind")
    if (
        kind_suffix is not None
        and isinstance(kind, str)
        and kind.endswith(kind_suffix)
        and not keys
        and kind.removesuffix(kind_suffix) in known
        and "provider" not in data
    ):
        return {**data, "kind": "volume", "provider": kind.removesuffix(kind_suffix)}
    if len(keys) != 1 or any(k in data for k in ("provider", "ref")):
        return data
    key = keys[0]
    table = dict(data[key])
    out = {k: v for k, v in data.items() if k != key}
    if kind_suffix is not None:
        if out.get("kind") != f"{key}{kind_suffix}":
            return data  # only `kind = "<provider>-volume"` had this table; anything else stays an error
        out["kind"] = "volume"
    out["provider"], out["ref"] = key, table
    if "token" in table:
        out["token"] = table.pop("token")
    out[_LEGACY] = key
    _log.warning("config: %s = {…} is deprecated; write provider = %r and ref = {…}", key, key)
    return out


class SourceConfig(Strict):
    name: str
    kind: Literal["postgres", "mysql", "redis"] | None = None  # informational: the URL's scheme picks the engine
    url: SecretRef | None = None
    # or a database looked up on a platform by a provider that implements `DatabaseSource`
    provider: str | None = None
    ref: dict[str, Any] | None = None
    token: SecretRef | None = None
    _legacy_key: str | None = PrivateAttr(default=None)  # set by the deprecated `<provider> = {…}` form only
    pg_dump: str | None = None  # explicit path to pg_dump
    dump_tool: str | None = None  # explicit path to mysqldump/mariadb-dump or redis-cli
    checks: tuple[CheckConfig, ...] = ()

    _u = field_validator("url", "token", mode="before")(_ref)

    @model_validator(mode="wrap")
    @classmethod
    def _legacy(cls, data: Any, handler: Any) -> Any:
        return _with_legacy(data, handler, None)

    @model_validator(mode="after")
    def _one(self) -> SourceConfig:
        if (self.url is None) == (self.provider is None):
            raise ValueError('give exactly one of url or provider = "…" with ref = {…}')
        if self.provider is not None and (self.ref is None or self.token is None):
            raise ValueError('a source with a provider needs ref = {…} and token = "env:…"')
        if self.provider is None and (self.ref is not None or self.token is not None):
            raise ValueError("ref and token are only for a source with a provider")
        return self

    def platform(self) -> PlatformRef | None:
        """The platform reference when the URL is looked up through a provider, else None."""
        if self.provider is None or self.ref is None or self.token is None:
            return None
        return PlatformRef(self.provider, self.ref, self.token, self._legacy_key or "ref")


class ObjectLock(Strict):
    mode: Literal["COMPLIANCE", "GOVERNANCE"]
    days: int = Field(gt=0)


class StoreConfig(Strict):
    name: str
    kind: Literal["s3", "local"]
    path: str | None = None  # local
    endpoint: str | None = None
    region: str = "us-east-1"
    bucket: str | None = None
    prefix: str = ""
    access_key_id: SecretRef | None = None
    secret_access_key: SecretRef | None = None
    object_lock: ObjectLock | None = None
    # Where the copies really live, for the blast-radius judgement (inferred from `endpoint` when omitted).
    platform: str | None = None  # a provider name, or "s3-compatible" for an unrelated endpoint
    account: str | None = None  # AWS account id / Cloudflare account id of the bucket

    @field_validator("platform")
    @classmethod
    def _platform(cls, v: str | None) -> str | None:
        from .registry import known_providers

        if v is not None and v != "s3-compatible" and v not in known_providers():
            raise ValueError(f'unknown platform {v!r}: a provider name or "s3-compatible"')
        return v

    _k = field_validator("access_key_id", "secret_access_key", mode="before")(_ref)

    @model_validator(mode="after")
    def _kind(self) -> StoreConfig:
        if self.kind == "local" and not self.path:
            raise ValueError("a local store needs path")
        if self.kind == "s3" and not self.bucket:
            raise ValueError("an s3 store needs bucket")
        return self


class BackupConfig(Strict):
    source: str
    store: str
    schedule: str | None = None
    timezone: str = "UTC"
    encrypt_to: tuple[str, ...] = ()
    identities: tuple[SecretRef, ...] = ()
    keep_days: int | None = Field(default=None, gt=0)
    jitter_s: int = 0

    _c = field_validator("schedule")(lambda v: validate_cron(v) if v else v)
    _z = field_validator("timezone")(_tz)

    @field_validator("identities", mode="before")
    @classmethod
    def _ids(cls, v: Any) -> Any:
        return [_ref(x) for x in v] if isinstance(v, list) else v

    @field_validator("encrypt_to")
    @classmethod
    def _recipients(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for r in v:
            if not r.startswith(("age1", "ssh-")):
                raise ValueError(f"not an age recipient: {r[:12]}…")
        return v


class TargetConfig(Strict):
    name: str
    kind: Literal["postgres", "mysql", "redis", "volume"] = "postgres"
    # postgres/mysql/redis: the credential that can overwrite the target, injected only into the restore step.
    url: SecretRef | None = None
    # Optional read-only credential for inspecting, safety-dumping and checking the target; without it
    # those read-only steps use `url` too.
    read_url: SecretRef | None = None
    # volume: a platform volume restored from one of the platform's own volume backups, by a provider
    # that implements `VolumeRestorer`.
    provider: str | None = None
    ref: dict[str, Any] | None = None
    token: SecretRef | None = None
    _legacy_key: str | None = PrivateAttr(default=None)

    _u = field_validator("url", "read_url", "token", mode="before")(_ref)

    @model_validator(mode="wrap")
    @classmethod
    def _legacy(cls, data: Any, handler: Any) -> Any:
        return _with_legacy(data, handler, "-volume")

    @model_validator(mode="after")
    def _kind(self) -> TargetConfig:
        if self.kind != "volume":
            if self.url is None:
                raise ValueError(f"a {self.kind} target needs url")
            if self.provider is not None or self.ref is not None or self.token is not None:
                raise ValueError('provider, ref and token are only for kind = "volume" targets')
        else:
            if self.provider is None or self.ref is None or self.token is None:
                raise ValueError('a volume target needs provider = "…", ref = {…} and token = "env:…"')
            if self.url is not None or self.read_url is not None:
                raise ValueError("a volume target takes no url or read_url (only provider, ref and token)")
        return self

    def platform(self) -> PlatformRef | None:
        """The platform volume a `volume` target names, else None."""
        if self.provider is None or self.ref is None or self.token is None:
            return None
        return PlatformRef(self.provider, self.ref, self.token, self._legacy_key or "ref")


class VerificationConfig(Strict):
    source: str
    schedule: str | None = None
    timezone: str = "UTC"
    sample: Literal["latest"] = "latest"
    mode: Literal["full", "quick"] = "full"
    jitter_s: int = Field(default=0, ge=0)

    _c = field_validator("schedule")(lambda v: validate_cron(v) if v else v)
    _z = field_validator("timezone")(_tz)


class AuditJobConfig(Strict):
    name: str
    paths: tuple[str, ...] = ()
    home: str | None = None
    formats: tuple[Literal["json", "html", "sarif"], ...] = ("json", "html")
    output_dir: str = "."
    schedule: str | None = None
    timezone: str = "UTC"
    include_env: bool = False
    offline: bool = False
    jitter_s: int = Field(default=0, ge=0)

    _c = field_validator("schedule")(lambda v: validate_cron(v) if v else v)
    _z = field_validator("timezone")(_tz)


class NotificationsConfig(Strict):
    webhook_url: SecretRef | None = None
    digest: Literal["daily"] | None = None
    digest_schedule: str = "0 8 * * *"  # when the daily digest goes out
    digest_timezone: str = "UTC"

    _w = field_validator("webhook_url", mode="before")(_ref)
    _c = field_validator("digest_schedule")(validate_cron)
    _z = field_validator("digest_timezone")(_tz)


class SchedulerConfig(Strict):
    """`[scheduler]`: how the daemon treats late, long and interrupted runs."""

    misfire_grace_s: int | None = Field(default=None, gt=0)  # unset: a missed slot runs however late
    shutdown_timeout_s: int = Field(default=300, ge=0)  # SIGTERM waits this long for running jobs
    overdue_after_s: int = Field(default=3600, gt=0)  # health: a slot with no run after this is overdue
    heartbeat_s: int = Field(default=10, gt=0)  # daemons silent for 6 heartbeats count as dead


class StateConfig(Strict):
    url: str | None = None  # SQLAlchemy URL; default SQLite in the user's state directory


class ApprovalsConfig(Strict):
    expire_after_s: int = Field(default=3600, gt=0)
    two_person: bool = False
    required: int = Field(default=1, ge=1)
    # "signed": every decision is an SSH signature by a principal enrolled in allowed_signers.
    # "unauthenticated": `--as NAME` is believed (demos only; audit reports it as a high finding).
    mode: Literal["signed", "unauthenticated"] = "signed"
    allowed_signers: str | None = None  # git's allowed-signers format; namespace blastwall-approval
    allow_writable_signers: bool = False  # skip the StrictModes refusal (itself an audit finding)


class VerifySettings(Strict):
    max_age_days: int = Field(default=7, gt=0)
    scratch_url: SecretRef | None = None  # a configured scratch server instead of the embedded one
    pg_bin_dir: str | None = None
    scratch_template: bool = True  # start the embedded scratch server from a cached initdb (auditor/pgtemplate.py)

    _s = field_validator("scratch_url", mode="before")(_ref)


class Config(Strict):
    sources: tuple[SourceConfig, ...] = ()
    stores: tuple[StoreConfig, ...] = ()
    backups: tuple[BackupConfig, ...] = ()
    targets: tuple[TargetConfig, ...] = ()
    verifications: tuple[VerificationConfig, ...] = ()
    audits: tuple[AuditJobConfig, ...] = ()
    notifications: NotificationsConfig = NotificationsConfig()
    state: StateConfig = StateConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    approvals: ApprovalsConfig = ApprovalsConfig()
    verify: VerifySettings = VerifySettings()
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)  # per-provider settings

    _path: str | None = PrivateAttr(default=None)

    @property
    def path(self) -> str | None:
        return self._path

    @model_validator(mode="after")
    def _references(self) -> Config:
        sources = {s.name for s in self.sources}
        stores = {s.name for s in self.stores}
        for kind, names in (
            ("sources", [s.name for s in self.sources]),
            ("stores", [s.name for s in self.stores]),
            ("targets", [t.name for t in self.targets]),
            ("audits", [a.name for a in self.audits]),
        ):
            dup = {n for n in names if names.count(n) > 1}
            if dup:
                raise ValueError(f"duplicate {kind} name(s): {', '.join(sorted(dup))}")
        for b in self.backups:
            if b.source not in sources:
                raise ValueError(f"backup refers to unknown source {b.source!r}")
            if b.store not in stores:
                raise ValueError(f"backup refers to unknown store {b.store!r}")
        for v in self.verifications:
            if v.source not in sources:
                raise ValueError(f"verification refers to unknown source {v.source!r}")
        return self

    def source(self, name: str) -> SourceConfig:
        for s in self.sources:
            if s.name == name:
                return s
        raise ConfigError(
            f"no source named {name!r}",
            file=self._path,
            hint="sources: " + (", ".join(s.name for s in self.sources) or "(none configured)"),
        )

    def store(self, name: str) -> StoreConfig:
        for s in self.stores:
            if s.name == name:
                return s
        raise ConfigError(
            f"no store named {name!r}",
            file=self._path,
            hint="stores: " + (", ".join(s.name for s in self.stores) or "(none configured)"),
        )

    def target(self, name: str) -> TargetConfig:
        for t in self.targets:
            if t.name == name:
                return t
        raise ConfigError(
            f"no target named {name!r}",
            file=self._path,
            hint="targets: " + (", ".join(t.name for t in self.targets) or "(none configured)"),
        )

    def backup_for(self, source: str) -> BackupConfig:
        for b in self.backups:
            if b.source == source:
                return b
        raise ConfigError(f"no [[backups]] entry for source {source!r}", file=self._path)


# --- locating keys in the TOML text for error messages --------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"']+)\s*=")


def _line_index(text: str) -> dict[tuple[Any, ...], int]:
    """Map a location path (as pydantic reports it) to a 1-based line number."""
    index: dict[tuple[Any, ...], int] = {}
    counters: dict[tuple[str, ...], int] = {}
    current: tuple[Any, ...] = ()
    for n, line in enumerate(text.splitlines(), 1):
        m = _HEADER.match(line)
        if m and not _KEY.match(line):
            parts = tuple(p.strip().strip("\"'") for p in m.group(2).split("."))
            if m.group(1) == "[[":
                counters[parts] = counters.get(parts, -1) + 1
                # nested arrays like [[sources.checks]] belong to the latest parent element
                parent = parts[:-1]
                prefix: tuple[Any, ...] = ()
                if parent and parent in counters:
                    prefix = (*parent, counters[parent])
                    key = parts[-1]
                    sub = (*prefix, key)
                    counters[sub] = counters.get(sub, -1) + 1
                    current = (*sub, counters[sub])
                else:
                    current = (*parts, counters[parts])
            else:
                current = parts
            index.setdefault(current, n)
            continue
        k = _KEY.match(line)
        if k:
            index.setdefault((*current, k.group(1).strip("\"'")), n)
    return index


def _find_line(index: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    loc = tuple(loc)
    while loc:
        if loc in index:
            return index[loc]
        loc = loc[:-1]
    return None


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (("." if out else "") + str(p))
    return out


def parse_config(text: str, path: str = "<config>") -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(f"not valid TOML: {exc}", file=path, line=int(m.group(1)) if m else None) from None
    try:
        cfg = Config.model_validate(data)
    except ValidationError as exc:
        index = _line_index(text)
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        line = _find_line(index, loc)
        more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        raise ConfigError(
            msg + more,
            file=path,
            line=line,
            key=_dotted(loc) or None,
            hint="every key is in docs/reference/configuration.md",
        ) from None
    cfg._path = path
    _check_platform_refs(cfg, _line_index(text), path)
    return cfg


def _check_platform_refs(cfg: Config, index: dict[tuple[Any, ...], int], path: str) -> None:
    """Each provider validates its own ``ref = {…}`` tables, through the seam the entry needs."""
    from .database_source import RefError
    from .registry import database_source, volume_restorer

    entries: list[tuple[str, int, PlatformRef, bool]] = []
    entries += [("sources", i, p, True) for i, s in enumerate(cfg.sources) if (p := s.platform()) is not None]
    entries += [("targets", i, p, False) for i, t in enumerate(cfg.targets) if (p := t.platform()) is not None]
    for section, i, pref, is_source in entries:
        ref_loc: tuple[Any, ...] = (section, i, pref.key)
        try:
            if is_source:
                database_source(pref.provider).validate_database_ref(pref.ref)
            else:
                volume_restorer(pref.provider).validate_volume_ref(pref.ref)
        except RefError as exc:
            loc = (*ref_loc, exc.key) if exc.key else ref_loc
            raise ConfigError(
                exc.message,
                file=path,
                line=_find_line(index, loc),
                key=_dotted(loc),
                hint="see the Configuration section of the README for every key",
            ) from None
        except ConfigError as exc:
            loc = (section, i, "provider" if pref.key == "ref" else pref.key)
            raise ConfigError(
                exc.message, file=path, line=_find_line(index, loc), key=_dotted(loc), hint=exc.hint
            ) from None


def load_config(path: str | Path | None = None, *, required: bool = False) -> Config:
    """Load `path`, or ./blastwall.toml when it exists, or the embedded defaults."""
    if path is None:
        candidate = Path.cwd() / DEFAULT_CONFIG_NAME
        if not candidate.exists():
            if required:
                raise ConfigError(
                    f"no {DEFAULT_CONFIG_NAME} in {Path.cwd()}",
                    hint="pass --config FILE, or create blastwall.toml with `blastwall init`",
                )
            return Config()
        path = candidate
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read config: {exc.strerror}", file=str(p)) from None
    cfg = parse_config(text, str(p))
    # Remember where each secret reference was written, for error messages.
    return cfg
