"""Credential discovery: read-only, never executes anything it finds.

Sources: the home directory's well-known CLI and AI-agent files, project paths (recursively),
and the process environment. Bad files never abort the scan: they are skipped (binary,
ignored directories) or become coverage gaps (too large, unreadable, malformed), and the
scan goes on.
"""

from __future__ import annotations

import glob
import itertools
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase, translate
from pathlib import Path
from typing import Any

from ..model import Candidate, CoverageGap, Source, SourceCategory
from ..provider import Recogniser
from ..secrets import Secret
from .locations import AGENT_HOME_FILES, AGENT_PROJECT_PATTERNS, HOME_EXTRA_FILES, SKIP_DIRS
from .matcher import Hit, Matcher
from .parsers import ParseError, detect_format, parse_structured


def _pool_worker_init() -> None:
    # A worker must end when the pool terminates it. The parent may have made SIGTERM raise KeyboardInterrupt
    # (`backup run` does, to abort uploads): inherited through fork, that handler let a terminated worker
    # unwind into the pool's queue lock instead of exiting, and the pool's exit waited for it forever.
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def scan_pool(jobs: int) -> Any:
    """The fork-started process pool of a parallel scan (its workers take SIGTERM's default action)."""
    import multiprocessing

    return multiprocessing.get_context("fork").Pool(jobs, initializer=_pool_worker_init)


__all__ = ["DiscoveryOptions", "DiscoveryResult", "Progress", "default_jobs", "discover"]

Progress = Callable[[int, int, str], None]  # files scanned, bytes scanned, current path

DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024
_BINARY_SNIFF = 8192


@dataclass(frozen=True)
class DiscoveryOptions:
    paths: Sequence[Path] = ()
    home: Path | None = None
    env: Mapping[str, str] | None = None  # None: do not scan the environment
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    jobs: int | None = None  # worker processes for project trees; None: one per available core


@dataclass
class DiscoveryResult:
    candidates: list[Candidate] = field(default_factory=list)
    gaps: list[CoverageGap] = field(default_factory=list)
    stats: dict[str, int] = field(
        default_factory=lambda: {
            "files_scanned": 0,
            "bytes_scanned": 0,
            "files_binary": 0,
            "files_too_large": 0,
            "files_unreadable": 0,
            "files_malformed": 0,
            "dirs_skipped": 0,
            "symlink_loops": 0,
        }
    )


@dataclass
class _Found:
    secret: str
    recogniser: Recogniser
    kind: str
    sources: list[Source]
    companions: dict[str, str]
    hints: dict[str, str]


_OK, _SKIP, _BINARY, _TOO_LARGE, _UNREADABLE = range(5)
# What a tree walk yields: (_FILE, path, root), (_GAP, subject, reason) or (_COUNT, stats key, "").
_FILE, _GAP, _COUNT = range(3)
_Item = tuple[int, str, str]
_GIT_CONFIG = "\x00git-config"  # marker root: a repository's .git/config, always category "repository"
_PARALLEL_MIN_FILES = 512  # below this, forking workers costs more than it saves
_CHUNK = 128  # files per task handed to a worker


@dataclass
class _Outcome:
    """What scanning one file found. Built in a worker process or in-process; merged in walk order."""

    path: str
    status: int
    key: tuple[int, int] | None = None  # (st_dev, st_ino): the same file reached twice counts once
    size: int = 0
    category: SourceCategory | None = None
    hits: list[tuple[int, str, str, str, int | None, dict[str, str], dict[str, str]]] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)
    malformed: bool = False
    agent: bool = False  # an AI-agent config (MCP servers that use a CLI login are linked from it)


_CATEGORY_RE: re.Pattern[str] = re.compile(
    "|".join(f"(?:{translate(p)})|(?:{translate('*/' + p)})" for p in AGENT_PROJECT_PATTERNS)
)


def _project_category(rel: str) -> SourceCategory:
    rel = rel.replace(os.sep, "/")
    if _CATEGORY_RE.match(rel):
        return SourceCategory.agent_config
    name = rel.rsplit("/", 1)[-1]
    if name.startswith(".env") or name == ".dev.vars":
        return SourceCategory.dotenv
    return SourceCategory.repository


