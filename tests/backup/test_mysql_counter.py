"""`RowCounter` on dumps built here (no server): the counts must be exactly the rows, whatever the values hold
and wherever the stream is cut into chunks."""

from __future__ import annotations

import random

import pytest

from auditor.backup.engines.mysql import RowCounter, _rows

_ESC = {0: b"\\0", 10: b"\\n", 13: b"\\r", 26: b"\\Z", 34: b'\\"', 39: b"\\'", 92: b"\\\\"}


def _quote(value: bytes) -> bytes:
    """A string literal as mysqldump/mariadb-dump print it (mysql_real_escape_string)."""
    return b"'" + b"".join(_ESC.get(c, bytes([c])) for c in value) + b"'"


def _dump(tables: dict[str, list[list[bytes]]], *, mariadb: bool, per_statement: int = 3) -> bytes:
    out = [b"-- MariaDB dump 10.19\n" if mariadb else b"-- MySQL dump 10.13\n"]
    for name, rows in tables.items():
        tick = name.encode().replace(b"`", b"``")
        out.append(b"DROP TABLE IF EXISTS `" + tick + b"`;\nCREATE TABLE `" + tick + b"` (\n  `a` text\n);\n")
        for i in range(0, len(rows), per_statement):
            tuples = [b"(" + b",".join(r) + b")" for r in rows[i : i + per_statement]]
            sep, head = (b",\n", b" VALUES\n") if mariadb else (b",", b" VALUES ")
            out.append(b"INSERT INTO `" + tick + b"`" + head + sep.join(tuples) + b";\n")
    out.append(b"-- Dump completed on 2026-12-04\n")
    return b"".join(out)


def _count(data: bytes, cuts: list[int]) -> RowCounter:
    c = RowCounter()
    prev = 0
    for cut in [*cuts, len(data)]:
        c.feed(data[prev:cut])
        prev = cut
    c.close()
    return c


NASTY = [
    b"),\n(",  # a row separator inside a value (the newline is escaped in the dump)
    b"),(",
    b"(",
    b")",
    b"it's",
    b"\\",
    b"\\'",
    b"'),('",
    b"a\nb\r\nc",  # a multi-line value
    b";\nINSERT INTO `t` VALUES\n(1);",
    b"\n(",
    b"",
]


@pytest.mark.parametrize("mariadb", [True, False])
def test_every_cut_of_values_that_look_like_rows(mariadb):
    tables = {
        "t": [[b"1", _quote(v), b"0x2829", b"NULL"] for v in NASTY],
        "empty": [],
        "tick`name": [[b"2", _quote(b"x),\n(y")], [b"3", b"-1.5e+3"]],
    }
    data = _dump(tables, mariadb=mariadb)
    expect = {"t": len(NASTY), "empty": 0, "tick`name": 2}
    for cut in range(1, len(data)):  # every boundary: inside escapes, between ")" and ",", before "\n(" …
        c = _count(data, [cut])
        assert c.rows == expect and c.completed, (cut, data[max(0, cut - 10) : cut + 10])
    c = _count(data, list(range(1, len(data))))  # one byte at a time
    assert c.rows == expect and c.order == ["t", "empty", "tick`name"]


@pytest.mark.parametrize("mariadb", [True, False])
def test_random_values_and_chunks(mariadb):
    rnd = random.Random(21)
    alphabet = b"(),;'\\\n\r\"`0x ab"
    tables = {
        f"t{i}": [
            [str(j).encode(), _quote(bytes(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 30))))]
            for j in range(rnd.randrange(0, 40))
        ]
        for i in range(6)
    }
    data = _dump(tables, mariadb=mariadb, per_statement=rnd.randrange(1, 7))
    expect = {name: len(rows) for name, rows in tables.items()}
    for _ in range(200):
        cuts = sorted(rnd.sample(range(1, len(data)), rnd.randrange(1, 30)))
        assert _count(data, cuts).rows == expect


def test_rows_longer_than_a_chunk():
    long_row = [b"1", _quote(b"(" * 300_000 + b"),\n(" + b"x" * 300_000)]
    data = _dump({"t": [long_row, [b"2", _quote(b"")], long_row]}, mariadb=True, per_statement=2)
    for size in (4096, 65536, 1 << 20):
        assert _count(data, list(range(size, len(data), size))).rows == {"t": 3}


def test_rows_stretch_certain_starts():
    """`_rows` on stretches that start at a row and end at a block end (after "),\\n") or at the ";"."""
    block = b"(1,'a'),\n(2,'b'),\n(3,'c');\n"
    assert _rows(block, 0, len(block) - 1) == 3  # up to and with the ";"
    assert _rows(block, 0, block.index(b"(3")) == 2  # ends with the newline before the next block's row
    assert _rows(block, block.index(b"(2"), len(block) - 1) == 2
    odd = b"(1,'('),\n(2,'b'),\n(3,')');"
    assert _rows(odd, 0, len(odd)) == 3  # a "(" in a value: one row per line still
