"""A streaming Redis RDB reader: per-database key counts from the snapshot's own bytes, and an RDB writer.

`RdbCounter.feed(chunk)` is called with the dump's bytes as they pass to the store. It reads the header,
`SELECTDB` and `RESIZEDB` records (the forked child's dict sizes: the snapshot's own DBSIZE per database)
and skips every value by its length encoding, counting the keys it passes, so it needs no buffering beyond
one length header: a big string is skipped as it streams. It checks that the file ends with the EOF opcode
(a truncated transfer fails the backup). Value types it does not know (module types of old versions, or a
type added after RDB 12) stop the walk: the counts of the databases before are kept, the rest come from
`RESIZEDB` only if already seen, and `unknown` says why.

`RdbWriter` builds a loadable RDB from `DUMP` payloads (the SCAN+DUMP+PTTL fallback): a DUMP payload is the
value's RDB serialisation followed by a 2-byte RDB version and a CRC64, so the value bytes go into the
file as they are. The file's checksum is written as zero, which Redis accepts as "checksum disabled".
"""

from __future__ import annotations

import struct
from typing import Any

__all__ = ["RdbCounter", "RdbWriter", "RDB_VERSION_OF_REDIS", "redis_for_rdb"]

# rdb.h RDB_VERSION at each release: the oldest Redis that can load a given RDB version
RDB_VERSION_OF_REDIS = [((7, 4), 12), ((7, 2), 11), ((7, 0), 10), ((5, 0), 9), ((4, 0), 8), ((3, 2), 7)]


def redis_for_rdb(rdb_version: int) -> str:
    """The oldest Redis release that loads `rdb_version` ("8.6+" for 13)."""
    if rdb_version >= 13:
        return "8.6"
    for (major, minor), v in sorted(RDB_VERSION_OF_REDIS, key=lambda x: x[1]):
        if v >= rdb_version:
            return f"{major}.{minor}"
    return "7.4"


_SIMPLE = frozenset((0, 9, 10, 11, 12, 13, 16, 17, 20))
_SIMPLE_TABLE = bytes(1 if i in _SIMPLE else 0 for i in range(256))
# a string's length header -> bytes of header + string when the first byte says it all: 6-bit lengths
# (0x00-0x3F) and 8/16/32-bit integer encodings (0xC0-0xC2); 0 = read further (14/32-bit lengths, LZF, …)
_HEAD = bytes(1 + b if b < 0x40 else 1 + (1, 2, 4)[b - 0xC0] if 0xC0 <= b <= 0xC2 else 0 for b in range(256))


class _NeedMore(Exception):
    pass


class _Unknown(Exception):
    pass


class _Partial(Exception):
    """A step made progress and left its own continuation on the stack before running out of bytes."""


# tasks: ("top",) ("str",) ("strs", n) ("raw", n) ("len",) ("dbl",) ("rep", n, tuple_of_tasks)
# ("lenrep", tuple_of_tasks) ("module2",) ("stream", type) ("cgroups", type) ("consumers", type)


