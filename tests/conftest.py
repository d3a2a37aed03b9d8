"""Shared fixtures: one SparkSession, a fresh database on the real server, temp settings.

The real PostgreSQL (127.0.0.1:5432, trust auth) is used unless ``CLICKSTREAM_TEST_PG_DSN`` points
elsewhere; each test session gets its own database, dropped at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest

from clickstream.config import Settings

# pytest-xdist gives its workers COLUMNS=80, which the CLI's consoles (made at import) would
# keep for good; without it they read the width each CliRunner call sets, as in a serial run
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)

ADMIN_DSN = os.environ.get(
    "CLICKSTREAM_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def dsn_for_database(admin_dsn: str, database: str) -> str:
    """The admin DSN with its database name replaced."""
    parts = urlsplit(admin_dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def _as_admin(*statements: str) -> None:
    """Run database-level statements (not allowed in a transaction) on the test server."""
    conn = psycopg2.connect(ADMIN_DSN)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
    finally:
        conn.close()


def create_database(name: str, template: str | None = None) -> str:
    """Create a database on the test server (empty, or a copy of database ``template``, to
    which nobody may be connected meanwhile) and return its DSN."""
    copy = f' template "{template}"' if template else ""
    _as_admin(f'drop database if exists "{name}" with (force)', f'create database "{name}"{copy}')
    return dsn_for_database(ADMIN_DSN, name)


def copy_database(source_dsn: str, name: str) -> str:
    """A scratch copy, named ``name``, of the database ``source_dsn`` names: its DSN."""
    return create_database(name, template=psycopg2.extensions.parse_dsn(source_dsn)["dbname"])


def drop_database(name: str) -> None:
    _as_admin(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="session", autouse=True)
def dbt_artifacts_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """dbt's default target and log folders for this test process, not the checkout's.

    Test processes running side by side (pytest-xdist workers) would otherwise write their
    manifests and compiled SQL for different databases into one ``dbt_project/target``, and
    read each other's. dbt and :func:`clickstream.dbt.default_target_path` both follow these
    variables.
    """
    root = tmp_path_factory.mktemp("dbt_artifacts")
    with pytest.MonkeyPatch.context() as environment:
        environment.setenv("DBT_TARGET_PATH", str(root / "target"))
        environment.setenv("DBT_LOG_PATH", str(root / "logs"))
        yield root / "target"


@pytest.fixture(scope="session")
def spark():  # type: ignore[no-untyped-def]
    """One local SparkSession for the whole test run (JVM start costs seconds)."""
    from spark_staging.session import build_spark

    session = build_spark(master="local[2]", app_name="clickstream-tests", shuffle_partitions=2)
    yield session
    session.stop()


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """A fresh database on the real PostgreSQL server for this test session."""
    name = f"clickstream_test_{uuid.uuid4().hex[:10]}"
    try:
        dsn = create_database(name)
    except psycopg2.OperationalError as exc:  # pragma: no cover - environment problem
        pytest.fail(f"The real PostgreSQL at {ADMIN_DSN} is required for the tests: {exc}")
    yield dsn
    drop_database(name)


@pytest.fixture()
def fresh_pg_dsn() -> Iterator[str]:
    """A database of its own for one test (for tests that need an empty warehouse)."""
    name = f"clickstream_t_{uuid.uuid4().hex[:10]}"
    dsn = create_database(name)
    yield dsn
    drop_database(name)


def settings_under(root: Path, **overrides: Any) -> Settings:
    """Settings whose landing, lake, reports and warehouse folders live under ``root``, with the
    2 shuffle partitions the tests' small days want; ``overrides`` replace any field."""
    fields: dict[str, Any] = {
        "landing_dir": root / "landing",
        "lake_dir": root / "lake",
        "reports_dir": root / "reports",
        "warehouse_dir": root / "warehouse",
        "spark_shuffle_partitions": 2,
    }
    return Settings(**{**fields, **overrides})


@pytest.fixture()
def tmp_settings(tmp_path: Path) -> Settings:
    """Settings whose data, lake, reports and warehouse folders live under tmp_path."""
    return settings_under(tmp_path)


@pytest.fixture(scope="session")
def e2e_warehouse(pg_dsn: str, tmp_path_factory: pytest.TempPathFactory, spark):  # type: ignore[no-untyped-def]
    """One real pipeline run (2 days × 3,000 events, generator defaults) shared by many tests.

    Returns ``(settings, dsn, summary)``; the analyses and docs are left to the tests that
    check them, so this fixture stays the cost of generate → stage → load → dbt build.
    """
    import datetime as dt

    from clickstream.pipeline import process_days, warehouse_totals
    from generator import GeneratorConfig, generate_day

    root = tmp_path_factory.mktemp("e2e")
    settings = settings_under(root, pg_dsn=pg_dsn)
    start = dt.date(2024, 3, 1)
    config = GeneratorConfig(seed=7, events_per_day=3000, start_date=start)
    days = [start + dt.timedelta(days=i) for i in range(2)]
    manifests = {}
    results = []
    for day in days:
        manifests[day] = generate_day(config, day, settings.landing_dir)
        results += process_days(settings, pg_dsn, [day], spark=spark)
    return {
        "settings": settings,
        "dsn": pg_dsn,
        "days": days,
        "manifests": manifests,
        "results": results,
        "totals": warehouse_totals(pg_dsn),
    }
