"""Redis: may this login FLUSHALL / FLUSHDB / DEL? From ``ACL WHOAMI`` + ``ACL GETUSER`` only.

Without ACLs (Redis < 6, ``unknown command``) every authenticated client is the all-powerful default
user. When the user may not run ``ACL WHOAMI``/``ACL GETUSER`` itself (NOPERM), its rules stay unknown:
the answer is None with that reason, never "cannot". No other command is sent (no probe of FLUSH*).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from auditor.errors import ProviderAuthError, ProviderUnavailable

from .endpoints import DbTarget
from .privileges import Grant, Privileges, Timeouts

__all__ = ["inspect_redis", "allowed", "judge_acl"]

# ACL categories of the commands that matter (redis/src/commands/*.json, Redis 7).
_CATEGORIES = {
    "flushall": {"all", "keyspace", "write", "slow", "dangerous"},
    "flushdb": {"all", "keyspace", "write", "slow", "dangerous"},
    "del": {"all", "keyspace", "write", "slow"},
    "unlink": {"all", "keyspace", "write", "fast"},
}


def allowed(command: str, rules: str) -> bool:
    """Evaluate an ACL command rule string (``+@all -@dangerous +flushdb``) left to right for ``command``."""
    cats = _CATEGORIES[command]
    ok = False
    for tok in rules.split():
        tok = tok.lower()
        if tok in ("allcommands",):
            ok = True
        elif tok in ("nocommands",):
            ok = False
        elif tok[:1] in "+-" and len(tok) > 1:
            on = tok[0] == "+"
            what = tok[1:]
            if what.startswith("@"):
                if what[1:] in cats:
                    ok = on
            elif what.split("|", 1)[0] == command and "|" not in what:
                ok = on
    return ok


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _command(client: Any, *args: str) -> Any:
    """One raw command (redis-py leaves ``execute_command`` unannotated)."""
    return client.execute_command(*args)


def judge_acl(user: str, info: Sequence[Any] | dict[str, Any]) -> Privileges:
    d = dict(info) if isinstance(info, dict) else {_s(info[i]): info[i + 1] for i in range(0, len(info) - 1, 2)}
    d = {_s(k): v for k, v in d.items()}
    flags = [_s(f) for f in d.get("flags") or []]
    rules = _s(d.get("commands") or "")
    keys = d.get("keys") or ""
    patterns = _s(keys) if not isinstance(keys, list) else " ".join(_s(k) for k in keys)
    grants: list[Grant] = []
    if "off" not in flags:
        if allowed("flushall", rules):
            grants.append(Grant("flush:keyspace", "every logical database", f"FLUSHALL allowed by '{rules}'"))
        if allowed("flushdb", rules):
            grants.append(Grant("flush:keyspace", "the selected database", f"FLUSHDB allowed by '{rules}'"))
        if allowed("del", rules) or allowed("unlink", rules):
            grants.append(Grant("delete:keys", f"keys {patterns or '(none)'}", f"DEL/UNLINK allowed by '{rules}'"))
    root = (
        "off" not in flags
        and "+@all" in rules.split()
        and "-" not in rules.replace("+@all", "")
        and ("allkeys" in flags or "~*" in patterns.split())
    )
    if grants:
        reasons = [
            f"Redis user {user} ({' '.join(flags)}; commands '{rules}'; keys '{patterns}') can "
            + ", ".join(dict.fromkeys(g.via.split(" allowed")[0] for g in grants))
            + "."
        ]
    else:
        reasons = [f"Redis user {user} may not run FLUSHALL, FLUSHDB, DEL or UNLINK (commands '{rules}')."]
    fix = (
        []
        if not grants
        else [
            f"ACL SETUSER {user}_app on ~app:* resetchannels -@all +@read +@write -@dangerous "
            "-flushall -flushdb  # set its password out of band (>…); give the application "
            "this user"
        ]
    )
    return Privileges(
        role=user,
        engine="redis",
        root_equivalent=bool(root),
        grants=tuple(grants),
        reasons=tuple(reasons),
        remediation_sql=tuple(fix),
        facts={"user": user, "flags": flags, "commands": rules, "keys": patterns},
    )


def inspect_redis(
    t: DbTarget, password: str, timeouts: Timeouts = Timeouts(), *, hostaddr: str | None = None
) -> Privileges:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    tls = t.scheme == "rediss"
    client = redis.Redis(
        host=hostaddr or t.host,
        port=t.port,
        username=t.user or None,
        password=password or None,
        db=int(t.database) if t.database.isdigit() else 0,
        ssl=tls,
        socket_connect_timeout=timeouts.connect_s,
        socket_timeout=timeouts.statement_s,
        retry=Retry(NoBackoff(), 0),
        protocol=2,
        client_name=None,
        health_check_interval=0,
    )
    try:
        try:
            user = _s(_command(client, "ACL", "WHOAMI"))
        except redis.ResponseError as exc:
            msg = ("noperm " if isinstance(exc, redis.exceptions.NoPermissionError) else "") + str(exc).lower()
            if "unknown command" in msg or "unknown subcommand" in msg:
                return Privileges(
                    role="default",
                    engine="redis",
                    root_equivalent=True,
                    grants=(
                        Grant(
                            "flush:keyspace",
                            "every logical database",
                            "no ACLs (Redis < 6): every client may run FLUSHALL",
                        ),
                        Grant("delete:keys", "every key", "no ACLs"),
                    ),
                    reasons=("This Redis has no ACLs: any authenticated client may run FLUSHALL.",),
                    facts={"acl": False},
                )
            if "noperm" in msg:
                return Privileges(
                    role=t.user or "default",
                    engine="redis",
                    root_equivalent=None,
                    complete=False,
                    possible=(Grant("flush:keyspace", "unknown", "ACL rules not readable by this user"),),
                    reasons=(
                        "Restricted ACL user: it may not run ACL WHOAMI, so its rules were not read; whether "
                        "it may FLUSHALL is not determined (no FLUSH command is ever tried).",
                    ),
                    facts={"acl": True, "rules_readable": False},
                )
            raise
        try:
            info = _command(client, "ACL", "GETUSER", user)
        except redis.ResponseError as exc:
            if not isinstance(exc, redis.exceptions.NoPermissionError) and "noperm" not in str(exc).lower():
                raise
            return Privileges(
                role=user,
                engine="redis",
                root_equivalent=None,
                complete=False,
                possible=(Grant("flush:keyspace", "unknown", "ACL GETUSER refused"),),
                reasons=(
                    f"Redis user {user} may not run ACL GETUSER: its rules were not read; whether it may "
                    "FLUSHALL is not determined.",
                ),
                facts={"acl": True, "rules_readable": False},
            )
        if info is None:
            raise ProviderUnavailable(f"ACL GETUSER returned nothing for {user}")
        return judge_acl(user, info)
    except redis.AuthenticationError:
        raise ProviderAuthError("Redis refused this login (wrong user name or password)") from None
    except redis.ResponseError as exc:
        if "wrongpass" in str(exc).lower() or "noauth" in str(exc).lower():
            raise ProviderAuthError("Redis refused this login (wrong user name or password)") from None
        raise ProviderUnavailable(f"Redis at {t.endpoint} answered with an error ({type(exc).__name__})") from None
    except (redis.TimeoutError, redis.ConnectionError, OSError) as exc:
        raise ProviderUnavailable(
            f"no usable answer from Redis at {t.endpoint} within "
            f"{timeouts.connect_s:g}/{timeouts.statement_s:g} s ({type(exc).__name__})"
        ) from None
    finally:
        client.close()
