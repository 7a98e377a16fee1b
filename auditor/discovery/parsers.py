"""Turn files into (locator, key, value, line) entries. Never executes anything; never raises on bad input."""

from __future__ import annotations

import datetime
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._lazy import lazy_module

if TYPE_CHECKING:
    import yaml
else:
    yaml = lazy_module("yaml")  # imported by the first YAML file parsed

__all__ = ["Entry", "ParseError", "detect_format", "parse_structured", "locator_key", "join"]


@dataclass(frozen=True, slots=True)
class Entry:
    locator: str
    key: str  # the last key name (for key_names matching); "" for list items and free text
    value: str
    line: int | None
    parent: str  # locator of the containing object (for companions)


class ParseError(Exception):
    pass


_SAFE_KEY = re.compile(r"^[A-Za-z0-9_\-@:$]+$")


def join(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    seg = key if _SAFE_KEY.match(key) else json.dumps(key)
    if not _SAFE_KEY.match(key):
        return f"{parent}[{seg}]"
    return f"{parent}.{seg}" if parent else seg


def locator_key(locator: str) -> str:
    return locator.rsplit(".", 1)[-1]


def detect_format(name: str, rel: str) -> str:
    n = name.lower()
    if n.endswith((".json", ".jsonc")) or n in (".claude.json",):
        return "json"
    if n.endswith((".yaml", ".yml")):
        return "yaml"
    if n.endswith(".toml"):
        return "toml"
    if n in ("credentials", "config", ".npmrc", "npmrc", ".gitconfig", ".pypirc", ".boto") and (
        "/.aws/" in f"/{rel}"
        or n in (".npmrc", "npmrc", ".gitconfig", ".pypirc", ".boto")
        or rel.endswith(".git/config")
    ):
        return "ini"
    if n.startswith(".env") or n.endswith(".env") or n == ".dev.vars" or n.startswith("env."):
        return "dotenv"
    if n in (".netrc", "_netrc"):
        return "netrc"
    if n == ".pgpass" or n == "pgpass.conf":
        return "pgpass"
    if rel.endswith(".kube/config"):
        return "yaml"
    if "/.config/heroku/accounts/" in f"/{rel}" or "/.heroku/accounts/" in f"/{rel}":
        return "yaml"
    return "text"


_LINE_COMMENTS = re.compile(r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/', re.S)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def _jsonc(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        stripped = _LINE_COMMENTS.sub(lambda m: m.group(1) or "", text)
        stripped = _TRAILING_COMMA.sub(r"\1", stripped)
        return json.loads(stripped)


def _walk(node: Any, parent: str, out: list[tuple[str, str, str, str]]) -> None:
    if isinstance(node, dict):
        for k, v in node.items():
            loc = join(parent, str(k))
            if isinstance(v, (dict, list)):
                _walk(v, loc, out)
            elif isinstance(v, (str, int, float, datetime.date)) and not isinstance(v, bool):
                # YAML and TOML turn unquoted timestamps into dates: keep them as text (hints like expires_at)
                out.append((loc, str(k), v.isoformat() if isinstance(v, datetime.date) else str(v), parent))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            loc = join(parent, i)
            if isinstance(v, (dict, list)):
                _walk(v, loc, out)
            elif isinstance(v, str):
                out.append((loc, "", v, parent))


def _line_of(text: str, value: str) -> int | None:
    if not value or len(value) < 4:
        return None
    idx = text.find(value)
    if idx < 0:
        return None
    return text.count("\n", 0, idx) + 1


def parse_structured(fmt: str, text: str) -> list[Entry]:
    """Parse `text` as `fmt`; raises ParseError with a short reason (never the content)."""
    flat: list[tuple[str, str, str, str]] = []
    try:
        if fmt == "json":
            _walk(_jsonc(text), "", flat)
        elif fmt == "yaml":
            for doc in yaml.safe_load_all(text):
                _walk(doc, "", flat)
        elif fmt == "toml":
            _walk(tomllib.loads(text), "", flat)
        elif fmt == "ini":
            return list(_ini(text))
        elif fmt == "dotenv":
            return list(_dotenv(text))
        elif fmt == "netrc":
            return list(_netrc(text))
        elif fmt == "pgpass":
            # host:port:database:user:password, one per line; the whole line is the credential
            return [
                Entry(f"line {n}", "", line.strip(), n, "")
                for n, line in enumerate(text.splitlines(), 1)
                if line.strip() and not line.lstrip().startswith("#")
            ]
        else:
            raise ParseError(f"unknown format {fmt}")
    except ParseError:
        raise
    except (ValueError, yaml.YAMLError, tomllib.TOMLDecodeError, RecursionError, TypeError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        # keep position information only: parser messages can quote content
        m = re.search(r"line (\d+)", msg)
        raise ParseError(f"malformed {fmt.upper()}" + (f" near line {m.group(1)}" if m else "")) from None
    return [Entry(loc, key, val, _line_of(text, val), parent) for loc, key, val, parent in flat]


_ASSIGN = re.compile(r"""^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.\-]*)\s*=\s*(.*?)\s*$""")


def _unquote(v: str) -> str:
    v = v.strip()
    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'`":
        return v[1:-1]
    # strip trailing inline comment for unquoted values
    return re.sub(r"\s+#.*$", "", v)


def _dotenv(text: str) -> Iterator[Entry]:
    for n, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        m = _ASSIGN.match(line)
        if m:
            yield Entry(m.group(1), m.group(1), _unquote(m.group(2)), n, "")


_SECTION = re.compile(r"^\s*\[([^\]]+)\]\s*$")
_INI_KV = re.compile(r"^\s*([^=#;\s][^=]*?)\s*=\s*(.*?)\s*$")
_INI_COLON = re.compile(r"^\s*([^=:#;\s][^=:]*?)\s*:\s*(.*?)\s*$")


def _ini(text: str) -> Iterator[Entry]:
    # Hand-written: configparser is too strict for .npmrc keys such as //host/:_authToken.
    section = ""
    for n, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith(("#", ";")):
            continue
        m = _SECTION.match(line)
        if m:
            section = m.group(1).strip()
            continue
        kv = _INI_KV.match(line) or _INI_COLON.match(line)
        if kv:
            key = kv.group(1).strip()
            loc = f"{section}.{key}" if section else key
            yield Entry(loc, key, _unquote(kv.group(2)), n, section)
        elif not line.startswith((" ", "\t")):
            raise ParseError(f"malformed INI near line {n}")


def _netrc(text: str) -> Iterator[Entry]:
    tokens: list[tuple[str, int]] = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue
        tokens += [(t, n) for t in line.split()]
    machine = "default"
    i = 0
    while i < len(tokens):
        t, n = tokens[i]
        if t == "machine" and i + 1 < len(tokens):
            machine = tokens[i + 1][0]
            i += 2
            continue
        if t == "default":
            machine = "default"
            i += 1
            continue
        if t in ("login", "password", "account") and i + 1 < len(tokens):
            v, vn = tokens[i + 1]
            parent = f"machine {machine}"
            yield Entry(f"{parent}.{t}", t, v, vn, parent)
            i += 2
            continue
        if t == "macdef":
            break
        i += 1
