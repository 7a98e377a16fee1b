"""The provider registry: built-ins listed here, third parties by entry point `blastwall.providers`."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable
from importlib.metadata import entry_points

from .errors import ConfigError
from .model import CoverageGap
from .provider import Provider

__all__ = ["BUILTIN_PROVIDERS", "load_providers", "ENTRY_POINT_GROUP"]

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
            raise ConfigError(f"unknown provider(s): {', '.join(sorted(unknown))}",
                              hint=f"known providers: {', '.join(sorted(specs))}")
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
            gaps.append(CoverageGap(subject=f"provider {name}", provider=name,
                                    reason=f"provider plugin could not be loaded ({type(exc).__name__}): "
                                    "its credentials were not recognised or inspected"))
    return out, gaps
