"""The backup engine seam: one database product (PostgreSQL, MySQL/MariaDB, Redis, …) per implementation.

The engine-neutral parts of `auditor/backup/` (the streaming pipeline with encryption and hashing, the
store and object lock, the manifest, the catalogue, prune, check-store and kill-safety) ask an `Engine` for:

- `start_dump(request)`: a `RunningDump` whose `stream` yields the dump's bytes; the runner pumps it into
  the store and then calls `finish(head)`, which returns the counts taken from the dump's own snapshot (or
  raises `BackupError`, e.g. on a non-zero exit of the dump tool);
- `verify(job)`: restore a stored dump into a scratch server of the right product and version, compare the
  counts with the manifest and run the source's assertions, filling in the `VerificationResult`;
- `quick_check(job)`: the structural check of the quick tier (no restore).

Which engine a source uses comes from its URL scheme (`engine_for_url`), or for a source resolved on a
platform from what the platform says the service runs (the provider returns a URL with the right scheme).
Adding an engine is a new module next to this one plus one line in `auditor/backup/engines/__init__.py`.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar

from ...config import CheckConfig, Config, SourceConfig
from ...secrets import Secret
from ..manifest import DumpTool, Manifest, TableCount

if TYPE_CHECKING:
    from ..stores import BackupStore
    from ..verify import VerificationResult

__all__ = ["Engine", "RunningDump", "DumpRequest", "DumpOutcome", "VerifyJob", "StreamFn"]


@dataclass(frozen=True)
class DumpRequest:
    """What an engine needs to start a dump: the source's URL (a secret) and its configuration."""

    url: Secret
    src: SourceConfig
    backup_id: str


@dataclass(frozen=True)
class DumpOutcome:
    """What a finished dump reports for the manifest. `tables` come from the dump's own snapshot."""

    server_version: str
    server_version_num: int
    tool: DumpTool
    tables: tuple[TableCount, ...]
    host: str | None = None
    port: int | None = None
    database: str | None = None
    system_identifier: str | None = None
    snapshot: str | None = None
    point_in_time: bool = True
    gaps: tuple[str, ...] = ()  # what the dump does not cover consistently (coverage gaps)


class RunningDump(ABC):
    """A dump in progress. `stream` is read (in another thread) until it ends; then `finish()`."""

    stream: IO[bytes]

    def during(self) -> None:  # noqa: B027 - optional hook
        """Work done in the caller's thread while the stream is pumped (PostgreSQL counts rows here)."""

    @abstractmethod
    def finish(self, head: bytes) -> DumpOutcome:
        """After the stream ended (`head`: its first bytes): wait for the tool, check it succeeded, return
        the counts. Raises `BackupError` when the dump is not complete."""

    @abstractmethod
    def kill(self) -> None:
        """Stop the dump now (the upload failed or the run was interrupted). Idempotent."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and temporary files (always called)."""


# A function that reads the stored object once (hash, size, decrypt) and writes the plain bytes into `argv`'s
# stdin; returns the stream outcome (see `auditor.backup.verify._stream_into`).
StreamFn = Callable[[list[str], dict[str, str]], Any]


@dataclass
class VerifyJob:
    """One verification of one stored dump, prepared by the engine-neutral verifier."""

    config: Config
    manifest: Manifest
    store: BackupStore
    okey: str
    identities: list[Any] | None
    result: VerificationResult
    environ: Mapping[str, str] | None
    server: Any  # a ready scratch server to reuse (engine-specific type) or None
    checks: tuple[CheckConfig, ...]
    stream_into: StreamFn
    integrity_failed: Callable[[Any], bool]  # hash/size/decrypt/magic checks on a stream outcome
    timings: dict[str, float] = field(default_factory=dict)
    # Like `stream_into`, but writes the plain bytes to a new file (created 0600; the caller removes it) and
    # returns the stream outcome; `cancel` (a threading.Event) stops it early. See `auditor.backup.verify._fetch_into`.
    fetch_into: Callable[[Path, Any], Any] | None = None


class Engine(ABC):
    """One database product's dump, scratch restore and comparisons."""

    name: ClassVar[str]  # "postgres", "mysql", "redis": recorded as the manifest's source.kind
    schemes: ClassVar[tuple[str, ...]]  # URL schemes that select this engine
    label: ClassVar[str] = ""  # human name

    @abstractmethod
    def start_dump(self, request: DumpRequest) -> RunningDump:
        """Connect, check versions and privileges, and start the dump tool."""

    @abstractmethod
    def magic_ok(self, head: bytes, tail: bytes) -> bool:
        """Whether the (decrypted) object starts and ends like a complete dump of this engine."""

    @abstractmethod
    def quick_check(self, job: VerifyJob) -> None:
        """Quick tier: stream the object through a structural check (no restore); fail `job.result` if bad."""

    @abstractmethod
    def verify(self, job: VerifyJob) -> None:
        """Full tier: restore into a scratch server, compare counts, run checks; fail `job.result` if bad."""

    # ---- gated restores into a target (auditor.workflow.restore.EngineRestore) -------------------------
    restore_action: ClassVar[str] = ""  # what the restore step does, for the plan
    restore_note: ClassVar[str] = ""  # what happens to data only in the target

    def inspect_target(self, url: Secret) -> dict[str, Any]:
        """Read-only: {host, port, database, user, server_version, size_bytes, tables: [{name, rows}]}.
        `tables` names match the manifest's (`TableCount.qualified`)."""
        raise NotImplementedError(f"{self.label} targets cannot be restored into yet")

    def restore_into(self, dump: Path, url: Secret, manifest: Manifest) -> dict[str, Any]:
        """Write the (decrypted) dump at `dump` into the target at `url` (the only call with its write
        credential). Raises `BlastwallError` on failure."""
        raise NotImplementedError(f"{self.label} targets cannot be restored into yet")

    def uri(self, host: str | None, port: int | None, database: str | None) -> str:
        return f"{self.schemes[0]}://{host or 'localhost'}" + (f":{port}" if port else "") + f"/{database or ''}"


def close_quietly(obj: Any) -> None:
    with contextlib.suppress(Exception):
        obj.close()
