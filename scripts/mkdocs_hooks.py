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

    from auditor.cli import full_command

    root = full_command()
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
        out.extend(
            [
                f"{level} `{' '.join(['blastwall', *path])}`",
                "",
                "```text",
                f"blastwall {' '.join(path)} {usage}".rstrip(),
                "```",
                "",
            ]
        )
        help_text = _plain(cmd.help or "").strip()
        body, _, examples = help_text.partition("Examples")
        out.extend([body.strip(), ""])
        params = [p for p in cmd.params if not getattr(p, "hidden", False)]
        if params:
            out.extend(["| argument / option | meaning |", "|---|---|"])
            for p in params:
                is_option = getattr(p, "param_type_name", "") == "option"  # typer may bundle its own click
                names = (
                    ", ".join(f"`{o}`" for o in (p.opts + p.secondary_opts))
                    if is_option
                    else f"`{(p.metavar or p.name or '').upper()}`"
                )
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


def _resolve(s: Any, root: dict[str, Any], depth: int = 0) -> Any:
    """Follow a local `$ref` (`#/$defs/x`) and merge `allOf`, so a field shows its real shape."""
    if not isinstance(s, dict) or depth > 8:
        return s
    if isinstance(s.get("$ref"), str) and s["$ref"].startswith("#/"):
        target: Any = root
        for part in s["$ref"][2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        merged = {**_resolve(target, root, depth + 1), **{k: v for k, v in s.items() if k != "$ref"}}
        return merged
    if isinstance(s.get("allOf"), list):
        merged = {k: v for k, v in s.items() if k != "allOf"}
        for part in s["allOf"]:
            part = _resolve(part, root, depth + 1)
            if isinstance(part, dict):
                merged.setdefault("properties", {}).update(part.get("properties") or {})
                merged["required"] = [*(merged.get("required") or []), *(part.get("required") or [])]
                for k, v in part.items():
                    merged.setdefault(k, v)
        return merged
    return s


def _schema_type(s: dict[str, Any], root: dict[str, Any]) -> str:
    s = _resolve(s, root)
    if "const" in s:
        return f"`{json.dumps(s['const'])}`"
    if "enum" in s:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in s["enum"])
    t = s.get("type")
    if isinstance(t, list):
        return " or ".join(t)
    if t == "array" and isinstance(s.get("items"), dict):
        return "array of " + _schema_type(s["items"], root)
    if t is None and ("anyOf" in s or "oneOf" in s):
        return " or ".join(_schema_type(x, root) for x in s.get("anyOf", s.get("oneOf", [])))
    return str(t or ("object" if "properties" in s else "any"))


def _props(s: dict[str, Any], prefix: str, out: list[str], root: dict[str, Any], depth: int = 0) -> None:
    s = _resolve(s, root)
    if s.get("type") == "array" and isinstance(s.get("items"), dict):
        s = _resolve(s["items"], root)
        prefix = (prefix[:-1] if prefix.endswith(".") else prefix) + "[]."
    for alt in s.get("anyOf") or s.get("oneOf") or ():  # e.g. null or an object: document the object
        alt = _resolve(alt, root)
        if isinstance(alt, dict) and (alt.get("properties") or alt.get("type") == "array"):
            s = alt
            break
    for name, sub in (s.get("properties") or {}).items():
        if not isinstance(sub, dict) or len(out) >= _MAX_ROWS:
            continue
        req = name in (s.get("required") or [])
        desc = (_resolve(sub, root).get("description") or "").replace("|", "\\|").replace("\n", " ")
        out.append(f"| `{prefix}{name}` | {_schema_type(sub, root)} | {'yes' if req else ''} | {desc} |")
        if depth < 3:
            _props(sub, f"{prefix}{name}.", out, root, depth + 1)


_MAX_ROWS = 150  # the SARIF standard's schema is huge: its first fields, then a pointer to the file


def json_schemas_markdown() -> str:
    out: list[str] = []
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text())
        title = schema.get("title") or path.stem
        out.extend([f"### {title}", "", f"Schema: `tests/schemas/{path.name}`", ""])
        if schema.get("description"):
            out.extend([schema["description"], ""])
        rows: list[str] = []
        _props(schema, "", rows, schema)
        if schema.get("type") == "array":
            out.extend(["An array; one element per row below (`[]`).", ""])
        if rows:
            out.extend(["| field | type | required | meaning |", "|---|---|---|---|", *rows, ""])
            if len(rows) >= _MAX_ROWS:
                out.extend([f"(first {_MAX_ROWS} fields; the rest are in the schema file)", ""])
    return "\n".join(out)


# -- the hook -----------------------------------------------------------------------------------

_GENERATORS = {"config-keys": config_markdown, "cli": cli_markdown, "json-schemas": json_schemas_markdown}


def on_page_markdown(markdown: str, **_: Any) -> str:
    def sub(m: re.Match[str]) -> str:
        return _GENERATORS[m.group(1)]()

    return re.sub(r"<!-- generated: ([a-z-]+) -->", sub, markdown)
