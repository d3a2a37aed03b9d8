"""Incremental equals full refresh on generated data, not only on the hand-built fixture.

Five generated days (late events, logins that re-stitch devices, sessions crossing midnight,
bots, defects) go through the daily pipeline one arrival day at a time — stage, load, the
daily ``dbt build`` — exactly as ``clickstream run`` does. A second database gets the final
lake and the first one's snapshots and is built once with ``--full-refresh``: every fact and
report must be equal row for row. The window is 3 days, so the last builds leave the first
days outside it. A third database is built as a user loading in batches would: the first day
loaded and built, then the other four loaded together and built once for the last day (as
``clickstream load --from --to`` then ``clickstream transform`` do); it must equal the full
refresh too, although the last day's window alone misses the late arrivals of the batch's
first day. ``CLICKSTREAM_TEST_SEED`` picks another generator seed.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Builds:
    """The same generated days built three ways (see the module docstring)."""

    daily_dsn: str
    full_dsn: str
    batched_dsn: str
    days: list[dt.date]


@pytest.fixture(scope="module")
def builds(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Builds]:
    seed = int(os.environ.get("CLICKSTREAM_TEST_SEED", "11"))
    root = tmp_path_factory.mktemp("generated")
    settings = settings_under(root)
    days = [START + dt.timedelta(days=i) for i in range(DAYS)]
    config = GeneratorConfig(seed=seed, events_per_day=EVENTS_PER_DAY, start_date=START)
    generate(config, START, DAYS, settings.landing_dir)
    names = [f"clickstream_gen_{how}_{uuid.uuid4().hex[:10]}" for how in ("daily", "full", "batch")]
    daily_dsn, full_dsn, batched_dsn = (create_database(name) for name in names)
    try:
        process_days(settings, daily_dsn, days, spark=spark)  # one arrival day at a time
        load_days(full_dsn, settings, days)
        copy_schema_tables(daily_dsn, full_dsn, "snapshots")
        build_day(full_dsn, days[-1], settings.lateness_days, full_refresh=True)
        # the SCD2 versions depend on when snapshots ran: all three share the daily ones
        copy_schema_tables(daily_dsn, batched_dsn, "snapshots")
        load_days(batched_dsn, settings, days[:1])
        build_day(batched_dsn, days[0], settings.lateness_days)
        load_days(batched_dsn, settings, days[1:])
        build_day(batched_dsn, days[-1], settings.lateness_days)
        yield Builds(daily_dsn, full_dsn, batched_dsn, days)
    finally:
        for name in names:
            drop_database(name)


def test_the_generated_days_hold_the_cases_the_window_logic_is_for(builds: Builds) -> None:
    """Without late events, midnight crossings and logins the comparison would prove little."""
    days = builds.days
    [(late, crossing, logged_in_devices, outside_window, before_last_window)] = query(
        builds.daily_dsn,
        """
        select
            (select count(*) from marts.fct_events where arrival_date > event_date),
            (select count(*) from marts.fct_sessions
             where cast(session_end_ts as date) > session_date),
            (select count(distinct anonymous_id) from marts.fct_events where user_id is not null),
            (select count(*) from marts.fct_sessions where session_end_ts < %s),
            (select count(*) from marts.fct_events
             where arrival_date > %s and event_date < %s)
        """,
        (
            dt.datetime.combine(days[-1] - dt.timedelta(days=3), dt.time()),
            days[0],
            days[-1] - dt.timedelta(days=3),
        ),
    )
    assert late > 0 and crossing > 0 and logged_in_devices > 0 and outside_window > 0
    # the batch's arrivals the last day's window [D-3, D+2) does not reach
    assert before_last_window > 0


@pytest.mark.parametrize("table", COMPARED)
def test_daily_builds_equal_a_full_refresh_row_for_row(builds: Builds, table: str) -> None:
    daily = table_rows(builds.daily_dsn, f"marts.{table}")
    assert daily, f"{table} is empty: the comparison would prove nothing"
    assert daily == table_rows(builds.full_dsn, f"marts.{table}")


@pytest.mark.parametrize("table", COMPARED)
def test_days_loaded_together_and_built_once_equal_a_full_refresh(
    builds: Builds, table: str
) -> None:
    batched = table_rows(builds.batched_dsn, f"marts.{table}")
    assert batched, f"{table} is empty: the comparison would prove nothing"
    assert batched == table_rows(builds.full_dsn, f"marts.{table}")
