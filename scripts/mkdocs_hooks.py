"""MkDocs hook: the reference pages' generated parts, built from the code at every `mkdocs build`.

A page holds a marker line and the hook replaces it:

* `<!-- generated: config-keys -->`: every key of `auditor.config.Config`, with its type, default and
  description (the pydantic field's `description`, else docs/reference/config-keys.yaml);
* `<!-- generated: cli -->`: every command of the Typer app with its help, arguments and options;
* `<!-- generated: json-schemas -->`: every JSON Schema in tests/schemas/ (title, description, fields).

So nothing generated is committed and nothing can drift; tests/core/test_docs.py checks the inputs
(every key described, every schema titled) and runs `mkdocs build --strict`.
"""

from __future__ import annotations

import json
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

KEYS_FILE = ROOT / "docs" / "reference" / "config-keys.yaml"
SCHEMAS = ROOT / "tests" / "schemas"

__all__ = ["cli_markdown", "config_keys", "config_markdown", "json_schemas_markdown", "on_page_markdown"]


# -- configuration ------------------------------------------------------------------------------

def _models(ann: Any) -> list[type]:
    from pydantic import BaseModel

    out = []
    for t in (ann, *typing.get_args(ann)):
        for tt in (t, *typing.get_args(t)):
            if isinstance(tt, type) and issubclass(tt, BaseModel) and tt.__name__ != "SecretRef":
                out.append(tt)
    return list(dict.fromkeys(out))


def config_keys() -> list[tuple[str, Any]]:
    """(dotted key, pydantic FieldInfo) of every configuration key, parents before children, each once."""
    from auditor.config import Config

    out: list[tuple[str, Any]] = []
    seen: set[str] = set()

    def walk(model: type, prefix: str) -> None:
        for name, field in model.model_fields.items():  # type: ignore[attr-defined]
            key = prefix + name
            if key in seen:
                continue
            seen.add(key)
            out.append((key, field))
            for sub in _models(field.annotation):
                walk(sub, key + ".")

    walk(Config, "")
    return out


def _descriptions() -> dict[str, str]:
    import yaml

    return {str(k): str(v) for k, v in (yaml.safe_load(KEYS_FILE.read_text()) or {}).items()}


def describe(key: str, field: Any, table: dict[str, str] | None = None) -> str | None:
    table = _descriptions() if table is None else table
    return field.description or table.get(key)


def _type(ann: Any) -> str:
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin in (typing.Union, types.UnionType):
        parts = [_type(a) for a in args if a is not type(None)]
        return " or ".join(parts)
    if origin is typing.Literal:
        return " \\| ".join(f'`"{a}"`' for a in args)
    if origin in (tuple, list):
        return "list of " + (_type(args[0]) if args else "values")
    if origin is dict:
        return "table"
    name = getattr(ann, "__name__", str(ann))
    if name == "SecretRef":
        return "secret reference"
    if _models(ann):
        return "table"
    return {"str": "string", "int": "integer", "bool": "boolean", "float": "number"}.get(name, name)


def _default(field: Any) -> str:
    from pydantic_core import PydanticUndefined

    if field.default is PydanticUndefined:
        return "empty" if field.default_factory is not None else "**required**"
    d = field.default
    if d is None:
        return "unset"
    if hasattr(d, "model_fields"):
        return ""
    if d == ():
        return "empty"
    return f"`{json.dumps(d)}`" if not isinstance(d, bool) else f"`{str(d).lower()}`"


def config_markdown() -> str:
    table = _descriptions()
    keys = config_keys()
    top = [k for k, _ in keys if "." not in k]
    out: list[str] = []
    from auditor.config import Config

    for section in top:
        field = Config.model_fields[section]
        is_array = typing.get_origin(field.annotation) is tuple
        header = f"[[{section}]]" if is_array else (f"[{section}.NAME]" if section == "providers" else f"[{section}]")
        out += [f"### `{header}` {{#{section}}}", "", describe(section, field, table) or "", ""]
        rows = [(k, f) for k, f in keys if k.startswith(section + ".")]
        if rows:
            out += ["| key | type | default | meaning |", "|---|---|---|---|"]
            for k, f in rows:
                text = (describe(k, f, table) or "").replace("|", "\\|").replace("\n", " ")
                out.append(f"| `{k.split('.', 1)[1]}` | {_type(f.annotation)} | {_default(f)} | {text} |")
            out.append("")
    return "\n".join(out)


# -- CLI ----------------------------------------------------------------------------------------

