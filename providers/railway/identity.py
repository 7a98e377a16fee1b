"""Offline classification and online identification of Railway tokens.

Railway tokens carry no permission scopes (the schema has no scope field on ApiToken or
ProjectToken). What a token can do follows from its kind:

* account token / CLI login: acts as the user in every workspace the user belongs to;
* workspace token: everything in one workspace;
* project token: one environment of one project; whether it can delete volumes, backups or the
  project is undocumented, so those capabilities are "possible", never "safe".

Probe order (reference): ``apiToken`` (Bearer) → ``me`` (Bearer) → ``projectToken``
(``Project-Access-Token``). "Not Authorized" on ``apiToken`` means the Bearer token is dead;
"Not Authorized" on ``me`` right after ``apiToken`` succeeded means a workspace token (scope).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from auditor._lazy import lazy_module
from auditor.errors import ConfigError, ProviderError, ProviderUnavailable
from auditor.model import Candidate, Credential, Status
from auditor.provider import ProviderContext

if TYPE_CHECKING:
    from . import client as _client
    from . import queries as Q
    from .client import RailwayGraphQL
else:  # the GraphQL client is loaded by the first identification: classify() alone runs offline
    _client = lazy_module("providers.railway.client")
    Q = lazy_module("providers.railway.queries")

__all__ = ["classify", "identify", "ROOT_CAPABILITIES", "PROJECT_CAPABILITIES", "PROJECT_POSSIBLE", "BEARER_KINDS"]

# Documented for project tokens: deploys, variables (incl. database connection strings), in one environment.
PROJECT_CAPABILITIES = ("read:variables", "write:variables", "deploy")
PROJECT_POSSIBLE = (
    "delete:volume",
    "delete:backup",
    "restore:backup",
    "delete:service",
    "delete:environment",
    "delete:project",
)
ROOT_CAPABILITIES = ("read:projects", *PROJECT_CAPABILITIES, *PROJECT_POSSIBLE, "create:token")

BEARER_KINDS = ("account_token", "workspace_token", "cli_login")

NO_SCOPES = "Railway tokens carry no permission scopes: there is no read-only Railway token."

R_ACCOUNT = (
    "An account token acts as you in every workspace you belong to: it can delete any volume, "
    "backup, service or project you could delete in the dashboard."
)
R_WORKSPACE = (
    "A workspace token reaches every project of its workspace and can delete its volumes, backups, "
    "services and projects."
)
R_CLI = (
    "The Railway CLI login acts as you (OAuth) in every workspace granted at login: it can delete any "
    "volume, backup, service or project you could delete."
)
R_API_UNKNOWN = (
    "RAILWAY_API_TOKEN holds an account token (reaches every workspace of its user) or a workspace "
    "token (reaches its whole workspace); either way it can delete volumes, backups and projects."
)
R_PROJECT = (
    "A project token is bound to one environment of one project. Railway does not document whether it "
    "can delete volumes, backups or the project: that is unknown but possible, never safe."
)
R_PROJECT_VARS = (
    "It can read the environment's variables, which include database connection strings: "
    "whoever holds it can connect to those databases and delete the data in them."
)
R_UNKNOWN = (
    "A UUID written next to the word 'railway': it may be an account, workspace or project token; "
    "its reach is unknown until it is identified."
)
R_ROLE = (
    "Its deletes are bounded only by the user's workspace role, which the API does not expose "
    "(deleting volumes and projects needs Admin)."
)


def _expiry_hint(hints: dict[str, Any]) -> datetime | None:
    raw = hints.get("tokenExpiresAt") or hints.get("expires_at")
    if raw is None:
        return None
    try:
        return datetime.fromtimestamp(float(str(raw).strip()), UTC)
    except (ValueError, OverflowError, OSError):
        try:
            d = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
            return d if d.tzinfo else d.replace(tzinfo=UTC)
        except ValueError:
            return None


def _is_legacy(c: Candidate | Credential) -> bool:
    return any(s.locator.endswith("user.token") for s in c.sources)


def classify(candidate: Candidate, now: datetime | None = None) -> Credential:
    """What can be known without asking Railway. Always status=unverified."""
    now = now or datetime.now(UTC)
    kind = candidate.kind
    meta: dict[str, Any] = dict(candidate.hints)
    reasons: list[str] = []
    caps: tuple[str, ...] = ()
    possible: tuple[str, ...] = ()
    root: bool | None
    if kind == "cli_login":
        root, caps = True, ROOT_CAPABILITIES
        reasons += [R_CLI, NO_SCOPES]
        if _is_legacy(candidate):
            meta["legacy_login"] = True
            reasons.append("This is the legacy (pre-OAuth) CLI login token.")
        exp = _expiry_hint(candidate.hints)
        if exp is not None:
            meta["expires_at"] = exp.isoformat()
            if exp <= now:
                meta["access_token_expired"] = True
                reasons.append(f"The access token expired at {exp.isoformat()}.")
        if "refresh_token" in candidate.companions:
            meta["has_refresh_token"] = True
            reasons.append(
                "A refresh token is stored next to it: it mints new access tokens for a year, "
                "so an expired access token does not end this login."
            )
    elif kind in ("api_token", "account_token", "workspace_token"):
        root, caps = True, ROOT_CAPABILITIES
        reasons += [{"account_token": R_ACCOUNT, "workspace_token": R_WORKSPACE}.get(kind, R_API_UNKNOWN), NO_SCOPES]
    elif kind == "project_token":
        root, caps, possible = None, PROJECT_CAPABILITIES, PROJECT_POSSIBLE
        reasons += [R_PROJECT, R_PROJECT_VARS]
    else:
        root, possible = None, ROOT_CAPABILITIES
        reasons.append(R_UNKNOWN)
    reasons.append("Not verified with Railway.")
    return Credential.from_candidate(
        candidate,
        status=Status.unverified,
        root_equivalent=root,
        capabilities=caps,
        possible_capabilities=possible,
        reasons=tuple(reasons),
        metadata=meta,
    )


def _update(cred: Credential, **kw: Any) -> Credential:
    return cred.model_copy(update=kw)


def _error(cred: Credential, exc: Exception, what: str) -> Credential:
    msg = exc.message if isinstance(exc, ProviderError | ConfigError) else type(exc).__name__
    meta = {**cred.metadata, "error": msg}
    reasons = tuple(r for r in cred.reasons if r != "Not verified with Railway.")
    return _update(
        cred, status=Status.error, metadata=meta, reasons=reasons + (f"Could not be identified ({what}): {msg}",)
    )


def identify(cred: Credential, ctx: ProviderContext, client: RailwayGraphQL | None = None) -> Credential:
    """Never raises for API trouble: status becomes error and inventory reports a coverage gap."""
    if ctx.offline:
        return cred
    own = client is None
    try:
        if client is None:
            client = _client.RailwayGraphQL.from_context(ctx, scrub=_scrubber([cred]))
    except ConfigError as exc:
        return _error(cred, exc, "bad endpoint")
    try:
        return _probe(cred, client, ctx)
    except ProviderUnavailable as exc:
        return _error(cred, exc, "Railway unreachable")
    except ProviderError as exc:
        return _error(cred, exc, "unexpected answer")
    except Exception as exc:  # noqa: BLE001 - identify must not take the audit down
        return _error(cred, exc, "internal error")
    finally:
        if own and client is not None:
            client.close()


def _scrubber(creds: list[Credential]) -> Any:
    values = [(c.secret.reveal(), c.fingerprint) for c in creds if len(c.secret) >= 6]
    for c in creds:
        values += [(s.reveal(), s.fingerprint) for s in c.companions.values() if len(s) >= 6]

    def scrub(text: str) -> str:
        for v, fp in values:
            text = text.replace(v, f"<secret {fp}>")
        return text

    return scrub


def _probe(cred: Credential, client: RailwayGraphQL, ctx: ProviderContext) -> Credential:
    now = ctx.clock()
    bearer = _client.auth_for("bearer", cred.secret)
    original = cred.kind
    base_reasons = [
        r
        for r in cred.reasons
        if r not in ("Not verified with Railway.",)
        and r not in (R_CLI, R_API_UNKNOWN, R_PROJECT, R_PROJECT_VARS, R_UNKNOWN, R_ACCOUNT, R_WORKSPACE, NO_SCOPES)
    ]
    meta = dict(cred.metadata)
    workspaces: list[dict[str, str]] | None = None
    api_error: Exception | None = None
    try:
        data = client.query(Q.API_TOKEN, auth=bearer)
        workspaces = [{"id": str(w["id"]), "name": str(w["name"])} for w in data["apiToken"]["workspaces"]]
    except _client.RailwayNotAuthorized as exc:
        api_error = exc
    except (_client.RailwayNotFound, ProviderError) as exc:
        if isinstance(exc, ProviderUnavailable):
            raise
        api_error = exc  # e.g. the field disappeared: fall through to `me`

    me: dict[str, Any] | None = None
    me_denied = False
    if workspaces is not None or not isinstance(api_error, _client.RailwayNotAuthorized):
        try:
            me = client.query(Q.ME, auth=bearer)["me"]
        except _client.RailwayNotAuthorized:
            me_denied = True
        except ProviderUnavailable:
            raise
        except ProviderError:
            if workspaces is None:
                raise
            me_denied = True

    if me is not None:
        kind = "cli_login" if original == "cli_login" else "account_token"
        ws = {w["id"]: w for w in (workspaces or [])}
        for w in me.get("workspaces") or ():
            ws.setdefault(str(w["id"]), {"id": str(w["id"]), "name": str(w["name"])})
        meta.update(user_id=me.get("id"), email=me.get("email"), workspaces=list(ws.values()))
        reasons = [R_CLI if kind == "cli_login" else R_ACCOUNT, NO_SCOPES, R_ROLE]
        if original == "project_token":
            reasons.append(
                "It was found under RAILWAY_TOKEN, which the CLI sends as a project token, but it is an account token."
            )
        reasons.append(f"Verified with Railway: reaches {len(ws)} workspace(s).")
        return _update(
            cred,
            kind=kind,
            status=Status.verified,
            principal=str(me.get("email") or me.get("id")),
            capabilities=ROOT_CAPABILITIES,
            possible_capabilities=(),
            root_equivalent=True,
            reasons=tuple(reasons + base_reasons),
            metadata=meta,
        )

    if workspaces is not None and me_denied:
        kind = "cli_login" if original == "cli_login" else "workspace_token"
        meta.update(workspaces=workspaces)
        names = ", ".join(w["name"] for w in workspaces) or "no workspace"
        reasons = [R_CLI if kind == "cli_login" else R_WORKSPACE, NO_SCOPES]
        if kind == "workspace_token":
            reasons.append(
                "Railway refused `me` for it, which is what a workspace token gets (a scope denial, "
                "not a dead token: `apiToken` answered)."
            )
            if original == "project_token":
                reasons.append(
                    "It was found under RAILWAY_TOKEN, which the CLI sends as a project token, "
                    "but it is a workspace token."
                )
        reasons.append(f"Verified with Railway: reaches workspace(s) {names}.")
        principal = f"workspace {names}" if kind == "workspace_token" else f"OAuth login ({names})"
        return _update(
            cred,
            kind=kind,
            status=Status.verified,
            principal=principal,
            capabilities=ROOT_CAPABILITIES,
            possible_capabilities=(),
            root_equivalent=True,
            reasons=tuple(reasons + base_reasons),
            metadata=meta,
        )

    # Bearer failed: try it as a project token.
    try:
        pt = client.query(Q.PROJECT_TOKEN, auth=_client.auth_for("project_token", cred.secret))["projectToken"]
    except (_client.RailwayNotAuthorized, _client.RailwayNotFound):
        return _invalid(cred, now, meta, base_reasons)
    project = pt.get("project") or {}
    env = pt.get("environment") or {}
    meta.update(
        project_id=pt.get("projectId"),
        environment_id=pt.get("environmentId"),
        project_name=project.get("name"),
        environment_name=env.get("name"),
        workspace_id=project.get("workspaceId"),
        token_name=pt.get("name"),
    )
    reasons = [R_PROJECT, R_PROJECT_VARS]
    if original != "project_token":
        reasons.append("It was found where an account or workspace token is expected, but it is a project token.")
    reasons.append(
        f"Verified with Railway: project {project.get('name') or pt.get('projectId')}, "
        f"environment {env.get('name') or pt.get('environmentId')}."
    )
    principal = f"project {project.get('name') or pt.get('projectId')} / environment {env.get('name') or pt.get('environmentId')}"
    return _update(
        cred,
        kind="project_token",
        status=Status.verified,
        principal=principal,
        capabilities=PROJECT_CAPABILITIES,
        possible_capabilities=PROJECT_POSSIBLE,
        root_equivalent=None,
        reasons=tuple(reasons + base_reasons),
        metadata=meta,
    )


def _invalid(cred: Credential, now: datetime, meta: dict[str, Any], base: list[str]) -> Credential:
    if cred.kind == "cli_login" and meta.get("has_refresh_token"):
        # The access token is dead, but the refresh token next to it can mint a new one. Using it would
        # rotate it (a write on the user's login), so Blastwall does not: the login stays unverified.
        meta = {**meta, "access_token_rejected": True}
        reasons = (
            R_CLI,
            NO_SCOPES,
            "Railway rejected the access token (it has expired or was revoked), but the refresh token "
            "stored next to it can mint a new one for up to a year. Blastwall does not use refresh tokens "
            "(each use rotates the login), so whether the login is still alive is not verified.",
        )
        return _update(
            cred,
            status=Status.unverified,
            root_equivalent=True,
            capabilities=ROOT_CAPABILITIES,
            metadata=meta,
            reasons=reasons + tuple(r for r in base if "refresh token" not in r),
        )
    return _update(
        cred,
        status=Status.invalid,
        root_equivalent=False,
        capabilities=(),
        possible_capabilities=(),
        metadata=meta,
        principal=None,
        reasons=(
            "Railway rejected it both as a Bearer token (apiToken: Not Authorized) and as a "
            "project token: it is revoked, expired or not a Railway token.",
        ),
    )
