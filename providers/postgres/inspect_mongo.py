"""MongoDB: ``connectionStatus`` with ``showPrivileges`` → dropDatabase / dropCollection / remove per database.

Written from the driver and server docs (``authInfo.authenticatedUserRoles`` and
``authInfo.authenticatedUserPrivileges``: ``{resource: {db, collection} | {cluster: true} | {anyResource:
true}, actions: [...]}``). No MongoDB server installs on this machine: the tests run it against a stub
client only. The only command sent is ``connectionStatus``.
"""

from __future__ import annotations

from typing import Any

from auditor.errors import ProviderAuthError, ProviderUnavailable

from .endpoints import DbTarget
from .privileges import Grant, Privileges, Timeouts

__all__ = ["inspect_mongo", "judge_status"]

_ACTIONS = {"dropDatabase": "drop:database", "dropCollection": "drop:collection", "remove": "delete:rows"}
_ROOT_ROLES = {"root", "dbOwner", "dbAdminAnyDatabase", "readWriteAnyDatabase", "__system"}


def judge_status(status: dict[str, Any]) -> Privileges:
    auth = status.get("authInfo") or {}
    users = auth.get("authenticatedUsers") or []
    role = ", ".join(f"{u.get('user')}@{u.get('db')}" for u in users) or "(not authenticated)"
    roles = [f"{r.get('role')}@{r.get('db')}" for r in auth.get("authenticatedUserRoles") or []]
    grants: list[Grant] = []
    for p in auth.get("authenticatedUserPrivileges") or []:
        res = p.get("resource") or {}
        if res.get("anyResource"):
            scope = "every resource"
        elif res.get("cluster"):
            continue
        else:
            db = res.get("db") or "*"
            coll = res.get("collection") or "*"
            scope = ("every database" if db in ("", "*") else f"database {db}") + (
                "" if coll in ("", "*") else f", collection {coll}"
            )
        for action in p.get("actions") or []:
            if action in _ACTIONS:
                grants.append(Grant(_ACTIONS[action], scope, f"{action} on {scope}"))
    root = any(r.split("@")[0] in _ROOT_ROLES for r in roles) and any(g.capability == "drop:database" for g in grants)
    reasons = [
        f"MongoDB user {role} with roles {', '.join(roles) or '(none)'}: "
        + (
            "; ".join(dict.fromkeys(g.via for g in grants))
            if grants
            else "no dropDatabase, dropCollection or remove action"
        )
        + "."
    ]
    return Privileges(
        role=role,
        engine="mongodb",
        root_equivalent=root,
        grants=tuple(grants),
        reasons=tuple(reasons),
        facts={"roles": roles},
    )


def inspect_mongo(
    t: DbTarget,
    password: str,
    timeouts: Timeouts = Timeouts(),
    *,
    hostaddr: str | None = None,
    client_factory: Any = None,
) -> Privileges:
    import pymongo
    from pymongo import errors

    ms = int(timeouts.connect_s * 1000)
    srv = t.scheme == "mongodb+srv" and not hostaddr  # SRV: the driver looks the hosts up in DNS
    kw: dict[str, Any] = dict(
        host=f"mongodb+srv://{t.host}/" if srv else (hostaddr or t.host),
        port=None if srv else t.port,
        username=t.user,
        password=password,
        authSource=t.params.get("authSource") or t.database or "admin",
        connectTimeoutMS=ms,
        serverSelectionTimeoutMS=ms,
        socketTimeoutMS=int(timeouts.statement_s * 1000),
        appname="blastwall-audit",
    )
    if t.params.get("tls") or t.params.get("ssl") or t.scheme == "mongodb+srv":
        kw["tls"] = (t.params.get("tls") or t.params.get("ssl") or "true").lower() == "true"
    factory = client_factory or pymongo.MongoClient
    client = factory(**kw)
    try:
        status = client.admin.command("connectionStatus", showPrivileges=True)
    except errors.OperationFailure as exc:
        if exc.code in (18, 13):
            raise ProviderAuthError("MongoDB refused this login") from None
        raise ProviderUnavailable(f"MongoDB at {t.endpoint} answered with error {exc.code}") from None
    except errors.PyMongoError as exc:
        raise ProviderUnavailable(f"no usable answer from MongoDB at {t.endpoint} ({type(exc).__name__})") from None
    finally:
        client.close()
    return judge_status(dict(status))