class _FileScanner:
    """Scans one file: pure with respect to the scan's state, so it can run in a worker process."""

    def __init__(self, matcher: Matcher, max_file_bytes: int) -> None:
        self.matcher = matcher
        self.max_file_bytes = max_file_bytes
        self.index = {id(r): i for i, r in enumerate(matcher.recognisers)}

    def scan(
        self, path: str, category: SourceCategory | None, rel_home: str | None, root: str | None = None
    ) -> _Outcome:
        """`category` None: a project file, categorised from its path relative to `root` if it has hits."""
        agent = category is SourceCategory.agent_config
        if category is None and "/." in path:  # agent configs are dotfiles or live in dot-directories
            category = _project_category(os.path.relpath(path, root) if root else os.path.basename(path))
            agent = category is SourceCategory.agent_config
        out = self._scan(path, category, rel_home, root)
        out.agent = agent
        return out

    def _scan(self, path: str, category: SourceCategory | None, rel_home: str | None, root: str | None) -> _Outcome:
        try:
            st = os.stat(path)
        except OSError as exc:
            return _Outcome(
                path, _UNREADABLE, gaps=[f"not inspected: cannot stat ({exc.strerror or type(exc).__name__})"]
            )
        if not stat.S_ISREG(st.st_mode):
            return _Outcome(path, _SKIP)
        key = (st.st_dev, st.st_ino)
        if st.st_size > self.max_file_bytes:
            return _Outcome(
                path,
                _TOO_LARGE,
                key,
                gaps=[
                    f"not inspected: {st.st_size // (1024 * 1024)} MB is larger than the "
                    f"{self.max_file_bytes // (1024 * 1024)} MB limit"
                ],
            )
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            return _Outcome(
                path, _UNREADABLE, key, gaps=[f"not inspected: cannot read ({exc.strerror or type(exc).__name__})"]
            )
        out = _Outcome(path, _OK, key, len(data))
        if b"\x00" in data[:_BINARY_SNIFF]:
            out.status = _BINARY
            return out
        active = self.matcher.prefilter(data)
        if not active and rel_home is None:
            return out  # no token format and no known key name occurs: nothing can match
        if category is None:
            category = _project_category(os.path.relpath(path, root) if root else os.path.basename(path))
        out.category = category
        text = data.decode("utf-8", "replace")
        name = os.path.basename(path)
        fmt = detect_format(name, rel_home or path)
        if fmt == "dotenv" and category == SourceCategory.repository:
            out.category = SourceCategory.dotenv
        hits: list[Hit] = []
        structured_secrets: set[str] = set()
        if fmt != "text":
            try:
                entries = parse_structured(fmt, text)
            except ParseError as exc:
                out.malformed = True
                out.gaps.append(f"partly inspected: {exc}; searched as plain text instead")
            else:
                structured = self.matcher.match_entries(entries, rel_home, active)
                structured_secrets = {h.secret for h in structured}
                hits += structured
        text_hits = self.matcher.match_text(
            text, dotenv_locators=(fmt == "dotenv"), skip=structured_secrets, active=active
        )
        if rel_home is not None:
            # Whole-file tokens (e.g. ~/.supabase/access-token) are claimed by FileRule locator "*".
            for r in self.matcher.file_recognisers:
                for rule in r.files:
                    if rule.locator in ("*", "line 1") and fnmatchcase(rel_home, rule.path):
                        value = text.strip()
                        if value and "\n" not in value and value not in structured_secrets:
                            from .placeholders import is_placeholder

                            if not is_placeholder(value) and (
                                r.value_pattern is None or r.value_pattern.fullmatch(value)
                            ):
                                text_hits.append(Hit(r, rule.kind or r.kind, value, "line 1", 1))
        if not hits and not text_hits:
            return out
        # structured hits are added before text hits, as two separate batches (order matters for sources)
        out.hits = [
            (self.index[id(h.recogniser)], h.kind, h.secret, h.locator, h.line, dict(h.companions), dict(h.hints))
            for h in hits
        ]
        out.hits.append((-1, "", "", "", None, {}, {}))  # batch separator
        out.hits += [
            (self.index[id(h.recogniser)], h.kind, h.secret, h.locator, h.line, dict(h.companions), dict(h.hints))
            for h in text_hits
        ]
        return out


# Set in the parent just before the worker processes are forked; read only by `_scan_chunk` in a worker.
_WORKER: _FileScanner | None = None


def _scan_chunk(chunk: list[_Item]) -> list[_Item | _Outcome]:
    assert _WORKER is not None
    return [_WORKER.scan(item[1], *_job_category(item[2])) if item[0] == _FILE else item for item in chunk]


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux: the core count is the best estimate
        return max(1, os.cpu_count() or 1)


