"""The engine seam: the URL scheme picks the engine; an unknown scheme is a clear error; the manifest's kind
finds the engine again for verification."""

from __future__ import annotations

import pytest

from auditor.backup.engines import ENGINES, engine_for_url, engine_named, scheme_of
from auditor.backup.engines.interface import Engine
from auditor.backup.manifest import SourceIdentity
from auditor.errors import BackupError, ConfigError


@pytest.mark.parametrize(
    "url,name",
    [
        ("postgresql://u:p@h/db", "postgres"),
        ("postgres://h/db", "postgres"),
        ("host=h dbname=x", "postgres"),
        ("mysql://u:p@h:3306/shop", "mysql"),
        ("mariadb://h/shop", "mysql"),
        ("redis://:p@h:6379/0", "redis"),
        ("rediss://default:p@h:6380", "redis"),
    ],
)
def test_scheme_picks_the_engine(url, name):
    assert scheme_of(url) == name
    engine = engine_for_url(url)
    assert isinstance(engine, Engine) and engine.name == name


def test_unknown_scheme_and_engine():
    with pytest.raises(ConfigError) as err:
        scheme_of("mongodb://h/db")
    assert "unsupported database URL scheme 'mongodb'" in err.value.message
    with pytest.raises(BackupError):
        engine_named("mongo")


def test_every_registered_engine_implements_the_interface():
    for name in ENGINES:
        e = engine_named(name)
        assert e.name == name and e.schemes and e.label
        assert not e.magic_ok(b"garbage", b"garbage")


def test_identity_uri_per_engine():
    assert SourceIdentity(name="a", kind="mysql", host="db", database="shop").uri == "mysql://db:3306/shop"
    assert SourceIdentity(name="a", kind="redis", host="c", port=6380).uri == "redis://c:6380/"
    assert SourceIdentity(name="a", host="p", database="x").uri == "postgres://p:5432/x"
