"""A fake Stripe API (api.stripe.com) following Stripe's documented responses and error shapes.

Profiles (``add_token(key, profile)``):
  full        a secret key: every endpoint allowed
  scoped      same as full (use it with an ``sk_test_`` key: test mode only)
  restricted_full   a restricted key with every permission
  restricted_read   a restricted key with read permissions only (writes 403)
  forbidden   a restricted key with no permissions: every endpoint 403
  reckless    a (misbehaving) server where a probe write succeeds, to test the abort
Unknown keys: 401 ``{"error": {"type": "invalid_request_error", "message": "Invalid API Key provided: sk_live_****abcd"}}``.
Write probes against IDs that cannot exist answer 404 ``resource_missing`` when allowed.
"""

from __future__ import annotations

from tests.support.fakehttp import FakeRequest, Reply
from tests.support.fakes._base import ProviderFake

ACCOUNT = {
    "id": "acct_1Fake0000000000",
    "object": "account",
    "email": "owner@example.com",
    "business_profile": {"name": "Example Ltd"},
    "charges_enabled": True,
}


def _missing(kind: str, ident: str) -> Reply:
    return 404, {
        "error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "param": "id",
            "message": f"No such {kind}: '{ident}'",
        }
    }


class FakeStripe(ProviderFake):
    def __init__(self) -> None:
        super().__init__()
        self.tokens: dict[str, str] = {}
        self.route("GET", r"/v1/account")(self._account)
        self.route("GET", r"/v1/balance")(self._list)
        self.route("GET", r"/v1/(customers|charges|products|subscriptions|webhook_endpoints|payouts|refunds|accounts)")(
            self._list
        )
        self.route("DELETE", r"/v1/(customers|products|webhook_endpoints|subscriptions|accounts)/(\w+)")(self._write)
        self.route("POST", r"/v1/(refunds|payouts)/(\w+)")(self._write)

    def add_token(self, key: str, profile: str) -> str:
        self.tokens[key] = profile
        return key

    def _auth(self, req: FakeRequest, write: bool = False) -> tuple[str | None, Reply | None]:
        key = req.bearer() or ""
        profile = self.tokens.get(key)
        if profile is None:
            return None, (
                401,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": f"Invalid API Key provided: {key[:8]}****{key[-4:]}",
                    }
                },
            )
        if profile == "forbidden" or (write and profile == "restricted_read"):
            return profile, (
                403,
                {
                    "error": {
                        "type": "invalid_request_error",
                        "message": f"The provided key '{key[:8]}***{key[-4:]}' does not have the required permissions "
                        f"for this endpoint on account '{ACCOUNT['id']}'. Having the 'rak_{req.path.split('/')[2]}"
                        f"_{'write' if write else 'read'}' permission would allow this request to continue.",
                    }
                },
            )
        return profile, None

    def _account(self, req: FakeRequest) -> Reply:
        profile, err = self._auth(req)
        if err:
            return err
        if profile == "restricted_read":
            return self._auth(req, write=True)[1] or (500, {})
        return 200, ACCOUNT

    def _list(self, req: FakeRequest) -> Reply:
        _, err = self._auth(req)
        if err:
            return err
        if req.path == "/v1/balance":
            return 200, {"object": "balance", "livemode": True, "available": [{"amount": 100, "currency": "usd"}]}
        return 200, {"object": "list", "data": [], "has_more": False, "url": req.path}

    def _write(self, req: FakeRequest) -> Reply:
        profile, err = self._auth(req, write=True)
        if err:
            return err
        assert req.match is not None
        if profile == "reckless":
            return 200, {"id": req.match.group(2), "deleted": True}
        return _missing(req.match.group(1).rstrip("s"), req.match.group(2))