class RdbCounter:
    def __init__(self) -> None:
        self.version: int | None = None
        self.keys: dict[int, int] = {}  # keys walked, per db
        self.resize: dict[int, int] = {}  # RESIZEDB db_size per db
        self.aux: dict[str, str] = {}
        self.eof = False
        self.end_offset: int | None = None  # where the RDB ends in the stream, once the EOF opcode is read
        self.unknown: str | None = None
        self.total = 0
        self._db = 0
        self._buf = bytearray()
        self._pos = 0
        self._skip = 0
        self._stack: list[tuple[Any, ...]] = []
        self._head = True
        self._aux_key: bytes | None = None
        self._capture: list[bytes] | None = None  # AUX strings are captured (small)

    # ---- input -------------------------------------------------------------------------------------
    def feed(self, data: bytes | memoryview) -> None:
        self.total += len(data)
        if self.unknown is not None or self.eof:
            return
        mv = memoryview(data)
        if self._skip:
            n = min(self._skip, len(mv))
            self._skip -= n
            mv = mv[n:]
            if not len(mv):
                return
        if self._pos:
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += mv
        try:
            self._run()
        except _Unknown as exc:
            self.unknown = str(exc)
            self._buf.clear()
            self._pos = 0

    @property
    def counts(self) -> dict[int, int]:
        """Per-db key counts: RESIZEDB where the file has it, else the keys walked (complete files only)."""
        out = dict(self.keys)
        out.update(self.resize)
        return {db: n for db, n in sorted(out.items())}

    # ---- reading helpers (raise _NeedMore; the caller rolls back to the task's start) ---------------
    def _byte(self) -> int:
        if self._pos >= len(self._buf):
            raise _NeedMore
        b = self._buf[self._pos]
        self._pos += 1
        return b

    def _take(self, n: int) -> bytes:
        if self._pos + n > len(self._buf):
            raise _NeedMore
        out = bytes(self._buf[self._pos : self._pos + n])
        self._pos += n
        return out

    def _len(self) -> tuple[int, bool]:
        """(length, is_encoded)."""
        b = self._byte()
        t = b >> 6
        if t == 0:
            return b & 0x3F, False
        if t == 1:
            return ((b & 0x3F) << 8) | self._byte(), False
        if t == 3:
            return b & 0x3F, True
        if b == 0x80:
            return struct.unpack(">I", self._take(4))[0], False
        if b == 0x81:
            return struct.unpack(">Q", self._take(8))[0], False
        raise _Unknown(f"bad length byte {b:#x}")

    def _plain_len(self) -> int:
        n, enc = self._len()
        if enc:
            raise _Unknown("encoded value where a length was expected")
        return n

    def _string(self, keep: bool = False) -> bytes | None:
        n, enc = self._len()
        if enc:
            if n == 0:
                self._take(1)
            elif n == 1:
                self._take(2)
            elif n == 2:
                self._take(4)
            elif n == 3:
                clen = self._plain_len()
                self._plain_len()
                self._skip_bytes(clen)
            else:
                raise _Unknown(f"unknown string encoding {n}")
            return None
        if keep:
            return self._take(n)
        self._skip_bytes(n)
        return None

    def _skip_bytes(self, n: int) -> None:
        avail = len(self._buf) - self._pos
        if n <= avail:
            self._pos += n
        else:  # the rest streams past: commit this task now and skip the remainder as it arrives
            self._pos = len(self._buf)
            self._skip = n - avail

    # ---- the walk ----------------------------------------------------------------------------------
    def _run(self) -> None:
        if self._head:
            if len(self._buf) < 9:
                return
            if bytes(self._buf[:5]) != b"REDIS":
                raise _Unknown("not an RDB file (no REDIS header)")
            self.version = int(bytes(self._buf[5:9]))
            self._pos = 9
            self._head = False
        stack = self._stack
        while not self._skip:
            if not stack:
                self._fast()
                stack.append(("top",))
            start = self._pos
            depth = len(stack)
            task = stack.pop()
            try:
                self._step(task)
            except _Partial:
                return
            except _NeedMore:
                self._pos, self._skip = start, 0
                del stack[depth - 1 :]
                stack.append(task)
                return
            if self.eof:
                return
        # a string payload continues in the next chunk: drop what was consumed
        del self._buf[: self._pos]
        self._pos = 0

    def _fast(self) -> None:
        """The common case without the task stack: whole records of string-encoded types (plain strings,
        listpacks, ziplists, intsets), optionally with an expiry, that lie entirely in the buffer.

        Hot loop (one pass per key): the two length headers are read with a table (`_HEAD`: the header's size
        and the length it encodes, or 0 for the 14-bit and 32-bit forms), and a record is only read while its
        opcode, expiry and both headers lie before `limit`, so no index check is needed until the string ends."""
        buf, pos, n = self._buf, self._pos, len(self._buf)
        limit = n - 24  # opcode (1) + expiry (9) + key header (5) + value header (5), with room to spare
        count = 0
        simple, head = _SIMPLE_TABLE, _HEAD
        while pos < limit:
            p = pos
            op = buf[p]
            if op == 0xFC:
                p += 9
                op = buf[p]
            if not simple[op]:
                break
            b = buf[p + 1]
            h = head[b]
            if h:
                p += 1 + h
            elif b < 0x80:
                p += 3 + (((b & 0x3F) << 8) | buf[p + 2])
            elif b == 0x80:
                p += 6 + int.from_bytes(buf[p + 2 : p + 6], "big")
            else:
                break
            if p >= limit:
                break
            b = buf[p]
            h = head[b]
            if h:
                p += h
            elif b < 0x80:
                p += 2 + (((b & 0x3F) << 8) | buf[p + 1])
            elif b == 0x80:
                p += 5 + int.from_bytes(buf[p + 1 : p + 5], "big")
            else:
                break
            if p > n:
                break
            pos = p
            count += 1
        if count:
            self.keys[self._db] = self.keys.get(self._db, 0) + count
        self._pos = pos

    def _step(self, task: tuple[Any, ...]) -> None:
        kind = task[0]
        stack = self._stack
        if kind == "str":
            self._string()
        elif kind == "strs":
            n = task[1]
            while n:
                start = self._pos
                try:
                    self._string()
                except _NeedMore:
                    self._pos, self._skip = start, 0
                    stack.append(("strs", n))
                    raise _Partial from None
                n -= 1
                if self._skip:
                    if n:
                        stack.append(("strs", n))
                    return
        elif kind == "raw":
            self._take(task[1])
        elif kind == "len":
            self._len()
        elif kind == "dbl":
            b = self._byte()
            if b < 253:
                self._take(b)
        elif kind == "rep":
            n, sub = task[1], task[2]
            if n:
                stack.append(("rep", n - 1, sub))
                stack.extend(reversed(sub))
        elif kind == "lenstrs":
            stack.append(("strs", self._plain_len() * task[1]))
        elif kind == "lenrep":
            stack.append(("rep", self._plain_len(), task[1]))
        elif kind == "top":
            self._top()
        elif kind == "aux":
            k = self._string(keep=True)
            v = self._string(keep=True)
            if k is not None and v is not None and len(self.aux) < 32:
                self.aux[k.decode(errors="replace")] = v.decode(errors="replace")
        elif kind == "module2":
            op = self._plain_len()
            if op == 0:
                return
            stack.append(("module2",))
            stack.append(
                {1: ("len",), 2: ("len",), 3: ("raw", 4), 4: ("raw", 8), 5: ("str",)}.get(op)
                or self._bad(f"module opcode {op}")
            )
        elif kind == "stream_tail":
            t = task[1]
            self._len(), self._len(), self._len()  # items, last id ms, seq
            if t >= 19:
                for _ in range(5):
                    self._len()
            stack.append(("cgroups", t, self._plain_len()))
        elif kind == "cgroups":
            t, n = task[1], task[2]
            if not n:
                return
            stack.append(("cgroups", t, n - 1))
            self._string()
            self._len(), self._len()
            if t >= 19:
                self._len()
            consumer = [("str",), ("raw", 8)] + ([("raw", 8)] if t >= 21 else []) + [("lenrep", (("raw", 16),))]
            stack.append(("lenrep", tuple(consumer)))
            stack.append(("lenrep", (("raw", 16), ("raw", 8), ("len",))))
        else:
            raise _Unknown(f"internal: task {kind}")

    def _bad(self, what: str) -> tuple[Any, ...]:
        raise _Unknown(what)

    def _top(self) -> None:
        op = self._byte()
        stack = self._stack
        if op == 0xFF:
            self.eof = True
            # the file ends after the 8-byte checksum (RDB 5+): anything after it is not the RDB
            self.end_offset = self.total - len(self._buf) + self._pos + (8 if (self.version or 0) >= 5 else 0)
            return
        if op == 0xFE:
            self._db = self._plain_len()
            self.keys.setdefault(self._db, 0)
            return
        if op == 0xFB:
            size = self._plain_len()
            self._plain_len()
            self.resize[self._db] = size
            return
        if op == 0xFA:
            stack.append(("aux",))
            return
        if op == 0xFC:
            self._take(8)
            return
        if op == 0xFD:
            self._take(4)
            return
        if op == 0xF9:
            self._take(1)
            return
        if op == 0xF8:
            self._len()
            return
        if op == 0xF6:  # function library
            stack.append(("str",))
            return
        if op == 0xF7:  # module aux: module id, when opcode, when, then module2 opcodes
            self._len()
            stack.append(("module2",))
            stack.append(("len",))
            stack.append(("len",))
            return
        # a key: type byte, key, value
        self.keys[self._db] = self.keys.get(self._db, 0) + 1
        value = self._value_tasks(op)
        stack.extend(reversed([("str",), *value]))

    def _value_tasks(self, t: int) -> list[tuple[Any, ...]]:
        if t in (0, 9, 10, 11, 12, 13, 16, 17, 20):
            return [("str",)]
        if t in (1, 2, 14):
            return [("lenstrs", 1)]
        if t == 3:
            return [("lenrep", (("str",), ("dbl",)))]
        if t == 4:
            return [("lenstrs", 2)]
        if t == 5:
            return [("lenrep", (("str",), ("raw", 8)))]
        if t == 7:
            return [("len",), ("module2",)]
        if t == 18:
            return [("lenrep", (("len",), ("str",)))]
        if t in (15, 19, 21):
            return [("lenrep", (("str",), ("str",))), ("stream_tail", t)]
        raise _Unknown(f"value type {t} (RDB version {self.version}) is not known to this reader")


