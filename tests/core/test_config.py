from __future__ import annotations

from pathlib import Path

import pytest

from auditor.config import load_config, parse_config
from auditor.errors import ConfigError

GOOD = """
[[sources]]
name = "prod-db"
kind = "postgres"
url = "env:PROD_DATABASE_URL"

[[sources.checks]]
sql = "select count(*) from t"
expect = "> 0"

[[stores]]
name = "offsite"
kind = "s3"
endpoint = "http://127.0.0.1:9000"
bucket = "b"
access_key_id = "env:K"
secret_access_key = "file:/run/secret"
object_lock = { mode = "COMPLIANCE", days = 30 }

[[backups]]
source = "prod-db"
store = "offsite"
schedule = "0 3 * * *"
keep_days = 30

[[targets]]
name = "staging"
url = "env:STAGING_URL"

[[verifications]]
source = "prod-db"
schedule = "0 5 * * *"

[[audits]]
name = "nightly"
paths = ["/srv/app"]
schedule = "0 2 * * *"
timezone = "Europe/Berlin"

[notifications]
webhook_url = "env:SLACK_WEBHOOK"

[state]
url = "sqlite:////tmp/x.db"
"""


def test_good_config_parses() -> None:
    cfg = parse_config(GOOD, "blastwall.toml")
    assert cfg.source("prod-db").checks[0].expect == "> 0"
    assert cfg.store("offsite").object_lock is not None and cfg.store("offsite").object_lock.days == 30
    assert str(cfg.sources[0].url) == "env:PROD_DATABASE_URL"


def _line(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if ln.startswith(needle))


@pytest.mark.parametrize(
    ("mutation", "bad", "key"),
    [
        (("keep_days = 30", "keep_days = 30\nretension = 3"), "retension", "backups[0].retension"),
        (('name = "staging"', 'name = "staging"\ncolour = "red"'), "colour", "targets[0].colour"),
        (('expect = "> 0"', 'expect = "> 0"\nexpected = 1'), "expected", "sources[0].checks[0].expected"),
        (("[state]", '[state]\npath = "x"'), "path", "state.path"),
    ],
)
def test_unknown_keys_name_file_line_and_key(mutation: tuple[str, str], bad: str, key: str) -> None:
    text = GOOD.replace(*mutation, 1)
    line = _line(text, bad + " =")
    with pytest.raises(ConfigError) as ei:
        parse_config(text, "blastwall.toml")
    msg = str(ei.value)
    assert f"blastwall.toml:{line}" in msg and key in msg and "unknown key" in msg


def test_bad_cron_and_inline_secret_and_bad_toml(tmp_path: Path) -> None:
    bad = GOOD.replace('"0 3 * * *"', '"0 25 * * *"')
    n = next(i for i, ln in enumerate(bad.splitlines(), 1) if "0 25" in ln)
    with pytest.raises(ConfigError, match=rf"blastwall.toml:{n}: backups\[0\].schedule: invalid cron"):
        parse_config(bad, "blastwall.toml")
    with pytest.raises(ConfigError, match="must be a secret reference"):
        parse_config(GOOD.replace('"env:PROD_DATABASE_URL"', '"postgres://u:p@h/db"'), "blastwall.toml")
    p = tmp_path / "blastwall.toml"
    p.write_text("[[sources]\nname=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(p)


def test_missing_secret_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = parse_config(GOOD, "blastwall.toml")
    assert cfg.sources[0].url is not None
    with pytest.raises(ConfigError, match="PROD_DATABASE_URL is not set"):
        cfg.sources[0].url.resolve({})
    monkeypatch.setenv("PROD_DATABASE_URL", "postgres://u:pw@h/db")
    assert cfg.sources[0].url.resolve().reveal().startswith("postgres://")


def test_references_checked() -> None:
    with pytest.raises(ConfigError, match="unknown store"):
        parse_config(GOOD.replace('store = "offsite"', 'store = "elsewhere"'), "blastwall.toml")
