"""Test-wide safety: no test can reach a real account, and state never leaks between tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Shared server fixtures live in tests/support as pytest plugins.
pytest_plugins = [
    "tests.support.canary",
    "tests.support.chromium",
    "tests.support.railway_fake.plugin",
    "tests.support.pg",
    "tests.support.seaweed",
    "tests.support.moto_server",
    "tests.support.mariadb",
    "tests.support.redis_server",
]

_PROVIDER_ENV_PREFIXES = (
    "AWS_",
    "RAILWAY_",
    "BLASTWALL_",
    "GITHUB_",
    "GH_",
    "STRIPE_",
    "CLOUDFLARE_",
    "CF_",
    "DIGITALOCEAN_",
    "FLY_",
    "RENDER_",
    "HEROKU_",
    "SUPABASE_",
    "NEON_",
    "VERCEL_",
    "GOOGLE_",
    "CLOUDSDK_",
    "DATABASE_",
    "PG",
    "KUBECONFIG",
    "DOCKER_CONFIG",
    "NPM_",
    "OPENAI_",
    "ANTHROPIC_",
)


@pytest.fixture(scope="session")
def _session_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache per test worker (PostgreSQL cluster templates): shared by its tests, never the user's."""
    return tmp_path_factory.mktemp("blastwall-cache")


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, _session_cache_dir: Path) -> None:
    """Clear every provider credential variable and point state and config at tmp_path."""
    for name in list(os.environ):
        if name.startswith(_PROVIDER_ENV_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BLASTWALL_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("BLASTWALL_CACHE_DIR", str(_session_cache_dir))
    # boto3 must never find a real profile or instance metadata.
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("HOME", str(tmp_path / "home-of-test"))


def pytest_configure(config: pytest.Config) -> None:
    out = Path(os.environ.get("BLASTWALL_TEST_OUTPUT", Path(__file__).resolve().parent.parent / "test-output"))
    out.mkdir(parents=True, exist_ok=True)
    config.stash[_OUT] = out  # type: ignore[misc]


_OUT = pytest.StashKey[Path]()


@pytest.fixture
def test_output_dir(request: pytest.FixtureRequest) -> Path:
    """A persistent per-test output directory (screenshots, reports) under ./test-output."""
    base = request.config.stash[_OUT]
    d = base / request.node.name.replace("/", "_").replace("[", "_").replace("]", "")
    d.mkdir(parents=True, exist_ok=True)
    return d
