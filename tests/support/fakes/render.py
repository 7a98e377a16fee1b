"""A fake Render API (``/v1``) on FakeHTTPServer, following the shapes of Render's OpenAPI client.

Lists are ``[{"cursor": c, "<item>": {...}}]``; errors are ``{"id": ..., "message": ...}`` with 401 for an
unknown key and 403 for a missing permission. Profiles: ``full`` (classic key, two workspaces), ``scoped``
(scoped key bound to one workspace, no permission on Postgres and disks), ``single`` (one workspace, every
list allowed: undecidable), ``forbidden`` (every call 403).
"""

from __future__ import annotations

from typing import Any

from tests.support.fakehttp import FakeRequest, Reply
from tests.support.fakes._base import ProviderFake

WORKSPACES = {
    "usr-c0ffee": {"id": "usr-c0ffee", "name": "Ada's workspace", "email": "ada@example.test", "type": "user"},
    "tea-b1a57": {"id": "tea-b1a57", "name": "Acme", "email": "ops@example.test", "type": "team"},
}

ITEMS: dict[str, list[dict[str, Any]]] = {
    "service": [{"id": "srv-web1", "name": "web", "ownerId": "tea-b1a57", "type": "web_service"}],
    "postgres": [
        {"id": "dpg-main1", "name": "main-db", "ownerId": "tea-b1a57", "plan": "pro_4gb", "version": "16"},
        {"id": "dpg-hobby1", "name": "hobby-db", "ownerId": "usr-c0ffee", "plan": "free", "version": "16"},
    ],
    "disk": [{"id": "dsk-data1", "name": "data", "ownerId": "tea-b1a57", "sizeGB": 10, "serviceId": "srv-web1"}],
    "keyValue": [{"id": "red-cache1", "name": "cache", "ownerId": "tea-b1a57", "plan": "starter"}],
}

PROFILES: dict[str, dict[str, Any]] = {
    "full": {"workspaces": ["usr-c0ffee", "tea-b1a57"], "denied": set()},
    "scoped": {"workspaces": ["tea-b1a57"], "denied": {"postgres", "disk"}},
    "single": {"workspaces": ["usr-c0ffee"], "denied": set()},
    "forbidden": {"workspaces": [], "denied": {"*"}},
}


class FakeRender(ProviderFake):
    def __init__(self) -> None:
        super().__init__()
        self._install()

    # -- helpers -------------------------------------------------------------------------------------------
    def _auth(self, req: FakeRequest, kind: str | None = None) -> dict[str, Any] | Reply:
        tok = req.bearer()
        if tok is None or tok not in self.tokens:
            return 401, {"id": "unauthorized", "message": "unauthorized"}
        prof = PROFILES[self.tokens[tok]]
        if "*" in prof["denied"] or (kind is not None and kind in prof["denied"]):
            return 403, {"id": "forbidden", "message": "API key does not have permission for this resource"}
        return prof

    @staticmethod
    def _page(req: FakeRequest, items: list[dict[str, Any]], key: str) -> Reply:
        limit = int((req.query.get("limit") or ["20"])[0])
        start = 0
        cur = (req.query.get("cursor") or [None])[0]
        if cur is not None:
            start = int(cur) + 1
        page = items[start : start + limit]
        return 200, [{"cursor": str(start + i), key: it} for i, it in enumerate(page)]

    def _install(self) -> None:
        @self.route("GET", "/v1/users")
        def users(req: FakeRequest) -> Reply:
            p = self._auth(req)
            if isinstance(p, tuple):
                return p
            return 200, {"email": "ada@example.test", "name": "Ada"}

        @self.route("GET", "/v1/owners")
        def owners(req: FakeRequest) -> Reply:
            p = self._auth(req)
            if isinstance(p, tuple):
                return p
            return self._page(req, [WORKSPACES[w] for w in p["workspaces"]], "owner")

        for path, kind, key in (
            ("/v1/services", "service", "service"),
            ("/v1/postgres", "postgres", "postgres"),
            ("/v1/disks", "disk", "disk"),
            ("/v1/key-value", "key_value", "keyValue"),
        ):
            self._list_route(path, kind, key)

        @self.route("GET", r"/v1/postgres/(?P<id>[^/]+)/recovery")
        def recovery(req: FakeRequest) -> Reply:
            p = self._auth(req, "postgres")
            if isinstance(p, tuple):
                return p
            pg = self._find("postgres", req.match["id"], p)  # type: ignore[index]
            if pg is None:
                return 404, {"id": "not_found", "message": "not found"}
            if pg["plan"] == "free":
                return 200, {"recoveryStatus": "NOT_AVAILABLE"}
            return 200, {"recoveryStatus": "AVAILABLE", "startsAt": "2026-11-24T00:00:00Z"}

        @self.route("GET", r"/v1/postgres/(?P<id>[^/]+)/export")
        def exports(req: FakeRequest) -> Reply:
            p = self._auth(req, "postgres")
            if isinstance(p, tuple):
                return p
            pg = self._find("postgres", req.match["id"], p)  # type: ignore[index]
            if pg is None:
                return 404, {"id": "not_found", "message": "not found"}
            if pg["plan"] == "free":
                return 200, []
            return 200, [
                {
                    "id": "exp-1",
                    "createdAt": "2026-11-30T03:00:00Z",
                    "url": "https://exports.render.test/signed?sig=SHOULD-NOT-APPEAR",
                }
            ]

        @self.route("GET", r"/v1/disks/(?P<id>[^/]+)/snapshots")
        def snapshots(req: FakeRequest) -> Reply:
            p = self._auth(req, "disk")
            if isinstance(p, tuple):
                return p
            if self._find("disk", req.match["id"], p) is None:  # type: ignore[index]
                return 404, {"id": "not_found", "message": "not found"}
            return 200, [{"createdAt": "2026-11-30T00:00:00Z", "snapshotKey": "snap-20261130"}]

    def _find(self, key: str, rid: str, prof: dict[str, Any]) -> dict[str, Any] | None:
        for it in ITEMS[key]:
            if it["id"] == rid and it["ownerId"] in prof["workspaces"]:
                return it
        return None

    def _list_route(self, path: str, kind: str, key: str) -> None:
        @self.route("GET", path)
        def lst(req: FakeRequest) -> Reply:
            p = self._auth(req, kind)
            if isinstance(p, tuple):
                return p
            owner = (req.query.get("ownerId") or [None])[0]
            items = [it for it in ITEMS[key] if it["ownerId"] in p["workspaces"] and owner in (None, it["ownerId"])]
            return self._page(req, items, key)
