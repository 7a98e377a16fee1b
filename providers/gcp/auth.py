"""Google Cloud endpoints and token exchange, the way Google's client libraries do it.

The grants are built and parsed by `google-auth` (Google's maintained library): a service-account key
becomes an RS256-signed JWT for the JWT-bearer grant, a gcloud user login or ADC file a refresh grant,
an impersonation config a ``generateAccessToken`` call with the source credential's token. Only the
transport is ours: `GoogleAuthRequest` sends google-auth's requests through `ApiClient`, so the
context's timeout, retries (``Retry-After`` on 429) and injected sleep apply, only the token and IAM
Credentials URLs chosen here can be reached (google-auth otherwise picks its own hosts: it ignores
``token_uri`` in an ADC file and derives the IAM host from the universe domain), and google-auth's
debug request logging (which would print grant bodies) is never involved.

The access token comes back as a `Secret` and lives in memory only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.errors import ProviderAuthError, ProviderError
from auditor.http import ApiClient
from auditor.model import Credential
from auditor.provider import ProviderContext
from auditor.provider_http import endpoint_url, require_safe_url, tls_transport
from auditor.secrets import Secret

__all__ = ["Endpoints", "GoogleAuthRequest", "LoginStale", "mint_token", "SCOPE"]

NAME = "gcp"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
URL_ENV = "BLASTWALL_GCP_URL"
TOKEN_URL_ENV = "BLASTWALL_GCP_TOKEN_URL"
# API -> its public host; with one root override every API keeps its own path under that root
HOSTS = {
    "crm": "https://cloudresourcemanager.googleapis.com",
    "sqladmin": "https://sqladmin.googleapis.com",
    "storage": "https://storage.googleapis.com",
    "iam": "https://iam.googleapis.com",
    "iamcredentials": "https://iamcredentials.googleapis.com",
    "userinfo": "https://openidconnect.googleapis.com",
}
# refresh-grant errors that mean "this login needs the user again", not "no access"
_REAUTH = {"invalid_rapt", "rapt_required"}
_REJECTED = {"invalid_grant", "invalid_client", "unauthorized_client", "access_denied", "invalid_request"}


class LoginStale(ProviderError):
    """Google wants the user to re-authenticate (reauth / RAPT): the login is not proven dead."""


@dataclass(frozen=True)
class Endpoints:
    token_url: str
    root: str | None  # one root replacing every Google API host, or None for the public hosts

    @classmethod
    def from_context(cls, ctx: ProviderContext) -> Endpoints:
        """``BLASTWALL_GCP_URL`` / ``[providers.gcp] url``: one root for every API (and ``<root>/token``
        when no token URL is set); ``BLASTWALL_GCP_TOKEN_URL`` / ``token_url``: the token endpoint."""
        root = endpoint_url(ctx, URL_ENV, "") or None
        token = ctx.env.get(TOKEN_URL_ENV) or str(ctx.settings.get("token_url") or "")
        token = token or (f"{root}/token" if root else GOOGLE_TOKEN_URL)
        if root:
            require_safe_url(NAME, root)
        return cls(token_url=require_safe_url(NAME, token.rstrip("/")), root=root)

    def api(self, name: str) -> str:
        return self.root or HOSTS[name]

    def generate_access_token_url(self, email: str) -> str:
        return f"{self.api('iamcredentials')}/v1/projects/-/serviceAccounts/{email}:generateAccessToken"


class _Response:
    """google.auth.transport.Response over an httpx response."""

    def __init__(self, status: int, headers: Mapping[str, str], data: bytes) -> None:
        self.status, self.headers, self.data = status, headers, data


class GoogleAuthRequest:
    """A google.auth.transport.Request that only reaches the URLs it was given, through `ApiClient`."""

    def __init__(self, client: ApiClient, allowed: Sequence[str]) -> None:
        self._client, self._allowed = client, tuple(allowed)

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> _Response:
        if not any(url == a or url.startswith(a + "?") for a in self._allowed):
            raise ProviderError(
                f"{NAME}: google-auth asked for an endpoint that was not configured",
                hint="set BLASTWALL_GCP_TOKEN_URL / BLASTWALL_GCP_URL",
            )
        # ApiClient retries 429 (honouring Retry-After) and 5xx itself and returns every other answer
        resp = self._client.request(method, url, content=body, headers=dict(headers or {}))
        return _Response(resp.status_code, resp.headers, resp.content)


def _error_of(exc: Exception) -> tuple[str, str]:
    """(error, description) from a google-auth RefreshError's response data, never its message."""
    data: Any = exc.args[1] if len(exc.args) > 1 else None
    if isinstance(data, (str, bytes)):
        try:
            data = json.loads(data)
        except ValueError:
            data = None
    if isinstance(data, dict):
        err = data.get("error")
        if isinstance(err, dict):  # Google API error (IAM Credentials)
            return str(err.get("status") or err.get("code") or "error"), str(err.get("message") or "")[:200]
        subtype = data.get("error_subtype")
        return str(subtype or err or "error"), str(data.get("error_description") or "")[:200]
    return "error", ""


