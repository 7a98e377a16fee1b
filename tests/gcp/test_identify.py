"""Planted Google Cloud credentials through the real CLI: verified, judged with reasons, nothing leaked or written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.gcp.conftest import GCLOUD_CLIENT_ID, MINTER_SA, OWNER_SA, USER, VIEWER_SA, Estate
from tests.support.fakes.gcp import GOOGLE_TOKEN_URL

BLASTWALL = str(Path(sys.executable).with_name("blastwall"))


def _plant(tmp: Path, gcp: Estate, *, adc: dict[str, Any]) -> tuple[Path, Path, Any]:
    home, repo = tmp / "home", tmp / "repo"
    (home / ".config" / "gcloud").mkdir(parents=True)
    (home / ".config" / "gcloud" / "application_default_credentials.json").write_text(json.dumps(adc))
    (repo / "deploy").mkdir(parents=True)
    revoked = gcp.fake.add_service_account("old-ci@shop-prod.iam.gserviceaccount.com", "shop-prod")
    gcp.fake.revoke(revoked)  # `gcloud iam service-accounts keys delete`
    for name, key in (("owner", gcp.owner), ("viewer", gcp.viewer), ("minter", gcp.minter), ("revoked", revoked)):
        # token_uri names Google: BLASTWALL_GCP_URL must still win (a request there would fail the test)
        (repo / "deploy" / f"{name}-key.json").write_text(json.dumps(key.key_file(GOOGLE_TOKEN_URL), indent=2))
    return home, repo, revoked


def _audit(tmp: Path, gcp: Estate, home: Path, repo: Path) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp / "report"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "BLASTWALL_STATE_DIR": str(tmp / "state"),
        "BLASTWALL_GCP_URL": gcp.fake.url,
    }
    proc = subprocess.run(
        [
            BLASTWALL,
            "--verbose",
            "audit",
            str(repo),
            "--home",
            str(home),
            "--no-env",
            "--format",
            "json",
            "--format",
            "html",
            "--format",
            "sarif",
            "--output-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc, json.loads((out / "blastwall-report.json").read_text())


def _by_principal(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["principal"]: c for c in doc["credentials"] if c["provider"] == "gcp" and c["principal"]}


def test_planted_key_files_and_gcloud_adc_verified_judged_and_nothing_leaks(
    gcp: Estate, tmp_path: Path, canaries: Any
) -> None:
    adc = {
        "account": "",
        "client_id": GCLOUD_CLIENT_ID,
        "client_secret": gcp.user_secret,
        "quota_project_id": "shop-staging",
        "refresh_token": gcp.user_refresh,
        "type": "authorized_user",
        "universe_domain": "googleapis.com",
    }
    home, repo, revoked = _plant(tmp_path, gcp, adc=adc)
    canaries.add_pem(revoked.private_pem)
    proc, doc = _audit(tmp_path, gcp, home, repo)
    creds = _by_principal(doc)

    owner = creds[OWNER_SA]
    assert owner["status"] == "verified" and owner["root_equivalent"] is True
    assert any("setIamPolicy" in r and "shop-prod" in r for r in owner["reasons"]), owner["reasons"]
    assert "delete:database" in owner["capabilities"] and "delete:project" in owner["capabilities"]

    viewer = creds[VIEWER_SA]
    assert viewer["status"] == "verified" and viewer["root_equivalent"] is False, viewer["reasons"]
    assert any(r.startswith("Not root-equivalent") for r in viewer["reasons"])

    (rev,) = [c for c in doc["credentials"] if c["provider"] == "gcp" and c["status"] == "invalid"]
    assert rev["principal"] == "old-ci@shop-prod.iam.gserviceaccount.com"
    assert rev["root_equivalent"] is False and "invalid_grant" in rev["reasons"][0]

    # the gcloud ADC login: refresh grant, the user named by Google, Owner in shop-staging
    user = creds[USER]
    assert user["kind"] == "user_refresh_token" and user["status"] == "verified"
    assert user["root_equivalent"] is True and any("shop-staging" in r for r in user["reasons"])
    assert user["sources"][0]["category"] == "cli_config"

    # a key that can mint keys for the Owner-like account is root-equivalent through that edge
    minter = creds[MINTER_SA]
    assert minter["root_equivalent"] is True
    assert any(
        "escalation edge" in r and OWNER_SA in r and "serviceAccountKeys.create" in r for r in minter["reasons"]
    ), minter["reasons"]

    # every grant went to the fake's token endpoint, none to the key files' token_uri
    tokens = [p for m, p in gcp.fake.log if m == "POST" and p == "/token"]
    assert len(tokens) >= 5
    assert gcp.fake.writes == [], gcp.fake.writes  # zero destructive requests
    assert gcp.fake.issued, "the fake handed out access tokens (the canaries below include them)"
    canaries.assert_absent(texts=[proc.stdout, proc.stderr], trees=[tmp_path / "report", tmp_path / "state"])
