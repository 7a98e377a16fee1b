"""Read-only calls to Google Cloud's JSON APIs with an access token applied per request.

Only GETs, plus the POSTs that read: ``testIamPermissions`` (Resource Manager, IAM). Google's error
body (``{"error": {"code", "status", "message"}}``) becomes a typed error naming the status word only.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from auditor._lazy import lazy_module
from auditor.errors import ProviderAuthError, ProviderError
from auditor.http import ApiClient, BearerAuth
from auditor.provider_kit import json_object
from auditor.secrets import Secret

from .auth import Endpoints

if TYPE_CHECKING:
    import httpx
else:
    httpx = lazy_module("httpx")

__all__ = ["GcpApi", "Forbidden", "NotFound", "MAX_PAGES"]

NAME = "gcp"
MAX_PAGES = 50


class Forbidden(ProviderError):
    """HTTP 403: the permission is missing, or the API is disabled in that project."""


class NotFound(ProviderError):
    pass


def _status_word(resp: httpx.Response) -> str:
    try:
        err = resp.json().get("error")
    except (ValueError, AttributeError):
        return ""
    if isinstance(err, dict):
        reasons = [e.get("reason") for e in err.get("errors") or () if isinstance(e, dict) and e.get("reason")]
        return str(err.get("status") or (reasons[0] if reasons else "") or "")[:60]
    return ""


class GcpApi:
    def __init__(self, client: ApiClient, endpoints: Endpoints, token: Secret) -> None:
        self._client, self._endpoints, self._auth = client, endpoints, BearerAuth(token)
        self.requests = 0

    def _decode(self, resp: httpx.Response, what: str) -> dict[str, Any]:
        code = resp.status_code
        if code == 401:
            raise ProviderAuthError(f"{NAME}: access token rejected (HTTP 401) for {what}")
        if code == 403:
            word = _status_word(resp)
            raise Forbidden(
                f"{NAME}: {what}: HTTP 403" + (f" {word}" if word else ""),
                hint="the credential lacks the permission, or the API is disabled in the project",
            )
        if code == 404:
            raise NotFound(f"{NAME}: {what}: HTTP 404")
        if code >= 300:
            raise ProviderError(f"{NAME}: {what}: HTTP {code}")
        return json_object(
            resp,
            malformed=f"{NAME}: malformed JSON for {what} (HTTP {code})",
            malformed_hint="Google returned something that is not JSON; try again later",
            not_object=f"{NAME}: unexpected answer for {what} (not a JSON object)",
        )

    def get(self, api: str, path: str, what: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        self.requests += 1
        resp = self._client.request("GET", self._endpoints.api(api) + path, auth=self._auth, params=params)
        return self._decode(resp, what)

    def test_permissions(self, api: str, path: str, permissions: tuple[str, ...], what: str) -> set[str]:
        """``POST <path>:testIamPermissions``: the subset of `permissions` held. Read-only by design."""
        self.requests += 1
        resp = self._client.request(
            "POST",
            self._endpoints.api(api) + path + ":testIamPermissions",
            auth=self._auth,
            json={"permissions": list(permissions)},
        )
        body = self._decode(resp, what)
        got = body.get("permissions") or []
        if not isinstance(got, list):
            raise ProviderError(f"{NAME}: unexpected answer for {what}")
        return {str(p) for p in got} & set(permissions)

    def pages(
        self, api: str, path: str, key: str, what: str, params: Mapping[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every item of a list, following ``nextPageToken``; more than MAX_PAGES pages is an error."""
        query = dict(params or {})
        for _ in range(MAX_PAGES):
            body = self.get(api, path, what, query)
            items = body.get(key) or []
            if not isinstance(items, list):
                raise ProviderError(f"{NAME}: unexpected answer for {what} ({key} is not a list)")
            yield from (i for i in items if isinstance(i, dict))
            nxt = body.get("nextPageToken")
            if not nxt:
                return
            query["pageToken"] = str(nxt)
        raise ProviderError(f"{NAME}: {what}: more than {MAX_PAGES} pages, the rest was not read")
