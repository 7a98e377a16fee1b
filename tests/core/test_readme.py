"""The README stays true: its two commands are what CI runs, it is built from its parts, and it documents
every configuration key."""

from __future__ import annotations

import subprocess
import sys
import typing
from pathlib import Path

from pydantic import BaseModel

from auditor.config import Config

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_quick_start_is_two_commands_and_ci_runs_the_test_one() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = quick.split("```sh", 1)[1].split("```", 1)[0]
    commands = [ln.split("#")[0].strip() for ln in block.strip().splitlines() if ln.strip()]
    assert commands == ["make audit", "make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert [ln.strip() for ln in ci.splitlines() if ln.strip() and not ln.startswith("#")][-1] == "make test"


def test_readme_is_built_from_docs_readme() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "build-readme"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        out.append(prefix + name)
        ann = field.annotation
        for t in (ann, *typing.get_args(ann)):
            for tt in (t, *typing.get_args(t)):
                if isinstance(tt, type) and issubclass(tt, BaseModel) and tt.__name__ != "SecretRef":
                    out += _keys(tt, prefix + name + ".")
    return out


def test_every_config_key_is_documented() -> None:
    config_section = README.split("## Configuration", 1)[1]
    missing = [k for k in _keys(Config) if f"{k.rsplit('.', 1)[-1]} " not in config_section
               and f"{k.rsplit('.', 1)[-1]} =" not in config_section and f"[{k}]" not in config_section]
    assert not missing, f"configuration keys not documented in the README: {missing}"
