"""AWS credentials are found where the AWS CLI and SDKs keep them (real discovery, fixture home)."""

from __future__ import annotations

import json
from pathlib import Path

from auditor.discovery import DiscoveryOptions, discover
from auditor.model import SourceCategory
from providers.aws import AwsProvider

KEY1 = "AKIAZ7TESTKEY0000001"
KEY2 = "ASIAZ7TESTKEY0000002"
KEY3 = "AKIAZ7TESTKEY0000003"
KEY4 = "AKIAZ7TESTKEY0000004"
KEY5 = "AKIAZ7TESTKEY0000005"
SECRET1 = "wJalrXUtnFEMIK7MDENGbPxRfiCYzz1secret001"
SECRET2 = "wJalrXUtnFEMIK7MDENGbPxRfiCYzz1secret002"
SECRET3 = "wJalrXUtnFEMIK7MDENGbPxRfiCYzz1secret003"
SECRET4 = "wJalrXUtnFEMIK7MDENGbPxRfiCYzz1secret004"
SECRET5 = "wJalrXUtnFEMIK7MDENGbPxRfiCYzz1secret005"
TOKEN2 = "FwoGZXIvYXdzE" + "Qk9vT2xQ3rT5yU7i" * 8


def _discover(home: Path, env: dict[str, str] | None = None, paths: tuple[Path, ...] = ()) -> list:
    recs = list(AwsProvider().recognisers())
    return discover(recs, DiscoveryOptions(home=home, env=env, paths=paths)).candidates


def test_profiles_cli_cache_sso_cache(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".aws/cli/cache").mkdir(parents=True)
    (home / ".aws/sso/cache").mkdir(parents=True)
    (home / ".aws/credentials").write_text(
        f"[default]\naws_access_key_id = {KEY1}\naws_secret_access_key = {SECRET1}\nregion = eu-west-1\n\n"
        f"[example]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
    )
    (home / ".aws/config").write_text(
        f"[profile dev]\naws_access_key_id = {KEY3}\naws_secret_access_key = {SECRET3}\n\n"
        "[profile ops]\nrole_arn = arn:aws:iam::123456789012:role/ops\nsource_profile = default\n\n"
        "[profile sso-dev]\nsso_session = corp\nsso_account_id = 123456789012\nsso_role_name = Dev\n"
    )
    (home / ".aws/cli/cache/abc.json").write_text(
        json.dumps(
            {
                "Credentials": {
                    "AccessKeyId": KEY2,
                    "SecretAccessKey": SECRET2,
                    "SessionToken": TOKEN2,
                    "Expiration": "2030-01-01T00:00:00Z",
                }
            }
        )
    )
    (home / ".aws/sso/cache/def.json").write_text(
        json.dumps(
            {
                "startUrl": "https://corp.awsapps.com/start",
                "region": "us-east-1",
                "accessToken": "aoaAb3dE5gH7jK9mN" * 4,
                "expiresAt": "2030-01-01T00:00:00Z",
            }
        )
    )
    cands = {c.secret.reveal(): c for c in _discover(home)}
    # The documented example key is a placeholder and is dropped.
    assert "AKIAIOSFODNN7EXAMPLE" not in cands
    c1 = cands[KEY1]
    assert c1.kind == "access_key" and c1.companions["secret_access_key"].reveal() == SECRET1
    assert c1.sources[0].locator == "default.aws_access_key_id"
    assert c1.sources[0].category == SourceCategory.cli_config
    c3 = cands[KEY3]
    assert c3.sources[0].locator == "profile dev.aws_access_key_id"
    c2 = cands[KEY2]
    assert c2.companions["session_token"].reveal() == TOKEN2
    assert c2.sources[0].locator == "Credentials.AccessKeyId"
    sso = [c for c in cands.values() if c.kind == "sso_token"]
    assert len(sso) == 1 and sso[0].hints.get("startUrl") == "https://corp.awsapps.com/start"
    kinds = {c.kind for c in cands.values()}
    assert {"assume_role_profile", "sso_profile"} <= kinds
    ops = next(c for c in cands.values() if c.kind == "assume_role_profile")
    assert ops.hints.get("source_profile") == "default"
    # Classification: ASIA keys are session keys; repr never shows the secret.
    p = AwsProvider()
    cred = p.classify(c2)
    assert cred.kind == "session_key"
    assert SECRET2 not in repr(cred) and SECRET2 not in cred.model_dump_json()
    assert KEY2 not in cred.model_dump_json()


def test_environment_and_free_text(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "deploy.sh").write_text(f"# deploy\nexport KEY={KEY5}\n# secret below\n{SECRET5}\n")
    env = {"AWS_ACCESS_KEY_ID": KEY4, "AWS_SECRET_ACCESS_KEY": SECRET4, "AWS_SESSION_TOKEN": TOKEN2}
    cands = {c.secret.reveal(): c for c in _discover(home, env=env, paths=(proj,))}
    c4 = cands[KEY4]
    assert c4.companions["secret_access_key"].reveal() == SECRET4
    assert c4.companions["session_token"].reveal() == TOKEN2
    assert c4.sources[0].path == "env"
    c5 = cands[KEY5]
    assert c5.companions["secret_access_key"].reveal() == SECRET5
