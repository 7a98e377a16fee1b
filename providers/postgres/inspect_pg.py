"""PostgreSQL: what a login may destroy, from the system catalogue only.

Session rules: connect timeout, ``statement_timeout`` and ``lock_timeout``, ``default_transaction_read_only``
and a ``READ ONLY`` transaction, TLS as the URL's ``sslmode`` asks (libpq's default ``prefer`` otherwise).
Only ``SELECT``s over ``pg_roles``, ``pg_database``, ``pg_namespace`` and ``pg_class`` with the
``has_*_privilege``/``pg_has_role`` functions are sent; the test suite checks the server's statement log.
"""

from __future__ import annotations

import math
from typing import Any

import psycopg
from psycopg import sql

from auditor.errors import ProviderAuthError, ProviderUnavailable

from .endpoints import DbTarget
from .privileges import Grant, Privileges, Timeouts

__all__ = ["inspect_postgres"]

_SKIP_SCHEMAS = (
    "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%' "
    "AND n.nspname NOT LIKE 'pg\\_temp%'"
)

Q_ROLE = """SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls,
  current_database(), pg_get_userbyid(d.datdba), pg_has_role(d.datdba, 'USAGE'),
  pg_has_role('pg_read_server_files', 'USAGE'), pg_has_role('pg_write_server_files', 'USAGE'),
  pg_has_role('pg_execute_server_program', 'USAGE'), current_setting('server_version_num')::int
FROM pg_roles r, pg_database d WHERE r.rolname = current_user AND d.datname = current_database()"""

Q_MEMBER_OF = """SELECT rolname FROM pg_roles
WHERE pg_has_role(current_user, oid, 'MEMBER') AND rolname <> current_user ORDER BY 1"""

Q_SCHEMAS = f"""SELECT n.nspname, pg_get_userbyid(n.nspowner), pg_has_role(n.nspowner, 'USAGE'),
  count(c.oid),
  count(c.oid) FILTER (WHERE pg_has_role(c.relowner, 'USAGE')),
  count(c.oid) FILTER (WHERE has_table_privilege(c.oid, 'DELETE')),
  count(c.oid) FILTER (WHERE has_table_privilege(c.oid, 'TRUNCATE')),
  count(c.oid) FILTER (WHERE has_table_privilege(c.oid, 'UPDATE')),
  count(c.oid) FILTER (WHERE has_table_privilege(c.oid, 'INSERT')),
  count(c.oid) FILTER (WHERE has_table_privilege(c.oid, 'SELECT'))
FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'p')
WHERE {_SKIP_SCHEMAS}
GROUP BY n.nspname, n.nspowner ORDER BY 1"""


def _connect_s(timeouts: Timeouts) -> int:
    return max(2, math.ceil(timeouts.connect_s))  # libpq treats anything below 2 s as 2 s


def _connect(t: DbTarget, password: str, timeouts: Timeouts, hostaddr: str | None) -> psycopg.Connection[Any]:
    kw: dict[str, Any] = dict(
        host=t.host,
        port=t.port,
        user=t.user or "postgres",
        password=password,
        dbname=t.database,
        connect_timeout=_connect_s(timeouts),
        application_name="blastwall-audit",
        autocommit=True,
    )
    for k in ("sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl", "target_session_attrs", "options"):
        if t.params.get(k):
            kw[k] = t.params[k]
    if hostaddr:
        kw["hostaddr"] = hostaddr
    try:
        return psycopg.connect(**kw)
    except psycopg.OperationalError as exc:
        text = str(exc)
        # The message can quote parts of the conninfo; keep only a verdict and our own words.
        if (
            "password authentication failed" in text
            or "no pg_hba.conf entry" in text
            or ("role" in text and "does not exist" in text)
        ):
            raise ProviderAuthError(
                "the server refused this login (wrong password, unknown role or not allowed from here)"
            ) from None
        if "database" in text and "does not exist" in text:
            raise ProviderAuthError(f"database {t.database!r} does not exist on {t.endpoint}") from None
        if "timeout" in text.lower() or "timed out" in text.lower():
            raise ProviderUnavailable(f"no answer from {t.endpoint} within {_connect_s(timeouts)} s") from None
        raise ProviderUnavailable(
            f"could not connect to {t.endpoint} (server unreachable or refused the connection)"
        ) from None


