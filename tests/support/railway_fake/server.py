"""A fake Railway GraphQL API on 127.0.0.1: graphql-core, the schema from the reference, scenario-driven.

* Every document is parsed and validated against ``schema.graphql``; invalid ones get HTTP 400 with
  ``errors`` (as a real GraphQL server would), resolver errors come back as HTTP 200 with
  ``{"data": null, "errors": [...]}`` like backboard does.
* Auth: ``Authorization: Bearer`` (account, workspace, OAuth/CLI tokens) or ``Project-Access-Token``
  (project tokens). Unknown or revoked tokens and out-of-scope resources both get "Not Authorized".
* Relay pagination capped at ``scenario.max_page_size`` (default 2), so real clients need several pages.
* Faults: 429 with Retry-After, 5xx bursts, GraphQL-level rate-limit errors, exhausted X-RateLimit budget.
* ``variables`` / ``variablesForServiceDeployment`` answer the scenario's variable values (secrets; only
  backups of a ``railway = {...}`` source may ask) and are logged in ``secret_reads``.
* ``mutations``: every mutation attempt (even invalid or unauthorised ones); a few are implemented
  (volumeDelete, volumeInstanceBackupDelete/Create/Restore, environmentPatchCommitStaged, projectDelete,
  …); ``workflow_polls`` logs ``workflowStatus`` queries, the rest are recorded and accepted.
* Restores behave like Railway (reference section 7): ``volumeInstanceBackupRestore`` starts a workflow
  that answers Running for ``scenario.stage_polls`` polls and only then stages the volume swap (or ends in
  Error with ``scenario.stage_error``, staging nothing); ``environmentStagedChanges`` shows the
  environment's whole staged patch; ``environmentPatchCommitStaged`` applies *everything* staged (also a
  change a second actor staged, see ``Scenario.stage_variable``), starts a deployment of each touched
  service unless ``skipDeploys``, and returns a String that is no workflow id (``workflowStatus`` on it
  says NotFound). Projects shared with a user directly are reachable only through ``externalWorkspaces``.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError, OperationDefinitionNode, build_schema, execute, parse, validate

from .scenario import Scenario, Token, Variable, VolumeInstance, default_scenario, iso

__all__ = ["RailwayFakeServer", "SCHEMA_PATH", "load_schema", "NOT_AUTHORIZED"]

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")
NOT_AUTHORIZED = "Not Authorized"
GRAPHQL_PATH = "/graphql/v2"

_schema_cache: Any = None


def load_schema() -> Any:
    global _schema_cache
    if _schema_cache is None:
        _schema_cache = build_schema(SCHEMA_PATH.read_text())
    return _schema_cache


def _deny() -> GraphQLError:
    return GraphQLError(NOT_AUTHORIZED)


def _cursor(i: int) -> str:
    return base64.b64encode(f"cursor:{i}".encode()).decode()


def _uncursor(c: str) -> int:
    try:
        return int(base64.b64decode(c.encode()).decode().split(":", 1)[1])
    except Exception:
        raise GraphQLError("Invalid cursor") from None


class _Ctx:
    """Per-request view: the scenario seen through one token."""

    def __init__(self, server: RailwayFakeServer, token: Token | None, header: str | None) -> None:
        self.srv = server
        self.s: Scenario = server.scenario
        self.t = token
        self.header = header

    # -- scope -------------------------------------------------------------------------------------
    @property
    def bearer(self) -> bool:
        return self.t is not None and self.header == "bearer" and self.t.kind in ("account", "oauth", "workspace")

    @property
    def project(self) -> bool:
        return self.t is not None and self.header == "project" and self.t.kind == "project"

    def user(self) -> Any:
        if self.bearer and self.t is not None and self.t.kind in ("account", "oauth"):
            return self.s.users[self.t.user_id or ""]
        return None

    def ws_ok(self, ws_id: str, identity: bool = False) -> bool:
        if not self.bearer or self.t is None or (self.t.forbidden and not identity):
            return False
        if self.t.kind == "workspace":
            return ws_id == self.t.workspace_id
        u = self.user()
        return u is not None and ws_id in u.workspace_ids

    def reachable_workspaces(self) -> list[Any]:
        return [w for w in self.s.workspaces.values() if self.ws_ok(w.id, identity=True)]

    def shared_project_ids(self) -> set[str]:
        """Projects the user was invited to directly (externalWorkspaces); user tokens only."""
        u = self.user()
        if u is None or self.t is None or self.t.forbidden:
            return set()
        return {pid for _ws, pids in self.s.external.get(u.id, []) for pid in pids}

    def project_ok(self, pid: str) -> bool:
        p = self.s.projects.get(pid)
        if p is None or p.deleted:
            return False
        if self.project and self.t is not None:
            return pid == self.t.project_id and not self.t.forbidden
        return self.ws_ok(p.workspace_id) or pid in self.shared_project_ids()

    def env_ok(self, eid: str) -> bool:
        e = self.s.environments.get(eid)
        if e is None:
            return False
        if self.project and self.t is not None:
            return eid == self.t.environment_id and not self.t.forbidden
        return self.project_ok(e.project_id)

    def need(self, ok: bool) -> None:
        if not ok:
            raise _deny()

    # -- connections ----------------------------------------------------------------------------------
    def conn(
        self,
        items: list[Any],
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        cap = self.s.max_page_size
        start = _uncursor(after) + 1 if after else 0
        end = _uncursor(before) if before else len(items)
        idx = list(range(len(items)))[start:end]
        if last is not None and first is None:
            idx = idx[-min(last, cap) :] if last > 0 else []
        else:
            n = cap if first is None else max(0, min(first, cap))
            idx = idx[:n]
        edges = [{"cursor": _cursor(i), "node": items[i]} for i in idx]
        return {
            "edges": edges,
            "pageInfo": {
                "hasNextPage": bool(idx) and idx[-1] < end - 1,
                "hasPreviousPage": bool(idx) and idx[0] > 0,
                "startCursor": edges[0]["cursor"] if edges else None,
                "endCursor": edges[-1]["cursor"] if edges else None,
            },
        }

    # -- object views -------------------------------------------------------------------------------
    def workspace(self, w: Any) -> dict[str, Any]:
        def projects(info: Any, **kw: Any) -> Any:
            return self.conn(
                [self.project_v(p) for p in self.s.projects.values() if p.workspace_id == w.id and not p.deleted], **kw
            )

        return {
            "id": w.id,
            "name": w.name,
            "plan": w.plan,
            "createdAt": iso(self.s.now - timedelta(days=400)),
            "updatedAt": iso(self.s.now),
            "team": None,
            "apiTokenRateLimit": None,
            "projectCount": lambda info, **kw: sum(1 for p in self.s.projects.values() if p.workspace_id == w.id),
            "projects": projects,
        }

    def project_v(self, p: Any) -> dict[str, Any]:
        s = self.s

        def environments(info: Any, **kw: Any) -> Any:
            kw.pop("isEphemeral", None), kw.pop("sort", None)
            return self.conn([self.env_v(e) for e in s.envs_of(p) if self.env_ok(e.id)], **kw)

        def services(info: Any, **kw: Any) -> Any:
            return self.conn([self.service_v(x) for x in s.services.values() if x.project_id == p.id], **kw)

        def volumes(info: Any, **kw: Any) -> Any:
            return self.conn([self.volume_v(v) for v in s.volumes.values() if v.project_id == p.id], **kw)

        ws = s.workspaces.get(p.workspace_id)
        return {
            "id": p.id,
            "name": p.name,
            "description": None,
            "createdAt": iso(s.now - timedelta(days=100)),
            "updatedAt": iso(s.now),
            "deletedAt": None,
            "expiredAt": None,
            "isPublic": False,
            "isTempProject": False,
            "workspaceId": p.workspace_id,
            "teamId": p.workspace_id,
            "baseEnvironmentId": None,
            "primaryEnvironmentId": None,
            "workspace": (lambda info: self.workspace(ws)) if ws else None,
            "environments": environments,
            "services": services,
            "volumes": volumes,
        }

    def env_v(self, e: Any) -> dict[str, Any]:
        s = self.s

        def service_instances(info: Any, **kw: Any) -> Any:
            self.need(self.env_ok(e.id))
            return self.conn([self.si_v(si) for si in s.service_instances.values() if si.environment_id == e.id], **kw)

        def volume_instances(info: Any, **kw: Any) -> Any:
            self.need(self.env_ok(e.id))
            return self.conn([self.vi_v(vi) for vi in s.volume_instances.values() if vi.environment_id == e.id], **kw)

        def variables(info: Any, **kw: Any) -> Any:
            self.need(self.env_ok(e.id))
            items = [
                {
                    "id": f"var-{i}",
                    "name": v.name,
                    "isSealed": False,
                    "serviceId": v.service_id,
                    "environmentId": v.environment_id,
                    "references": [],
                    "createdAt": iso(s.now),
                    "updatedAt": iso(s.now),
                    "environment": lambda info: self.env_v(e),
                    "service": (lambda info, sid=v.service_id: self.service_v(s.services[sid])),
                }
                for i, v in enumerate(s.variables)
                if v.environment_id == e.id
            ]
            return self.conn(items, **kw)

        return {
            "id": e.id,
            "name": e.name,
            "projectId": e.project_id,
            "createdAt": iso(s.now - timedelta(days=90)),
            "updatedAt": iso(s.now),
            "deletedAt": None,
            "isEphemeral": False,
            "canAccess": self.env_ok(e.id),
            "sourceEnvironment": None,
            "unmergedChangesCount": 0,
            "serviceInstances": service_instances,
            "volumeInstances": volume_instances,
            "variables": variables,
        }

    def service_v(self, x: Any) -> dict[str, Any]:
        s = self.s
        return {
            "id": x.id,
            "name": x.name,
            "projectId": x.project_id,
            "createdAt": iso(s.now - timedelta(days=80)),
            "updatedAt": iso(s.now),
            "deletedAt": None,
            "icon": None,
            "templateId": None,
            "isRestricted": False,
            "project": lambda info: self.project_v(s.projects[x.project_id]),
            "serviceInstances": lambda info, **kw: self.conn(
                [
                    self.si_v(si)
                    for si in s.service_instances.values()
                    if si.service_id == x.id and self.env_ok(si.environment_id)
                ],
                **kw,
            ),
        }

    def si_v(self, si: Any) -> dict[str, Any]:
        s = self.s
        svc = s.services[si.service_id]
        return {
            "id": si.id,
            "serviceId": si.service_id,
            "serviceName": svc.name,
            "environmentId": si.environment_id,
            "createdAt": iso(s.now - timedelta(days=80)),
            "updatedAt": iso(s.now),
            "deletedAt": None,
            "numReplicas": si.num_replicas,
            "region": "us-west2",
            "startCommand": None,
            "latestDeployment": (
                {
                    "id": si.deployments[-1]["id"],
                    "status": si.deployments[-1]["status"],
                    "createdAt": si.deployments[-1]["createdAt"],
                    "environmentId": si.environment_id,
                    "serviceId": si.service_id,
                }
                if si.deployments
                else None
            ),
            "source": {"image": si.image, "repo": si.repo},
            "service": lambda info: self.service_v(svc),
        }

    def volume_v(self, v: Any) -> dict[str, Any]:
        s = self.s
        return {
            "id": v.id,
            "name": v.name,
            "projectId": v.project_id,
            "createdAt": iso(s.now - timedelta(days=70)),
            "project": lambda info: self.project_v(s.projects[v.project_id]),
            "volumeInstances": lambda info, **kw: self.conn(
                [
                    self.vi_v(vi)
                    for vi in s.volume_instances.values()
                    if vi.volume_id == v.id and self.env_ok(vi.environment_id)
                ],
                **kw,
            ),
        }

    def vi_v(self, vi: VolumeInstance) -> dict[str, Any]:
        s = self.s
        return {
            "id": vi.id,
            "volumeId": vi.volume_id,
            "serviceId": vi.service_id,
            "environmentId": vi.environment_id,
            "mountPath": vi.mount_path,
            "sizeMB": vi.size_mb,
            "currentSizeMB": vi.current_size_mb,
            "state": vi.state,
            "region": "us-west2",
            "externalId": None,
            "createdAt": iso(s.now - timedelta(days=70)),
            "deletedAt": vi.deleted_at,
            "isPendingDeletion": vi.pending_deletion,
            "volume": lambda info: self.volume_v(s.volumes[vi.volume_id]),
            "environment": lambda info: self.env_v(s.environments[vi.environment_id]),
            "service": (lambda info: self.service_v(s.services[vi.service_id])) if vi.service_id else None,
        }

    def backup_v(self, b: Any) -> dict[str, Any]:
        return {
            "id": b.id,
            "name": b.name,
            "createdAt": b.created_at,
            "expiresAt": b.expires_at,
            "externalId": f"ext-{b.id[:8]}",
            "usedMB": b.used_mb,
            "referencedMB": b.used_mb,
            "scheduleId": b.schedule_id,
            "volumeInstanceSizeMB": 5000,
            "creatorId": None,
        }

    def vi_checked(self, vid: str) -> VolumeInstance:
        vi = self.s.volume_instances.get(vid)
        # A Volume id (or any unknown id) reads back as Not Authorized, as the CLI observes.
        if vi is None or not self.env_ok(vi.environment_id):
            raise _deny()
        return vi

    def project_token_v(self) -> dict[str, Any]:
        t = self.t
        assert t is not None
        return {
            "id": f"pt-{t.value[:4]}",
            "name": t.name,
            "projectId": t.project_id,
            "environmentId": t.environment_id,
            "createdAt": iso(self.s.now - timedelta(days=10)),
            "displayToken": "****" + t.value[-4:],
            "project": lambda info: self.project_v(self.s.projects[t.project_id or ""]),
            "environment": lambda info: self.env_v(self.s.environments[t.environment_id or ""]),
        }


class _Query:
    def __init__(self, c: _Ctx) -> None:
        self.c = c

    def apiToken(self, info: Any) -> Any:
        self.c.need(self.c.bearer)
        return {"workspaces": [{"id": w.id, "name": w.name} for w in self.c.reachable_workspaces()]}

    def me(self, info: Any) -> Any:
        u = self.c.user()
        self.c.need(u is not None)
        return {
            "id": u.id,
            "email": u.email,
            "name": u.name,
            "username": u.name.lower(),
            "has2FA": False,
            "createdAt": iso(self.c.s.now - timedelta(days=500)),
            "apiTokenRateLimit": None,
            "workspaces": [self.c.workspace(self.c.s.workspaces[w]) for w in u.workspace_ids],
        }

    def projectToken(self, info: Any) -> Any:
        if self.c.header != "project":
            raise _deny()
        if not self.c.project:
            raise GraphQLError("Project Token not found")
        return self.c.project_token_v()

    def workspace(self, info: Any, workspaceId: str) -> Any:
        self.c.need(workspaceId in self.c.s.workspaces and self.c.ws_ok(workspaceId))
        return self.c.workspace(self.c.s.workspaces[workspaceId])

    def externalWorkspaces(self, info: Any, projectId: str | None = None) -> Any:
        u = self.c.user()
        self.c.need(u is not None)
        out = []
        for ws_id, pids in self.c.s.external.get(u.id, []):
            ws = self.c.s.workspaces[ws_id]
            projects = [
                self.c.project_v(self.c.s.projects[p])
                for p in pids
                if self.c.project_ok(p) and (projectId is None or p == projectId)
            ]
            out.append(
                {
                    "id": ws.id,
                    "name": ws.name,
                    "plan": ws.plan,
                    "teamId": ws.id,
                    "currentSessionHasAccess": True,
                    "projects": projects,
                }
            )
        return out

    def environmentStagedChanges(self, info: Any, environmentId: str) -> Any:
        self.c.need(environmentId in self.c.s.environments and self.c.env_ok(environmentId))
        patch: dict[str, Any] = {}
        for ch in self.c.s.staged.get(environmentId, []):
            section = patch.setdefault(ch["section"], {})
            entry = section.setdefault(ch["id"], {})
            for k, v in ch["config"].items():
                entry[k] = {**entry.get(k, {}), **v} if isinstance(v, dict) else v
        now = iso(self.c.s.now)
        return {
            "id": f"patch-{environmentId[:8]}",
            "environmentId": environmentId,
            "status": "STAGED",
            "createdAt": now,
            "updatedAt": now,
            "appliedAt": None,
            "appliedBy": None,
            "lastAppliedError": None,
            "message": None,
            "patch": lambda info, **kw: patch,
        }

    def projects(self, info: Any, workspaceId: str | None = None, **kw: Any) -> Any:
        self.c.need(self.c.bearer)
        for k in ("includeDeleted", "orderBy", "userId"):
            kw.pop(k, None)
        if workspaceId is not None:
            self.c.need(self.c.ws_ok(workspaceId))
        items = [
            self.c.project_v(p)
            for p in self.c.s.projects.values()
            if not p.deleted and self.c.ws_ok(p.workspace_id) and (workspaceId is None or p.workspace_id == workspaceId)
        ]
        return self.c.conn(items, **kw)

    def projectsByIds(self, info: Any, ids: list[str]) -> Any:
        return [self.c.project_v(self.c.s.projects[i]) for i in ids if self.c.project_ok(i)]

    def project(self, info: Any, id: str) -> Any:
        if id not in self.c.s.projects:
            raise GraphQLError("Project not found")
        self.c.need(self.c.project_ok(id))
        return self.c.project_v(self.c.s.projects[id])

    def environments(self, info: Any, projectId: str, **kw: Any) -> Any:
        self.c.need(self.c.project_ok(projectId))
        kw.pop("isEphemeral", None)
        return self.c.conn(
            [self.c.env_v(e) for e in self.c.s.envs_of(self.c.s.projects[projectId]) if self.c.env_ok(e.id)], **kw
        )

    def environment(self, info: Any, id: str, projectId: str | None = None) -> Any:
        if id not in self.c.s.environments:
            raise GraphQLError("Environment not found")
        self.c.need(self.c.env_ok(id))
        return self.c.env_v(self.c.s.environments[id])

    def service(self, info: Any, id: str) -> Any:
        x = self.c.s.services.get(id)
        self.c.need(x is not None and (self.c.project_ok(x.project_id)))
        return self.c.service_v(x)

    def serviceInstance(self, info: Any, environmentId: str, serviceId: str) -> Any:
        self.c.need(self.c.env_ok(environmentId))
        for si in self.c.s.service_instances.values():
            if si.environment_id == environmentId and si.service_id == serviceId:
                return self.c.si_v(si)
        raise GraphQLError("ServiceInstance not found")

    def tcpProxies(self, info: Any, environmentId: str, serviceId: str) -> Any:
        self.c.need(self.c.env_ok(environmentId))
        return [
            {
                "id": t.id,
                "domain": t.domain,
                "proxyPort": t.proxy_port,
                "applicationPort": 5432,
                "environmentId": t.environment_id,
                "serviceId": t.service_id,
                "syncStatus": "ACTIVE",
                "createdAt": None,
                "deletedAt": None,
                "updatedAt": None,
            }
            for t in self.c.s.tcp_proxies.values()
            if t.environment_id == environmentId and t.service_id == serviceId
        ]

    def _vars(self, environmentId: str, serviceId: str | None) -> dict[str, str]:
        self.c.need(self.c.env_ok(environmentId))
        self.c.srv.secret_reads.append({"environmentId": environmentId, "serviceId": serviceId})
        return {
            v.name: v.value
            for v in self.c.s.variables
            if v.environment_id == environmentId and (serviceId is None or v.service_id == serviceId)
        }

    def variables(
        self,
        info: Any,
        environmentId: str,
        projectId: str,
        serviceId: str | None = None,
        unrendered: bool | None = None,
    ) -> Any:
        return self._vars(environmentId, serviceId)

    def variablesForServiceDeployment(self, info: Any, environmentId: str, projectId: str, serviceId: str) -> Any:
        return self._vars(environmentId, serviceId)

    def volumeInstance(self, info: Any, id: str) -> Any:
        return self.c.vi_v(self.c.vi_checked(id))

    def volumeInstanceBackupList(self, info: Any, volumeInstanceId: str) -> Any:
        self.c.vi_checked(volumeInstanceId)
        bs = [b for b in self.c.s.backups.values() if b.volume_instance_id == volumeInstanceId]
        return [self.c.backup_v(b) for b in sorted(bs, key=lambda b: b.created_at, reverse=True)]

    def volumeInstanceBackupScheduleList(self, info: Any, volumeInstanceId: str) -> Any:
        self.c.vi_checked(volumeInstanceId)
        retention = {"DAILY": 6 * 86400, "WEEKLY": 30 * 86400, "MONTHLY": 90 * 86400}
        cron = {"DAILY": "0 3 * * *", "WEEKLY": "0 3 * * 0", "MONTHLY": "0 3 1 * *"}
        return [
            {
                "id": x.id,
                "name": x.kind.title(),
                "kind": x.kind,
                "cron": cron[x.kind],
                "retentionSeconds": retention[x.kind],
                "createdAt": x.created_at,
            }
            for x in self.c.s.schedules.values()
            if x.volume_instance_id == volumeInstanceId
        ]

    def workflowStatus(self, info: Any, workflowId: str) -> Any:
        self.c.need(self.c.t is not None)
        wf = self.c.s.workflows.get(workflowId)
        if wf is None:
            status, error = "NotFound", None
        else:
            if wf["status"] == "Running":
                wf["polls_left"] -= 1
                if wf["polls_left"] <= 0:
                    if wf.get("error"):
                        wf["status"] = "Error"
                    else:
                        wf["status"] = "Complete"
                        change = wf.get("on_complete")
                        if change is not None:  # the copy is done: only now is the swap staged
                            self.c.s.staged.setdefault(change["env"], []).append(change)
                        for hook in self.c.s.on_stage_complete:  # e.g. a second actor stages something
                            hook()
            status, error = wf["status"], wf.get("error")
        self.c.srv.workflow_polls.append({"workflowId": workflowId, "status": status})
        return {"status": status, "error": error}

    def apiTokens(self, info: Any, **kw: Any) -> Any:
        u = self.c.user()
        self.c.need(u is not None)
        items = [
            {
                "id": f"tok-{t.value[:4]}",
                "name": t.name,
                "displayToken": "****" + t.value[-4:],
                "expiresAt": None,
                "workspaceId": t.workspace_id,
            }
            for t in self.c.s.tokens.values()
            if t.user_id == u.id and t.kind == "account"
        ]
        return self.c.conn(items, **kw)

    def projectTokens(self, info: Any, projectId: str, **kw: Any) -> Any:
        self.c.need(self.c.bearer and self.c.project_ok(projectId))
        items = []
        for t in self.c.s.tokens.values():
            if t.kind == "project" and t.project_id == projectId:
                items.append(
                    {
                        "id": f"pt-{t.value[:4]}",
                        "name": t.name,
                        "projectId": t.project_id,
                        "environmentId": t.environment_id,
                        "createdAt": iso(self.c.s.now),
                        "displayToken": "****" + t.value[-4:],
                        "project": lambda info, t=t: self.c.project_v(self.c.s.projects[t.project_id or ""]),
                        "environment": lambda info, t=t: self.c.env_v(self.c.s.environments[t.environment_id or ""]),
                    }
                )
        return self.c.conn(items, **kw)


class _Mutation:
    """Mutations: recorded by the server before execution; a few change the scenario."""

    def __init__(self, c: _Ctx) -> None:
        self.c = c

    def _can_delete_in_project(self, pid: str) -> bool:
        if self.c.project:
            return self.c.s.project_token_can_delete and self.c.project_ok(pid)
        return self.c.bearer and self.c.project_ok(pid)

    def volumeDelete(self, info: Any, volumeId: str) -> bool:
        v = self.c.s.volumes.get(volumeId)
        self.c.need(v is not None and self._can_delete_in_project(v.project_id))
        for vi in self.c.s.volume_instances.values():
            if vi.volume_id == volumeId:
                vi.pending_deletion, vi.state = True, "DELETING"
                vi.deleted_at = iso(self.c.s.now + timedelta(hours=48))
        return True

    def volumeInstanceBackupDelete(self, info: Any, volumeInstanceBackupId: str, volumeInstanceId: str) -> Any:
        vi = self.c.vi_checked(volumeInstanceId)
        b = self.c.s.backups.get(volumeInstanceBackupId)
        self.c.need(
            b is not None
            and b.volume_instance_id == vi.id
            and self._can_delete_in_project(self.c.s.environments[vi.environment_id].project_id)
        )
        del self.c.s.backups[volumeInstanceBackupId]
        return {"workflowId": str(uuid.uuid4())}

    def volumeInstanceBackupCreate(self, info: Any, volumeInstanceId: str, name: str | None = None) -> Any:
        vi = self.c.vi_checked(volumeInstanceId)
        self.c.s.backup(vi, timedelta(0), None, name=name)
        return {"workflowId": str(uuid.uuid4())}

    def volumeInstanceBackupRestore(
        self,
        info: Any,
        volumeInstanceBackupId: str,
        volumeInstanceId: str,
        replicaServiceIds: Any = None,
        wipeServiceIds: Any = None,
    ) -> Any:
        """Stages the restore in the volume's environment; nothing changes until the commit."""
        vi = self.c.vi_checked(volumeInstanceId)
        b = self.c.s.backups.get(volumeInstanceBackupId)
        self.c.need(
            b is not None
            and b.volume_instance_id == vi.id
            and self._can_delete_in_project(self.c.s.environments[vi.environment_id].project_id)
        )
        wid = str(uuid.uuid4())
        change = {
            "kind": "volume_restore",
            "section": "volumes",
            "id": vi.volume_id,
            "env": vi.environment_id,
            "config": {"restore": {"volumeInstanceBackupId": volumeInstanceBackupId, "workflowId": wid}},
            "volume_instance_id": vi.id,
            "backup_id": volumeInstanceBackupId,
            "service_id": vi.service_id,
        }
        error = self.c.s.stage_error
        self.c.s.workflows[wid] = {
            "status": "Running",
            "polls_left": max(1, self.c.s.stage_polls),
            "error": error,
            "on_complete": None if error else change,
        }
        return {"workflowId": wid}

    def environmentPatchCommitStaged(
        self, info: Any, environmentId: str, commitMessage: str | None = None, skipDeploys: bool | None = None
    ) -> str:
        """Applies the environment's whole staged patch: a volume restore removes the backups newer than it,
        a staged variable is set; each touched service redeploys unless ``skipDeploys``."""
        s = self.c.s
        e = s.environments.get(environmentId)
        self.c.need(e is not None and self._can_delete_in_project(e.project_id))
        applied = s.staged.pop(environmentId, [])
        touched: set[str] = set()
        for change in applied:
            if change["kind"] == "volume_restore":
                restored = s.backups[change["backup_id"]]
                for bid, b in list(s.backups.items()):
                    if b.volume_instance_id == change["volume_instance_id"] and b.created_at > restored.created_at:
                        del s.backups[bid]
                vi = s.volume_instances[change["volume_instance_id"]]
                vi.current_size_mb, vi.state = float(restored.used_mb), "READY"
                s.restores.append(
                    {
                        "volume_instance_id": vi.id,
                        "backup_id": change["backup_id"],
                        "commit_message": commitMessage or "",
                    }
                )
                if change.get("service_id"):
                    touched.add(change["service_id"])
            elif change["kind"] == "variables":
                s.variables[:] = [
                    v
                    for v in s.variables
                    if not (
                        v.environment_id == environmentId and v.service_id == change["id"] and v.name == change["name"]
                    )
                ]
                s.variables.append(Variable(environmentId, change["id"], change["name"], change["value"]))
                touched.add(change["id"])
        if not skipDeploys:
            for si in s.service_instances.values():
                if si.environment_id == environmentId and si.service_id in touched:
                    si.deployments.append({"id": str(uuid.uuid4()), "status": "DEPLOYING", "createdAt": iso(s.now)})
        s.commits.append(
            {
                "environment_id": environmentId,
                "changes": [c["kind"] for c in applied],
                "skip_deploys": skipDeploys,
                "commit_message": commitMessage,
            }
        )
        return str(uuid.uuid4())  # not a workflow id: nothing documents it as one

    def projectDelete(self, info: Any, id: str) -> bool:
        self.c.need(self._can_delete_in_project(id))
        self.c.s.projects[id].deleted = True
        return True

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError(name)

        def accept(info: Any, **kw: Any) -> Any:
            self.c.need(self.c.t is not None)
            rt = str(info.return_type)
            if "WorkflowId" in rt:
                return {"workflowId": str(uuid.uuid4())}
            if rt.startswith("String"):
                return str(uuid.uuid4())
            if rt.startswith("Volume"):
                raise GraphQLError("not implemented in the fake")
            return True

        return accept


