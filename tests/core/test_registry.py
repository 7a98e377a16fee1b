"""Built-ins come from one list; third-party providers from the `blastwall.providers` entry-point group."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from auditor import registry
from auditor.errors import ConfigError
from auditor.provider import Provider


class ThirdParty(Provider):
    name = "acme"


def test_builtins_all_load() -> None:
    providers, gaps = registry.load_providers()
    assert set(registry.BUILTIN_PROVIDERS) <= set(providers), gaps
    assert not gaps
    for name, p in providers.items():
        assert p.name == name


def test_entry_point_plugin_is_loaded_and_broken_one_is_a_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [
        EntryPoint("acme", f"{__name__}:ThirdParty", registry.ENTRY_POINT_GROUP),
        EntryPoint("broken", "no_such_module_xyz:Nope", registry.ENTRY_POINT_GROUP),
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps if group == registry.ENTRY_POINT_GROUP else [])
    providers, gaps = registry.load_providers()
    assert isinstance(providers["acme"], ThirdParty)
    assert [g.provider for g in gaps] == ["broken"] and "not recognised or inspected" in gaps[0].reason


def test_unknown_provider_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown provider"):
        registry.load_providers(["nope"])


def test_core_never_imports_a_concrete_provider() -> None:
    import pathlib
    import re

    core = pathlib.Path(registry.__file__).parent
    offenders = [
        str(p.relative_to(core))
        for p in core.rglob("*.py")
        if re.search(r"^\s*(from|import)\s+providers\b", p.read_text(), re.M)
    ]
    assert not offenders, offenders
