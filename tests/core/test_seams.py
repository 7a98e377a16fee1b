"""The core knows no platform: what only some providers can do is a seam that they implement or not."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from auditor.database_source import DatabaseSource
from auditor.provider import Provider
from auditor.registry import BUILTIN_PROVIDERS, database_source, known_providers, volume_restorer
from auditor.volume_restorer import VolumeRestorer

ROOT = Path(__file__).resolve().parents[2]


def test_the_provider_base_class_has_no_platform_only_methods() -> None:
    for name in ("resolve_database_url", "describe_volume_restore", "restore_volume_backup"):
        assert not hasattr(Provider, name)


def test_the_core_never_imports_a_provider_or_names_one_in_code() -> None:
    offenders = []
    for path in (ROOT / "auditor").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("providers"):
                offenders.append(f"{path}: imports {node.module}")
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and path.name != "registry.py"
                and node.value.lower() in BUILTIN_PROVIDERS
                and node.value not in ("postgres", "render")
            ):  # also plain words
                offenders.append(f"{path}:{node.lineno}: branches on {node.value!r}")
    assert not offenders, offenders


def test_the_registry_says_who_implements_each_seam() -> None:
    rw = database_source("railway")
    assert isinstance(rw, DatabaseSource) and isinstance(volume_restorer("railway"), VolumeRestorer)
    assert "railway" in known_providers()


def test_package_inits_import_nothing_heavy() -> None:
    code = (
        "import sys, auditor.workflow, auditor.scheduler, auditor.backup, auditor.discovery, auditor.config;"
        "print(sorted(m for m in ('sqlalchemy','psycopg','apscheduler','boto3','httpx','graphql','providers')"
        " if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout
