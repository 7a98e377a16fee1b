"""A fake Supabase Management API (``/v1``) on FakeHTTPServer.

Errors: 401 ``{"message": "Unauthorized"}`` for an unknown token; a scoped token calling what it may not
gets 403 with a ``missing_permissions`` array (as the scoped-token changelog documents); 429 from the
FakeHTTPServer modes. Profiles: ``full`` (classic token), ``scoped`` (one project, no backup permission),
``forbidden`` (every call 403).
"""

from __future__ import annotations

from typing import Any

from tests.support.fakehttp import FakeRequest, Reply
from tests.support.fakes._base import ProviderFake

ORGS = [{"id": "acme-org", "slug": "acme-org", "name": "Acme"}, {"id": "side-org", "slug": "side-org", "name": "Side"}]
PROJECTS = [
    {
        "id": "prodrefabcdefghijklm",
        "ref": "prodrefabcdefghijklm",
        "name": "prod",
        "organization_id": "acme-org",
        "organization_slug": "acme-org",
        "region": "eu-central-1",
        "status": "ACTIVE_HEALTHY",
        "created_at": "2026-01-01T00:00:00Z",
    },
    {
        "id": "stagrefabcdefghijklm",
        "ref": "stagrefabcdefghijklm",
        "name": "staging",
        "organization_id": "acme-org",
        "organization_slug": "acme-org",
        "region": "eu-central-1",
        "status": "ACTIVE_HEALTHY",
        "created_at": "2026-02-01T00:00:00Z",
    },
    {
        "id": "hobbyrefabcdefghijkl",
        "ref": "hobbyrefabcdefghijkl",
        "name": "hobby",
        "organization_id": "side-org",
        "organization_slug": "side-org",
        "region": "us-east-1",
        "status": "ACTIVE_HEALTHY",
        "created_at": "2026-03-01T00:00:00Z",
    },
]
BACKUPS: dict[str, dict[str, Any]] = {
    "prodrefabcdefghijklm": {
        "region": "eu-central-1",
        "walg_enabled": True,
        "pitr_enabled": True,
        "backups": [
            {"is_physical_backup": True, "status": "COMPLETED", "inserted_at": "2026-11-29T02:00:00Z"},
            {"is_physical_backup": True, "status": "COMPLETED", "inserted_at": "2026-11-30T02:00:00Z"},
        ],
    },
    "stagrefabcdefghijklm": {
        "region": "eu-central-1",
        "walg_enabled": True,
        "pitr_enabled": False,
        "backups": [
            {"is_physical_backup": True, "status": "COMPLETED", "inserted_at": "2026-11-30T02:00:00Z"},
            {"is_physical_backup": True, "status": "FAILED", "inserted_at": "2026-12-01T02:00:00Z"},
        ],
    },
    "hobbyrefabcdefghijkl": {"region": "us-east-1", "walg_enabled": False, "pitr_enabled": False, "backups": []},
}
PROFILES: dict[str, dict[str, Any]] = {
    "full": {"projects": None, "denied": set()},
    "scoped": {"projects": {"prodrefabcdefghijklm"}, "denied": {"backups_read"}},
    "forbidden": {"projects": set(), "denied": {"projects_read", "organizations_read", "backups_read"}},
}


class FakeSupabase(ProviderFake):
    def __init__(self) -> None:
        super().__init__()
        self._install()

    def _auth(self, req: FakeRequest, perm: str) -> dict[str, Any] | Reply:
        tok = req.bearer()
        if tok is None or tok not in self.tokens:
            return 401, {"message": "Unauthorized"}
        prof = PROFILES[self.tokens[tok]]
        if perm in prof["denied"]:
            return 403, {
                "message": "Your access token does not have the required permissions for this request.",
                "missing_permissions": [perm],
            }
        return prof

    @staticmethod
    def _visible(prof: dict[str, Any]) -> list[dict[str, Any]]:
        return [p for p in PROJECTS if prof["projects"] is None or p["ref"] in prof["projects"]]

    def _install(self) -> None:
        @self.route("GET", "/v1/projects")
        def projects(req: FakeRequest) -> Reply:
            p = self._auth(req, "projects_read")
            return p if isinstance(p, tuple) else (200, self._visible(p))

        @self.route("GET", "/v1/organizations")
        def organizations(req: FakeRequest) -> Reply:
            p = self._auth(req, "organizations_read")
            if isinstance(p, tuple):
                return p
            slugs = {x["organization_slug"] for x in self._visible(p)}
            return 200, [o for o in ORGS if o["slug"] in slugs]

        @self.route("GET", r"/v1/projects/(?P<ref>[a-z]+)/database/backups")
        def backups(req: FakeRequest) -> Reply:
            p = self._auth(req, "backups_read")
            if isinstance(p, tuple):
                return p
            ref = req.match["ref"]  # type: ignore[index]
            if ref not in {x["ref"] for x in self._visible(p)}:
                return 404, {"message": "Project not found"}
            return 200, BACKUPS[ref]
