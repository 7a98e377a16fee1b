"""MySQL / MariaDB: what a login may destroy, from ``SHOW GRANTS`` (and the grants of its roles).

Session rules: connect/read/write timeouts, TLS when the URL asks (``ssl-mode``/``ssl``/``tls``),
``SET SESSION TRANSACTION READ ONLY`` and ``max_execution_time`` (MySQL) / ``max_statement_time``
(MariaDB). Only ``SELECT VERSION(), CURRENT_USER()`` and ``SHOW GRANTS`` are sent, plus, for each role
granted to the user, ``SHOW GRANTS FOR CURRENT_USER() USING <role>`` (MySQL) or ``SET ROLE <role>``,
``SHOW GRANTS``, ``SET ROLE NONE`` (MariaDB: session settings only).
"""

from __future__ import annotations

import re
from typing import Any

from auditor.errors import ProviderAuthError, ProviderUnavailable

from .endpoints import DbTarget
from .privileges import Grant, Privileges, Timeouts

__all__ = ["inspect_mysql", "judge_grants", "parse_grant", "sanitize"]

_GRANT = re.compile(
    r"^GRANT\s+(?P<privs>.+?)\s+ON\s+(?:(?:TABLE|FUNCTION|PROCEDURE|PACKAGE(?:\s+BODY)?)\s+)?"
    r"(?P<obj>\S+)\s+TO\s+(?P<to>.+?)(?:\s+IDENTIFIED\s+.*?)?(?P<opt>\s+WITH\s+GRANT\s+OPTION)?$",
    re.I | re.S,
)
_ROLE_GRANT = re.compile(
    r"^GRANT\s+(?P<roles>(?:`[^`]+`(?:@`[^`]*`)?|'[^']+'(?:@'[^']*')?|[\w$]+)"
    r"(?:\s*,\s*(?:`[^`]+`(?:@`[^`]*`)?|'[^']+'(?:@'[^']*')?|[\w$]+))*)\s+TO\s+",
    re.I,
)
_DESTROY = {"DROP": "drop:database", "DELETE": "delete:rows", "ALTER": "alter:table"}


_IDENTIFIED = re.compile(r"(IDENTIFIED\s+(?:BY|VIA|WITH)\b).*?(?=\s+WITH\s+(?:GRANT|MAX_)|\s+REQUIRE\s|$)", re.I | re.S)


def sanitize(line: str) -> str:
    """A SHOW GRANTS line without its password hash or authentication string."""
    return _IDENTIFIED.sub(r"\1 <hidden>", line)


def _unq(s: str) -> str:
    s = s.strip()
    return s[1:-1].replace("``", "`") if len(s) > 1 and s[0] in "`'\"" and s[-1] == s[0] else s


def parse_grant(line: str) -> tuple[list[str], str, str] | None:
    """`(privileges, database, table)` of an object grant; None for a role grant or anything else."""
    m = _GRANT.match(line.strip())
    if not m:
        return None
    obj = m.group("obj")
    db, _, tbl = obj.partition(".")
    privs = [re.sub(r"\s*\(.*\)$", "", p.strip()).upper() for p in re.split(r",(?![^()]*\))", m.group("privs"))]
    if m.group("opt"):
        privs.append("GRANT OPTION")
    return privs, _unq(db), _unq(tbl or "*")


def _roles_in(line: str) -> list[str]:
    if parse_grant(line) is not None or " ON " in line.upper().split(" TO ", 1)[0]:
        return []
    m = _ROLE_GRANT.match(line.strip())
    if not m:
        return []
    return [_unq(r.split("@")[0]) for r in re.split(r"\s*,\s*", m.group("roles"))]


