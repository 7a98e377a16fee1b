"""Platform volume restores in the core: route a `kind = "volume"` target to the provider that restores it.

The core builds a `VolumeRestoreRequest` from the config and asks the registry for the provider's
`VolumeRestorer`, which supplies the gated workflow (see `auditor.volume_restorer`). Nothing here knows
a platform. The provider sees the environment without any variable a configured `env:` reference names:
its token reaches it only as a step secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ..config import Config
from ..errors import ConfigError
from ..registry import volume_restorer
from ..volume_restorer import VolumeRestoreRequest, volume_workflow_name
from .backups import referenced_env_names
from .model import Workflow
from .runner import WorkflowFactory

__all__ = ["volume_restore_workflow", "volume_workflows", "workflow_for_target"]


def workflow_for_target(config: Config, target: str) -> str:
    """The workflow that restores into ``target``: ``restore`` (PostgreSQL) or ``<provider>-volume-restore``."""
    pref = config.target(target).platform()
    return "restore" if pref is None else volume_workflow_name(pref.provider)


def volume_restore_workflow(
    config: Config, params: Mapping[str, Any], *, environ: Mapping[str, str] | None = None
) -> Workflow:
    environ = os.environ if environ is None else environ
    target = config.target(str(params["target"]))
    pref = target.platform()
    if target.kind != "volume" or pref is None:
        raise ConfigError(
            f"target {target.name!r} is a {target.kind} target, not a volume target",
            file=config.path,
            hint='volume restores need a [[targets]] entry with kind = "volume", provider and ref',
        )
    restorer = volume_restorer(pref.provider)
    hidden = referenced_env_names(config)
    request = VolumeRestoreRequest(
        target=target.name,
        provider=pref.provider,
        ref=restorer.validate_volume_ref(pref.ref),
        token=pref.token,
        backup_id=str(params["backup_id"]),
        settings=dict(config.providers.get(pref.provider) or {}),
        env={k: v for k, v in environ.items() if k not in hidden},
    )
    return restorer.volume_restore_workflow(request)


def volume_workflows(config: Config, environ: Mapping[str, str] | None = None) -> dict[str, WorkflowFactory]:
    """One factory per provider that the config's volume targets use (nothing is loaded until a run needs it)."""
    names = {volume_workflow_name(p.provider) for t in config.targets if (p := t.platform()) is not None}
    return {name: (lambda params: volume_restore_workflow(config, params, environ=environ)) for name in names}
