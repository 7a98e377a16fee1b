"""The import budget of start-up: `blastwall --help` and `--version` load no command module or heavy library."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("boto3", "botocore", "psycopg", "jinja2", "sqlalchemy", "graphql", "httpx", "pydantic", "rich",
         "click", "auditor.audit", "auditor.config", "auditor.cli.audit", "auditor.cli.backup", "auditor.cli.runs",
         "auditor.cli.schedule", "auditor.cli.report", "providers")


def _loaded_after(code: str) -> set[str]:
    probe = (f"import sys\n{code}\n"
             "import json; print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def _heavy(mods: set[str]) -> list[str]:
    return sorted(m for m in mods if any(m == h or m.startswith(h + ".") for h in HEAVY))


def test_importing_the_cli_imports_nothing_heavy() -> None:
    assert _heavy(_loaded_after("import auditor.cli")) == []


def test_version_loads_no_command_module() -> None:
    code = ("from auditor.cli import main\nsys.argv = ['blastwall', '--version']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n")
    assert _heavy(_loaded_after(code)) == []


def test_root_help_lists_every_command_without_importing_it() -> None:
    code = ("import io, contextlib\nfrom auditor.cli import main\nsys.argv = ['blastwall', '--help']\nbuf = io.StringIO()\n"
            "with contextlib.redirect_stdout(buf):\n    try:\n        main()\n    except SystemExit:\n        pass\n"
            "sys.stderr.write(buf.getvalue())\n")
    mods = _loaded_after(code)
    assert not [m for m in mods if m.startswith("auditor.cli.") and m != "auditor.cli._common"
                and not m.startswith("auditor.cli._")], mods
    assert not [m for m in mods if m.split(".")[0] in {"boto3", "psycopg", "jinja2", "sqlalchemy", "providers"}]
    out = subprocess.run([sys.executable, "-c", "from auditor.cli import main; main()", "--help"],
                         capture_output=True, text=True, timeout=60)
    from auditor.cli import COMMANDS

    for name in COMMANDS:
        assert f" {name} " in out.stdout, name


def test_version_prints_the_package_version() -> None:
    from auditor import __version__

    out = subprocess.run([sys.executable, "-c", "from auditor.cli import main; main()", "--version"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == f"blastwall {__version__}"