def _connect(t: DbTarget, password: str, timeouts: Timeouts, hostaddr: str | None) -> Any:
    import pymysql

    ssl: dict[str, Any] | None = None
    mode = (
        t.params.get("ssl-mode") or t.params.get("sslmode") or t.params.get("ssl") or t.params.get("tls") or ""
    ).lower()
    if mode in ("required", "require", "true", "1", "verify_ca", "verify_identity", "verify-full", "skip-verify"):
        ssl = {
            "check_hostname": mode in ("verify_identity", "verify-full"),
            "verify_mode": None if mode in ("required", "require", "true", "1", "skip-verify") else True,
        }
        if t.params.get("ssl-ca"):
            ssl["ca"] = t.params["ssl-ca"]
    try:
        return pymysql.connect(
            host=hostaddr or t.host,
            port=t.port,
            user=t.user or "root",
            password=password,
            database=t.database or None,
            connect_timeout=max(1, int(timeouts.connect_s)),
            read_timeout=max(1, int(timeouts.statement_s)),
            write_timeout=max(1, int(timeouts.statement_s)),
            ssl=ssl,
            autocommit=True,
            program_name="blastwall-audit",
        )
    except pymysql.err.OperationalError as exc:
        code = exc.args[0] if exc.args else 0
        if code in (1045, 1044, 1049, 1698, 1130):  # access denied, unknown database, host not allowed
            raise ProviderAuthError(
                "the server refused this login (wrong password, unknown user or database, or not allowed from here)"
            ) from None
        raise ProviderUnavailable(
            f"could not connect to {t.endpoint} within {timeouts.connect_s:g} s (MySQL error {code})"
        ) from None
    except (OSError, pymysql.err.MySQLError) as exc:
        raise ProviderUnavailable(f"could not connect to {t.endpoint} ({type(exc).__name__})") from None


def _role_grants(cur: Any, role: str, mariadb: bool) -> list[str] | None:
    """The grants of a role granted to the current user: MySQL `SHOW GRANTS ... USING`; MariaDB, which lets a
    user read only its own grants, `SET ROLE` (a session setting) then `SHOW GRANTS`, then `SET ROLE NONE`."""
    import pymysql

    q = "`" + role.replace("`", "``") + "`"
    try:
        if mariadb:
            cur.execute(f"SET ROLE {q}")
            try:
                cur.execute("SHOW GRANTS")
                rows = [sanitize(str(r[0])) for r in cur.fetchall()]
            finally:
                cur.execute("SET ROLE NONE")
        else:
            cur.execute(f"SHOW GRANTS FOR CURRENT_USER() USING {q}")
            rows = [sanitize(str(r[0])) for r in cur.fetchall()]
    except pymysql.err.MySQLError:
        return None
    mine = re.compile(
        r"\sTO\s+(?:`" + re.escape(role.replace("`", "``")) + r"`|'" + re.escape(role) + r"')"
        r"(?:@`%`|@'%')?(?:\s|$)"
    )
    return [ln for ln in rows if mine.search(ln)] if mariadb else rows


def inspect_mysql(
    t: DbTarget, password: str, timeouts: Timeouts = Timeouts(), *, hostaddr: str | None = None
) -> Privileges:
    import pymysql

    conn = _connect(t, password, timeouts, hostaddr)
    lines: list[str] = []
    role_lines: dict[str, list[str]] = {}
    unreadable: list[str] = []
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT VERSION(), CURRENT_USER()")
            version, current = cur.fetchone()
            mariadb = "mariadb" in str(version).lower()
            limit = max(1, int(timeouts.statement_s))
            cur.execute("SET SESSION TRANSACTION READ ONLY")
            cur.execute(
                f"SET SESSION max_statement_time = {limit}"
                if mariadb
                else f"SET SESSION max_execution_time = {limit * 1000}"
            )
            cur.execute("SHOW GRANTS")
            lines = [sanitize(str(r[0])) for r in cur.fetchall()]
            for role in dict.fromkeys(r for ln in lines for r in _roles_in(ln)):
                got = _role_grants(cur, role, mariadb)
                if got is None:
                    unreadable.append(role)
                else:
                    role_lines[role] = got
    except pymysql.err.OperationalError as exc:
        raise ProviderUnavailable(
            f"inspection of {t.endpoint} failed or timed out (MySQL error {exc.args[0] if exc.args else '?'})"
        ) from None
    except pymysql.err.MySQLError as exc:
        raise ProviderUnavailable(f"inspection of {t.endpoint} failed ({type(exc).__name__})") from None
    finally:
        conn.close()
    p = judge_grants(str(current), t.database, lines, role_lines, unreadable)
    p.facts["server_version"] = str(version)
    return p


