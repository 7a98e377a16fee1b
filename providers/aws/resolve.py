"""Credentials that are not a plain key pair: assume-role and SSO profiles (through botocore's own
credential providers, pointed at the discovered files) and cached SSO tokens (portal API)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.model import Credential

__all__ = ["ResolvedKeys", "profile_of", "resolve_profile", "sso_role_credentials"]


@dataclass(frozen=True)
class ResolvedKeys:
    key_id: str
    secret: str
    token: str | None

    def __repr__(self) -> str:
        return "ResolvedKeys(<hidden>)"


def profile_of(cred: Credential, key: str) -> tuple[str, Path] | None:
    """(profile name, file) from a source locator such as ``profile dev.role_arn``."""
    for s in cred.sources:
        if s.path == "env" or not s.locator.endswith("." + key):
            continue
        section = s.locator[: -len(key) - 1]
        p = Path(s.path)
        name = section[len("profile ") :] if p.name == "config" and section.startswith("profile ") else section
        return name, p
    return None


def _builder(session: Any, creator: Callable[..., Any], sso_cache: Any, region: str) -> Any:
    """botocore's profile-provider builder, limited to SSO and shared-file credentials (botocore loads here)."""
    from botocore.credentials import ProfileProviderBuilder, SSOProvider
    from botocore.tokens import SSOTokenProvider

    class _Builder(ProfileProviderBuilder):  # type: ignore[misc]  # botocore ships no type hints
        def __init__(self, session: Any, creator: Callable[..., Any], sso_cache: Any, region: str) -> None:
            super().__init__(session, cache={}, region_name=region, sso_token_cache=sso_cache)
            self._creator = creator

        def providers(self, profile_name: str, disable_env_vars: bool = True) -> list[Any]:
            return [
                self._create_sso_provider(profile_name),
                self._create_shared_credential_provider(profile_name),
                self._create_config_provider(profile_name),
            ]

        def _create_sso_provider(self, profile_name: str) -> Any:
            return SSOProvider(
                load_config=lambda: self._session.full_config,
                client_creator=self._creator,
                profile_name=profile_name,
                cache={},
                token_cache=self._sso_token_cache,
                token_provider=SSOTokenProvider(self._session, cache=self._sso_token_cache, profile_name=profile_name),
            )

    return _Builder(session, creator, sso_cache, region)


def resolve_profile(profile: str, file: Path, *, endpoint_url: str | None, region: str) -> ResolvedKeys | None:
    """Resolve ``profile`` from the discovered config directory the way the AWS CLI would."""
    import botocore.session
    from botocore.credentials import AssumeRoleProvider, CanonicalNameCredentialSourcer, CredentialResolver
    from botocore.utils import JSONFileCache

    aws_dir = file.parent
    bs = botocore.session.Session()
    bs.set_config_variable("config_file", str(aws_dir / "config"))
    bs.set_config_variable("credentials_file", str(aws_dir / "credentials"))
    bs.set_config_variable("profile", profile)

    def creator(service: str, *a: Any, **kw: Any) -> Any:
        kw.setdefault("region_name", region)
        if endpoint_url:
            kw["endpoint_url"] = endpoint_url
        return bs.create_client(service, *a, **kw)

    builder = _builder(bs, creator, JSONFileCache(str(aws_dir / "sso" / "cache")), region)
    assume = AssumeRoleProvider(
        load_config=lambda: bs.full_config,
        client_creator=creator,
        cache={},
        profile_name=profile,
        credential_sourcer=CanonicalNameCredentialSourcer([]),
        profile_provider_builder=builder,
        prompter=_no_prompt,
    )
    chain: list[Any] = [assume] + builder.providers(profile)
    creds = CredentialResolver(providers=chain).load_credentials()
    if creds is None:
        return None
    frozen = creds.get_frozen_credentials()
    return ResolvedKeys(frozen.access_key, frozen.secret_key, frozen.token)


def _no_prompt(_: str) -> str:
    raise RuntimeError("this profile needs an MFA code; Blastwall never prompts")


def sso_role_credentials(
    token: str, region: str, *, endpoint_url: str | None, client: Callable[..., Any] | None = None
) -> list[tuple[str, str, ResolvedKeys]]:
    """(account id, role name, keys) for every account role an SSO access token can use (read-only)."""
    import boto3

    c = (
        client("sso", region)
        if client
        else boto3.client(
            "sso",
            region_name=region,
            endpoint_url=endpoint_url,
            aws_access_key_id="unused",
            aws_secret_access_key="unused",
        )
    )
    out: list[tuple[str, str, ResolvedKeys]] = []
    accounts: list[dict[str, Any]] = []
    for page in c.get_paginator("list_accounts").paginate(accessToken=token):
        accounts += page.get("accountList", [])
    for a in accounts:
        roles: list[dict[str, Any]] = []
        for page in c.get_paginator("list_account_roles").paginate(accessToken=token, accountId=a["accountId"]):
            roles += page.get("roleList", [])
        for r in roles:
            rc = c.get_role_credentials(accessToken=token, accountId=a["accountId"], roleName=r["roleName"])
            k = rc["roleCredentials"]
            out.append(
                (
                    a["accountId"],
                    r["roleName"],
                    ResolvedKeys(k["accessKeyId"], k["secretAccessKey"], k.get("sessionToken")),
                )
            )
    return out
