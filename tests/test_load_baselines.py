"""The benchmark's baseline loaders really move every lake event into their table."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from clickstream.config import PROJECT_ROOT, Settings
from clickstream.errors import ConfigError, EmptyInputError
from spark_staging.baselines import (
    jdbc_connection,
    load_with_copy,
    load_with_executemany,
    target_table,
)
from tests.lake_factory import make_event, stage_day
from tests.test_load import query

pytestmark = pytest.mark.postgres

D = dt.date(2024, 3, 10)
EVENT_IDS = [f"e-{n}" for n in range(7)]


@pytest.fixture()
def lake(tmp_settings: Settings) -> Path:
    events = [
        make_event(event_id, D - dt.timedelta(days=n % 3), D)
        for n, event_id in enumerate(EVENT_IDS)
    ]
    stage_day(tmp_settings.lake_dir, D, events, int96_timestamps=True)
    return tmp_settings.lake_dir


def loaded(dsn: str, table: str) -> list[tuple[object, ...]]:
    return query(dsn, f"select event_id, event_date, derived_ts from {table} order by 1")


def expected_rows() -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for n, event_id in enumerate(EVENT_IDS):
        day = D - dt.timedelta(days=n % 3)
        rows.append((event_id, day, dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC)))
    return rows


@pytest.mark.parametrize("loader", [load_with_executemany, load_with_copy])
def test_python_baselines_insert_every_lake_event(
    loader: Callable[[Path, str, str], float], lake: Path, fresh_pg_dsn: str
) -> None:
    rate = loader(lake, fresh_pg_dsn, "bench.events_baseline")

    assert rate > 0
    assert loaded(fresh_pg_dsn, "bench.events_baseline") == expected_rows()


def test_baselines_refuse_an_empty_lake(tmp_path: Path, fresh_pg_dsn: str) -> None:
    with pytest.raises(EmptyInputError, match="clickstream stage"):
        load_with_executemany(tmp_path, fresh_pg_dsn, "events_baseline")


@pytest.mark.parametrize("hostile", ['events"; drop table x; --', "a.b.c", "Events", ""])
def test_baseline_table_names_are_validated(hostile: str) -> None:
    with pytest.raises(ConfigError):
        target_table(hostile)


def test_jdbc_url_is_derived_from_url_and_keyword_dsns() -> None:
    url, props = jdbc_connection("postgresql://bob:s3cret@db.local:5433/wh", batchsize=500)
    assert url == "jdbc:postgresql://db.local:5433/wh?reWriteBatchedInserts=true"
    assert props == {
        "driver": "org.postgresql.Driver",
        "user": "bob",
        "password": "s3cret",
        "batchsize": "500",
    }
    url, _ = jdbc_connection("host=127.0.0.1 dbname=x user=postgres")
    assert url == "jdbc:postgresql://127.0.0.1:5432/x?reWriteBatchedInserts=true"


def test_untuned_jdbc_writer_keeps_spark_and_driver_defaults() -> None:
    url, props = jdbc_connection("postgresql://bob@db.local/wh", batchsize=None)
    assert url == "jdbc:postgresql://db.local:5432/wh"
    assert props == {"driver": "org.postgresql.Driver", "user": "bob"}


JDBC_SCRIPT = textwrap.dedent(
    """
    import pathlib, sys
    from spark_staging.baselines import build_jdbc_spark, load_with_spark_jdbc

    spark = build_jdbc_spark(master="local[1]", driver_memory="1g")
    try:
        print(load_with_spark_jdbc(spark, pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3],
                                   batchsize=3))
    finally:
        spark.stop()
    """
)


@pytest.mark.spark
def test_spark_jdbc_baseline_inserts_every_lake_event(lake: Path, fresh_pg_dsn: str) -> None:
    """Run in its own interpreter: the JDBC jar must be on the classpath when the JVM starts,
    and the test session's shared SparkSession may already be running without it."""
    completed = subprocess.run(
        [sys.executable, "-c", JDBC_SCRIPT, str(lake), fresh_pg_dsn, "bench.events_jdbc"],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    assert float(completed.stdout.strip().splitlines()[-1]) > 0
    assert loaded(fresh_pg_dsn, "bench.events_jdbc") == expected_rows()
