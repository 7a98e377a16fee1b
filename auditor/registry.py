"""The provider registry: built-ins listed here, third parties by entry point `blastwall.providers`."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from .errors import ConfigError
from .model import CoverageGap
from .provider import Provider

if TYPE_CHECKING:
    from .database_source import DatabaseSource
    from .volume_restorer import VolumeRestorer

__all__ = [
    "BUILTIN_PROVIDERS",
    "ENTRY_POINT_GROUP",
    "database_source",
    "implementation",
    "known_providers",
    "load_providers",
    "volume_restorer",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "blastwall.providers"

# name -> "module:Class". Imported lazily: nothing is loaded until an audit asks for it.
BUILTIN_PROVIDERS: dict[str, str] = {
    "railway": "providers.railway:RailwayProvider",
    "aws": "providers.aws:AwsProvider",
    "github": "providers.github:GitHubProvider",
    "stripe": "providers.stripe:StripeProvider",
    "cloudflare": "providers.cloudflare:CloudflareProvider",
    "digitalocean": "providers.digitalocean:DigitalOceanProvider",
    "fly": "providers.fly:FlyProvider",
    "render": "providers.render:RenderProvider",
    "heroku": "providers.heroku:HerokuProvider",
    "supabase": "providers.supabase:SupabaseProvider",
    "neon": "providers.neon:NeonProvider",
    "vercel": "providers.vercel:VercelProvider",
    "gcp": "providers.gcp:GcpProvider",
    "postgres": "providers.postgres:PostgresProvider",
    "docker": "providers.docker:DockerProvider",
    "npm": "providers.npm:NpmProvider",
    "kubernetes": "providers.kubernetes:KubernetesProvider",
}


def _load(spec: str) -> type[Provider]:
    module, _, attr = spec.partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise TypeError(f"{spec} is not a Provider subclass")
    return cls


def load_providers(
    only: Iterable[str] | None = None, *, include_plugins: bool = True
) -> tuple[dict[str, Provider], list[CoverageGap]]:
    """Instantiate providers. A plugin that fails to load becomes a coverage gap, never fatal."""
    specs = dict(BUILTIN_PROVIDERS)
    if include_plugins:
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            specs.setdefault(ep.name, ep.value)
    wanted = set(only) if only is not None else None
    if wanted is not None:
        unknown = wanted - specs.keys()
        if unknown:
            raise ConfigError(
                f"unknown provider(s): {', '.join(sorted(unknown))}",
                hint=f"known providers: {', '.join(sorted(specs))}",
            )
    out: dict[str, Provider] = {}
    gaps: list[CoverageGap] = []
    for name, spec in specs.items():
        if wanted is not None and name not in wanted:
            continue
        try:
            cls = _load(spec)
            out[name] = cls()
        except Exception as exc:  # a broken plugin must not abort the audit
            log.warning("provider %s could not be loaded: %s", name, exc)
            gaps.append(
                CoverageGap(
                    subject=f"provider {name}",
                    provider=name,
                    reason=f"provider plugin could not be loaded ({type(exc).__name__}): "
                    "its credentials were not recognised or inspected",
                )
            )
    return out, gaps


def known_providers(*, include_plugins: bool = True) -> set[str]:
    """Provider names (built-in and, by entry point, third-party) without loading any of them."""
    names = set(BUILTIN_PROVIDERS)
    if include_plugins:
        names |= {ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return names


def database_source(name: str) -> DatabaseSource:
    """The provider ``name`` as a `DatabaseSource` (it can look up database URLs for backups)."""
    from .database_source import DatabaseSource

    p: DatabaseSource = implementation(name, DatabaseSource, what="look up database URLs")
    return p


def volume_restorer(name: str) -> VolumeRestorer:
    """The provider ``name`` as a `VolumeRestorer` (it can restore its platform's volume backups)."""
    from .volume_restorer import VolumeRestorer

    p: VolumeRestorer = implementation(name, VolumeRestorer, what="restore volume backups")
    return p


def implementation(name: str, seam: type[Any], *, what: str) -> Any:
    """The provider ``name``, if it implements the seam interface ``seam`` (e.g. `DatabaseSource`).

    ``what`` says what the seam is for in the error message ("look up database URLs"). Raises `ConfigError`
    when the provider is unknown, cannot be loaded or does not implement the seam.
    """
    providers, gaps = load_providers([name])
    p = providers.get(name)
    if p is None:
        raise ConfigError(f"the {name} provider could not be loaded", hint=gaps[0].reason if gaps else None)
    if not isinstance(p, seam):
        able = sorted(n for n in BUILTIN_PROVIDERS if _implements(BUILTIN_PROVIDERS[n], seam))
        raise ConfigError(f"the {name} provider cannot {what}", hint=f"providers that can: {', '.join(able) or 'none'}")
    return p


def _implements(spec: str, seam: type) -> bool:
    try:
        return issubclass(_load(spec), seam)
    except Exception:
        return False
