"""Canary secrets: plant unique values, then prove none of them appears in any output."""

from __future__ import annotations

import secrets as _secrets
from collections.abc import Iterable
from pathlib import Path

import pytest


class Canaries:
    def __init__(self) -> None:
        self.values: list[str] = []

    def mint(self, template: str) -> str:
        """`template` contains `{r}` where a random run of alphanumerics goes, e.g. 'ghp_{r}'."""
        return self.add(template.format(r=_secrets.token_hex(24)))

    def add(self, value: str) -> str:
        self.values.append(value)
        return value

    def add_pem(self, pem: str) -> str:
        """A PEM private key: the whole value and each line of its body, so that a partial leak (one line of
        a key, a re-wrapped key) is caught too."""
        self.add(pem)
        for line in pem.splitlines():
            if len(line) >= 32 and not line.startswith("-----"):
                self.add(line)
        return pem

    def leaks_in_text(self, text: str) -> list[str]:
        hits = []
        for v in self.values:
            if v in text:
                hits.append(v[:6] + "…")
        return hits

    def leaks_in_tree(self, root: Path) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for p in sorted(root.rglob("*")):
            if p.is_file():
                data = p.read_bytes().decode("utf-8", "replace")
                hits = self.leaks_in_text(data)
                if hits:
                    found[str(p)] = hits
        return found

    def assert_absent(self, *, texts: Iterable[str] = (), trees: Iterable[Path] = ()) -> None:
        problems: list[str] = []
        for t in texts:
            problems += self.leaks_in_text(t)
        for root in trees:
            for path, hits in self.leaks_in_tree(root).items():
                problems.append(f"{path}: {hits}")
        assert not problems, f"planted secrets leaked: {problems}"


@pytest.fixture
def canaries() -> Canaries:
    return Canaries()
