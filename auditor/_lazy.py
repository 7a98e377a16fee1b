"""Modules imported on first use: a heavy library only needed once a provider is contacted (httpx) stays out of
start-up and out of an offline audit.

    if TYPE_CHECKING:
        import httpx
    else:
        httpx = lazy_module("httpx")

``httpx.Client(...)`` imports httpx at that call; type annotations (under ``from __future__ import
annotations``) and ``except httpx.HTTPError`` clauses that are never reached do not. A class statement whose
base comes from the module, or a module-level call into it, would load it at import: keep those out of modules
that must stay light.

Not ``importlib.util.LazyLoader``: on Python 3.11 its module is not safe when two threads touch it first at the
same time (the second can see a half-executed module; fixed in 3.12), and providers are called from a thread
pool. The proxy below goes through ``importlib.import_module`` on every attribute access instead, whose
per-module import lock makes a concurrent first use wait for the one import; the real module stays the one in
``sys.modules`` (so ``monkeypatch.setattr("httpx.Client", ...)`` is seen through the proxy too).
"""

from __future__ import annotations

import importlib
import types
from typing import Any

__all__ = ["lazy_module"]


class _LazyModule(types.ModuleType):
    """Stands for the module named ``__name__``: every attribute is read from the real module, imported then."""

    def __getattr__(self, attr: str) -> Any:  # only called for what the proxy itself does not hold
        return getattr(importlib.import_module(self.__name__), attr)

    def __repr__(self) -> str:
        return f"<lazy module {self.__name__!r}>"


def lazy_module(name: str) -> types.ModuleType:
    """A stand-in for module ``name`` that imports it on first attribute access (thread-safe)."""
    return _LazyModule(name)
