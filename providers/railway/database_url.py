"""For backups only: look up a Railway database's connection URL (read-only). The audit never calls this.

``[[sources]] railway = { project, environment, service, token }`` -> the token's kind (Bearer first,
then ``Project-Access-Token``, as in identity.py) -> project (id or name) -> environment (name) ->
service (name) -> ``variables(projectId, environmentId, serviceId)``, which returns secret values.
That query lives here, not in queries.py, so the audit's documents stay free of it.

``DATABASE_PUBLIC_URL`` (the TCP proxy, ``*.proxy.rlwy.net``) is used; ``DATABASE_URL`` only when its
host answers from here (it is normally ``*.railway.internal``, reachable only inside Railway).
The URL is returned as a `Secret` and never appears in a message.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from auditor.errors import BackupError
from auditor.http import RequestAuth
from auditor.provider import ProviderContext
from auditor.secrets import Secret

from . import queries as Q
from .client import RailwayGraphQL, RailwayNotAuthorized, RailwayNotFound, auth_for

__all__ = ["SERVICE_VARIABLES", "resolve_database_url"]

# Reads secret values: used by backups only.
SERVICE_VARIABLES = """
query BlastwallServiceVariables($projectId: String!, $environmentId: String!, $serviceId: String!) {
  variables(projectId: $projectId, environmentId: $environmentId, serviceId: $serviceId)
}
"""

PUBLIC_HINT = (
    "enable public networking (a TCP proxy) on the Railway service (service Settings -> Networking -> "
    "Public Networking), which sets DATABASE_PUBLIC_URL, then run the backup again"
)


def _fail(message: str, hint: str | None = None) -> BackupError:
    return BackupError(f"railway: {message}", hint=hint)


def _pick(
    nodes: list[dict[str, Any]], want: str, what: str, where: str, *, name_key: str = "name", id_key: str = "id"
) -> dict[str, Any]:
    live = [n for n in nodes if not n.get("deletedAt")]
    by_id = [n for n in live if n.get(id_key) == want]
    if by_id:
        return by_id[0]
    by_name = [n for n in live if n.get(name_key) == want]
    if len(by_name) == 1:
        return by_name[0]
    if by_name:
        raise _fail(f"{len(by_name)} {what}s are named {want!r} {where}", hint=f"give the {what} id instead")
    known = ", ".join(sorted({str(n.get(name_key)) for n in live})) or "none"
    raise _fail(
        f"no {what} {want!r} {where} (found: {known})",
        hint=f"check `{what}` in the source's railway = {{...}} and the token's reach",
    )


def _reachable(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class _Resolver:
    def __init__(self, client: RailwayGraphQL, token: Secret) -> None:
        self.c = client
        self.token = token
        self.auth: RequestAuth = auth_for("bearer", token)
        self.project_token: dict[str, Any] | None = None

    def detect(self) -> list[dict[str, Any]]:
        """Workspaces the Bearer token reaches; [] (and `project_token` set) for a project token."""
        try:
            return list(self.c.query(Q.API_TOKEN, auth=self.auth)["apiToken"]["workspaces"])
        except RailwayNotAuthorized:
            pass
        auth = auth_for("project_token", self.token)
        try:
            self.project_token = self.c.query(Q.PROJECT_TOKEN, auth=auth)["projectToken"]
        except (RailwayNotAuthorized, RailwayNotFound):
            raise _fail(
                "the token was refused both as an account/workspace token and as a project token: "
                "it is revoked, expired or not a Railway token",
                hint="create a new Railway token and update the reference in `token`",
            ) from None
        self.auth = auth
        return []

    def project(self, want: str, workspaces: list[dict[str, Any]]) -> dict[str, Any]:
        if self.project_token is not None:
            p = self.project_token.get("project") or {}
            node = {"id": self.project_token.get("projectId"), "name": p.get("name")}
            return _pick([node], want, "project", "for this project token")
        nodes: list[dict[str, Any]] = []
        for ws in workspaces:
            nodes += self.c.paginate(
                Q.WORKSPACE_PROJECTS, {"workspaceId": ws["id"]}, ("workspace", "projects"), auth=self.auth
            )
        nodes += self.shared_projects()
        return _pick(nodes, want, "project", "in the token's workspaces or shared with its user")

    def shared_projects(self) -> list[dict[str, Any]]:
        """Projects the user was invited to directly: Railway lists them only under ``externalWorkspaces``
        (there are no personal projects outside a workspace any more). Workspace tokens have no user: none."""
        try:
            ext = self.c.query(Q.EXTERNAL_WORKSPACES, auth=self.auth)["externalWorkspaces"] or []
        except RailwayNotAuthorized:
            return []
        return [
            {"id": p["id"], "name": p.get("name"), "workspaceId": p.get("workspaceId") or w.get("id")}
            for w in ext
            if w.get("currentSessionHasAccess") is not False
            for p in (w.get("projects") or ())
        ]

    def environment(self, want: str, project: dict[str, Any]) -> dict[str, Any]:
        if self.project_token is not None:
            e = self.project_token.get("environment") or {}
            node = {"id": self.project_token.get("environmentId"), "name": e.get("name")}
            return _pick([node], want, "environment", f"for this project token (project {project['name']})")
        nodes = list(
            self.c.paginate(Q.PROJECT_ENVIRONMENTS, {"id": project["id"]}, ("project", "environments"), auth=self.auth)
        )
        return _pick(nodes, want, "environment", f"in project {project['name']!r}")

    def service(self, want: str, project: dict[str, Any], env: dict[str, Any]) -> dict[str, Any]:
        nodes = list(
            self.c.paginate(
                Q.ENVIRONMENT_SERVICE_INSTANCES,
                {"id": env["id"], "projectId": project["id"]},
                ("environment", "serviceInstances"),
                auth=self.auth,
            )
        )
        return _pick(
            nodes, want, "service", f"in {project['name']}/{env['name']}", name_key="serviceName", id_key="serviceId"
        )

    def variables(self, project: dict[str, Any], env: dict[str, Any], si: dict[str, Any]) -> Mapping[str, Any]:
        data = self.c.query(
            SERVICE_VARIABLES,
            {"projectId": project["id"], "environmentId": env["id"], "serviceId": si["serviceId"]},
            auth=self.auth,
        )
        values = data.get("variables")
        if not isinstance(values, dict):
            raise _fail("unexpected answer to `variables` (not an object)")
        return values


def resolve_database_url(
    ref: Mapping[str, Any], token: Secret, ctx: ProviderContext, client: RailwayGraphQL | None = None
) -> Secret:
    """The service's database URL (a `Secret`). Raises `BackupError` (or a typed provider error) with names only."""
    project_ref, env_ref, svc_ref = str(ref["project"]), str(ref["environment"]), str(ref["service"])
    tok = token.reveal()

    def scrub(text: str) -> str:
        return text.replace(tok, f"<secret {token.fingerprint}>") if len(tok) >= 6 else text

    own = client is None
    c = client or RailwayGraphQL.from_context(ctx, scrub=scrub)
    try:
        r = _Resolver(c, token)
        try:
            workspaces = r.detect()
            project = r.project(project_ref, workspaces)
            env = r.environment(env_ref, project)
            si = r.service(svc_ref, project, env)
            values = r.variables(project, env, si)
        except RailwayNotAuthorized as exc:
            raise _fail(
                f"{exc.message.removeprefix('railway: ')} while looking up {project_ref}/{env_ref}/{svc_ref}",
                hint="the token is dead, or this project/environment is outside its scope",
            ) from None
        where = f"service {svc_ref!r} in {project['name']}/{env['name']}"
        # PostgreSQL's template sets DATABASE_[PUBLIC_]URL, MySQL's MYSQL_[PUBLIC_]URL, Redis's REDIS_[PUBLIC_]URL;
        # the URL's scheme then picks the backup engine.
        public_name = next((n for n in _PUBLIC if isinstance(values.get(n), str) and values[n].strip()), None)
        if public_name is not None:
            return _checked(values[public_name].strip(), where, public_name)
        private_name = next((n for n in _PRIVATE if isinstance(values.get(n), str) and values[n].strip()), None)
        if private_name is not None:
            private = values[private_name]
            parts = _checked(private.strip(), where, private_name)
            host, port = _host_port(parts.reveal())
            if host and _reachable(host, port, min(ctx.timeout_s, 5.0)):
                return parts
            raise _fail(
                f"{where} has no DATABASE_PUBLIC_URL and its DATABASE_URL host ({host}:{port}, Railway's "
                "private network) is not reachable from here: public networking must be enabled on the "
                "Railway service",
                hint=PUBLIC_HINT,
            )
        raise _fail(
            f"{where} has none of {', '.join(_PUBLIC + _PRIVATE)}: public networking must be "
            "enabled on the Railway service (and is it a PostgreSQL, MySQL or Redis service?)",
            hint=PUBLIC_HINT,
        )
    except RailwayNotFound as exc:
        raise _fail(exc.message.removeprefix("railway: ")) from None
    finally:
        if own:
            c.close()


_PUBLIC = ("DATABASE_PUBLIC_URL", "MYSQL_PUBLIC_URL", "REDIS_PUBLIC_URL")
_PRIVATE = ("DATABASE_URL", "MYSQL_URL", "REDIS_URL")
_SCHEMES = {"postgres": 5432, "postgresql": 5432, "mysql": 3306, "mariadb": 3306, "redis": 6379, "rediss": 6379}


def _host_port(url: str) -> tuple[str | None, int]:
    try:
        parts = urlsplit(url)
        return parts.hostname, parts.port or _SCHEMES.get(parts.scheme.lower(), 5432)
    except ValueError:
        return None, 5432


def _checked(value: str, where: str, name: str) -> Secret:
    url = Secret(value)
    if "${{" in value:
        raise _fail(f"{name} of {where} still holds an unresolved ${{{{…}}}} reference")
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if scheme not in _SCHEMES:
        raise _fail(
            f"{name} of {where} is not a postgresql://, mysql:// or redis:// URL",
            hint="is it a PostgreSQL, MySQL or Redis service?",
        )
    return url
