"""Offline decoding of Fly.io macaroon tokens (the superfly/macaroon wire format), no secret key needed.

A token header is ``FlyV1 <tok>[,<tok>…]``; each ``<tok>`` is ``fm1r_``/``fm1a_``/``fm2_`` + standard
base64 of a MessagePack array ``[nonce, location, caveats, tail]``. ``caveats`` is a flat array
``[type, body, type, body, …]``; bodies are structs encoded as arrays. Caveat type numbers and the
action bitmask (r=1 w=2 c=4 d=8 C=16) follow superfly/macaroon ``caveat.go`` and ``resset/action.go``.
Decoding reads what the token *claims*; only Fly can verify the signature.
"""

from __future__ import annotations

import base64
import binascii
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["Macaroon", "Scope", "decode_token", "scope_of", "MacaroonError", "split_tokens", "ACTION"]

PREFIXES = ("fm1r", "fm1a", "fm2")
ACTION = {"read": 1, "write": 2, "create": 4, "delete": 8, "control": 16}
ALL = 0x1F

CAV_ORGANIZATION = 0
CAV_VOLUMES = 2
CAV_APPS = 3
CAV_VALIDITY = 4
CAV_FEATURES = 5
CAV_MUTATIONS = 6
CAV_MACHINES = 7
CAV_CONFINE_USER = 8
CAV_CONFINE_ORG = 9
CAV_IS_USER = 10
CAV_3P = 11
CAV_BIND = 12
CAV_IF_PRESENT = 13
CAV_CLUSTERS = 16
CAV_NO_ADMIN = 22


class MacaroonError(ValueError):
    pass


