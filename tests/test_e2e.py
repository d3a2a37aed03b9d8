"""End to end on the real PostgreSQL: every stage runs, every mart fills, every total reconciles."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from clickstream.runner import run_all
from tests.conftest import settings_under
from tests.pg import MARTS, scalar

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.spark]


def test_schemas_have_exactly_the_documented_names(e2e_warehouse: dict[str, Any]) -> None:
    schemas = scalar(
        e2e_warehouse["dsn"],
        "select array_agg(schema_name::text order by schema_name) from information_schema.schemata "
        "where schema_name in ('raw','staging','intermediate','snapshots','marts')",
    )
    assert schemas == ["intermediate", "marts", "raw", "snapshots", "staging"]


@pytest.mark.parametrize("mart", MARTS)
def test_every_mart_has_rows(e2e_warehouse: dict[str, Any], mart: str) -> None:
    assert scalar(e2e_warehouse["dsn"], f"select count(*) from marts.{mart}") > 0


def test_revenue_reconciles_from_events_to_sessions_orders_and_daily_metrics(
    e2e_warehouse: dict[str, Any],
) -> None:
    dsn = e2e_warehouse["dsn"]
    events = scalar(
        dsn, "select sum(revenue) from marts.fct_events where event_name = 'order_completed'"
    )
    sessions = scalar(dsn, "select sum(revenue) from marts.fct_sessions")
    orders = scalar(dsn, "select sum(revenue) from marts.fct_orders")
    daily = scalar(dsn, "select sum(revenue) from marts.fct_daily_metrics")
    assert events > 0
    assert events == sessions == orders == daily


def test_sessions_and_orders_reconcile_with_daily_metrics(e2e_warehouse: dict[str, Any]) -> None:
    dsn = e2e_warehouse["dsn"]
    sessions = scalar(dsn, "select count(*) from marts.fct_sessions where not is_bot")
    assert sessions == scalar(dsn, "select sum(sessions) from marts.fct_daily_metrics")
    orders = scalar(dsn, "select count(*) from marts.fct_orders")
    assert orders == scalar(dsn, "select sum(orders) from marts.fct_daily_metrics")
    assert orders == scalar(
        dsn,
        "select count(distinct order_id) from marts.fct_events "
        "where event_name = 'order_completed'",
    )


def test_every_landed_row_is_accepted_quarantined_or_a_duplicate(
    e2e_warehouse: dict[str, Any],
) -> None:
    dsn = e2e_warehouse["dsn"]
    for result, day in zip(e2e_warehouse["results"], e2e_warehouse["days"], strict=True):
        manifest = e2e_warehouse["manifests"][day]
        assert result.landed_rows == manifest.rows["events"]
        assert result.landed_rows == result.accepted + result.quarantined + result.duplicates
        assert result.loaded_rows == result.accepted
        audit = scalar(
            dsn,
            "select input_rows - accepted - quarantined - duplicates_exact - duplicates_payload "
            f"from raw.load_audit where arrival_date = '{day.isoformat()}'",
        )
        assert audit == 0
    raw_events = scalar(dsn, "select count(*) from raw.events")
    assert raw_events == scalar(dsn, "select count(*) from marts.fct_events")
    assert raw_events == sum(r.accepted for r in e2e_warehouse["results"])


def test_quarantine_reasons_match_the_generators_injected_defects(
    e2e_warehouse: dict[str, Any],
) -> None:
    dsn = e2e_warehouse["dsn"]
    for day in e2e_warehouse["days"]:
        expected = {
            k: v for k, v in e2e_warehouse["manifests"][day].expected["quarantined"].items() if v
        }
        conn = psycopg2.connect(dsn)
        with conn.cursor() as cur:
            cur.execute(
                "select reason, count(*) from raw.events_quarantine "
                "where arrival_date = %s group by 1",
                (day,),
            )
            actual = dict(cur.fetchall())
        conn.close()
        assert actual == expected, day


def test_run_summary_totals_match_the_marts(e2e_warehouse: dict[str, Any]) -> None:
    totals = e2e_warehouse["totals"]
    dsn = e2e_warehouse["dsn"]
    assert totals["orders"] > 0
    assert Decimal(str(totals["revenue"])) == scalar(
        dsn, "select sum(revenue) from marts.fct_orders"
    )
    assert 0 < totals["conversion_rate"] < 1


def test_clickstream_run_end_to_end_with_the_cli_defaults_on_a_fresh_database(
    fresh_pg_dsn: str, tmp_path: Path
) -> None:
    """The documented command, small: run --days 2 --events-per-day 3000 (analyses and docs too)."""
    settings = settings_under(tmp_path, pg_dsn=fresh_pg_dsn)
    summary = run_all(settings, days=2, events_per_day=3000, start_date=dt.date(2024, 5, 1))
    assert [d.day for d in summary.days] == [dt.date(2024, 5, 1), dt.date(2024, 5, 2)]
    assert summary.sessions > 0 and summary.orders > 0 and summary.revenue > 0
    assert summary.report_path is not None and summary.report_path.exists()
    assert summary.docs_path is not None and summary.docs_path.exists()
    for day in summary.days:
        assert day.landed_rows == day.accepted + day.quarantined + day.duplicates