class RdbWriter:
    """Builds an RDB file from DUMP payloads, one chunk of bytes per call (the SCAN+DUMP+PTTL fallback)."""

    def __init__(self) -> None:
        self.version = 0

    @staticmethod
    def _len(n: int) -> bytes:
        if n < 64:
            return bytes([n])
        if n < 16384:
            return bytes([0x40 | (n >> 8), n & 0xFF])
        if n < 2**32:
            return b"\x80" + struct.pack(">I", n)
        return b"\x81" + struct.pack(">Q", n)

    def header(self, rdb_version: int) -> bytes:
        self.version = rdb_version
        return b"REDIS%04d" % rdb_version + b"\xfa" + self._str(b"blastwall") + self._str(b"scan-dump")

    def _str(self, s: bytes) -> bytes:
        return self._len(len(s)) + s

    def select(self, db: int) -> bytes:
        return b"\xfe" + self._len(db)

    def key(self, key: bytes, payload: bytes, expire_at_ms: int | None) -> bytes:
        body, _ver = payload[:-10], struct.unpack("<H", payload[-10:-8])[0]
        out = b"\xfc" + struct.pack("<Q", expire_at_ms) if expire_at_ms is not None else b""
        return out + body[:1] + self._str(key) + body[1:]

    @staticmethod
    def payload_version(payload: bytes) -> int:
        return int(struct.unpack("<H", payload[-10:-8])[0])

    @staticmethod
    def end() -> bytes:
        return b"\xff" + b"\x00" * 8
