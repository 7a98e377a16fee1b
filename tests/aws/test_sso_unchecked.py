"""An IAM Identity Center token whose account roles could not be used was never checked: unknown, a gap.

The SSO portal is stubbed with botocore's Stubber (moto has no SSO portal); STS is a closed loopback port,
so every role's GetCallerIdentity really fails."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
from botocore.stub import Stubber

from auditor.audit import AuditOptions, run_audit
from auditor.model import Status
from auditor.provider import ProviderContext
from providers.aws import AwsProvider

TOKEN = "aoaSSOunchecked0Q1w2E3r4T5y6U7i8O9p0" * 2
ACCOUNTS = ("111111111111", "222222222222")


def _portal() -> tuple[object, Stubber]:
    sso = boto3.client(
        "sso",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="x",
        aws_secret_access_key="y",
    )
    stub = Stubber(sso)
    stub.add_response(
        "list_accounts", {"accountList": [{"accountId": a, "accountName": a} for a in ACCOUNTS]}, {"accessToken": TOKEN}
    )
    for a in ACCOUNTS:
        stub.add_response(
            "list_account_roles",
            {"roleList": [{"roleName": "Admin", "accountId": a}]},
            {"accessToken": TOKEN, "accountId": a},
        )
        stub.add_response(
            "get_role_credentials",
            {
                "roleCredentials": {
                    "accessKeyId": "ASIAZZZZZZZZZZZZZZZZ",
                    "secretAccessKey": "s" * 40,
                    "sessionToken": "t",
                    "expiration": 1,
                }
            },
            {"accessToken": TOKEN, "accountId": a, "roleName": "Admin"},
        )
    stub.activate()
    return sso, stub


def test_sso_token_whose_roles_all_fail_is_unknown_with_a_coverage_gap(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".aws/sso/cache").mkdir(parents=True)
    (home / ".aws/sso/cache/x.json").write_text(
        json.dumps(
            {
                "startUrl": "https://corp.awsapps.com/start",
                "region": "us-east-1",
                "accessToken": TOKEN,
                "expiresAt": "2030-01-01T00:00:00Z",
            }
        )
    )
    sso, stub = _portal()
    prov = AwsProvider(sso_client_factory=lambda svc, region: sso)
    result = run_audit(
        AuditOptions(home=home, env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, include_env=False),
        providers={"aws": prov},
        ctx=ProviderContext(timeout_s=1, max_retries=1, sleep=lambda s: None),
    )
    stub.assert_no_pending_responses()
    (c,) = [c for c in result.credentials if c.kind == "sso_token"]
    assert c.root_equivalent is None, c.reasons  # was False: "grants no account role"
    assert not any("grants no account role" in r for r in c.reasons)
    gaps = [g for g in result.coverage_gaps if g.subject == c.id]
    assert gaps and all(f"Admin@{a}" in gaps[0].reason for a in ACCOUNTS), result.coverage_gaps
    assert c.status == Status.error
    assert TOKEN not in result.model_dump_json()
