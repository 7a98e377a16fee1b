"""The documentation site: it builds with `mkdocs build --strict`, and its reference pages are complete.

The configuration, CLI and JSON reference are generated at build time by scripts/mkdocs_hooks.py
from the config models, the Typer app and tests/schemas/*.json; these tests check their inputs.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _hooks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mkdocs_hooks", ROOT / "scripts" / "mkdocs_hooks.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("mkdocs")), "build", "--strict", "-d", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "NO_MKDOCS_2_WARNING": "1"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html)


def test_every_config_key_has_a_description_and_no_description_is_stale() -> None:
    h = _hooks()
    table = h._descriptions()
    keys = h.config_keys()
    missing = [k for k, f in keys if not h.describe(k, f, table)]
    assert not missing, (
        "configuration keys without a description: add each to docs/reference/config-keys.yaml "
        f"(or give the field a pydantic description): {missing}"
    )
    stale = sorted(set(table) - {k for k, _ in keys})
    assert not stale, f"docs/reference/config-keys.yaml describes keys that no longer exist: {stale}"


def test_configuration_page_lists_every_key_once(site: Path) -> None:
    page = (site / "reference" / "configuration" / "index.html").read_text()
    text = _text(page)
    for key, _ in _hooks().config_keys():
        if "." in key:
            section, rest = key.split(".", 1)
            assert f"\n{rest}\n" in text or f">{rest}<" in page, f"{key} missing from the configuration reference"
        else:
            assert f'id="{key}"' in page, f"section {key} missing from the configuration reference"


def test_cli_page_has_every_command(site: Path) -> None:

    from auditor.cli import full_command

    page = _text((site / "reference" / "cli" / "index.html").read_text())
    names: list[str] = []

    def walk(cmd: object, path: list[str]) -> None:
        subs = getattr(cmd, "commands", None)
        if subs:
            for n, sub in subs.items():
                walk(sub, [*path, n])
        else:
            names.append(" ".join(["blastwall", *path]))

    walk(full_command(), [])
    assert len(names) > 10
    missing = [n for n in names if n not in page]
    assert not missing, f"commands missing from the CLI reference: {missing}"


def test_every_json_shape_is_documented(site: Path) -> None:
    page = _text((site / "reference" / "json" / "index.html").read_text())
    for schema in sorted((ROOT / "tests" / "schemas").glob("*.json")):
        assert f"tests/schemas/{schema.name}" in page, f"{schema.name} missing from the JSON reference"


def test_exit_code_table_agrees_with_the_code() -> None:
    from auditor.cli import EXIT_CODES_HELP
    from auditor.errors import ApprovalRequired, BlastwallError, GateRejected

    page = (DOCS / "reference" / "exit-codes.md").read_text()
    rows = {int(m.group(1)): m.group(2) for m in re.finditer(r"^\| (\d+) \| ([^|]+) \|", page, re.M)}
    assert set(rows) == {0, 1, 2, 3, 4, 130}
    assert len(re.findall(r"^\| code \|", page, re.M)) == 1, "one table"
    assert BlastwallError.exit_code == 1 and ApprovalRequired.exit_code == 4 and GateRejected.exit_code == 4
    help_codes = {int(c) for c in re.findall(r"(\d+) [a-z]", EXIT_CODES_HELP)}
    assert help_codes == set(rows)
    assert "raise typer.Exit(3)" in (ROOT / "auditor" / "cli" / "audit.py").read_text()  # --fail-on
    assert "findings" in rows[3] and "approval" in rows[4] and "interrupted" in rows[130]
    from auditor.cli.runs import exit_code_for
    from auditor.workflow.model import RunState

    class R:
        def __init__(self, state: RunState) -> None:
            self.state = state

    assert {s: exit_code_for(R(s)) for s in (RunState.WAITING, RunState.REJECTED, RunState.EXPIRED)} == dict.fromkeys(
        (RunState.WAITING, RunState.REJECTED, RunState.EXPIRED), 4
    )
    assert exit_code_for(R(RunState.SUCCEEDED)) == 0 and exit_code_for(R(RunState.FAILED)) == 1  # type: ignore[arg-type]


def test_no_other_page_has_an_exit_code_table_or_a_key_list() -> None:
    """Each fact once: exit codes and configuration keys live on their reference pages only."""
    for page in DOCS.rglob("*.md"):
        if page.name in ("exit-codes.md",):
            continue
        text = page.read_text()
        assert not re.search(r"^\| *code *\| *meaning", text, re.M) or page.name == "verify.md", page


def test_every_page_is_in_the_nav() -> None:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("", lambda loader, suffix, node: None)
    nav = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)["nav"]

    def flat(x: object) -> list[str]:
        if isinstance(x, str):
            return [x]
        if isinstance(x, dict):
            return [p for v in x.values() for p in flat(v)]
        if isinstance(x, list):
            return [p for v in x for p in flat(v)]
        return []

    pages = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert pages == set(flat(nav)), "a page outside the nav (or a nav entry without a page)"


def test_every_toml_example_is_valid_configuration() -> None:
    """Examples in the docs and the README go through the real loader (fragments may name sources defined elsewhere)."""
    from auditor.config import parse_config
    from auditor.errors import ConfigError

    blocks = 0
    for page in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]:
        for i, block in enumerate(re.findall(r"```toml\n(.*?)```", page.read_text(), re.S)):
            blocks += 1
            try:
                parse_config(block, f"{page.relative_to(ROOT)} (toml block {i + 1})")
            except ConfigError as exc:
                assert "refers to unknown" in str(exc), str(exc)
    assert blocks >= 5


def test_every_help_renders() -> None:
    """`--help` of every command renders (rich markup such as `[/x]` in a help text breaks it)."""
    from typer.testing import CliRunner

    from auditor.cli import app, full_command

    paths: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        paths.append(path)
        for n, sub in (getattr(cmd, "commands", None) or {}).items():
            walk(sub, [*path, n])

    walk(full_command(), [])
    broken = {}
    for path in paths:
        res = CliRunner().invoke(app, [*path, "--help"])
        if res.exit_code != 0 or res.exception is not None:
            broken[" ".join(path)] = repr(res.exception)
    assert not broken, broken
