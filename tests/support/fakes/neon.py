"""A fake Neon API (``/api/v2``) on FakeHTTPServer.

Errors are Neon's ``{"code": ..., "message": ...}``: 401 for an unknown key, 403 for a call the key type
may not make. Key types follow Neon's docs: a personal key reads ``/users/me`` and everything of the user;
an organization key reads every project of its organization and organization endpoints; a project-scoped
key sees one project and gets 403 on organization endpoints. ``forbidden`` gets 403 everywhere.
"""

from __future__ import annotations

from typing import Any

from tests.support.fakehttp import FakeRequest, Reply
from tests.support.fakes._base import ProviderFake

PROJECTS = [
    {
        "id": "quiet-moon-777777",
        "name": "side-project",
        "region_id": "aws-us-east-2",
        "org_id": None,
        "history_retention_seconds": 86400,
        "created_at": "2025-06-01T00:00:00Z",
    },
    {
        "id": "cool-snow-123456",
        "name": "app-prod",
        "region_id": "aws-eu-central-1",
        "org_id": "org-acme-111",
        "history_retention_seconds": 604800,
        "created_at": "2026-01-01T00:00:00Z",
    },
    {
        "id": "dry-leaf-654321",
        "name": "app-dev",
        "region_id": "aws-eu-central-1",
        "org_id": "org-acme-111",
        "history_retention_seconds": 21600,
        "created_at": "2026-02-01T00:00:00Z",
    },
]
SNAPSHOTS = {
    "cool-snow-123456": [
        {
            "id": "snap-1",
            "name": "before-migration",
            "created_at": "2026-11-30T00:00:00Z",
            "source_branch_id": "br-main-1",
        }
    ]
}
PROFILES: dict[str, dict[str, Any]] = {
    "full": {"type": "personal", "projects": None},
    "org": {"type": "organization", "projects": None},
    "scoped": {"type": "project", "projects": {"dry-leaf-654321"}},
    "forbidden": {"type": "none", "projects": set()},
}


class FakeNeon(ProviderFake):
    def __init__(self) -> None:
        super().__init__()
        self._install()

    def _auth(self, req: FakeRequest, *allowed: str) -> dict[str, Any] | Reply:
        tok = req.bearer()
        if tok is None or tok not in self.tokens:
            return 401, {"code": "", "message": "authorization failed"}
        prof = PROFILES[self.tokens[tok]]
        if prof["type"] not in allowed:
            return 403, {"code": "", "message": "this action is not permitted for this API key"}
        return prof

    @staticmethod
    def _visible(prof: dict[str, Any], org_id: str | None = None, listing: bool = False) -> list[dict[str, Any]]:
        """What the key sees. A personal key *lists* only personal projects unless ``org_id`` is given."""
        if prof["type"] == "personal":
            if not listing:
                return PROJECTS
            return [p for p in PROJECTS if p["org_id"] == org_id]
        if prof["type"] == "organization":
            return [p for p in PROJECTS if p["org_id"] == "org-acme-111"]
        return [p for p in PROJECTS if prof["projects"] is None or p["id"] in prof["projects"]]

    def _install(self) -> None:
        @self.route("GET", "/api/v2/users/me")
        def me(req: FakeRequest) -> Reply:
            p = self._auth(req, "personal")
            if isinstance(p, tuple):
                return p
            return 200, {"id": "u-1", "email": "ada@example.test", "login": "ada", "name": "Ada", "plan": "launch"}

        @self.route("GET", "/api/v2/projects")
        def projects(req: FakeRequest) -> Reply:
            p = self._auth(req, "personal", "organization", "project")
            if isinstance(p, tuple):
                return p
            vis = self._visible(p, (req.query.get("org_id") or [None])[0], listing=True)
            cursor = (req.query.get("cursor") or [None])[0]
            # one project per page to exercise the cursor
            start = 0 if cursor is None else next(i for i, x in enumerate(vis) if x["id"] == cursor) + 1
            page = vis[start : start + 1]
            more = start + 1 < len(vis)
            return 200, {"projects": page, "pagination": {"cursor": page[-1]["id"] if page and more else None}}

        @self.route("GET", "/api/v2/users/me/organizations")
        def my_orgs(req: FakeRequest) -> Reply:
            p = self._auth(req, "personal")
            if isinstance(p, tuple):
                return p
            return 200, {"organizations": [{"id": "org-acme-111", "name": "Acme", "handle": "acme", "plan": "scale"}]}

        @self.route("GET", r"/api/v2/organizations/(?P<org>[^/]+)/members")
        def members(req: FakeRequest) -> Reply:
            p = self._auth(req, "personal", "organization")
            if isinstance(p, tuple):
                return p
            return 200, {"members": [{"member": {"id": "m-1", "role": "admin"}, "user": {"email": "ada@example.test"}}]}

        @self.route("GET", r"/api/v2/projects/(?P<pid>[^/]+)/snapshots")
        def snapshots(req: FakeRequest) -> Reply:
            p = self._auth(req, "personal", "organization", "project")
            if isinstance(p, tuple):
                return p
            pid = req.match["pid"]  # type: ignore[index]
            if pid not in {x["id"] for x in self._visible(p)}:
                return 404, {"code": "", "message": "project not found"}
            return 200, {"snapshots": SNAPSHOTS.get(pid, [])}
