"""A fake Cloudflare API v4 (api.cloudflare.com/client/v4) with Cloudflare's envelope and error shapes.

Serve it under ``/client/v4``: point the provider at ``fake.url + "/client/v4"``.
Profiles (``add_token(secret, profile)``):
  full      user token whose policy grants every permission group below on all accounts, incl. API Tokens Write
  scoped    user token: D1 Read and Workers Scripts Write on account A only, plus API Tokens Read
  account   account-owned token (cfat_) with D1 Write on account A
  forbidden a valid token that may do nothing: verify works (any token may verify itself), everything else 403
  global    a Global API Key; requests must carry X-Auth-Email ``owner@acme-corp.io`` and X-Auth-Key
Unknown tokens: 401 ``{"success": false, "errors": [{"code": 1000, "message": "Invalid API Token"}]}``.
"""

from __future__ import annotations

from typing import Any

from tests.support.fakehttp import FakeRequest, Reply
from tests.support.fakes._base import ProviderFake

P = "/client/v4"
ACCT_A = "a" * 32
ACCT_B = "b" * 32
ALL_GROUPS = [
    "D1 Write",
    "Workers R2 Storage Write",
    "Workers KV Storage Write",
    "Workers Scripts Write",
    "Zone Write",
    "DNS Write",
    "API Tokens Write",
]


def ok(result: Any) -> Reply:
    return 200, {"success": True, "errors": [], "messages": [], "result": result}


def err(status: int, code: int, message: str) -> Reply:
    return status, {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}


FORBIDDEN = (
    403,
    {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}], "messages": [], "result": None},
)


def _policy(groups: list[str], resources: dict[str, str]) -> dict[str, Any]:
    return {
        "id": "pol1",
        "effect": "allow",
        "resources": resources,
        "permission_groups": [{"id": f"g{i}", "name": g} for i, g in enumerate(groups)],
    }


POLICIES = {
    "full": [_policy(ALL_GROUPS, {"com.cloudflare.api.account.*": "*"})],
    "scoped": [
        _policy(["D1 Read", "Workers Scripts Write"], {f"com.cloudflare.api.account.{ACCT_A}": "*"}),
        _policy(["API Tokens Read"], {"com.cloudflare.api.user.u1": "*"}),
    ],
    "account": [_policy(["D1 Write"], {f"com.cloudflare.api.account.{ACCT_A}": "*"})],
}


class FakeCloudflare(ProviderFake):
    def __init__(self) -> None:
        super().__init__()
        self.accounts = [{"id": ACCT_A, "name": "Team A"}, {"id": ACCT_B, "name": "Team B"}]
        r = self.route
        r("GET", P + r"/user/tokens/verify")(self._verify)
        r("GET", P + r"/accounts/(\w+)/tokens/verify")(self._verify)
        r("GET", P + r"/user/tokens/(\w+)")(self._token)
        r("GET", P + r"/accounts/(\w+)/tokens/(\w+)")(self._token)
        r("GET", P + r"/user")(self._user)
        r("GET", P + r"/accounts")(self._accounts)
        r("GET", P + r"/accounts/(\w+)/d1/database")(self._d1)
        r("GET", P + r"/accounts/(\w+)/r2/buckets")(self._r2)
        r("GET", P + r"/accounts/(\w+)/storage/kv/namespaces")(self._kv)

    def _who(self, req: FakeRequest) -> tuple[str | None, Reply | None]:
        key = req.headers.get("x-auth-key")
        if key is not None:
            if self.tokens.get(key) == "global" and req.headers.get("x-auth-email") == "owner@acme-corp.io":
                return "global", None
            return None, err(403, 9103, "Unknown X-Auth-Key or X-Auth-Email")
        profile = self.tokens.get(req.bearer() or "")
        if profile is None:
            return None, err(401, 1000, "Invalid API Token")
        return profile, None

    def _verify(self, req: FakeRequest) -> Reply:
        _, e = self._who(req)
        if e:
            return e
        return ok(
            {"id": f"tok{abs(hash(req.bearer())) % 10**8}", "status": "active", "expires_on": None, "not_before": None}
        )

    def _token(self, req: FakeRequest) -> Reply:
        profile, e = self._who(req)
        if e:
            return e
        groups = [g["name"] for pol in POLICIES.get(profile or "", []) for g in pol["permission_groups"]]
        if not any(g.startswith(("API Tokens", "Account API Tokens")) for g in groups):
            return FORBIDDEN  # only tokens holding API Tokens Read/Write may read policies
        return ok({"id": req.path.rsplit("/", 1)[1], "name": "ci", "status": "active", "policies": POLICIES[profile]})

    def _user(self, req: FakeRequest) -> Reply:
        profile, e = self._who(req)
        if e:
            return e
        if profile != "global":
            return FORBIDDEN
        return ok({"id": "u1", "email": "owner@acme-corp.io"})

    def _visible(self, profile: str | None) -> list[dict[str, str]]:
        return self.accounts if profile in ("full", "global") else self.accounts[:1]

    def _accounts(self, req: FakeRequest) -> Reply:
        profile, e = self._who(req)
        if e:
            return e
        if profile == "forbidden":
            return FORBIDDEN
        return ok(self._visible(profile))

    def _allowed(self, req: FakeRequest) -> tuple[str | None, Reply | None]:
        profile, e = self._who(req)
        if e:
            return profile, e
        if profile == "forbidden" or (
            req.match and req.match.group(1) not in [a["id"] for a in self._visible(profile)]
        ):
            return profile, FORBIDDEN
        return profile, None

    def _d1(self, req: FakeRequest) -> Reply:
        _, e = self._allowed(req)
        return e or ok([{"uuid": "d1-" + req.match.group(1)[:4], "name": "app-db", "version": "production"}])

    def _r2(self, req: FakeRequest) -> Reply:
        _, e = self._allowed(req)
        return e or ok({"buckets": [{"name": "assets-" + req.match.group(1)[:4], "creation_date": "2026-01-01"}]})

    def _kv(self, req: FakeRequest) -> Reply:
        _, e = self._allowed(req)
        return e or ok([{"id": "kv" + req.match.group(1)[:4], "title": "sessions"}])
