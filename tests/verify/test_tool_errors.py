"""What a failed restore tool's output becomes in a verification message: its error lines, never the data."""

from __future__ import annotations

import tempfile

from auditor.backup.engines.mysql import _client_errors
from auditor.backup.verify import _stderr_excerpt

# what the MariaDB client writes when a statement fails in batch mode (10.11): the statement, then the error
ECHO = (
    "--------------\nINSERT INTO `customers` VALUES\n(1,'alice@example.com','4111 1111 1111 1111'),\n--------------\n\n"
)


def test_only_the_clients_error_lines_are_reported() -> None:
    stderr = ECHO + "ERROR 1062 (23000) at line 40: Duplicate entry '1' for key 'PRIMARY'\n" + ECHO
    stderr += "ERROR 1114 (HY000) at line 41: The table 'customers' is full\n"
    out = _client_errors(stderr)
    assert out == (
        "ERROR 1062 (23000) at line 40: Duplicate entry '1' for key 'PRIMARY' | "
        "ERROR 1114 (HY000) at line 41: The table 'customers' is full"
    )
    assert "alice" not in _client_errors(ECHO)  # no error line: nothing of the output
    assert len(_client_errors("ERROR 1064 (42000) at line 1: " + "y" * 5000)) == 300


def test_a_huge_stderr_keeps_its_end_where_the_error_is() -> None:
    with tempfile.TemporaryFile() as f:
        f.write(ECHO.encode() * 20000)  # ~2.5 MB of echoed rows
        f.write(b"ERROR 1114 (HY000) at line 9: The table 'customers' is full\n")
        text = _stderr_excerpt(f)
    assert len(text) < 140 * 1024
    assert text.endswith("The table 'customers' is full\n") and "\n[...]\n" in text
    with tempfile.TemporaryFile() as f:
        f.write(b"pg_restore: error: short\n")
        assert _stderr_excerpt(f) == "pg_restore: error: short\n"
