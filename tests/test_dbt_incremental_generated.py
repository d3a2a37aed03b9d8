"""Incremental equals full refresh on generated data, not only on the hand-built fixture.

Five generated days (late events, logins that re-stitch devices, sessions crossing midnight,
bots, defects) go through the daily pipeline one arrival day at a time — stage, load, the
daily ``dbt build`` — exactly as ``clickstream run`` does. A second database gets the final
lake and the first one's snapshots and is built once with ``--full-refresh``: every fact and
report must be equal row for row. The window is 3 days, so the last builds leave the first
days outside it. ``CLICKSTREAM_TEST_SEED`` picks another generator seed.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from clickstream.dbt import build_day
from clickstream.pipeline import process_days
from generator import GeneratorConfig, generate
from spark_staging.load import load_days
from tests.conftest import create_database, drop_database, settings_under
from tests.test_dbt_warehouse import copy_schema_tables, query, table_rows

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.spark]

DAYS = 5
EVENTS_PER_DAY = 2_000
START = dt.date(2024, 5, 1)
COMPARED = (
    "fct_events",
    "fct_sessions",
    "fct_orders",
    "fct_daily_metrics",
    "rpt_order_attribution",
    "rpt_customer_rfm",
    "rpt_session_funnel",
)


@pytest.fixture(scope="module")
def daily_and_full(
    spark: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, list[dt.date]]]:
    """(daily-built DSN, full-refresh DSN, days): the same data built both ways."""
    seed = int(os.environ.get("CLICKSTREAM_TEST_SEED", "11"))
    root = tmp_path_factory.mktemp("generated")
    settings = settings_under(root)
    days = [START + dt.timedelta(days=i) for i in range(DAYS)]
    config = GeneratorConfig(seed=seed, events_per_day=EVENTS_PER_DAY, start_date=START)
    generate(config, START, DAYS, settings.landing_dir)
    daily_name = f"clickstream_gen_daily_{uuid.uuid4().hex[:10]}"
    full_name = f"clickstream_gen_full_{uuid.uuid4().hex[:10]}"
    daily_dsn, full_dsn = create_database(daily_name), create_database(full_name)
    try:
        process_days(settings, daily_dsn, days, spark=spark)  # one arrival day at a time
        load_days(full_dsn, settings, days)
        copy_schema_tables(daily_dsn, full_dsn, "snapshots")
        build_day(full_dsn, days[-1], settings.lateness_days, full_refresh=True)
        yield daily_dsn, full_dsn, days
    finally:
        drop_database(daily_name)
        drop_database(full_name)


def test_the_generated_days_hold_the_cases_the_window_logic_is_for(
    daily_and_full: tuple[str, str, list[dt.date]],
) -> None:
    """Without late events, midnight crossings and logins the comparison would prove little."""
    daily_dsn, _, days = daily_and_full
    [(late, crossing, logged_in_devices, outside_window)] = query(
        daily_dsn,
        """
        select
            (select count(*) from marts.fct_events where arrival_date > event_date),
            (select count(*) from marts.fct_sessions
             where cast(session_end_ts as date) > session_date),
            (select count(distinct anonymous_id) from marts.fct_events where user_id is not null),
            (select count(*) from marts.fct_sessions where session_end_ts < %s)
        """,
        (dt.datetime.combine(days[-1] - dt.timedelta(days=3), dt.time()),),
    )
    assert late > 0 and crossing > 0 and logged_in_devices > 0 and outside_window > 0


@pytest.mark.parametrize("table", COMPARED)
def test_daily_builds_equal_a_full_refresh_row_for_row(
    daily_and_full: tuple[str, str, list[dt.date]], table: str
) -> None:
    daily_dsn, full_dsn, _ = daily_and_full
    daily = table_rows(daily_dsn, f"marts.{table}")
    assert daily, f"{table} is empty: the comparison would prove nothing"
    assert daily == table_rows(full_dsn, f"marts.{table}")
