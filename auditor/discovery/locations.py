"""Well-known locations that are not any single provider's: AI-agent and MCP configuration files.

Provider-specific CLI files come from each provider's recognisers (FileRule paths).
Paths are relative to the home directory.
"""

from __future__ import annotations

__all__ = ["AGENT_HOME_FILES", "AGENT_PROJECT_PATTERNS", "HOME_EXTRA_FILES", "SKIP_DIRS"]

AGENT_HOME_FILES: tuple[str, ...] = (
    # Cursor
    ".cursor/mcp.json",
    ".config/Cursor/config.json",
    "Library/Application Support/Cursor/config.json",
    # Claude Code (user and per-project mcpServers, settings env, OAuth credentials)
    ".claude.json",
    ".claude/settings.json",
    ".claude/settings.local.json",
    ".claude/.credentials.json",
    # Claude Desktop
    ".config/Claude/claude_desktop_config.json",
    "Library/Application Support/Claude/claude_desktop_config.json",
    "AppData/Roaming/Claude/claude_desktop_config.json",
    # VS Code and Cline
    ".config/Code/User/mcp.json",
    ".config/Code/User/settings.json",
    "Library/Application Support/Code/User/mcp.json",
    "Library/Application Support/Code/User/settings.json",
    ".config/Code/User/globalStorage/saoudrizwan.claude-dev/settings/cline_mcp_settings.json",
    # Windsurf
    ".codeium/windsurf/mcp_config.json",
    ".codeium/windsurf/config.json",
    # Kiro
    ".kiro/settings/mcp.json",
    ".kiro/agents/*.json",
    # Codex CLI
    ".codex/config.toml",
    ".codex/auth.json",
    # Gemini CLI
    ".gemini/settings.json",
    ".gemini/.env",
    ".gemini/oauth_creds.json",
    # Continue
    ".continue/config.yaml",
    ".continue/config.json",
    ".continue/.env",
    ".continue/mcpServers/*.yaml",
    ".continue/mcpServers/*.json",
    # Zed
    ".config/zed/settings.json",
)

# Inside a scanned project, these relative paths are agent configuration.
AGENT_PROJECT_PATTERNS: tuple[str, ...] = (
    ".mcp.json",
    ".cursor/*",
    ".vscode/mcp.json",
    ".vscode/settings.json",
    ".kiro/*",
    ".kiro/*/*",
    ".claude/*",
    ".gemini/*",
    ".codex/*",
    ".continue/*",
    ".continue/*/*",
    ".windsurf/*",
)

# Generic dotfiles in the home directory worth reading whatever providers are installed.
HOME_EXTRA_FILES: tuple[str, ...] = (
    ".env",
    ".env.local",
    ".git-credentials",
    ".gitconfig",
    ".bashrc",
    ".zshrc",
    ".profile",
    ".bash_profile",
    ".config/fish/config.fish",
)

# Directories never descended into while scanning project paths (counted, reported in scope).
SKIP_DIRS: frozenset[str] = frozenset(
    {
        "node_modules",
        ".venv",
        "venv",
        ".tox",
        "__pycache__",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".cache",
        "site-packages",
        ".terraform",
        ".gradle",
        ".idea",
        "dist-packages",
    }
)
