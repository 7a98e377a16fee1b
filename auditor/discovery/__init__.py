"""Credential discovery: read-only, never executes anything it finds.

Sources: the home directory's well-known CLI and AI-agent files, project paths (recursively),
and the process environment. Bad files never abort the scan: they are skipped (binary,
ignored directories) or become coverage gaps (too large, unreadable, malformed), and the
scan goes on.
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from ..model import Candidate, CoverageGap, Source, SourceCategory
from ..provider import Recogniser
from ..secrets import Secret
from .locations import AGENT_HOME_FILES, AGENT_PROJECT_PATTERNS, HOME_EXTRA_FILES, SKIP_DIRS
from .matcher import Hit, Matcher
from .parsers import ParseError, detect_format, parse_structured

__all__ = ["DiscoveryOptions", "DiscoveryResult", "discover", "Progress"]

Progress = Callable[[int, int, str], None]  # files scanned, bytes scanned, current path

DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024
_BINARY_SNIFF = 8192


@dataclass(frozen=True)
class DiscoveryOptions:
    paths: Sequence[Path] = ()
    home: Path | None = None
    env: Mapping[str, str] | None = None  # None: do not scan the environment
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES


@dataclass
class DiscoveryResult:
    candidates: list[Candidate] = field(default_factory=list)
    gaps: list[CoverageGap] = field(default_factory=list)
    stats: dict[str, int] = field(default_factory=lambda: {
        "files_scanned": 0, "bytes_scanned": 0, "files_binary": 0, "files_too_large": 0,
        "files_unreadable": 0, "files_malformed": 0, "dirs_skipped": 0, "symlink_loops": 0,
    })


@dataclass
class _Found:
    secret: str
    recogniser: Recogniser
    kind: str
    sources: list[Source]
    companions: dict[str, str]
    hints: dict[str, str]


class _Scanner:
    def __init__(self, recognisers: Sequence[Recogniser], opts: DiscoveryOptions, progress: Progress | None) -> None:
        self.matcher = Matcher(recognisers)
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
            if src not in f.sources and not any(s.path == src.path and s.line == src.line and s.line for s in f.sources):
                f.sources.append(src)
            for k, v in h.companions.items():
                f.companions.setdefault(k, v)
            for k, v in h.hints.items():
                f.hints.setdefault(k, v)

    # ---- files ---------------------------------------------------------------------------
    def scan_file(self, path: Path, category: SourceCategory, rel_home: str | None) -> None:
        shown = str(path)
        if category is SourceCategory.agent_config:
            self.agent_files.append(path)
        try:
            st = path.stat()
        except OSError as exc:
            self.result.stats["files_unreadable"] += 1
            self.gap(shown, f"not inspected: cannot stat ({exc.strerror or type(exc).__name__})")
            return
        if not stat.S_ISREG(st.st_mode):
            return
        key = (st.st_dev, st.st_ino)
        if key in self.seen_files:
            return
        self.seen_files.add(key)
        if st.st_size > self.opts.max_file_bytes:
            self.result.stats["files_too_large"] += 1
            self.gap(shown, f"not inspected: {st.st_size // (1024 * 1024)} MB is larger than the "
                            f"{self.opts.max_file_bytes // (1024 * 1024)} MB limit")
            return
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            self.result.stats["files_unreadable"] += 1
            self.gap(shown, f"not inspected: cannot read ({exc.strerror or type(exc).__name__})")
            return
        self.result.stats["files_scanned"] += 1
        self.result.stats["bytes_scanned"] += len(data)
        if self.progress:
            self.progress(self.result.stats["files_scanned"], self.result.stats["bytes_scanned"], shown)
        if b"\x00" in data[:_BINARY_SNIFF]:
            self.result.stats["files_binary"] += 1
            return
        active = self.matcher.prefilter(data)
        if not active and rel_home is None:
            return  # no token format and no known key name occurs: nothing can match
        text = data.decode("utf-8", "replace")
        fmt = detect_format(path.name, rel_home or str(path))
        if fmt == "dotenv" and category == SourceCategory.repository:
            category = SourceCategory.dotenv
        structured_secrets: set[str] = set()
        if fmt != "text":
            try:
                entries = parse_structured(fmt, text)
            except ParseError as exc:
                self.result.stats["files_malformed"] += 1
                self.gap(shown, f"partly inspected: {exc}; searched as plain text instead")
            else:
                hits = self.matcher.match_entries(entries, rel_home, active)
                structured_secrets = {h.secret for h in hits}
                self.add(hits, shown, category)
        text_hits = self.matcher.match_text(text, dotenv_locators=(fmt == "dotenv"), skip=structured_secrets,
                                             active=active)
        if rel_home is not None:
            # Whole-file tokens (e.g. ~/.supabase/access-token) are claimed by FileRule locator "*".
            for r in self.matcher.file_recognisers:
                for rule in r.files:
                    if rule.locator in ("*", "line 1") and fnmatchcase(rel_home, rule.path):
                        value = text.strip()
                        if value and "\n" not in value and value not in structured_secrets:
                            from .placeholders import is_placeholder

                            if not is_placeholder(value) and (r.value_pattern is None or r.value_pattern.fullmatch(value)):
                                text_hits.append(Hit(r, rule.kind or r.kind, value, "line 1", 1))
        self.add(text_hits, shown, category)

    # ---- home ----------------------------------------------------------------------------
    def scan_home(self, home: Path) -> None:
        if not home.is_dir():
            self.gap(str(home), "not inspected: home directory does not exist")
            return
        patterns: list[tuple[str, SourceCategory]] = []
        patterns += [(p, SourceCategory.agent_config) for p in AGENT_HOME_FILES]
        patterns += [(p, SourceCategory(self.cli_paths[p]) if self.cli_paths[p] in SourceCategory.__members__
                      else SourceCategory.cli_config) for p in self.home_rules]
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
    def scan_tree(self, root: Path) -> None:
        if root.is_file():
            self.scan_file(root, self._project_category(root.name), None)
            return
        if not root.is_dir():
            self.gap(str(root), "not inspected: path does not exist")
            return
        visited: set[tuple[int, int]] = set()
        stack = [root]
        while stack:
            d = stack.pop()
            try:
                st = d.stat()
            except OSError as exc:
                self.gap(str(d), f"not inspected: {exc.strerror or type(exc).__name__}")
                continue
            if (st.st_dev, st.st_ino) in visited:
                self.result.stats["symlink_loops"] += 1
                continue
            visited.add((st.st_dev, st.st_ino))
            try:
                entries = sorted(os.scandir(d), key=lambda e: e.name)
            except OSError as exc:
                self.result.stats["files_unreadable"] += 1
                self.gap(str(d), f"not inspected: cannot list directory ({exc.strerror or type(exc).__name__})")
                continue
            for e in entries:
                try:
                    if e.is_dir():
                        if e.name == ".git":
                            cfg = Path(e.path) / "config"
                            if cfg.is_file():
                                self.scan_file(cfg, SourceCategory.repository, None)
                            self.result.stats["dirs_skipped"] += 1
                            continue
                        if e.name in SKIP_DIRS:
                            self.result.stats["dirs_skipped"] += 1
                            continue
                        stack.append(Path(e.path))
                    elif e.is_file():
                        rel = os.path.relpath(e.path, root)
                        self.scan_file(Path(e.path), self._project_category(rel), None)
                    elif e.is_symlink():
                        # a dangling link or a link into a loop
                        self.result.stats["symlink_loops"] += 1
                except OSError as exc:
                    self.gap(e.path, f"not inspected: {exc.strerror or type(exc).__name__}")

    @staticmethod
    def _project_category(rel: str) -> SourceCategory:
        rel = rel.replace(os.sep, "/")
        if any(fnmatchcase(rel, p) or fnmatchcase(rel, "*/" + p) for p in AGENT_PROJECT_PATTERNS):
            return SourceCategory.agent_config
        name = rel.rsplit("/", 1)[-1]
        if name.startswith(".env") or name == ".dev.vars":
            return SourceCategory.dotenv
        return SourceCategory.repository

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
            out.append(Candidate(
                provider=r.provider, kind=f.kind, secret=Secret(f.secret),
                companions={k: Secret(v) for k, v in f.companions.items()},
                sources=tuple(f.sources), hints=f.hints,
            ))
        return out


def discover(recognisers: Sequence[Recogniser], opts: DiscoveryOptions, progress: Progress | None = None) -> DiscoveryResult:
    s = _Scanner(recognisers, opts, progress)
    if opts.home is not None:
        s.scan_home(opts.home)
    for p in opts.paths:
        s.scan_tree(Path(p))
    if opts.env is not None:
        s.scan_env(opts.env)
    from .mcp import link_mcp_servers

    s.result.candidates = link_mcp_servers(s.candidates(), s.agent_files, s.recognisers, opts.home,
                                           opts.max_file_bytes)
    if s.result.stats["dirs_skipped"]:
        s.gap("skipped directories", f"not inspected: {s.result.stats['dirs_skipped']} directories skipped by rule "
              "(.git internals, node_modules, virtualenvs, caches)")
    return s.result