def inspect_postgres(
    t: DbTarget, password: str, timeouts: Timeouts = Timeouts(), *, hostaddr: str | None = None
) -> Privileges:
    conn = _connect(t, password, timeouts, hostaddr)
    try:
        ms = max(1, int(timeouts.statement_s * 1000))
        try:
            conn.execute("SET default_transaction_read_only = on")
            conn.execute(sql.SQL("SET statement_timeout = {}").format(sql.Literal(ms)))
            conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(ms)))
            conn.autocommit = False
            conn.read_only = True  # psycopg sends BEGIN READ ONLY
            role = conn.execute(Q_ROLE).fetchone()
            member_of = [r[0] for r in conn.execute(Q_MEMBER_OF).fetchall()]
            schemas = conn.execute(Q_SCHEMAS).fetchall()
            conn.rollback()
        except psycopg.errors.QueryCanceled:
            raise ProviderUnavailable(
                f"the catalogue query on {t.endpoint} did not finish within {timeouts.statement_s:g} s"
            ) from None
        except psycopg.OperationalError:
            raise ProviderUnavailable(f"the connection to {t.endpoint} broke during inspection") from None
        except psycopg.Error as exc:  # e.g. a catalogue function an old server lacks
            raise ProviderUnavailable(
                f"the catalogue inspection on {t.endpoint} failed ({type(exc).__name__})"
            ) from None
    finally:
        conn.close()
    if role is None:
        raise ProviderUnavailable("the role or database was not found in the catalogue")
    return judge(t, role, member_of, schemas)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def judge(t: DbTarget, role: Any, member_of: list[str], schemas: list[Any]) -> Privileges:
    (
        rolname,
        is_super,
        createrole,
        createdb,
        replication,
        bypassrls,
        dbname,
        db_owner,
        owns_db,
        read_files,
        write_files,
        exec_prog,
        version,
    ) = role
    grants: list[Grant] = []
    possible: list[Grant] = []
    reasons: list[str] = []
    sql_fix: list[str] = []
    db = f"database {dbname}"
    schema_facts = []
    total_tables = owned_tables = 0
    all_schemas_owned = True
    for nsp, nsp_owner, owns_nsp, n, owned, dele, trunc, upd, ins, sel in schemas:
        total_tables += n
        owned_tables += owned
        all_schemas_owned &= bool(owns_nsp)
        schema_facts.append(
            {
                "schema": nsp,
                "owner": nsp_owner,
                "owned": bool(owns_nsp),
                "tables": n,
                "owned_tables": owned,
                "delete": dele,
                "truncate": trunc,
                "update": upd,
                "insert": ins,
                "select": sel,
            }
        )
    facts: dict[str, Any] = {
        "role": rolname,
        "superuser": is_super,
        "createrole": createrole,
        "createdb": createdb,
        "replication": replication,
        "bypassrls": bypassrls,
        "database": dbname,
        "database_owner": db_owner,
        "owns_database": owns_db,
        "member_of": member_of,
        "pg_read_server_files": read_files,
        "pg_write_server_files": write_files,
        "pg_execute_server_program": exec_prog,
        "server_version_num": version,
        "schemas": schema_facts,
    }
    if is_super:
        grants += [
            Grant("drop:database", "every database on the server", "SUPERUSER"),
            Grant("delete:rows", "every table", "SUPERUSER"),
            Grant("write:server-files", "the server's file system", "SUPERUSER"),
        ]
        reasons.append(
            f"Role {rolname} is a SUPERUSER: it can drop every database on the server and bypasses "
            "every permission check."
        )
        sql_fix.append(f"ALTER ROLE {_q(rolname)} NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS;")
    if owns_db:
        via = f"owner of {db}" + (f" (through membership in {db_owner})" if db_owner != rolname else "")
        grants.append(Grant("drop:database", db, via))
        reasons.append(f"Role {rolname} can DROP DATABASE {dbname}: it is the {via}.")
    owned_any = False
    for s in schema_facts:
        nsp = s["schema"]
        if s["owned"]:
            owned_any = True
            grants.append(Grant("drop:schema", f"schema {nsp}", f"owner of schema {nsp}"))
        if s["owned_tables"]:
            owned_any = True
            grants.append(Grant("drop:table", f"schema {nsp}", f"owner of {s['owned_tables']} table(s) in {nsp}"))
        if s["truncate"]:
            grants.append(
                Grant("truncate:table", f"schema {nsp}", f"TRUNCATE on {s['truncate']} of {s['tables']} table(s)")
            )
        if s["delete"]:
            grants.append(Grant("delete:rows", f"schema {nsp}", f"DELETE on {s['delete']} of {s['tables']} table(s)"))
        if s["update"]:
            grants.append(
                Grant("overwrite:rows", f"schema {nsp}", f"UPDATE on {s['update']} of {s['tables']} table(s)")
            )
    server_roles = (
        (write_files, "write:server-files", "the server's file system", "pg_write_server_files"),
        (read_files, "read:server-files", "the server's file system", "pg_read_server_files"),
        (exec_prog, "write:server-files", "the server's operating system", "pg_execute_server_program"),
    )
    for member, cap, scope, server_role in server_roles:
        if not member or is_super:
            continue
        grants.append(Grant(cap, scope, f"member of {server_role}"))
        if server_role == "pg_write_server_files":
            reasons.append(
                f"Role {rolname} is a member of pg_write_server_files: it can overwrite files the server "
                "can write, including the data directory."
            )
        sql_fix.append(f"REVOKE {server_role} FROM {_q(rolname)};")
    if createrole and not is_super:
        possible.append(
            Grant(
                "drop:database",
                db,
                "CREATEROLE: can grant itself membership in roles it manages "
                "(any non-superuser role before PostgreSQL 16)",
            )
        )
        reasons.append(
            f"Role {rolname} has CREATEROLE: it can give itself the privileges of other roles it "
            "manages, so what it can destroy is wider than its own grants."
        )
        sql_fix.append(f"ALTER ROLE {_q(rolname)} NOCREATEROLE;")
    if replication and not is_super:
        grants.append(Grant("read:replication-stream", "the whole cluster", "REPLICATION"))
        sql_fix.append(f"ALTER ROLE {_q(rolname)} NOREPLICATION;")

    owner_of_everything = bool(owns_db) or (total_tables > 0 and owned_tables == total_tables and all_schemas_owned)
    root: bool | None = bool(is_super or owner_of_everything)
    destructive = [
        g
        for g in grants
        if g.capability in ("drop:database", "drop:schema", "drop:table", "truncate:table", "delete:rows")
    ]
    if not root:
        if destructive:
            reasons.append(
                f"Role {rolname} is not a superuser and does not own {db}, but it can destroy data: "
                + "; ".join(f"{g.via} ({g.scope})" for g in destructive)
                + "."
            )
        else:
            readable = [f"SELECT on {s['select']} table(s) in {s['schema']}" for s in schema_facts if s["select"]]
            reasons.append(
                f"Role {rolname} is read-only here: not a superuser, owns neither {db} nor any schema or "
                "table, and holds no DELETE, TRUNCATE or UPDATE grant"
                + (f" ({'; '.join(readable)})" if readable else "")
                + "."
            )
    else:
        reasons.append(
            f"Root-equivalent for {db}: "
            + ("superuser" if is_super else "owner of the database" if owns_db else "owner of every schema and table")
            + "."
        )
    if member_of:
        reasons.append(f"Member of: {', '.join(member_of)}.")
    sql_fix += _least_privilege(rolname, dbname, db_owner, schema_facts, owned_any or bool(owns_db))
    return Privileges(
        role=rolname,
        engine="postgres",
        root_equivalent=root,
        grants=tuple(grants),
        possible=tuple(possible),
        reasons=tuple(reasons),
        remediation_sql=tuple(sql_fix),
        facts=facts,
    )