def _plain(text: str) -> str:
    text = re.sub(r"\[/?(bold|red|yellow|green|dim|italic)?\]", "", text or "")
    return text.replace("\\[", "[")


def cli_markdown() -> str:
    import click
    from typer.main import get_command

    from auditor.cli import app

    root = get_command(app)
    out: list[str] = []

    def walk(cmd: click.Command, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            if path:
                out.extend([f"## `{' '.join(['blastwall', *path])}`", "", _plain(cmd.help or "").strip(), ""])
            for name in sorted(subs):
                walk(subs[name], [*path, name])
            return
        ctx = click.Context(cmd, info_name=" ".join(["blastwall", *path]))
        usage = " ".join(cmd.collect_usage_pieces(ctx))
        level = "###" if len(path) > 1 else "##"
        out.extend([f"{level} `{' '.join(['blastwall', *path])}`", "", "```text",
                    f"blastwall {' '.join(path)} {usage}".rstrip(), "```", ""])
        help_text = _plain(cmd.help or "").strip()
        body, _, examples = help_text.partition("Examples")
        out.extend([body.strip(), ""])
        params = [p for p in cmd.params if not getattr(p, "hidden", False)]
        if params:
            out.extend(["| argument / option | meaning |", "|---|---|"])
            for p in params:
                is_option = getattr(p, "param_type_name", "") == "option"  # typer may bundle its own click
                names = ", ".join(f"`{o}`" for o in (p.opts + p.secondary_opts)) if is_option \
                    else f"`{(p.metavar or p.name or '').upper()}`"
                text = _plain(getattr(p, "help", "") or "").replace("|", "\\|").replace("\n", " ")
                if is_option and p.default not in (None, False, (), "", []) and not getattr(p, "is_flag", False):
                    text += f" Default: `{p.default}`."
                out.append(f"| {names} | {text} |")
            out.append("")
        if examples:
            ex, _, tail = examples.partition("Exit codes")
            lines = [ln.strip() for ln in ex.strip().lstrip(":").splitlines() if ln.strip()]
            out.extend(["Examples:", "", "```sh", *lines, "```", ""])
            if tail:
                out.extend(["Exit codes" + tail.strip().replace("\n", " "), ""])

    walk(root, [])
    return "\n".join(out)


# -- JSON shapes --------------------------------------------------------------------------------

def _schema_type(s: dict[str, Any]) -> str:
    if "enum" in s:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in s["enum"])
    t = s.get("type")
    if isinstance(t, list):
        return " or ".join(t)
    if t == "array" and isinstance(s.get("items"), dict):
        return "array of " + _schema_type(s["items"])
    if t is None and ("anyOf" in s or "oneOf" in s):
        return " or ".join(_schema_type(x) for x in s.get("anyOf", s.get("oneOf", [])))
    return str(t or ("object" if "properties" in s else "any"))


def _props(s: dict[str, Any], prefix: str, out: list[str], depth: int = 0) -> None:
    if s.get("type") == "array" and isinstance(s.get("items"), dict):
        s = s["items"]
        prefix = (prefix[:-1] if prefix.endswith(".") else prefix) + "[]."
    for name, sub in (s.get("properties") or {}).items():
        if not isinstance(sub, dict):
            continue
        req = name in (s.get("required") or [])
        desc = (sub.get("description") or "").replace("|", "\\|").replace("\n", " ")
        out.append(f"| `{prefix}{name}` | {_schema_type(sub)} | {'yes' if req else ''} | {desc} |")
        if depth < 3:
            _props(sub, f"{prefix}{name}.", out, depth + 1)


def json_schemas_markdown() -> str:
    out: list[str] = []
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text())
        title = schema.get("title") or path.stem
        out += [f"### {title}", "", f"Schema: `tests/schemas/{path.name}`", ""]
        if schema.get("description"):
            out += [schema["description"], ""]
        rows: list[str] = []
        _props(schema, "", rows)
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        if "$ref" in items:
            out += [f"An array; each element: `{items['$ref']}`.", ""]
        if rows:
            out += ["| field | type | required | meaning |", "|---|---|---|---|", *rows, ""]
    return "\n".join(out)


# -- the hook -----------------------------------------------------------------------------------

_GENERATORS = {"config-keys": config_markdown, "cli": cli_markdown, "json-schemas": json_schemas_markdown}


def on_page_markdown(markdown: str, **_: Any) -> str:
    def sub(m: re.Match[str]) -> str:
        return _GENERATORS[m.group(1)]()

    return re.sub(r"<!-- generated: ([a-z-]+) -->", sub, markdown)
