"""Security: no credentials in the repository, secrets only from the environment, least-privilege
roles, and hostile values never reaching SQL."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
import yaml
from psycopg2 import errors
from typer.testing import CliRunner

from clickstream.cli import app
from clickstream.config import PROJECT_ROOT, Settings
from clickstream.errors import ConfigError
from clickstream.roles import ANALYST, LOADER, TRANSFORMER
from spark_staging import ddl
from spark_staging.load import load_days
from tests.conftest import ADMIN_DSN, create_database, drop_database, dsn_for_database
from tests.lake_factory import make_event, stage_day
from tests.pg import query

PLACEHOLDERS = {"change-me", "pw", "password", "SECRET", "...", "***", ""}
"""Documented placeholders (.env.example, README, docs) that are not credentials."""

TEST_FAKES = {"secret", "s%3Acret", "topsecret", "s3cret", "Hunter2!"}
"""Made-up passwords tests use to check that DSNs are redacted (only allowed under tests/)."""

_ASSIGNMENT = re.compile(
    r"""(?i)\b(?:password|passwd|pwd|secret|token|api_key)\w*["']?\s*[:=]\s*["']?([^\s"',}`]*)"""
)
_URL_PASSWORD = re.compile(r"://[^:/@\s]+:([^@/\s]*)@")


def tracked_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    return [PROJECT_ROOT / name for name in listed if (PROJECT_ROOT / name).is_file()]


def is_placeholder(value: str, path: Path) -> bool:
    if not value:  # an empty password, or prose such as "Passwords: `...`"
        return True
    if value in PLACEHOLDERS or value.startswith(("${", "{{", "$")):
        return True
    return path.parts[len(PROJECT_ROOT.parts)] == "tests" and value in TEST_FAKES


def test_no_credentials_are_committed() -> None:
    found = []
    for path in tracked_files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary (images)
        for number, line in enumerate(text.splitlines(), start=1):
            for pattern in (_ASSIGNMENT, _URL_PASSWORD):
                for match in pattern.finditer(line):
                    if not is_placeholder(match.group(1), path):
                        found.append(f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}")
    assert not found, "credential-looking values in tracked files:\n" + "\n".join(found)


def test_secret_scan_would_catch_a_real_password() -> None:
    line = "CLICKSTREAM_PG_DSN=postgresql://etl:Hunter2!@db:5432/wh  password = 'Hunter2!'"
    values = [m.group(1) for p in (_ASSIGNMENT, _URL_PASSWORD) for m in p.finditer(line)]
    assert values and not any(is_placeholder(v, PROJECT_ROOT / "README.md") for v in values)


def test_dbt_profile_reads_the_connection_from_env_and_the_password_as_a_dbt_secret() -> None:
    profile = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "profiles.yml").read_text())
    output = profile["clickstream"]["outputs"]["dev"]
    for key in ("host", "port", "user", "password", "dbname"):
        assert "env_var(" in str(output[key]), key
    assert "env_var('DBT_ENV_SECRET_" in output["password"]
    assert re.fullmatch(r"\{\{ env_var\('DBT_ENV_SECRET_\w+', ''\) \}\}", output["password"])


# --------------------------------------------------------------------------- roles


def as_role(dsn: str, role: str, sql: str) -> list[tuple[Any, ...]]:
    """Run ``sql`` after ``set role``: exactly the rights a login user granted ``role`` has."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(psycopg2.sql.SQL("set role {}").format(psycopg2.sql.Identifier(role)))
            cur.execute(sql)
            return cur.fetchall()
    finally:
        conn.rollback()
        conn.close()


def test_analyst_reads_marts_and_is_refused_everything_else(
    e2e_warehouse: dict[str, Any],
) -> None:
    dsn = e2e_warehouse["dsn"]
    ((sessions,),) = as_role(dsn, ANALYST, "select count(*) from marts.fct_sessions")
    assert sessions > 0
    for relation in (
        "raw.events",
        "raw.load_audit",
        "staging.stg_raw__events",
        "snapshots.snap_users",
    ):
        with pytest.raises(errors.InsufficientPrivilege):
            as_role(dsn, ANALYST, f"select 1 from {relation} limit 1")


def test_loader_writes_raw_and_transformer_only_reads_it(e2e_warehouse: dict[str, Any]) -> None:
    rows = query(
        e2e_warehouse["dsn"],
        """
        select
            has_table_privilege(%(loader)s, 'raw.events', 'insert'),
            has_table_privilege(%(loader)s, 'raw.load_audit', 'update'),
            has_schema_privilege(%(loader)s, 'raw', 'create'),
            has_table_privilege(%(loader)s, 'marts.fct_sessions', 'select'),
            has_table_privilege(%(transformer)s, 'raw.events', 'select'),
            has_table_privilege(%(transformer)s, 'raw.events', 'insert'),
            has_schema_privilege(%(transformer)s, 'raw', 'create'),
            has_schema_privilege(%(analyst)s, 'raw', 'usage')
        """,
        {"loader": LOADER, "transformer": TRANSFORMER, "analyst": ANALYST},  # type: ignore[arg-type]
    )
    assert rows == [(True, True, True, False, True, False, False, False)]


def test_dbt_owns_its_schemas(e2e_warehouse: dict[str, Any]) -> None:
    rows = query(
        e2e_warehouse["dsn"],
        "select nspname, pg_get_userbyid(nspowner) = current_user from pg_namespace "
        "where nspname in ('staging', 'intermediate', 'snapshots', 'marts') order by 1",
    )
    assert rows == [(name, True) for name in ("intermediate", "marts", "snapshots", "staging")]


@pytest.fixture()
def unprivileged_dsn() -> Iterator[str]:
    """A database owned by a LOGIN user without SUPERUSER or CREATEROLE (an external DSN)."""
    user = f"cs_etl_{uuid.uuid4().hex[:8]}"
    database = f"clickstream_sec_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(ADMIN_DSN)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'create role "{user}" login nosuperuser nocreaterole')
    create_database(database)
    with admin.cursor() as cur:
        cur.execute(f'alter database "{database}" owner to "{user}"')
    url = dsn_for_database(ADMIN_DSN, database).replace("postgres@", f"{user}@", 1)
    try:
        yield url
    finally:
        drop_database(database)
        with admin.cursor() as cur:
            cur.execute(f'drop owned by "{user}" cascade')
            cur.execute(f'drop role if exists "{user}"')
        admin.close()


def test_load_works_for_a_user_who_may_not_create_roles(
    unprivileged_dsn: str, tmp_path: Path
) -> None:
    day = dt.date(2024, 8, 1)
    settings = Settings(lake_dir=tmp_path / "lake")
    stage_day(settings.lake_dir, day, [make_event("e1", day)])
    (result,) = load_days(unprivileged_dsn, settings, [day])
    assert result.loaded_rows == 1
    assert query(unprivileged_dsn, "select pg_get_userbyid(nspowner) = current_user from "
                 "pg_namespace where nspname = 'raw'") == [(True,)]  # fmt: skip


# --------------------------------------------------------------------------- hostile values


HOSTILE_DATE = "2024-01-01'; drop table raw.events; --"


@pytest.mark.parametrize("command", ["stage", "load", "transform"])
def test_hostile_date_on_the_command_line_is_rejected_before_any_sql(
    command: str, e2e_warehouse: dict[str, Any]
) -> None:
    result = CliRunner().invoke(
        app,
        ["--pg-dsn", e2e_warehouse["dsn"], command, "--date", HOSTILE_DATE],
        env={"COLUMNS": "2000"},
        catch_exceptions=False,
    )
    assert result.exit_code == 2, result.output
    assert "expected YYYY-MM-DD" in result.output and "Traceback" not in result.output
    assert query(e2e_warehouse["dsn"], "select to_regclass('raw.events') is not null") == [(True,)]


def test_hostile_values_through_the_public_functions_never_reach_sql(
    e2e_warehouse: dict[str, Any],
) -> None:
    settings = e2e_warehouse["settings"]
    with pytest.raises(ConfigError, match="expected YYYY-MM-DD"):
        load_days(e2e_warehouse["dsn"], settings, [HOSTILE_DATE])  # type: ignore[list-item]
    with pytest.raises(ConfigError, match="Invalid table name"):
        ddl.raw_table("events; drop schema raw cascade")
    assert query(e2e_warehouse["dsn"], "select count(*) > 0 from raw.events") == [(True,)]