def judge_grants(
    current: str, database: str, lines: list[str], role_lines: dict[str, list[str]], unreadable: list[str]
) -> Privileges:
    user = current.split("@")[0]
    grants: list[Grant] = []
    reasons: list[str] = []
    fix: list[str] = []
    per_scope: dict[str, set[str]] = {}
    sources = [(ln, None) for ln in lines] + [(ln, r) for r, rl in role_lines.items() for ln in rl]
    for ln, role in sources:
        g = parse_grant(ln)
        if g is None:
            continue
        privs, db, tbl = g
        scope = "all databases" if db == "*" else (f"database {db}" if tbl == "*" else f"table {db}.{tbl}")
        via_role = f" (through role {role})" if role else ""
        per_scope.setdefault(scope, set()).update(privs)
        allp = "ALL PRIVILEGES" in privs or "ALL" in privs
        for priv, cap in _DESTROY.items():
            if allp or priv in privs:
                c = cap if not (cap == "drop:database" and tbl != "*") else "drop:table"
                grants.append(Grant(c, scope, f"{'ALL PRIVILEGES' if allp else priv} ON {db}.{tbl}{via_role}"))
        if db == "*" and (allp or "SUPER" in privs):
            grants.append(
                Grant("admin:server", "the whole server", f"{'ALL PRIVILEGES' if allp else 'SUPER'} ON *.*{via_role}")
            )
    glob = per_scope.get("all databases", set())
    mine = per_scope.get(f"database {database}", set()) if database else set()
    root = bool({"ALL PRIVILEGES", "ALL", "SUPER"} & glob) or bool({"ALL PRIVILEGES", "ALL"} & mine)
    if root:
        what = "every database on the server" if {"ALL PRIVILEGES", "ALL", "SUPER"} & glob else f"database {database}"
        reasons.append(f"{current} holds all privileges on {what} (SHOW GRANTS): owner-like, it can DROP it.")
    elif grants:
        reasons.append(f"{current} can destroy data: " + "; ".join(f"{g.via}" for g in grants) + ".")
    else:
        readable = [f"{', '.join(sorted(p))} on {s}" for s, p in per_scope.items() if p - {"USAGE"}]
        reasons.append(
            f"{current} holds no DROP, DELETE, ALTER or global privilege (SHOW GRANTS): "
            + ("; ".join(readable) if readable else "USAGE only")
            + "."
        )
    if unreadable:
        reasons.append(f"Grants of role(s) {', '.join(unreadable)} could not be read: not inspected.")
    # least privilege: DML on the URL's database only
    if grants and database:
        q = f"`{database.replace('`', '``')}`"
        app = f"'{user}_app'@'%'"
        fix += [
            f"CREATE USER {app};  -- set its password out of band; give the application this user",
            f"GRANT SELECT, INSERT, UPDATE, DELETE ON {q}.* TO {app};",
        ]
        for s, held in per_scope.items():
            if s == "all databases":
                fix.append(
                    f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM '{user}'@'%';  -- global privileges: "
                    "keep them on an admin account only"
                )
            elif s.startswith("database ") and ({"ALL PRIVILEGES", "ALL", "DROP", "ALTER"} & held):
                d = s.split(" ", 1)[1].replace("`", "``")
                fix.append(f"REVOKE DROP, ALTER ON `{d}`.* FROM '{user}'@'%';")
    return Privileges(
        role=current,
        engine="mysql",
        root_equivalent=root,
        grants=tuple(grants),
        reasons=tuple(reasons),
        remediation_sql=tuple(fix),
        complete=not unreadable,
        facts={"grants": lines, "role_grants": role_lines, "user": current},
    )
