"""Agents wired to a CLI login: MCP server entries that carry no token but act with a CLI's stored login.

An entry such as ``{"command": "railway", "args": ["mcp"]}`` in an agent's MCP config has no secret for
discovery to find, yet the agent can use the CLI's login through it. Providers declare such servers on the
recogniser of the stored login (`auditor.provider.McpServerRule`); here each matching entry of each agent
config file becomes one more `Source` of that credential: the file, the entry's locator, the agent and the
server's destructive tools. Read-only: files are parsed, nothing is executed.
"""

from __future__ import annotations

import os
import shlex
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from ..model import Candidate, Source, SourceCategory
from ..provider import McpServerRule, Recogniser
from .parsers import _jsonc

__all__ = ["McpEntry", "agent_of", "link_mcp_servers", "mcp_entries"]

# Path fragments (of the config file) -> the agent that reads it.
_AGENTS: tuple[tuple[str, str], ...] = (
    ("cline_mcp_settings.json", "Cline"),
    ("claude_desktop_config.json", "Claude Desktop"),
    (".claude.json", "Claude Code"),
    (".claude/", "Claude Code"),
    (".mcp.json", "Claude Code"),
    (".cursor/", "Cursor"),
    ("Cursor/", "Cursor"),
    ("windsurf/", "Windsurf"),
    (".vscode/", "VS Code"),
    ("Code/User/", "VS Code"),
    (".kiro/", "Kiro"),
    (".codex/", "Codex CLI"),
    (".gemini/", "Gemini CLI"),
    (".continue/", "Continue"),
    ("zed/", "Zed"),
)


def agent_of(path: str) -> str:
    p = path.replace(os.sep, "/")
    return next((agent for frag, agent in _AGENTS if frag in p), "an AI agent")


@dataclass(frozen=True)
class McpEntry:
    path: str
    locator: str  # key path of the server entry, e.g. mcpServers.railway
    name: str
    argv: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)


def _load(path: Path) -> Any:
    text = path.read_text(errors="replace")
    name = path.name.lower()
    if name.endswith(".toml"):
        return tomllib.loads(text)
    if name.endswith((".yaml", ".yml")):
        import yaml

        return yaml.safe_load(text)
    return _jsonc(text)


def _walk(node: Any, locator: str, path: str, out: list[McpEntry]) -> None:
    if isinstance(node, dict):
        command = node.get("command")
        if isinstance(command, str) and command.strip():
            argv = shlex.split(command) if not node.get("args") and " " in command.strip() else [command]
            args = node.get("args")
            if isinstance(args, list):
                argv += [str(a) for a in args]
            raw_env = node.get("env")
            env: dict[Any, Any] = raw_env if isinstance(raw_env, dict) else {}
            out.append(
                McpEntry(
                    path, locator, locator.rsplit(".", 1)[-1], tuple(argv), {str(k): str(v) for k, v in env.items()}
                )
            )
            return
        for k, v in node.items():
            _walk(v, f"{locator}.{k}" if locator else str(k), path, out)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _walk(v, f"{locator}[{i}]", path, out)


def mcp_entries(path: Path, max_bytes: int = 10 * 1024 * 1024) -> list[McpEntry]:
    """Every MCP server entry (an object with a ``command``) in an agent config file; [] if it is too large or
    does not parse (discovery has already reported such a file as a coverage gap)."""
    try:
        if path.stat().st_size > max_bytes:
            return []
        data = _load(path)
    except Exception:  # a file that does not parse has no entries
        return []
    out: list[McpEntry] = []
    _walk(data, "", str(path), out)
    return out


def _matches(rule: McpServerRule, argv: Sequence[str]) -> bool:
    if not argv:
        return False
    exe = os.path.basename(argv[0]).lower().removesuffix(".exe").removesuffix(".cmd")
    for prefix in rule.commands:
        if exe == prefix[0] and tuple(argv[1 : len(prefix)]) == prefix[1:]:
            return True
    return any(a == pkg or a.startswith(pkg + "@") for pkg in rule.packages for a in argv[1:])


def _truthy(v: str | None) -> bool:
    return (v or "").strip().lower() in ("1", "true", "yes", "on")


def link_mcp_servers(
    candidates: list[Candidate],
    agent_files: Iterable[Path],
    recognisers: Sequence[Recogniser],
    home: Path | None,
    max_bytes: int = 10 * 1024 * 1024,
) -> list[Candidate]:
    """The candidates, with a `Source` added to each CLI-stored login that a token-less MCP entry uses."""
    rules = [(r, rule) for r in recognisers for rule in r.mcp_servers]
    if not rules or home is None:
        return candidates
    entries = [e for p in dict.fromkeys(agent_files) for e in mcp_entries(p, max_bytes)]
    out = []
    for cand in candidates:
        added: list[Source] = []
        for r, rule in rules:
            if (r.provider, r.kind) != (cand.provider, cand.kind):
                continue
            stored = [
                s for s in cand.sources if any(fnmatchcase(os.path.relpath(s.path, home), f.path) for f in r.files)
            ]
            for e in entries:
                if not stored or not _matches(rule, e.argv) or any(e.env.get(k) for k in rule.token_env):
                    continue
                profile = next((e.env[k] for k in rule.profile_env if e.env.get(k)), rule.default_profile)
                if profile is not None and not any(s.locator.startswith(profile + ".") for s in stored):
                    continue
                read_only = any(_truthy(e.env.get(k)) for k in rule.read_only_env)
                src = Source(
                    path=e.path,
                    locator=e.locator,
                    category=SourceCategory.agent_config,
                    agent=agent_of(e.path),
                    mcp_server=f"{e.name} ({rule.name})",
                    destructive_tools=() if read_only else rule.destructive_tools,
                )
                if src not in cand.sources and src not in added:
                    added.append(src)
        out.append(cand.model_copy(update={"sources": (*cand.sources, *added)}) if added else cand)
    return out
