"""The provider seam: one plugin per platform.

A provider contributes recognisers (what its credentials look like and where they live),
`identify()` (what is this credential, what can it do) and `inventory()` (resources,
backups and destroy facts). Core code only ever talks to this interface. What only some platforms can do
is a seam of its own that a provider implements or not: `auditor.database_source.DatabaseSource` (look up
a database's URL for backups) and `auditor.volume_restorer.VolumeRestorer` (restore a platform volume
backup); the core asks `auditor.registry.implementation` who does.
"""

from __future__ import annotations

import re
from abc import ABC
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from .model import Backup, Candidate, Credential, Inventory, Status

__all__ = ["Recogniser", "FileRule", "McpServerRule", "ProviderContext", "Provider", "Clock", "system_clock"]

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class FileRule:
    """A well-known file (relative to the home directory) and the key paths in it that hold a secret.

    `path` and `locator` are fnmatch-style globs; `locator` matches the flattened key path
    (e.g. ``user.accessToken``, ``default.aws_access_key_id``).
    """

    path: str
    locator: str
    kind: str | None = None  # overrides the recogniser's kind
    hints: tuple[str, ...] = ()  # sibling keys whose (non-secret) values are kept as hints


@dataclass(frozen=True)
class McpServerRule:
    """An MCP server that carries no token of its own but acts with a CLI's stored login: the credential of
    the recogniser that lists this rule. Discovery links each agent config entry that starts such a server to
    that credential (a `Source` naming the agent, the entry and the server's destructive tools).

    ``commands`` are argv prefixes (the first is the executable's name, e.g. ``("railway", "mcp")``);
    ``packages`` are package names a runner starts (``npx -y @railway/mcp-server``, ``uvx awslabs.…``).
    An entry whose ``env`` sets one of ``token_env`` uses that token instead, and is not linked. When
    ``profile_env`` names a profile (else ``default_profile``), only the login stored under that profile
    (its locator starts with ``<profile>.``) is linked. ``read_only_env`` set to true disables the writes.
    """

    name: str
    commands: tuple[tuple[str, ...], ...] = ()
    packages: tuple[str, ...] = ()
    destructive_tools: tuple[str, ...] = ()
    token_env: tuple[str, ...] = ()
    profile_env: tuple[str, ...] = ()
    default_profile: str | None = None
    read_only_env: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recogniser:
    """How one kind of credential is recognised.

    Any of the mechanisms may be used:
      * ``files``: well-known files and key paths;
      * ``key_names``: a key or environment variable with this exact name holds the secret
        (optionally the value must also ``fullmatch`` ``value_pattern``);
      * ``text_pattern``: the secret's own format, found anywhere in text (named group
        ``secret``, else the whole match).
    ``companions`` name sibling keys that hold the rest of a multi-part credential
    (AWS secret key, session token); ``text_companions`` find them near a text match.
    """

    provider: str
    kind: str
    key_names: frozenset[str] = frozenset()
    value_pattern: re.Pattern[str] | None = None
    text_pattern: re.Pattern[str] | None = None
    files: tuple[FileRule, ...] = ()
    companions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    text_companions: Mapping[str, re.Pattern[str]] = field(default_factory=dict)
    required_companions: tuple[str, ...] = ()
    priority: int = 50  # higher wins when several recognisers claim the same secret
    # categorises the file the rule points at (cli_config for CLI logins)
    category: str | None = None
    # MCP servers that act with this (file-stored) login without a token in their config
    mcp_servers: tuple[McpServerRule, ...] = ()


@dataclass(frozen=True)
class ProviderContext:
    """What a provider gets to do its work. Built once by the composition root."""

    clock: Clock = system_clock
    offline: bool = False
    probe_writes: bool = False
    db_connect: bool = True  # may connect to databases named by found URLs (read-only); --no-db-connect
    timeout_s: float = 15.0
    max_retries: int = 4
    settings: Mapping[str, Any] = field(default_factory=dict)  # [providers.<name>] from config
    env: Mapping[str, str] = field(default_factory=dict)  # endpoint overrides (BLASTWALL_*_URL)
    sleep: Callable[[float], None] | None = None  # injected in tests to avoid real waits


class Provider(ABC):
    """Base class for provider plugins. Subclasses override what they support."""

    name: ClassVar[str]
    display_name: ClassVar[str] = ""

    def recognisers(self) -> Sequence[Recogniser]:
        return ()

    def classify(self, candidate: Candidate) -> Credential:
        """Offline classification: what can be known without asking the provider."""
        return Credential.from_candidate(
            candidate, status=Status.unverified, reasons=("Not verified with the provider.",)
        )

    def identify(self, credential: Credential, ctx: ProviderContext) -> Credential:
        """Ask the provider what the credential is and can do. Must be read-only.

        The default does nothing: the credential stays as `classify()` left it.
        """
        return credential

    def inventory(self, credentials: Sequence[Credential], ctx: ProviderContext) -> Inventory:
        """Resources, backups and destroy facts reachable with these (identified) credentials."""
        return Inventory()

    def judge_stored_backups(self, backups: Sequence[Backup], ctx: ProviderContext) -> Inventory:
        """Destroy facts for backups stored on this provider's platform (``metadata["storage"]["platform"]``
        equals the provider's name), for the credentials given to ``inventory()`` before: e.g. an AWS key
        that can delete object versions in the off-platform backup bucket. Called after ``inventory()``.
        Default: no facts (the engine then answers "not determined" for this platform's credentials)."""
        return Inventory()

    @property
    def supports_identify(self) -> bool:
        return type(self).identify is not Provider.identify
