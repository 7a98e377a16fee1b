"""Placeholders are dropped; real (random) tokens never are, whatever characters chance puts in them."""

from __future__ import annotations

import pytest

from auditor.discovery.placeholders import is_placeholder
from tests.support import planted as P

DECOYS = [
    "sk_live_YOUR_KEY_HERE",
    "your-token",
    "<token>",
    "${RAILWAY_TOKEN}",
    "${env:GITHUB_TOKEN}",
    "$GH_TOKEN",
    "ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    "XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX",
    "changeme",
    "sk_live_********************7xQ2",
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "REPLACE_ME",
    "insert-token-here",
    "dop_v1_0000000000000000",
    "postgres://user:password@localhost/db",
    "postgresql://app:${DB_PASSWORD}@db/prod",
    "{{ secrets.TOKEN }}",
]


@pytest.mark.parametrize("value", DECOYS)
def test_placeholders_are_recognised(value: str) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize(
    "gen",
    [
        P.gh,
        P.gh_fine,
        P.gho,
        P.sk_live,
        P.rk_live,
        P.dop,
        P.fly,
        P.render,
        P.heroku,
        P.supa,
        P.cfut,
        P.cfk,
        P.neon,
        P.vercel,
        P.akia,
        P.aws_secret,
        P.npm,
        P.pgurl,
        lambda: P.rnd(24, P.ALNUM + "-_"),
        lambda: P.rnd(12, P.HEX),
    ],
)
def test_random_tokens_are_never_placeholders(gen: object) -> None:
    for _ in range(3000):
        v = gen()  # type: ignore[operator]
        assert not is_placeholder(v), v
