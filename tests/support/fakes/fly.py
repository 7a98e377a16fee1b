"""A fake Fly.io GraphQL API (api.fly.io/graphql) plus a macaroon minter for tests.

``mint_macaroon(caveats)`` builds a token in the superfly/macaroon wire format (``fm2_`` + base64 of
MessagePack ``[nonce, location, caveats, tail]``) with a random tail: it decodes like a real token but
only this fake accepts it.

Profiles (``add_token(token, profile)``): any profile string is accepted; ``forbidden`` answers 403
``{"errors": [{"message": "Not authorized", "extensions": {"code": "FORBIDDEN"}}]}``. Unknown tokens: HTTP 401
``{"errors": [{"message": "You must be authenticated to view this.", "extensions": {"code": "UNAUTHORIZED"}}]}``.
Every GraphQL *mutation* received is recorded in ``mutations`` (and refused); ``writes`` counts mutations
and non-GraphQL writes, not GraphQL queries (which are POSTs that only read).
"""

from __future__ import annotations

import base64
import os
import struct
from typing import Any

from tests.support.fakehttp import FakeRequest, Reply
from tests.support.fakes._base import ProviderFake

ORG_ID = 4242
APP_IDS = {"web": 101, "worker": 102}


def pack(v: Any) -> bytes:
    """Minimal MessagePack encoder (ints, str, bytes, bool, None, list, dict)."""
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, int):
        if 0 <= v <= 0x7F:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack(">b", v)
        if 0 <= v < 2**64:
            return b"\xcf" + v.to_bytes(8, "big")
        return b"\xd3" + v.to_bytes(8, "big", signed=True)
    if isinstance(v, str):
        b = v.encode()
        return (bytes([0xA0 | len(b)]) if len(b) < 32 else b"\xd9" + bytes([len(b)])) + b
    if isinstance(v, bytes):
        return b"\xc4" + bytes([len(v)]) + v
    if isinstance(v, list):
        return (bytes([0x90 | len(v)]) if len(v) < 16 else b"\xdc" + struct.pack(">H", len(v))) + b"".join(map(pack, v))
    if isinstance(v, dict):
        return bytes([0x80 | len(v)]) + b"".join(pack(k) + pack(x) for k, x in v.items())
    raise TypeError(type(v))


def mint_macaroon(caveats: list[tuple[int, Any]], location: str = "https://api.fly.io/v1") -> str:
    flat: list[Any] = []
    for typ, body in caveats:
        flat += [typ, body]
    raw = pack([[os.urandom(8), os.urandom(16), False], location, flat, os.urandom(32)])
    return "fm2_" + base64.b64encode(raw).decode()


def org_token(mask: int = 0x1F, org: int = ORG_ID) -> str:
    """Like ``fly tokens create org`` (mask 0x1F = rwcdC) or ``readonly`` (mask 1)."""
    return "FlyV1 " + mint_macaroon([(0, [org, mask]), (4, [1_700_000_000, 4_000_000_000])])


def deploy_token(app: str = "web") -> str:
    """Like ``fly tokens create deploy``: org read, one app with every action."""
    return "FlyV1 " + mint_macaroon(
        [(0, [ORG_ID, 0x1F]), (3, [{APP_IDS[app]: 0x1F}]), (4, [1_700_000_000, 4_000_000_000])]
    )


class FakeFly(ProviderFake):
    def __init__(self) -> None:
        super().__init__()
        self.mutations: list[str] = []
        self.apps = [
            {
                "id": "web",
                "name": "web",
                "internalNumericId": APP_IDS["web"],
                "organization": {"slug": "acme", "internalNumericId": ORG_ID},
                "volumes": {"totalCount": 1, "nodes": [{"id": "vol_web1", "name": "pgdata", "sizeGb": 10}]},
            },
            {
                "id": "worker",
                "name": "worker",
                "internalNumericId": APP_IDS["worker"],
                "organization": {"slug": "acme", "internalNumericId": ORG_ID},
                "volumes": {"totalCount": 1, "nodes": [{"id": "vol_wk1", "name": "queue", "sizeGb": 1}]},
            },
        ]
        self.route("POST", r"/graphql")(self._graphql)

    def reset(self) -> None:
        self.mutations.clear()

    @property
    def writes(self) -> list[tuple[str, str]]:
        """GraphQL queries are POSTs that only read: a write is any other non-GET, or any mutation."""
        other = [(m, p) for m, p in self.log if m not in ("GET", "HEAD", "OPTIONS") and (m, p) != ("POST", "/graphql")]
        return other + [("POST", "/graphql mutation")] * len(self.mutations)

    def _graphql(self, req: FakeRequest) -> Reply:
        auth = req.headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        profile = self.tokens.get(token) or self.tokens.get(auth)
        q = (req.json() or {}).get("query", "")
        if q.lstrip().startswith("mutation"):
            self.mutations.append(q)
        if profile is None or (token.startswith("fm") and scheme != "FlyV1"):
            return 401, {
                "data": None,
                "errors": [
                    {"message": "You must be authenticated to view this.", "extensions": {"code": "UNAUTHORIZED"}}
                ],
            }
        if profile == "forbidden" or q.lstrip().startswith("mutation"):
            return 403, {
                "data": None,
                "errors": [{"message": "Not authorized to access this resource", "extensions": {"code": "FORBIDDEN"}}],
            }
        if "viewer" in q:
            viewer = (
                {"id": "u1", "email": "dev@example.com"} if token.startswith("fo1_") else {"id": "tok", "email": None}
            )
            return 200, {
                "data": {
                    "viewer": viewer,
                    "organizations": {
                        "nodes": [{"id": "o1", "slug": "acme", "name": "Acme", "internalNumericId": ORG_ID}]
                    },
                }
            }
        if "apps" in q:
            return 200, {"data": {"apps": {"totalCount": len(self.apps), "nodes": self.apps}}}
        return 400, {"errors": [{"message": "unknown query"}]}
