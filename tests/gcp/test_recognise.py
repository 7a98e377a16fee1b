"""Where Google Cloud credentials are found, through the real discovery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from auditor.audit import AuditOptions, run_audit
from providers.gcp import GcpProvider
from tests.gcp.conftest import GCLOUD_CLIENT_ID, Estate
from tests.support.fakes.gcp import GOOGLE_TOKEN_URL


def _found(home: Path | None, paths: tuple[Path, ...] = ()) -> list[Any]:
    result = run_audit(
        AuditOptions(paths=paths, home=home, include_env=False, offline=True), providers={"gcp": GcpProvider()}
    )
    return [c for c in result.credentials if c.provider == "gcp"]


def test_gcloud_login_files_and_key_files(gcp: Estate, tmp_path: Path) -> None:
    home = tmp_path / "home"
    legacy = home / ".config" / "gcloud" / "legacy_credentials" / "alice@example.com"
    legacy.mkdir(parents=True)
    # `gcloud auth login` keeps a cleartext copy of the login here
    (legacy / "adc.json").write_text(
        json.dumps(
            {
                "client_id": GCLOUD_CLIENT_ID,
                "client_secret": gcp.user_secret,
                "refresh_token": gcp.user_refresh,
                "type": "authorized_user",
            }
        )
    )
    # `gcloud auth activate-service-account` keeps the key itself
    sa = home / ".config" / "gcloud" / "legacy_credentials" / gcp.viewer.email
    sa.mkdir(parents=True)
    (sa / "adc.json").write_text(json.dumps(gcp.viewer.key_file(GOOGLE_TOKEN_URL)))
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "firebase.yaml").write_text(
        f'refresh_token: "{"1//0e" + "x" * 40}"\nclient_id: {GCLOUD_CLIENT_ID}\nclient_secret: {gcp.user_secret}\n'
    )
    (repo / "notes.md").write_text("refresh_token = 1//0gAbcdefghijklmnopqrstuvwxyz0123 (no client next to it)\n")
    creds = _found(home, (repo,))
    kinds = sorted((c.kind, c.sources[0].category.value) for c in creds)
    assert kinds == [
        ("service_account_key", "cli_config"),
        ("user_refresh_token", "cli_config"),
        ("user_refresh_token", "repository"),
    ], kinds
    sa_cred = next(c for c in creds if c.kind == "service_account_key")
    assert sa_cred.principal == gcp.viewer.email and sa_cred.metadata["project_id"] == "shop-prod"
    assert set(sa_cred.companions) >= {"client_email", "private_key_id", "project_id"}
    user = next(c for c in creds if c.kind == "user_refresh_token" and c.sources[0].category.value == "cli_config")
    assert set(user.companions) == {"client_id", "client_secret"}
    assert all(c.root_equivalent is None and c.status.value == "unverified" for c in creds), "offline: unknown"
