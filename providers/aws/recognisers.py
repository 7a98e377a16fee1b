"""What AWS credentials look like and where they live (see ARCHITECTURE.md, discovery locators)."""

from __future__ import annotations

import re

from auditor.provider import FileRule, McpServerRule, Recogniser

__all__ = ["RECOGNISERS", "KEY_ID", "PROVIDER"]

PROVIDER = "aws"
KEY_ID = re.compile(r"(?:AKIA|ASIA)[A-Z0-9]{16}")
_SECRET = r"[A-Za-z0-9/+=]{40}"

_INI_COMPANIONS = {
    "secret_access_key": ("aws_secret_access_key",),
    "session_token": ("aws_session_token", "aws_security_token"),
}
_ENV_COMPANIONS = {
    "secret_access_key": ("AWS_SECRET_ACCESS_KEY", "aws_secret_access_key", "AWS_SECRET_KEY"),
    "session_token": ("AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "aws_session_token"),
}
_JSON_COMPANIONS = {
    "secret_access_key": ("SecretAccessKey", "secretAccessKey", "aws_secret_access_key"),
    "session_token": ("SessionToken", "sessionToken", "aws_session_token"),
}

# awslabs' AWS API MCP server runs AWS CLI commands with boto3's credential chain: the profile named by
# AWS_API_MCP_PROFILE_NAME (or AWS_PROFILE), else the default profile of ~/.aws/credentials. Its call_aws tool
# runs any command, writes included, unless READ_OPERATIONS_ONLY=true.
MCP_SERVERS: tuple[McpServerRule, ...] = (
    McpServerRule(
        name="AWS API MCP server (awslabs)",
        packages=("awslabs.aws-api-mcp-server",),
        destructive_tools=("call_aws (any AWS CLI command, deletes included)",),
        token_env=("AWS_ACCESS_KEY_ID",),
        profile_env=("AWS_API_MCP_PROFILE_NAME", "AWS_PROFILE"),
        default_profile="default",
        read_only_env=("READ_OPERATIONS_ONLY",),
    ),
)

RECOGNISERS: tuple[Recogniser, ...] = (
    # ~/.aws/credentials and ~/.aws/config profiles: <profile>.aws_access_key_id
    Recogniser(
        provider=PROVIDER,
        kind="access_key",
        key_names=frozenset({"aws_access_key_id"}),
        value_pattern=KEY_ID,
        files=(
            FileRule(".aws/credentials", "*.aws_access_key_id", hints=("region",)),
            FileRule(".aws/config", "*.aws_access_key_id", hints=("region",)),
        ),
        companions=_INI_COMPANIONS,
        priority=80,
        category="cli_config",
        mcp_servers=MCP_SERVERS,
    ),
    # Environment and dotenv files.
    Recogniser(
        provider=PROVIDER,
        kind="access_key",
        key_names=frozenset({"AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"}),
        value_pattern=KEY_ID,
        companions=_ENV_COMPANIONS,
        priority=75,
    ),
    # AWS CLI credential cache (assumed roles, SSO role credentials): Credentials.AccessKeyId
    Recogniser(
        provider=PROVIDER,
        kind="access_key",
        key_names=frozenset({"AccessKeyId", "accessKeyId"}),
        value_pattern=KEY_ID,
        files=(
            FileRule(".aws/cli/cache/*.json", "Credentials.AccessKeyId", hints=("Expiration",)),
            FileRule(".aws/boto/cache/*.json", "Credentials.AccessKeyId", hints=("Expiration",)),
        ),
        companions=_JSON_COMPANIONS,
        priority=70,
        category="cli_config",
    ),
    # IAM Identity Center (SSO) token cache: ~/.aws/sso/cache/*.json accessToken
    Recogniser(
        provider=PROVIDER,
        kind="sso_token",
        files=(FileRule(".aws/sso/cache/*.json", "accessToken", hints=("startUrl", "region", "expiresAt")),),
        priority=70,
        category="cli_config",
    ),
    # Assume-role and SSO profiles: resolved through boto3's own credential chain at identify time.
    Recogniser(
        provider=PROVIDER,
        kind="assume_role_profile",
        files=(
            FileRule(
                ".aws/config",
                "*.role_arn",
                hints=("source_profile", "credential_source", "region", "mfa_serial", "external_id"),
            ),
            FileRule(".aws/credentials", "*.role_arn", hints=("source_profile", "credential_source", "region")),
        ),
        value_pattern=re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/.+"),
        priority=40,
        category="cli_config",
    ),
    Recogniser(
        provider=PROVIDER,
        kind="sso_profile",
        files=(
            FileRule(
                ".aws/config",
                "*.sso_account_id",
                hints=("sso_role_name", "sso_session", "sso_start_url", "sso_region", "region"),
            ),
        ),
        value_pattern=re.compile(r"\d{12}"),
        priority=40,
        category="cli_config",
    ),
    # The key format anywhere in text; the secret key is looked up nearby.
    Recogniser(
        provider=PROVIDER,
        kind="access_key",
        text_pattern=re.compile(r"(?<![A-Z0-9])(?P<secret>(?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Z0-9])"),
        text_companions={
            "secret_access_key": re.compile(r"(?<![A-Za-z0-9/+=])(?P<secret>" + _SECRET + r")(?![A-Za-z0-9/+=])"),
            "session_token": re.compile(
                r"(?i)(?:session|security)_?token[\"']?\s*[:=]\s*[\"']?"
                r"(?P<secret>[A-Za-z0-9/+=]{100,})"
            ),
        },
        priority=20,
    ),
)
