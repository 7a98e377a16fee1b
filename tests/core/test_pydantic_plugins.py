"""The command line loads no pydantic plugin: an installed package declaring one never sees Blastwall's data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PLUGIN = """\
import pathlib

pathlib.Path({marker!r}).write_text("loaded")


class _Plugin:
    def new_schema_validator(self, *args, **kwargs):
        return None, None, None


plugin = _Plugin()
"""


def _site_with_plugin(tmp_path: Path) -> tuple[Path, Path]:
    """A directory for PYTHONPATH holding a distribution whose `pydantic` entry point records its own import."""
    site, marker = tmp_path / "site", tmp_path / "plugin-loaded"
    dist = site / "bw_canary_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (site / "bw_canary_plugin.py").write_text(PLUGIN.format(marker=str(marker)))
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: bw-canary-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[pydantic]\ncanary = bw_canary_plugin:plugin\n")
    return site, marker


def _audit(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = ["audit", "--no-home", "--no-env", "--offline", "--json", str(path)]
    return subprocess.run(
        [sys.executable, "-c", "from auditor.cli import main; main()", *argv],
        env=env,
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_an_installed_pydantic_plugin_is_not_loaded_by_the_cli(tmp_path: Path) -> None:
    site, marker = _site_with_plugin(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH", "")) if p)
    env["BLASTWALL_STATE_DIR"] = str(tmp_path / "state")

    # control: in this environment, the first pydantic model of any other program loads the plugin
    model = "from pydantic import BaseModel\nclass M(BaseModel):\n    x: int = 0\nM(x=1)\n"
    subprocess.run([sys.executable, "-c", model], env=env, check=True, timeout=60)
    assert marker.read_text() == "loaded"
    marker.unlink()

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".env").write_text("GITHUB_TOKEN=ghp_" + "A1b2C3d4" * 4 + "Zz9y\n")  # a credential to validate
    out = _audit(empty, env)
    assert out.returncode == 0, out.stderr
    assert [c["provider"] for c in json.loads(out.stdout)["credentials"]] == ["github"]  # models were validated
    assert not marker.exists(), "the CLI loaded an installed pydantic plugin"

    # an explicit setting is the user's: naming another plugin to disable leaves this one enabled
    env["PYDANTIC_DISABLE_PLUGINS"] = "some-other-plugin"
    out = _audit(empty, env)
    assert out.returncode == 0, out.stderr
    assert marker.exists()
