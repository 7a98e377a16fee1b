"""The provider kit: what every REST provider otherwise writes again.

* `Denied`: HTTP 403, the credential is valid but may not make this call; ``missing`` names the permissions
  it lacks (never values). (A write probe that unexpectedly succeeds is data, not an exception: the
  providers' facts record it as ``aborted`` so that their judgement stays pure.)
* `get_json(api, path, auth=...)`: one GET with the status mapping every provider shares: 401 raises
  `ProviderAuthError`, 403 raises `Denied` (or what ``forbidden`` builds), 404 returns None, 429 and 5xx are
  retried by `ApiClient` and then raise `ProviderUnavailable`, any other status >= 400 raises
  `ProviderError`, malformed JSON raises `ProviderError`. `get_response` is the same without decoding (for
  headers such as ``Link`` or ``Next-Range``).
* `call_json(api, method, path, auth=...)`: a `Reply` (status, body, headers) for providers that judge the
  status themselves (probes, envelopes): only 401 raises, and malformed JSON on a 2xx. `json_object(resp, ...)`
  decodes a body that must be a JSON object (GraphQL and Google APIs), with the provider's own messages.
* `paginate(fetch, max_pages=...)`: one bounded loop for cursor, page-number and ``Link``-header pagination;
  ``fetch(token)`` returns a `Page` (its items and the token of the next page, None on the last one).
  `next_link(headers)` reads RFC 8288 ``rel="next"``.
* `secret_pattern(body)` and `text_recognisers(provider, [(kind, body), ...])`: free-text recognisers for
  token formats (the secret as the named group ``secret``, never inside a longer word); `env_token(provider,
  kind, names, value_pattern)` for a token bound to an environment variable name; `cli_login(provider, kind,
  *files)` for a login a CLI keeps in its own files.
* `InventoryBuilder(provider)`: a small mutable collector of resources and backups (keyed by id), facts,
  "cannot destroy type" denials, findings, gaps and refined credentials; `build()` makes the immutable
  `Inventory`.

A provider's judgement of a credential is a `Verdict` (from `auditor.model`, re-exported here), applied with
`Credential.judged`; `unverified(candidate, *reasons, **fields)` is what its format alone shows
(``classify``), `root_verdict(capabilities, *reasons, **fields)` the verdict on a verified root-equivalent
one. Nothing here knows a concrete provider.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._lazy import lazy_module
from .errors import ProviderAuthError, ProviderError
from .http import ApiClient, RequestAuth
from .model import (
    KEEP,
    Backup,
    Candidate,
    CannotDestroyType,
    CoverageGap,
    Credential,
    DestroyFact,
    Finding,
    Inventory,
    Resource,
    Status,
    Verdict,
)
from .provider import FileRule, McpServerRule, Recogniser

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")

__all__ = [
    "KEEP",
    "Denied",
    "InventoryBuilder",
    "Page",
    "Reply",
    "Verdict",
    "call_json",
    "cli_login",
    "env_token",
    "get_json",
    "get_response",
    "json_object",
    "next_link",
    "paginate",
    "root_verdict",
    "secret_pattern",
    "text_recognisers",
    "unverified",
]

T = TypeVar("T")
_LINK_NEXT = re.compile(r'<([^>]*)>\s*;[^,]*\brel="?next"?', re.IGNORECASE)


class Denied(ProviderError):
    """HTTP 403: the credential is valid but may not make this call; ``missing`` lists the permissions it
    lacks when the provider names them (names only, never values)."""

    def __init__(self, message: str, missing: Sequence[str] = (), *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.missing = tuple(missing)


# -- requests ----------------------------------------------------------------------------------------------
def get_response(
    api: ApiClient,
    path: str,
    *,
    auth: RequestAuth | None,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    ok: frozenset[int] = frozenset({200}),
    denied: str = "the credential may not make this call",
    forbidden: Callable[[httpx.Response, str], ProviderError] | None = None,
) -> httpx.Response | None:
    """One GET: the response for a status in ``ok``, None for 404; 403 raises `Denied` (its message ends in
    ``(denied)``) or what ``forbidden(response, path)`` returns; 401 and other errors raise as `get_json`."""
    resp = api.request("GET", path, auth=auth, params=params, headers=headers, ok=ok)
    if resp.status_code == 403:
        raise (forbidden(resp, path) if forbidden else Denied(f"{api.provider}: HTTP 403 from {path} ({denied})"))
    if resp.status_code == 404:
        return None
    if resp.status_code not in ok:
        api.decode(resp)  # raises: 401 ProviderAuthError, other >= 400 ProviderError
    return resp


def get_json(
    api: ApiClient,
    path: str,
    *,
    auth: RequestAuth | None,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    ok: frozenset[int] = frozenset({200}),
    denied: str = "the credential may not make this call",
    forbidden: Callable[[httpx.Response, str], ProviderError] | None = None,
) -> Any:
    """The decoded JSON of one GET, or None for 404 (status mapping in the module docstring)."""
    resp = get_response(api, path, auth=auth, params=params, headers=headers, ok=ok, denied=denied, forbidden=forbidden)
    return None if resp is None else api.decode(resp)


@dataclass(frozen=True)
class Reply:
    """A response whose status the provider judges itself; ``body`` is None when it is empty or not JSON."""

    status: int
    body: Any
    headers: httpx.Headers


def call_json(
    api: ApiClient,
    method: str,
    path: str,
    *,
    auth: RequestAuth | None,
    json: Any = None,
    params: Mapping[str, Any] | None = None,
    rejected: str = "credential rejected",
    malformed_hint: str = "the provider returned something that is not JSON; try again later",
    strict_json: bool = False,
) -> Reply:
    """Any request: 401 raises `ProviderAuthError` (``rejected (HTTP 401)``); a 2xx answer that is not JSON
    (with ``strict_json``: any answer) raises `ProviderError`; every other status comes back as a `Reply`
    (429/5xx after `ApiClient`'s retries)."""
    resp = api.request(method, path, auth=auth, json=json, params=params or None)
    if resp.status_code == 401:
        raise ProviderAuthError(f"{api.provider}: {rejected} (HTTP 401)")
    if not resp.content and not strict_json:
        return Reply(resp.status_code, None, resp.headers)
    try:
        return Reply(resp.status_code, resp.json(), resp.headers)
    except ValueError:
        if resp.status_code < 300 or strict_json:
            raise ProviderError(
                f"{api.provider}: malformed JSON from {resp.request.url.path} (HTTP {resp.status_code})",
                hint=malformed_hint,
            ) from None
        return Reply(resp.status_code, None, resp.headers)


def json_object(resp: httpx.Response, *, malformed: str, malformed_hint: str, not_object: str) -> dict[str, Any]:
    """The response's JSON object; `ProviderError` with ``malformed`` (and its hint) when the body is not JSON,
    with ``not_object`` when it is JSON but not an object."""
    try:
        body = resp.json()
    except ValueError:
        raise ProviderError(malformed, hint=malformed_hint) from None
    if not isinstance(body, dict):
        raise ProviderError(not_object)
    return body


# -- pagination --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Page(Generic[T]):
    """One page: its items and what the next request needs (cursor, page number, URL, range), None if last."""

    items: Sequence[T]
    next: str | None = None


def paginate(fetch: Callable[[str | None], Page[T]], *, max_pages: int) -> Iterator[T]:
    """Every item of at most ``max_pages`` pages: ``fetch(None)`` first, then ``fetch(page.next)`` until a
    page has no next token or repeats the one it was asked with (a provider loop guard)."""
    token: str | None = None
    for _ in range(max_pages):
        page = fetch(token)
        yield from page.items
        if page.next is None or page.next == token:
            return
        token = page.next


def next_link(headers: httpx.Headers) -> str | None:
    """The ``rel="next"`` URL of an RFC 8288 ``Link`` header, or None."""
    m = _LINK_NEXT.search(headers.get("link", ""))
    return m.group(1) if m else None


# -- recognisers ------------------------------------------------------------------------------------------
WORD = "A-Za-z0-9_"


def secret_pattern(body: str, *, word: str = WORD) -> re.Pattern[str]:
    """`body` as the named group ``secret``, not preceded or followed by a `word` character."""
    return re.compile(rf"(?<![{word}])(?P<secret>{body})(?![{word}])")


def text_recognisers(
    provider: str, bodies: Sequence[tuple[str, str]], *, priority: int = 80, word: str = WORD
) -> list[Recogniser]:
    """One free-text recogniser per ``(kind, pattern body)``, in order."""
    return [
        Recogniser(provider, kind, text_pattern=secret_pattern(body, word=word), priority=priority)
        for kind, body in bodies
    ]


def env_token(
    provider: str, kind: str, names: frozenset[str], value_pattern: re.Pattern[str], *, priority: int = 70
) -> Recogniser:
    """A token bound to one of the variable (or key) `names`, whose value must fullmatch `value_pattern`."""
    return Recogniser(provider, kind, key_names=names, value_pattern=value_pattern, priority=priority)


def cli_login(
    provider: str,
    kind: str,
    *files: FileRule,
    priority: int = 65,
    value_pattern: re.Pattern[str] | None = None,
    mcp_servers: tuple[McpServerRule, ...] = (),
) -> Recogniser:
    """A login that a platform's CLI keeps in its own files (category ``cli_config``); ``mcp_servers``: MCP
    servers that act with that stored login."""
    return Recogniser(
        provider,
        kind,
        files=files,
        value_pattern=value_pattern,
        category="cli_config",
        priority=priority,
        mcp_servers=mcp_servers,
    )


# -- offline judgement ------------------------------------------------------------------------------------
def unverified(candidate: Candidate, *reasons: str, **fields: Any) -> Credential:
    """The credential of `candidate` as its format and hints alone show it (before asking the provider):
    status unverified, `reasons` as its reasons; ``fields`` as `Credential.from_candidate` takes them (kind,
    principal, root_equivalent, capabilities, possible_capabilities, metadata)."""
    return Credential.from_candidate(candidate, status=Status.unverified, reasons=reasons, **fields)


def root_verdict(capabilities: tuple[str, ...], *reasons: str, **fields: Any) -> Verdict:
    """Verified and root-equivalent: it holds every one of `capabilities` (none is merely possible), for
    `reasons`; ``fields`` (principal, metadata, kind) as `Verdict` takes them."""
    return Verdict(
        status=Status.verified,
        root_equivalent=True,
        capabilities=capabilities,
        possible_capabilities=(),
        reasons=reasons,
        **fields,
    )


# -- inventory ---------------------------------------------------------------------------------------------
@dataclass
class InventoryBuilder:
    """Collects what one provider's inventory finds; `build()` returns the immutable `Inventory`.

    Resources and backups are keyed by id (a later one with the same id replaces the earlier one unless
    added with ``once=True``); facts, findings, gaps and credentials keep their order.
    """

    provider: str
    resources: dict[str, Resource] = field(default_factory=dict)
    backups: dict[str, Backup] = field(default_factory=dict)
    facts: list[DestroyFact] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    gaps: list[CoverageGap] = field(default_factory=list)
    credentials: list[Credential] = field(default_factory=list)
    denials: list[CannotDestroyType] = field(default_factory=list)

    def resource(self, resource: Resource, *, once: bool = False) -> Resource:
        """Add `resource` (with ``once``: only if its id is new); returns the one now held."""
        if once:
            return self.resources.setdefault(resource.id, resource)
        self.resources[resource.id] = resource
        return resource

    def add_resource(self, rid: str, type: str, name: str, *, once: bool = False, **fields: Any) -> Resource:
        """A `Resource` of this provider (``fields``: parent, holds_data, metadata), added as `resource`."""
        return self.resource(Resource(id=rid, provider=self.provider, type=type, name=name, **fields), once=once)

    def backup(self, backup: Backup) -> Backup:
        self.backups[backup.id] = backup
        return backup

    def add_backup(
        self, bid: str, protects: str, kind: str, location: str, *, reasons: tuple[str, ...] = (), **fields: Any
    ) -> Backup:
        """A `Backup` of this provider protecting `protects` (``fields``: dies_with_resource, independent,
        created_at, metadata)."""
        return self.backup(
            Backup(
                id=bid,
                provider=self.provider,
                protects=protects,
                kind=kind,
                location=location,
                reasons=reasons,
                **fields,
            )
        )

    def fact(
        self, credential: str, target: str, verdict: bool | None, reason: str, capability: str | None = None
    ) -> None:
        """Can `credential` destroy `target`? True, False (a claim needing proof) or None (unknown)."""
        self.facts.append(
            DestroyFact(credential=credential, target=target, verdict=verdict, reason=reason, capability=capability)
        )

    def denial(
        self,
        credential: str,
        resource_type: str,
        reason: str,
        capability: str | None = None,
        *,
        provider: str | None = None,
    ) -> None:
        """`credential` cannot destroy ANY resource of `resource_type` (of this provider unless ``provider``
        says otherwise): it lacks the capability altogether, proven by its scopes, roles, caveats or probes.
        The engine applies it to every such resource, also those only another credential listed."""
        d = CannotDestroyType(
            credential=credential,
            provider=provider or self.provider,
            resource_type=resource_type,
            reason=reason,
            capability=capability,
        )
        if d not in self.denials:
            self.denials.append(d)

    def finding(self, finding: Finding) -> None:
        self.findings.append(finding)

    def gap(self, subject: str, reason: str) -> None:
        """Something this provider could not inspect: a coverage gap, never a silent omission."""
        self.gaps.append(CoverageGap(subject=subject, provider=self.provider, reason=reason))

    def credential(self, credential: Credential) -> None:
        """A credential refined during inventory."""
        self.credentials.append(credential)

    def merge(self, inventory: Inventory) -> None:
        """Add everything of an already built `Inventory`."""
        for r in inventory.resources:
            self.resource(r)
        for b in inventory.backups:
            self.backup(b)
        self.facts.extend(inventory.facts)
        self.findings.extend(inventory.findings)
        self.gaps.extend(inventory.gaps)
        self.credentials.extend(inventory.credentials)
        for d in inventory.denials:
            if d not in self.denials:
                self.denials.append(d)

    def build(self) -> Inventory:
        return Inventory(
            resources=tuple(self.resources.values()),
            backups=tuple(self.backups.values()),
            facts=tuple(self.facts),
            findings=tuple(self.findings),
            gaps=tuple(self.gaps),
            credentials=tuple(self.credentials),
            denials=tuple(self.denials),
        )
