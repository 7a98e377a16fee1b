"""Every recogniser accepts the shortest and the longest form its provider documents (or that public
examples show), both bound to its variable name in a .env file and, for prefixed formats, as bare text.

Sources (see each recogniser's docstring): GitHub tokens are 40 characters today and may grow to 255;
fine-grained PATs are github_pat_ + 22 + _ + 59. Stripe keys may be up to 255 characters (older keys had 24
after the prefix). DigitalOcean: 64 hex. Cloudflare 2026 formats: 40 + 8 hex checksum; legacy API tokens
40 characters, legacy Global API keys 37 hex. Render: 28 characters after rnd_ in public examples, ~50
in all per third-party docs. Heroku: HRKU-AA + 58, HRKU-<uuid>, legacy UUID. Supabase: sbp_[oauth_] + 40 hex.
Fly: fo1_ + 43. Vercel: 24 alphanumerics, or vc?_ + 24. npm: npm_ + 36. AWS: AKIA + 16. Railway: UUID.
"""

from __future__ import annotations

import random
import string
import uuid
from pathlib import Path

import pytest

from auditor.audit import AuditOptions, run_audit

_RNG = random.Random(15)
AN = string.ascii_letters + string.digits


def r(n: int, alphabet: str = AN) -> str:
    while True:  # random keys mix letters and digits (some recognisers require both)
        v = "".join(_RNG.choice(alphabet) for _ in range(n))
        if alphabet == "0123456789abcdef" or (any(c.isdigit() for c in v) and any(c.isalpha() for c in v)):
            return v


HEX = "0123456789abcdef"
# (provider, variable, value, also matched as bare text)
CASES = [
    ("github", "GITHUB_TOKEN", "ghp_" + r(36), True),
    ("github", "GITHUB_TOKEN", "ghp_" + r(251), True),
    ("github", "GITHUB_TOKEN", "github_pat_" + r(22) + "_" + r(59), True),
    ("github", "GITHUB_TOKEN", "github_pat_" + r(244), True),
    ("stripe", "STRIPE_SECRET_KEY", "sk_live_" + r(24), True),
    ("stripe", "STRIPE_SECRET_KEY", "rk_live_" + r(247), True),
    ("digitalocean", "DIGITALOCEAN_ACCESS_TOKEN", "dop_v1_" + r(64, HEX), True),
    ("cloudflare", "CLOUDFLARE_API_TOKEN", "cfut_" + r(40) + r(8, HEX), True),
    ("cloudflare", "CLOUDFLARE_API_TOKEN", "cfat_" + r(40) + r(8, HEX), True),
    ("cloudflare", "CLOUDFLARE_API_TOKEN", r(40, AN + "_-"), False),
    ("render", "RENDER_API_KEY", "rnd_" + r(28), True),
    ("render", "RENDER_API_KEY", "rnd_" + r(46), True),
    ("render", "RENDER_API_KEY", "rnd_" + r(64), True),
    ("heroku", "HEROKU_API_KEY", "HRKU-AA" + r(58, AN + "_-"), True),
    ("heroku", "HEROKU_API_KEY", "HRKU-" + str(uuid.UUID(int=_RNG.getrandbits(128))), False),
    ("heroku", "HEROKU_API_KEY", str(uuid.UUID(int=_RNG.getrandbits(128))), False),
    ("supabase", "SUPABASE_ACCESS_TOKEN", "sbp_" + r(40, HEX), True),
    ("supabase", "SUPABASE_ACCESS_TOKEN", "sbp_oauth_" + r(40, HEX), True),
    ("fly", "FLY_API_TOKEN", "fo1_" + r(43, AN + "_-"), False),
    ("vercel", "VERCEL_TOKEN", r(24), False),
    ("vercel", "VERCEL_TOKEN", "vcp_" + r(24), True),
    ("npm", "NPM_TOKEN", "npm_" + r(36), True),
    ("aws", "AWS_ACCESS_KEY_ID", "AKIA" + r(16, string.ascii_uppercase + "234567"), True),
    ("railway", "RAILWAY_TOKEN", str(uuid.UUID(int=_RNG.getrandbits(128))), False),
]


def _providers(root: Path, name: str, text: str) -> set[tuple[str, str]]:
    (root / name).write_text(text)
    res = run_audit(AuditOptions(paths=[root], home=root / "nohome", env={}, include_env=False, offline=True))
    return {(c.provider, c.secret.reveal()) for c in res.credentials}


@pytest.mark.parametrize(("provider", "var", "value", "bare"), CASES, ids=[f"{c[0]}-{len(c[2])}" for c in CASES])
def test_documented_lengths_are_recognised(tmp_path: Path, provider: str, var: str, value: str, bare: bool) -> None:
    env_dir, txt_dir = tmp_path / "env", tmp_path / "txt"
    env_dir.mkdir()
    txt_dir.mkdir()
    assert (provider, value) in _providers(env_dir, ".env", f"{var}={value}\n")
    if bare:
        assert (provider, value) in _providers(txt_dir, "NOTES.md", f"the key we use is {value} (rotate yearly)\n")
