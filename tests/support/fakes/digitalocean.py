"""A fake DigitalOcean API v2 (api.digitalocean.com) following its documented responses and errors.

Profiles (``add_token(secret, profile)``):
  full       legacy full-access (read + write) token: every probe is allowed (404 / 422)
  scoped     custom scopes: read everything, ``database:delete`` only
  readonly   legacy read-only token: every write 403
  forbidden  custom scopes without any read: every endpoint 403
  reckless   a (misbehaving) server where a probe DELETE succeeds (204), to test the abort
Unknown tokens: 401 ``{"id": "unauthorized", "message": "Unable to authenticate you"}``;
missing scope: 403 ``{"id": "forbidden", "message": "You are not authorized to perform this operation"}``.
"""

from __future__ import annotations

from tests.support.fakehttp import FakeRequest, Reply
from tests.support.fakes._base import ProviderFake

FORBIDDEN: Reply = (
    403,
    {"id": "forbidden", "message": "You are not authorized to perform this operation", "request_id": "req-1"},
)
NOT_FOUND: Reply = (
    404,
    {"id": "not_found", "message": "The resource you were accessing could not be found.", "request_id": "req-2"},
)
WRITE_SCOPES = {"full": {"*"}, "scoped": {"databases"}, "readonly": set(), "forbidden": set(), "reckless": {"*"}}


def _page(key: str, items: list) -> dict:
    return {key: items, "links": {}, "meta": {"total": len(items)}}


class FakeDigitalOcean(ProviderFake):
    def __init__(self) -> None:
        super().__init__()
        self.databases = [
            {
                "id": "9cc10173-e9ea-4176-9dbc-a4cee4c4ff30",
                "name": "prod-pg",
                "engine": "pg",
                "region": "fra1",
                "status": "online",
            }
        ]
        self.droplets = [{"id": 3164444, "name": "web-1", "backup_ids": [7938002], "features": ["backups"]}]
        self.volumes = [{"id": "506f78a4-e098-11e5-ad9f-000f53306ae1", "name": "data-vol", "size_gigabytes": 10}]
        self.snapshots = [
            {
                "id": "6372321",
                "name": "web-1-nightly",
                "resource_type": "droplet",
                "resource_id": "3164444",
                "created_at": "2026-11-30T03:00:00Z",
            },
            {
                "id": "8fa70202-873f-11e6-8b68-000f533176b1",
                "name": "data-vol-snap",
                "resource_type": "volume",
                "resource_id": "506f78a4-e098-11e5-ad9f-000f53306ae1",
                "created_at": "2026-11-29T03:00:00Z",
            },
        ]
        r = self.route
        r("GET", r"/v2/account")(self._account)
        r("GET", r"/v2/(databases|droplets|volumes|snapshots)")(self._list)
        r("DELETE", r"/v2/(databases|droplets|volumes|snapshots|projects|kubernetes/clusters)/([\w-]+)")(self._delete)
        r("POST", r"/v2/(droplets)")(self._create)

    def _who(self, req: FakeRequest) -> tuple[str | None, Reply | None]:
        profile = self.tokens.get(req.bearer() or "")
        if profile is None:
            return None, (401, {"id": "unauthorized", "message": "Unable to authenticate you"})
        return profile, None

    def _account(self, req: FakeRequest) -> Reply:
        profile, e = self._who(req)
        if e:
            return e
        if profile == "forbidden":
            return FORBIDDEN
        return 200, {
            "account": {
                "email": "ops@example.com",
                "uuid": "b6fr89dbf6d9156cace5f3c78dc9851d957381ef",
                "status": "active",
                "email_verified": True,
                "team": {"uuid": "5df3e3004a17e242b7c20ca6c9fc25b701a47ece", "name": "Prod Team"},
            }
        }

    def _list(self, req: FakeRequest) -> Reply:
        profile, e = self._who(req)
        if e:
            return e
        if profile == "forbidden":
            return FORBIDDEN
        key = req.match.group(1)
        return 200, _page(key, getattr(self, key))

    def _allowed(self, profile: str, collection: str) -> bool:
        scopes = WRITE_SCOPES.get(profile, set())
        return "*" in scopes or collection in scopes

    def _delete(self, req: FakeRequest) -> Reply:
        profile, e = self._who(req)
        if e:
            return e
        if not self._allowed(profile or "", req.match.group(1)):
            return FORBIDDEN
        if profile == "reckless":
            return 204, b""
        return NOT_FOUND

    def _create(self, req: FakeRequest) -> Reply:
        profile, e = self._who(req)
        if e:
            return e
        if not self._allowed(profile or "", "droplets"):
            return FORBIDDEN
        return 422, {"id": "unprocessable_entity", "message": "You must specify a name, region, size and image."}