# -- MessagePack (the subset the format uses) -------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise MacaroonError("truncated msgpack")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def uint(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def value(self, depth: int = 0) -> Any:
        if depth > 32:
            raise MacaroonError("msgpack nesting too deep")
        b = self.take(1)[0]
        if b <= 0x7F:
            return b
        if b >= 0xE0:
            return b - 0x100
        if 0x80 <= b <= 0x8F:
            return self._map(b & 0x0F, depth)
        if 0x90 <= b <= 0x9F:
            return [self.value(depth + 1) for _ in range(b & 0x0F)]
        if 0xA0 <= b <= 0xBF:
            return self._str(b & 0x1F)
        simple = {0xC0: None, 0xC2: False, 0xC3: True}
        if b in simple:
            return simple[b]
        if b in (0xC4, 0xC5, 0xC6):
            return self.take(self.uint({0xC4: 1, 0xC5: 2, 0xC6: 4}[b]))
        if b in (0xC7, 0xC8, 0xC9):  # ext: skip payload
            n = self.uint({0xC7: 1, 0xC8: 2, 0xC9: 4}[b])
            self.take(1 + n)
            return None
        if b == 0xCA:
            return struct.unpack(">f", self.take(4))[0]
        if b == 0xCB:
            return struct.unpack(">d", self.take(8))[0]
        if 0xCC <= b <= 0xCF:
            return self.uint(1 << (b - 0xCC))
        if 0xD0 <= b <= 0xD3:
            n = 1 << (b - 0xD0)
            return int.from_bytes(self.take(n), "big", signed=True)
        if 0xD4 <= b <= 0xD8:  # fixext
            self.take(1 + (1 << (b - 0xD4)))
            return None
        if b in (0xD9, 0xDA, 0xDB):
            return self._str(self.uint({0xD9: 1, 0xDA: 2, 0xDB: 4}[b]))
        if b in (0xDC, 0xDD):
            return [self.value(depth + 1) for _ in range(self.uint(2 if b == 0xDC else 4))]
        if b in (0xDE, 0xDF):
            return self._map(self.uint(2 if b == 0xDE else 4), depth)
        raise MacaroonError(f"unsupported msgpack byte 0x{b:02x}")

    def _str(self, n: int) -> str:
        return self.take(n).decode("utf-8", "replace")

    def _map(self, n: int, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for _ in range(n):
            k = self.value(depth + 1)
            out[k if isinstance(k, (str, int, bytes)) else repr(k)] = self.value(depth + 1)
        return out


def unpack(data: bytes) -> Any:
    r = _Reader(data)
    v = r.value()
    return v


# -- tokens ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caveat:
    type: int
    body: Any


@dataclass(frozen=True)
class Macaroon:
    label: str
    location: str
    caveats: tuple[Caveat, ...]


def split_tokens(value: str) -> list[str]:
    v = value.strip()
    while True:
        head, _, rest = v.partition(" ")
        if rest and head.lower() in ("flyv1", "bearer"):
            v = rest.strip()
        else:
            break
    return [t.strip() for t in v.split(",") if t.strip()]


def is_macaroon(tok: str) -> bool:
    return tok.partition("_")[0] in PREFIXES


def _caveats(raw: Any) -> tuple[Caveat, ...]:
    if not isinstance(raw, list) or len(raw) % 2:
        raise MacaroonError("bad caveat set")
    return tuple(Caveat(int(raw[i]) if isinstance(raw[i], int) else -1, raw[i + 1]) for i in range(0, len(raw), 2))


def decode_token(tok: str) -> Macaroon:
    label, _, b64 = tok.partition("_")
    if label not in PREFIXES or not b64:
        raise MacaroonError("not a Fly macaroon")
    try:
        raw = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise MacaroonError("macaroon is not valid base64") from None
    m = unpack(raw)
    if not isinstance(m, list) or len(m) < 3:
        raise MacaroonError("macaroon is not a 4-element array")
    return Macaroon(label=label, location=str(m[1]), caveats=_caveats(m[2]))


# -- what a token claims to allow -----------------------------------------------------------------------


@dataclass
class Scope:
    """The permission token's restrictions. ``None`` means "not restricted by any caveat"."""

    orgs: dict[int, int] | None = None  # org internal id -> action mask
    apps: dict[int, int] | None = None  # app internal id -> action mask
    else_mask: int | None = None  # IfPresent: actions allowed on resources its Ifs do not name
    mutations: list[str] | None = None
    features: dict[str, int] | None = None
    not_before: int | None = None
    not_after: int | None = None
    third_party: list[str] = field(default_factory=list)
    unknown_caveats: list[int] = field(default_factory=list)
    macaroons: int = 0

    def expired(self, now: datetime | None = None) -> bool:
        now_s = (now or datetime.now(UTC)).timestamp()
        return self.not_after is not None and now_s > self.not_after

    def can(self, action: str, app_id: int | None = None) -> bool:
        """Can it take `action` on an app (app_id) or on any app in its org(s) (app_id None)?"""
        bit = ACTION[action]
        if self.mutations is not None:
            return False  # only the listed GraphQL mutations
        if self.orgs is not None and not all(m & bit for m in self.orgs.values()):
            return False
        if self.apps is not None:
            if app_id is None:
                return False
            if not self.apps.get(app_id, self.apps.get(0, 0)) & bit:
                return False
        if self.else_mask is not None and app_id is None and not self.else_mask & bit:
            return False
        return True


def _intersect(old: dict[Any, int] | None, new: dict[Any, int]) -> dict[Any, int]:
    if old is None:
        return dict(new)
    return {k: old[k] & v for k, v in new.items() if k in old}


def _resset(body: Any) -> dict[Any, int]:
    inner = body[0] if isinstance(body, list) and body else body
    if not isinstance(inner, dict):
        raise MacaroonError("bad resource set")
    return {k: int(v) if isinstance(v, int) else 0 for k, v in inner.items()}


def _apply(scope: Scope, cavs: tuple[Caveat, ...], nested: bool = False) -> None:
    for c in cavs:
        b = c.body
        if c.type == CAV_ORGANIZATION and isinstance(b, list) and len(b) >= 2:
            scope.orgs = _intersect(scope.orgs, {int(b[0]): int(b[1])})
        elif c.type == CAV_APPS:
            scope.apps = _intersect(scope.apps, _resset(b))
        elif c.type == CAV_VALIDITY and isinstance(b, list) and len(b) >= 2:
            nb, na = int(b[0]), int(b[1])
            scope.not_before = max(scope.not_before or nb, nb)
            scope.not_after = min(scope.not_after or na, na)
        elif c.type == CAV_MUTATIONS:
            muts = b[0] if isinstance(b, list) and b and isinstance(b[0], list) else b
            scope.mutations = [str(m) for m in (muts or [])]
        elif c.type == CAV_FEATURES:
            scope.features = _intersect(scope.features, _resset(b))
        elif c.type == CAV_IF_PRESENT and isinstance(b, list) and len(b) >= 2 and not nested:
            _apply(scope, _caveats(b[0]), nested=True)
            scope.else_mask = int(b[1]) if scope.else_mask is None else scope.else_mask & int(b[1])
        elif c.type == CAV_3P and isinstance(b, list) and b:
            scope.third_party.append(str(b[0]))
        elif c.type in (
            CAV_VOLUMES,
            CAV_MACHINES,
            CAV_CLUSTERS,
            CAV_BIND,
            CAV_IS_USER,
            CAV_CONFINE_USER,
            CAV_CONFINE_ORG,
            CAV_NO_ADMIN,
        ):
            continue
        else:
            scope.unknown_caveats.append(c.type)


def scope_of(value: str) -> Scope | None:
    """The combined restrictions of the macaroons in a token string; None when it holds no macaroon."""
    toks = [t for t in split_tokens(value) if is_macaroon(t)]
    if not toks:
        return None
    scope = Scope()
    try:
        for tok in toks:
            m = decode_token(tok)
            scope.macaroons += 1
            _apply(scope, m.caveats)
    except MacaroonError:
        raise
    except (TypeError, ValueError, KeyError, IndexError, OverflowError) as exc:
        raise MacaroonError(f"unexpected caveat shape ({type(exc).__name__})") from None
    return scope