def _service_account(info: Mapping[str, str], endpoints: Endpoints, scopes: Sequence[str]) -> Any:
    from google.oauth2 import service_account

    # the token URL we were given wins over the file's token_uri; google-auth still signs aud=Google's URL
    fields = {k: v for k, v in info.items() if k != "universe_domain"}
    fields.update(type="service_account", token_uri=endpoints.token_url)
    # google-auth ships no type hints
    return service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        fields, scopes=list(scopes)
    )


def _user(info: Mapping[str, str], endpoints: Endpoints) -> Any:
    from google.oauth2 import credentials

    # from_authorized_user_info() would ignore any token_uri: build the credentials directly
    return credentials.Credentials(  # type: ignore[no-untyped-call]  # google-auth: no type hints
        token=None,
        refresh_token=info["refresh_token"],
        client_id=info.get("client_id"),
        client_secret=info.get("client_secret"),
        token_uri=endpoints.token_url,
    )


def source_info(cred: Credential) -> dict[str, str]:
    """The grant's inputs from the credential's secret and companions (revealed only here)."""
    comp = {k: v.reveal() for k, v in cred.companions.items()}
    if cred.kind == "service_account_key" or comp.get("source_type") == "service_account":
        return {
            "private_key": cred.secret.reveal(),
            "client_email": comp.get("client_email", ""),
            "private_key_id": comp.get("private_key_id", ""),
            "project_id": comp.get("project_id", ""),
            "token_uri": comp.get("token_uri", ""),
        }
    return {
        "refresh_token": cred.secret.reveal(),
        "client_id": comp.get("client_id", ""),
        "client_secret": comp.get("client_secret", ""),
    }


def mint_token(cred: Credential, client: ApiClient, endpoints: Endpoints) -> Secret:
    """An access token for `cred`. Raises ProviderAuthError when Google refuses the credential,
    LoginStale when it wants the user to sign in again, ProviderError when Google cannot be asked."""
    from google.auth import exceptions as gexc
    from google.auth import impersonated_credentials

    info = source_info(cred)
    target = str(cred.metadata.get("impersonate") or "")
    allowed = [endpoints.token_url] + ([endpoints.generate_access_token_url(target)] if target else [])
    request = GoogleAuthRequest(client, allowed)
    scopes = ["https://www.googleapis.com/auth/iam"] if target else [SCOPE]
    try:
        if "private_key" in info:
            source = _service_account(info, endpoints, scopes)
        else:
            source = _user(info, endpoints)
        gcreds = source
        if target:
            delegates = [d for d in str(cred.metadata.get("delegates") or "").split(",") if d]
            gcreds = impersonated_credentials.Credentials(  # type: ignore[no-untyped-call]
                source_credentials=source,
                target_principal=target,
                target_scopes=[SCOPE],
                delegates=delegates,
                iam_endpoint_override=endpoints.generate_access_token_url(target),
            )
        gcreds.refresh(request)
        token = gcreds.token
    except gexc.RefreshError as exc:
        error, desc = _error_of(exc)
        from google.auth.impersonated_credentials import _REFRESH_ERROR

        # google-auth raises the same error type for the source grant and for generateAccessToken
        where = "IAM Credentials (generateAccessToken)" if target and exc.args[:1] == (_REFRESH_ERROR,) else "Google"
        if error in _REAUTH:
            raise LoginStale(
                f"{NAME}: Google asks for re-authentication ({error})",
                hint="run `gcloud auth application-default login` again",
            ) from None
        if error in _REJECTED or error in ("PERMISSION_DENIED", "UNAUTHENTICATED", "NOT_FOUND", "403", "401"):
            raise ProviderAuthError(
                f"{NAME}: {where} refused the credential ({error}" + (f": {desc}" if desc else "") + ")"
            ) from None
        raise ProviderError(f"{NAME}: token exchange failed ({error})") from None
    except (gexc.GoogleAuthError, ValueError) as exc:
        raise ProviderError(
            f"{NAME}: the credential could not be used ({type(exc).__name__})",
            hint="the key file or login is malformed",
        ) from None
    if not isinstance(token, str) or not token:
        raise ProviderError(f"{NAME}: the token endpoint answered without an access token")
    return Secret(token)


def token_client(ctx: ProviderContext) -> ApiClient:
    """An `ApiClient` without a base URL: google-auth passes absolute URLs (checked by `Endpoints`)."""
    return ApiClient(
        "",
        provider=NAME,
        timeout_s=ctx.timeout_s,
        max_retries=ctx.max_retries,
        sleep=ctx.sleep,
        transport=tls_transport(),
    )