class _Scanner:
    def __init__(self, recognisers: Sequence[Recogniser], opts: DiscoveryOptions, progress: Progress | None) -> None:
        self.matcher = Matcher(recognisers)
        self.files = _FileScanner(self.matcher, opts.max_file_bytes)
        self.opts = opts
        self.progress = progress
        self.result = DiscoveryResult()
        self.found: dict[str, _Found] = {}
        self.seen_files: set[tuple[int, int]] = set()
        self.home_rules = sorted({rule.path for r in recognisers for rule in r.files})
        self.cli_paths = {rule.path: (r.category or "cli_config") for r in recognisers for rule in r.files}
        self.recognisers = recognisers
        self.agent_files: list[Path] = []  # agent configs, for MCP servers that use a CLI login (see .mcp)

    # ---- bookkeeping --------------------------------------------------------------------
    def gap(self, subject: str, reason: str) -> None:
        self.result.gaps.append(CoverageGap(subject=subject, reason=reason))

    def add(self, hits: list[Hit], path: str, category: SourceCategory) -> None:
        for h in hits:
            src = Source(path=path, locator=h.locator, line=h.line, category=category)
            f = self.found.get(h.secret)
            if f is None:
                self.found[h.secret] = _Found(h.secret, h.recogniser, h.kind, [src], dict(h.companions), dict(h.hints))
                continue
            if h.recogniser.priority > f.recogniser.priority:
                f.recogniser, f.kind = h.recogniser, h.kind
            if src not in f.sources and not any(
                s.path == src.path and s.line == src.line and s.line for s in f.sources
            ):
                f.sources.append(src)
            for k, v in h.companions.items():
                f.companions.setdefault(k, v)
            for k, v in h.hints.items():
                f.hints.setdefault(k, v)

    def merge(self, o: _Outcome) -> None:
        """Account for one file's outcome; called in walk order, so the result does not depend on workers."""
        stats = self.result.stats
        if o.agent:
            self.agent_files.append(Path(o.path))
        if o.key is not None:
            if o.key in self.seen_files:
                return
            self.seen_files.add(o.key)
        if o.status == _SKIP:
            return
        if o.status == _UNREADABLE:
            stats["files_unreadable"] += 1
        elif o.status == _TOO_LARGE:
            stats["files_too_large"] += 1
        else:
            stats["files_scanned"] += 1
            stats["bytes_scanned"] += o.size
            if self.progress:
                self.progress(stats["files_scanned"], stats["bytes_scanned"], o.path)
            if o.status == _BINARY:
                stats["files_binary"] += 1
        if o.malformed:
            stats["files_malformed"] += 1
        for reason in o.gaps:
            self.gap(o.path, reason)
        if o.hits:
            assert o.category is not None
            recs = self.matcher.recognisers
            batch: list[Hit] = []
            for idx, kind, secret, locator, line, comps, hints in o.hits:
                if idx < 0:
                    self.add(batch, o.path, o.category)
                    batch = []
                    continue
                batch.append(Hit(recs[idx], kind, secret, locator, line, comps, hints))
            self.add(batch, o.path, o.category)

    # ---- files ---------------------------------------------------------------------------
    def scan_file(self, path: Path, category: SourceCategory, rel_home: str | None) -> None:
        self.merge(self.files.scan(str(path), category, rel_home))

    # ---- home ----------------------------------------------------------------------------
    def scan_home(self, home: Path) -> None:
        if not home.is_dir():
            self.gap(str(home), "not inspected: home directory does not exist")
            return
        patterns: list[tuple[str, SourceCategory]] = []
        patterns += [(p, SourceCategory.agent_config) for p in AGENT_HOME_FILES]
        patterns += [
            (
                p,
                SourceCategory(self.cli_paths[p])
                if self.cli_paths[p] in SourceCategory.__members__
                else SourceCategory.cli_config,
            )
            for p in self.home_rules
        ]
        patterns += [(p, SourceCategory.dotenv if ".env" in p else SourceCategory.cli_config) for p in HOME_EXTRA_FILES]
        done: set[str] = set()
        for pattern, category in patterns:
            for match in sorted(glob.glob(glob.escape(str(home)) + "/" + pattern, include_hidden=True)):
                if match in done:
                    continue
                done.add(match)
                p = Path(match)
                if p.is_dir():
                    continue
                rel = os.path.relpath(match, home)
                self.scan_file(p, category, rel)

    # ---- project trees -------------------------------------------------------------------
    @staticmethod
    def walk(root: Path) -> Iterator[_Item]:
        """A project tree in a fixed order: its files, and what could not be walked, as one stream.

        Directory problems travel in the stream (not straight into the result) so that the result is
        assembled in walk order by one thread, whatever the number of workers.
        """
        top = str(root)
        visited: set[tuple[int, int]] = set()
        stack = [top]
        while stack:
            d = stack.pop()
            try:
                st = os.stat(d)
            except OSError as exc:
                yield (_GAP, d, f"not inspected: {exc.strerror or type(exc).__name__}")
                continue
            if (st.st_dev, st.st_ino) in visited:
                yield (_COUNT, "symlink_loops", "")
                continue
            visited.add((st.st_dev, st.st_ino))
            try:
                with os.scandir(d) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                yield (_COUNT, "files_unreadable", "")
                yield (_GAP, d, f"not inspected: cannot list directory ({exc.strerror or type(exc).__name__})")
                continue
            for e in entries:
                try:
                    if e.is_dir():
                        if e.name == ".git":
                            cfg = os.path.join(e.path, "config")
                            if os.path.isfile(cfg):
                                yield (_FILE, cfg, _GIT_CONFIG)
                            yield (_COUNT, "dirs_skipped", "")
                            continue
                        if e.name in SKIP_DIRS:
                            yield (_COUNT, "dirs_skipped", "")
                            continue
                        stack.append(e.path)
                    elif e.is_file():
                        yield (_FILE, e.path, top)
                    elif e.is_symlink():
                        # a dangling link or a link into a loop
                        yield (_COUNT, "symlink_loops", "")
                except OSError as exc:
                    yield (_GAP, e.path, f"not inspected: {exc.strerror or type(exc).__name__}")

    def merge_item(self, item: _Item | _Outcome) -> None:
        if isinstance(item, _Outcome):
            self.merge(item)
        elif item[0] == _GAP:
            self.gap(item[1], item[2])
        elif item[0] == _COUNT:
            self.result.stats[item[1]] += 1
        else:  # a file scanned here
            self.merge(self.files.scan(item[1], *_job_category(item[2])))

    def scan_tree(self, root: Path) -> None:
        if root.is_file():
            self.scan_file(root, _project_category(root.name), None)
            return
        if not root.is_dir():
            self.gap(str(root), "not inspected: path does not exist")
            return
        stream = self.walk(root)
        jobs = self.opts.jobs if self.opts.jobs is not None else default_jobs()
        head: list[_Item] = []
        if jobs > 1:
            # Only a tree big enough is worth forking for: look ahead before deciding.
            files = 0
            for item in stream:
                head.append(item)
                files += item[0] == _FILE
                if files >= _PARALLEL_MIN_FILES:
                    self._scan_parallel(itertools.chain(head, stream), jobs)
                    return
        for item in itertools.chain(head, stream):
            self.merge_item(item)

    def _scan_parallel(self, stream: Iterator[_Item], jobs: int) -> None:
        """Fork `jobs` workers that inherit the compiled matcher; merge their outcomes in walk order.

        Worker processes, not threads: google-re2's binding holds the GIL while it matches (measured:
        two threads take as long as one), and the prefilter is most of a scan's CPU time. The walk goes
        on in this process while the workers scan, and its chunks are handed out in order.
        """
        global _WORKER
        import warnings

        def chunks() -> Iterator[list[_Item]]:
            batch: list[_Item] = []
            for item in stream:
                batch.append(item)
                if len(batch) >= _CHUNK:
                    yield batch
                    batch = []
            if batch:
                yield batch

        _WORKER = self.files
        try:
            with warnings.catch_warnings():
                # Python 3.12+ warns about fork() while threads run (a progress bar may). The children
                # only read files and run the matcher; they take none of the parent's locks.
                warnings.simplefilter("ignore", DeprecationWarning)
                with scan_pool(jobs) as pool:
                    for outcomes in pool.imap(_scan_chunk, chunks()):
                        for o in outcomes:
                            self.merge_item(o)
        finally:
            _WORKER = None

    # ---- environment ---------------------------------------------------------------------
    def scan_env(self, env: Mapping[str, str]) -> None:
        from .parsers import Entry

        entries = [Entry(k, k, v, None, "") for k, v in env.items()]
        hits = self.matcher.match_entries(entries, None)
        for h in hits:
            h.line = None
        self.add(hits, "env", SourceCategory.environment)

    def candidates(self) -> list[Candidate]:
        out = []
        for f in self.found.values():
            r = f.recogniser
            out.append(
                Candidate(
                    provider=r.provider,
                    kind=f.kind,
                    secret=Secret(f.secret),
                    companions={k: Secret(v) for k, v in f.companions.items()},
                    sources=tuple(f.sources),
                    hints=f.hints,
                )
            )
        return out


def _job_category(top: str) -> tuple[SourceCategory | None, None, str | None]:
    if top == _GIT_CONFIG:
        return SourceCategory.repository, None, None
    return None, None, top


def discover(
    recognisers: Sequence[Recogniser], opts: DiscoveryOptions, progress: Progress | None = None
) -> DiscoveryResult:
    s = _Scanner(recognisers, opts, progress)
    if opts.home is not None:
        s.scan_home(opts.home)
    for p in opts.paths:
        s.scan_tree(Path(p))
    if opts.env is not None:
        s.scan_env(opts.env)
    from .mcp import link_mcp_servers

    s.result.candidates = link_mcp_servers(s.candidates(), s.agent_files, s.recognisers, opts.home, opts.max_file_bytes)
    if s.result.stats["dirs_skipped"]:
        s.gap(
            "skipped directories",
            f"not inspected: {s.result.stats['dirs_skipped']} directories skipped by rule "
            "(.git internals, node_modules, virtualenvs, caches)",
        )
    return s.result