class _RawRequest:
    def __init__(self, path: str, headers: dict[str, str], body: bytes) -> None:
        self.path, self.headers, self.body = path, headers, body

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class RailwayFakeServer:
    """Start with `.start()`; `.url` is the GraphQL endpoint. Swap scenarios with `.load()`."""

    def __init__(self, scenario: Scenario | None = None) -> None:
        self.scenario = scenario or default_scenario()
        self.schema = load_schema()
        self.requests: list[dict[str, Any]] = []
        self.mutations: list[dict[str, Any]] = []
        self.secret_reads: list[dict[str, Any]] = []
        self.workflow_polls: list[dict[str, Any]] = []
        self._faults: deque[tuple[str, Any]] = deque()
        self._lock = threading.Lock()
        self.rate_limit_budget = 1000
        self._remaining = self.rate_limit_budget
        self._exhaust: int | None = None
        self._httpd: ThreadingHTTPServer | None = None
        # FakeHTTPServer-compatible fault modes (used by tests/providers/contract.py):
        self.log = self.requests
        self.rate_limit_next = 0
        self.retry_after = 1
        self.fail_next_5xx = 0
        self.malformed_next = 0
        self.always_rate_limit = False
        # Route overrides (FakeHTTPServer-compatible): (METHOD, path regex, handler(req) -> (status, body[, headers]))
        self.routes: list[tuple[str, re.Pattern[str], Callable[[Any], Any]]] = []

    # -- control ---------------------------------------------------------------------------------
    def load(self, scenario: Scenario) -> RailwayFakeServer:
        with self._lock:
            self.scenario = scenario
        return self

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.mutations.clear()
            self.secret_reads.clear()
            self.workflow_polls.clear()
            self._faults.clear()
            self._remaining = self.rate_limit_budget
            self._exhaust = None
            self.rate_limit_next = self.fail_next_5xx = self.malformed_next = 0
            self.retry_after = 1
            self.always_rate_limit = False
            self.routes.clear()

    def rate_limit(self, times: int = 1, retry_after: int = 2) -> None:
        """The next ``times`` requests get HTTP 429 with ``Retry-After: retry_after``."""
        self._faults.extend([("429", retry_after)] * times)

    def fail_5xx(self, times: int = 3, status: int = 503) -> None:
        self._faults.extend([("5xx", status)] * times)

    def graphql_rate_limit(self, times: int = 1) -> None:
        """HTTP 200 with a GraphQL error "You are sending requests too quickly" (seen in the wild)."""
        self._faults.extend([("gql429", None)] * times)

    def exhaust_budget(self, reset_in: int = 3) -> None:
        """The next response says X-RateLimit-Remaining: 0 and X-RateLimit-Reset: ``reset_in`` (seconds)."""
        self._exhaust = reset_in

    def token(self, name: str) -> str:
        return self.scenario.tokens[name].value

    def route(self, method: str, pattern: str) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
        """Override the GraphQL endpoint with a raw handler (to serve wrong-shaped answers)."""

        def deco(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
            self.routes.append((method.upper(), re.compile(pattern + r"\Z"), fn))
            return fn

        return deco

    @property
    def writes(self) -> list[dict[str, Any]]:
        """FakeHTTPServer-compatible: for GraphQL, a write is a mutation attempt."""
        return list(self.mutations)

    @property
    def queries(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r.get("type") == "query"]

    def count(self, field: str) -> int:
        return sum(1 for r in self.requests if field in r.get("fields", ()))

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> RailwayFakeServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, payload, extra = fake.handle(self.path, headers, body)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", extra.pop("Content-Type", "application/json"))
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                data = b'{"errors":[{"message":"GET not supported"}]}'
                self.send_response(405)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> RailwayFakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return self.base_url + GRAPHQL_PATH

    # -- request handling ----------------------------------------------------------------------------
    def _principal(self, headers: dict[str, str]) -> tuple[Token | None, str | None, str]:
        if "project-access-token" in headers:
            t = self.scenario.by_value(headers["project-access-token"].strip())
            header = "project"
        elif headers.get("authorization", "").lower().startswith("bearer "):
            t = self.scenario.by_value(headers["authorization"][7:].strip())
            header = "bearer"
        else:
            return None, None, "none"
        if t is None:
            return None, header, "unknown"
        return (None if t.revoked else t), header, t.key or t.name

    def _rate_headers(self) -> dict[str, str]:
        self._remaining = max(0, self._remaining - 1)
        remaining, reset = self._remaining, 3600
        if self._exhaust is not None:
            remaining, reset, self._exhaust = 0, self._exhaust, None
        return {
            "X-RateLimit-Limit": str(self.rate_limit_budget),
            "X-RateLimit-Remaining": str(remaining),
            "X-RateLimit-Reset": str(reset),
        }

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            return self._handle(path, headers, body)

    def _handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any, dict[str, str]]:
        token, header, who = self._principal(headers)
        entry: dict[str, Any] = {"path": path, "auth": header, "token": who}
        self.requests.append(entry)
        if path.split("?")[0] != GRAPHQL_PATH:
            entry["status"] = 404
            return 404, {"errors": [{"message": "Not Found"}]}, {}
        for method, pat, fn in self.routes:
            if method == "POST" and pat.match(path):
                out = fn(_RawRequest(path, headers, body))
                entry["status"], entry["fault"] = out[0], "route"
                return out[0], out[1], dict(out[2]) if len(out) > 2 else {}
        if self.always_rate_limit or self.rate_limit_next > 0:
            self.rate_limit_next = max(0, self.rate_limit_next - 1)
            self._faults.appendleft(("429", self.retry_after))
        elif self.fail_next_5xx > 0:
            self.fail_next_5xx -= 1
            self._faults.appendleft(("5xx", 503))
        elif self.malformed_next > 0:
            self.malformed_next -= 1
            entry["fault"], entry["status"] = "malformed", 200
            return 200, b"<html><body>Bad gateway</body></html>", {"Content-Type": "text/html"}
        if self._faults:
            kind, arg = self._faults.popleft()
            entry["fault"] = kind
            if kind == "429":
                entry["status"] = 429
                return (
                    429,
                    {"errors": [{"message": "Rate limit exceeded"}]},
                    {**self._rate_headers(), "X-RateLimit-Remaining": "0", "Retry-After": str(arg)},
                )
            if kind == "5xx":
                entry["status"] = arg
                return arg, {"errors": [{"message": "Service unavailable"}]}, {}
            if kind == "gql429":
                entry["status"] = 200
                return (
                    200,
                    {"data": None, "errors": [{"message": "You are sending requests too quickly"}]},
                    self._rate_headers(),
                )
        rh = self._rate_headers()
        try:
            req = json.loads(body or b"null")
            query = req["query"]
            variables = req.get("variables") or {}
            op_name = req.get("operationName")
            assert isinstance(query, str) and isinstance(variables, dict)
        except Exception:
            entry["status"] = 400
            return 400, {"errors": [{"message": "Invalid JSON body: expected {query, variables}"}]}, rh
        try:
            doc = parse(query)
        except GraphQLSyntaxError as exc:
            if "mutation" in query:
                self.mutations.append(
                    {"fields": ["<unparsable>"], "token": who, "accepted": False, "reason": "syntax error"}
                )
            entry["status"] = 400
            return 400, {"errors": [exc.formatted]}, rh
        ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
        chosen = next((o for o in ops if op_name is None or (o.name and o.name.value == op_name)), None)
        for o in ops:
            if o.operation.value == "mutation":
                self.mutations.append(
                    {
                        "operation": o.name.value if o.name else None,
                        "fields": [sel.name.value for sel in o.selection_set.selections if hasattr(sel, "name")],
                        "variables": dict(variables),
                        "token": who,
                        "accepted": None,
                    }
                )
        entry["type"] = chosen.operation.value if chosen else None
        entry["operation"] = chosen.name.value if chosen and chosen.name else None
        entry["fields"] = (
            [sel.name.value for sel in chosen.selection_set.selections if hasattr(sel, "name")] if chosen else []
        )
        entry["variables"] = dict(variables)
        errors = validate(self.schema, doc)
        if errors:
            entry["status"] = 400
            if chosen is not None and chosen.operation.value == "mutation" and self.mutations:
                self.mutations[-1]["accepted"] = False
            return 400, {"errors": [e.formatted for e in errors]}, rh
        ctx = _Ctx(self, token, header)
        root: Any = _Mutation(ctx) if chosen is not None and chosen.operation.value == "mutation" else _Query(ctx)
        result = execute(self.schema, doc, root_value=root, variable_values=variables, operation_name=op_name)
        out: dict[str, Any] = {"data": result.data}
        if result.errors:
            out["errors"] = [e.formatted for e in result.errors]
        if chosen is not None and chosen.operation.value == "mutation" and self.mutations:
            self.mutations[-1]["accepted"] = not result.errors
        entry["status"] = 200
        entry["errors"] = [e.message for e in result.errors or ()]
        return 200, out, rh