def _least_privilege(rolname: str, dbname: str, db_owner: str, schemas: list[dict[str, Any]], owns: bool) -> list[str]:
    """A DML-only application role for the schemas this login uses today; ownership moves to a migration role."""
    used = [
        s["schema"]
        for s in schemas
        if s["tables"] and (s["owned_tables"] or s["insert"] or s["update"] or s["delete"] or s["select"])
    ]
    writes = [s["schema"] for s in schemas if s["owned_tables"] or s["insert"] or s["update"] or s["delete"]]
    if not owns and not any(s["truncate"] for s in schemas):
        return []
    app = f"{rolname}_app"
    out = [
        f"CREATE ROLE {_q(app)} LOGIN;  -- set its password out of band; give the application this role",
        f"GRANT CONNECT ON DATABASE {_q(dbname)} TO {_q(app)};",
    ]
    for nsp in used:
        out.append(f"GRANT USAGE ON SCHEMA {_q(nsp)} TO {_q(app)};")
        if nsp in writes:
            out.append(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {_q(nsp)} TO {_q(app)};")
            out.append(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {_q(nsp)} TO {_q(app)};")
        else:
            out.append(f"GRANT SELECT ON ALL TABLES IN SCHEMA {_q(nsp)} TO {_q(app)};")
        out.append(f"REVOKE TRUNCATE ON ALL TABLES IN SCHEMA {_q(nsp)} FROM {_q(app)};")
    if owns:
        out.append(f"-- keep {_q(rolname)} (owner) for migrations only, out of the application's and agents' reach")
    return out
