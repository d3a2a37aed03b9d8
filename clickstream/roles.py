"""Least-privilege group roles: ``loader`` writes ``raw``, ``transformer`` reads it, ``analyst``
never sees it.

The roles are NOLOGIN groups: a deployment grants them to its login users (``grant loader to
etl``). dbt's own schemas (``staging`` … ``marts``) are owned by the user dbt connects as, and
``analyst``'s select on the marts comes from dbt's ``grants`` config (dbt_project.yml). Called by
the loader on every load (idempotent, cheap). Roles are cluster-wide, so creating them needs
CREATEROLE: with an external DSN whose user lacks it, creation is skipped with a warning and
only roles that already exist get their grants.
"""

from __future__ import annotations

import logging

import psycopg2
from psycopg2 import extensions as pg
from psycopg2 import sql

logger = logging.getLogger(__name__)

LOADER, TRANSFORMER, ANALYST = "loader", "transformer", "analyst"
ROLES = (LOADER, TRANSFORMER, ANALYST)

_CREATE_ROLE = """
do $$
begin
    create role {role} nologin;
exception
    when duplicate_object or unique_violation then null;  -- created concurrently
end
$$
"""

_GRANTS: dict[str, tuple[str, ...]] = {
    LOADER: (
        "grant usage, create on schema {schema} to {role}",
        "grant select, insert, update, delete, truncate on all tables in schema {schema} to {role}",
        "alter default privileges in schema {schema} "
        "grant select, insert, update, delete, truncate on tables to {role}",
    ),
    TRANSFORMER: (
        "grant usage on schema {schema} to {role}",
        "grant select on all tables in schema {schema} to {role}",
        "alter default privileges in schema {schema} grant select on tables to {role}",
    ),
    ANALYST: (
        "revoke all on schema {schema} from {role}",
        "revoke all on all tables in schema {schema} from {role}",
    ),
}


def _existing_roles(cur: pg.cursor) -> set[str]:
    cur.execute("select rolname from pg_roles where rolname = any(%s)", (list(ROLES),))
    return {row[0] for row in cur.fetchall()}


def _may_create_roles(cur: pg.cursor) -> bool:
    cur.execute("select rolsuper or rolcreaterole from pg_roles where rolname = current_user")
    row = cur.fetchone()
    return bool(row and row[0])


def ensure_roles(cur: pg.cursor, schema: str = "raw") -> set[str]:
    """Create the group roles if allowed and grant them their rights on ``schema``.

    Runs inside the caller's transaction (under a savepoint, so a refused grant never aborts
    the load). Returns the roles that exist afterwards.
    """
    existing = _existing_roles(cur)
    missing = [role for role in ROLES if role not in existing]
    if missing and not _may_create_roles(cur):
        logger.warning(
            "roles %s are missing and the warehouse user may not create roles (no CREATEROLE); "
            "ask an administrator to run clickstream's role setup, or create them by hand",
            ", ".join(missing),
        )
    elif missing:
        for role in missing:
            cur.execute(sql.SQL(_CREATE_ROLE).format(role=sql.Identifier(role)))
        existing = _existing_roles(cur)
    cur.execute("savepoint clickstream_roles")
    try:
        for role in sorted(existing):
            for statement in _GRANTS[role]:
                cur.execute(
                    sql.SQL(statement).format(
                        schema=sql.Identifier(schema), role=sql.Identifier(role)
                    )
                )
    except psycopg2.errors.InsufficientPrivilege as exc:
        cur.execute("rollback to savepoint clickstream_roles")
        logger.warning(
            "could not grant the roles their rights on %s (%s); the load goes on",
            schema,
            str(exc).strip().splitlines()[0],
        )
    else:
        cur.execute("release savepoint clickstream_roles")
    return existing
