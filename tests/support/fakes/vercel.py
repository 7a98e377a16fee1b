"""A fake Vercel REST API on FakeHTTPServer.

Errors are Vercel's ``{"error": {"code": ..., "message": ...}}``: an unknown token gets
``403 {"error": {"code": "forbidden", "message": "Not authorized", "invalidToken": true}}`` (what Vercel
answers for a dead token), a missing permission ``403`` without ``invalidToken``; 429 from FakeHTTPServer.
Profiles: ``full`` (scope user), ``scoped`` (team-scoped, Acme), ``project`` (project-scoped), ``forbidden``.
Marketplace resources use the Supabase and Neon fakes' project ids as ``partnerId``.
"""

from __future__ import annotations

from typing import Any

from tests.support.fakehttp import FakeRequest, Reply
from tests.support.fakes._base import ProviderFake

TEAMS = [
    {"id": "team_acme", "slug": "acme", "name": "Acme", "membership": {"role": "OWNER"}},
    {"id": "team_side", "slug": "side", "name": "Side", "membership": {"role": "VIEWER"}},
]
PROJECTS: dict[str | None, list[dict[str, Any]]] = {
    None: [{"id": "prj_blog", "name": "blog", "accountId": "usr_ada"}],
    "team_acme": [
        {"id": "prj_web", "name": "web", "accountId": "team_acme"},
        {"id": "prj_api", "name": "api", "accountId": "team_acme"},
    ],
    "team_side": [{"id": "prj_x", "name": "x", "accountId": "team_side"}],
}
CONFIGS: dict[str | None, list[dict[str, Any]]] = {
    None: [],
    "team_acme": [
        {
            "id": "icfg_supa1",
            "slug": "supabase",
            "integrationId": "oac_supa",
            "ownerId": "team_acme",
            "installationType": "marketplace",
        },
        {
            "id": "icfg_neon1",
            "slug": "neon",
            "integrationId": "oac_neon",
            "ownerId": "team_acme",
            "installationType": "marketplace",
        },
        {
            "id": "icfg_slack1",
            "slug": "slack",
            "integrationId": "oac_slack",
            "ownerId": "team_acme",
            "installationType": "external",
        },
    ],
    "team_side": [],
}
RESOURCES = {
    "icfg_supa1": [
        {
            "partnerId": "prodrefabcdefghijklm",
            "internalId": "store_supa1",
            "name": "acme-supabase",
            "productId": "supabase",
            "status": "ready",
        }
    ],
    "icfg_neon1": [
        {
            "partnerId": "cool-snow-123456",
            "internalId": "store_neon1",
            "name": "acme-neon",
            "productId": "neon",
            "status": "ready",
        }
    ],
    "icfg_slack1": [],
}
SCOPES: dict[str, list[dict[str, Any]]] = {
    "full": [{"type": "user", "origin": "manual", "createdAt": 1764547200000}],
    "scoped": [{"type": "team", "teamId": "team_acme", "origin": "manual", "createdAt": 1764547200000}],
    "project": [{"type": "project", "projectId": "prj_web", "origin": "manual", "createdAt": 1764547200000}],
    "forbidden": [],
}


class FakeVercel(ProviderFake):
    def __init__(self) -> None:
        super().__init__()
        self._install()

    def _auth(self, req: FakeRequest) -> str | Reply:
        tok = req.bearer()
        if tok is None or tok not in self.tokens:
            return 403, {"error": {"code": "forbidden", "message": "Not authorized", "invalidToken": True}}
        prof = self.tokens[tok]
        if prof == "forbidden":
            return 403, {"error": {"code": "forbidden", "message": "You don't have permission to access this resource"}}
        return prof

    @staticmethod
    def _denied() -> Reply:
        return 403, {"error": {"code": "forbidden", "message": "You don't have permission to access this resource"}}

    def _account(self, req: FakeRequest, prof: str) -> str | None | Reply:
        team = (req.query.get("teamId") or [None])[0]
        if prof == "full":
            return team
        if prof == "scoped" and team == "team_acme":
            return team
        return self._denied()

    def _install(self) -> None:
        @self.route("GET", "/v5/user/tokens/current")
        def current(req: FakeRequest) -> Reply:
            p = self._auth(req)
            if isinstance(p, tuple):
                return p
            return 200, {
                "token": {
                    "id": "tok_1",
                    "name": f"{p} token",
                    "type": "oauth2-token",
                    "origin": "manual",
                    "scopes": SCOPES[p],
                    "expiresAt": 1798761600000,
                    "activeAt": 1764547200000,
                    "createdAt": 1764547200000,
                }
            }

        @self.route("GET", "/v2/user")
        def user(req: FakeRequest) -> Reply:
            p = self._auth(req)
            if isinstance(p, tuple):
                return p
            return 200, {
                "user": {"id": "usr_ada", "email": "ada@example.test", "username": "ada", "defaultTeamId": "team_acme"}
            }

        @self.route("GET", "/v2/teams")
        def teams(req: FakeRequest) -> Reply:
            p = self._auth(req)
            if isinstance(p, tuple):
                return p
            if p == "project":
                return self._denied()
            visible = TEAMS if p == "full" else [t for t in TEAMS if t["id"] == "team_acme"]
            return 200, {"teams": visible, "pagination": {"count": len(visible), "next": None, "prev": None}}

        @self.route("GET", "/v9/projects")
        def projects(req: FakeRequest) -> Reply:
            p = self._auth(req)
            if isinstance(p, tuple):
                return p
            team = self._account(req, p)
            if isinstance(team, tuple):
                return team
            items = PROJECTS.get(team, [])
            until = (req.query.get("until") or [None])[0]
            # two pages when there are two projects, to exercise `pagination.next`
            if len(items) > 1 and until is None:
                return 200, {"projects": items[:1], "pagination": {"count": 1, "next": 1764547200001, "prev": None}}
            if until is not None:
                items = items[1:]
            return 200, {"projects": items, "pagination": {"count": len(items), "next": None, "prev": None}}

        @self.route("GET", "/v1/integrations/configurations")
        def configurations(req: FakeRequest) -> Reply:
            p = self._auth(req)
            if isinstance(p, tuple):
                return p
            team = self._account(req, p)
            if isinstance(team, tuple):
                return team
            return 200, CONFIGS.get(team, [])

        @self.route("GET", r"/v1/installations/(?P<cfg>[^/]+)/resources")
        def resources(req: FakeRequest) -> Reply:
            p = self._auth(req)
            if isinstance(p, tuple):
                return p
            if p not in ("full", "scoped"):
                return self._denied()
            cfg = req.match["cfg"]  # type: ignore[index]
            if cfg not in RESOURCES:
                return 404, {"error": {"code": "not_found", "message": "Installation not found"}}
            return 200, {"resources": RESOURCES[cfg]}
