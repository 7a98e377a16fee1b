"""A fake Heroku Platform API (and the postgres-api transfers endpoint) on FakeHTTPServer.

Errors are Heroku's ``{"id": ..., "message": ...}``: 401 ``unauthorized`` for an unknown token, 403
``forbidden`` for a missing scope. Scopes follow Heroku's OAuth docs: ``/account`` needs ``global`` or
``identity``; ``/oauth/authorizations`` needs ``global``; ``read`` reads apps and add-ons but not account
information nor config vars. Lists honour Range pagination (206 + ``Next-Range``).
Profiles: ``full`` (global), ``scoped`` (read), ``identity``, ``forbidden`` (every call 403).
"""

from __future__ import annotations

from typing import Any

from tests.support.fakehttp import FakeRequest, Reply
from tests.support.fakes._base import ProviderFake

OTHER_TOKEN = "HRKU-AA" + "Zq9" * 19 + "x"  # another authorization's token value: must never leak
APPS = [
    {"id": "01234567-89ab-4cde-8f01-23456789abcd", "name": "acme-web", "team": {"name": "acme"}},
    {"id": "11234567-89ab-4cde-8f01-23456789abcd", "name": "acme-worker", "team": None},
]
ADDONS = {
    "acme-web": [
        {
            "id": "a1b2c3d4-0000-4000-8000-000000000001",
            "name": "postgresql-curved-12345",
            "addon_service": {"name": "heroku-postgresql"},
            "plan": {"name": "heroku-postgresql:standard-0"},
            "config_vars": ["DATABASE_URL"],
        },
        {
            "id": "a1b2c3d4-0000-4000-8000-000000000002",
            "name": "redis-round-678",
            "addon_service": {"name": "heroku-redis"},
            "plan": {"name": "heroku-redis:mini"},
            "config_vars": ["REDIS_URL"],
        },
        {
            "id": "a1b2c3d4-0000-4000-8000-000000000003",
            "name": "papertrail-1",
            "addon_service": {"name": "papertrail"},
            "plan": {"name": "papertrail:choklad"},
            "config_vars": [],
        },
    ],
    "acme-worker": [],
}
TRANSFERS = {
    "acme-web": [
        {
            "uuid": "t-1",
            "num": 1,
            "from_name": "DATABASE",
            "from_type": "pg_dump",
            "to_type": "gof3r",
            "to_name": "BACKUP",
            "succeeded": True,
            "created_at": "2026-11-29 03:00:00 +0000",
        },
        {
            "uuid": "t-2",
            "num": 2,
            "from_name": "DATABASE",
            "from_type": "pg_dump",
            "to_type": "gof3r",
            "to_name": "BACKUP",
            "succeeded": True,
            "created_at": "2026-11-30 03:00:00 +0000",
        },
        {
            "uuid": "t-3",
            "num": 3,
            "from_name": "DATABASE",
            "from_type": "pg_dump",
            "to_type": "gof3r",
            "to_name": "BACKUP",
            "succeeded": False,
            "created_at": "2026-12-01 03:00:00 +0000",
        },
        {
            "uuid": "t-4",
            "num": 4,
            "from_name": "BACKUP",
            "from_type": "gof3r",
            "to_type": "pg_restore",
            "to_name": "DATABASE",
            "succeeded": True,
            "created_at": "2026-11-30 04:00:00 +0000",
        },
    ]
}
SCOPES = {"full": ["global"], "scoped": ["read"], "identity": ["identity"], "forbidden": []}


class FakeHeroku(ProviderFake):
    def __init__(self) -> None:
        super().__init__()
        self._install()

    def _scope(self, req: FakeRequest, *needs: str) -> list[str] | Reply:
        tok = req.bearer()
        if tok is None or tok not in self.tokens:
            return 401, {"id": "unauthorized", "message": "Invalid credentials provided."}
        have = SCOPES[self.tokens[tok]]
        if "global" in have or any(n in have for n in needs):
            return have
        return 403, {"id": "forbidden", "message": "This OAuth authorization has insufficient scope for this request."}

    @staticmethod
    def _ranged(req: FakeRequest, items: list[dict[str, Any]]) -> Reply:
        if len(items) > 1 and "range" not in req.headers:
            return 206, items[:1], {"Next-Range": f"]{items[0]['id']}..; max=1000"}
        if "range" in req.headers:
            return 200, items[1:]
        return 200, items

    def _install(self) -> None:
        @self.route("GET", "/account")
        def account(req: FakeRequest) -> Reply:
            s = self._scope(req, "identity")
            if isinstance(s, tuple):
                return s
            return 200, {"id": "a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d", "email": "ada@example.test", "name": "Ada"}

        @self.route("GET", "/oauth/authorizations")
        def authorizations(req: FakeRequest) -> Reply:
            s = self._scope(req)
            if isinstance(s, tuple):
                return s
            mine = req.bearer()
            return 200, [
                {
                    "id": "auth-1",
                    "scope": ["global"],
                    "description": "Heroku CLI login from laptop",
                    "access_token": {"id": "tok-1", "token": mine, "expires_in": 31_000_000},
                },
                {
                    "id": "auth-2",
                    "scope": ["read"],
                    "description": "metrics exporter",
                    "access_token": {"id": "tok-2", "token": OTHER_TOKEN, "expires_in": None},
                },
            ]

        @self.route("GET", "/apps")
        def apps(req: FakeRequest) -> Reply:
            s = self._scope(req, "read", "read-protected", "write", "write-protected")
            if isinstance(s, tuple):
                return s
            return self._ranged(req, APPS)

        @self.route("GET", r"/apps/(?P<app>[^/]+)/config-vars")
        def config_vars(req: FakeRequest) -> Reply:
            s = self._scope(req, "read-protected", "write-protected")
            if isinstance(s, tuple):
                return s
            return 200, {"RAILS_ENV": "production"}

        @self.route("GET", r"/apps/(?P<app>[^/]+)/addons")
        def addons(req: FakeRequest) -> Reply:
            s = self._scope(req, "read", "read-protected", "write", "write-protected")
            if isinstance(s, tuple):
                return s
            app = next((a for a in APPS if req.match["app"] in (a["id"], a["name"])), None)  # type: ignore[index]
            if app is None:
                return 404, {"id": "not_found", "message": "Couldn't find that app."}
            return 200, ADDONS[app["name"]]

        @self.route("GET", r"/client/v11/apps/(?P<app>[^/]+)/transfers")
        def transfers(req: FakeRequest) -> Reply:
            s = self._scope(req, "read", "read-protected", "write", "write-protected")
            if isinstance(s, tuple):
                return s
            return 200, TRANSFERS.get(req.match["app"], [])  # type: ignore[index]
