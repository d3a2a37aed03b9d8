"""The analyses, their runner and outputs, checked against independent Python computations.

The warehouse is the synthetic star schema of ``tests/analyses_marts.py`` written straight into
``marts`` (so these tests don't depend on the generator, Spark or the mart models), plus the
real ``rpt_*`` reporting models built on it with ``dbt build`` (unit tests included). Expected
numbers are recomputed here from the in-memory rows, never from SQL.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import Counter, defaultdict
from decimal import Decimal
from itertools import pairwise, permutations
from pathlib import Path
from typing import Any

import pytest

from clickstream.analyze import _ThreadConnections
from clickstream.charts import CHARTS, render_chart
from clickstream.config import PROJECT_ROOT
from clickstream.errors import ConfigError, StageFailedError
from clickstream.reporting.catalog import AnalysisSpec, load_catalog
from clickstream.reporting.execute import AnalysisResult, execute_analysis
from tests.analyses_marts import AnalysisWarehouse, analysis_warehouse
from tests.conftest import create_database, drop_database

pytestmark = pytest.mark.postgres

ANALYSES_DIR = PROJECT_ROOT / "analyses"


@pytest.fixture(scope="session")
def warehouse(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AnalysisWarehouse:
    built, cleanup = analysis_warehouse(
        tmp_path_factory.mktemp("analyses"), create_database, drop_database
    )
    if cleanup is not None:
        request.addfinalizer(cleanup)
    return built


def human_sessions(warehouse: AnalysisWarehouse) -> list[dict[str, Any]]:
    return [s for s in warehouse.marts.rows("fct_sessions") if not s["is_bot"]]


def records(warehouse: AnalysisWarehouse, name: str) -> list[dict[str, Any]]:
    return warehouse.report.result(name).records()


# --- catalogue and runner ---------------------------------------------------------------------


def test_catalog_documents_at_least_22_analyses_each_with_a_header_comment() -> None:
    specs = load_catalog(ANALYSES_DIR)
    assert len(specs) >= 22
    for spec in specs:
        header = (ANALYSES_DIR / f"{spec.name}.sql").read_text().split("\nwith\n")[0]
        for part in ("Business question:", "Grain:", "How to read:"):
            assert part in header, f"{spec.name} header lacks {part!r}"
        assert spec.description and spec.columns


def test_every_analysis_runs_and_returns_its_documented_columns(
    warehouse: AnalysisWarehouse,
) -> None:
    specs = load_catalog(ANALYSES_DIR)
    assert [r.name for r in warehouse.report.results] == [s.name for s in specs]
    for spec, result in zip(specs, warehouse.report.results, strict=True):
        assert tuple(result.columns) == spec.columns
        assert result.rows, f"{spec.name} returned no rows on the synthetic warehouse"


def test_every_analysis_is_written_as_csv_with_its_documented_header(
    warehouse: AnalysisWarehouse,
) -> None:
    for result in warehouse.report.results:
        path = warehouse.reports_dir / "analyses" / f"{result.name}.csv"
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == list(result.spec.columns)
        assert len(rows) - 1 == len(result.rows)


def test_reporting_models_unit_tests_pass_in_the_build(warehouse: AnalysisWarehouse) -> None:
    unit_tests = [n for n in warehouse.build.nodes if "unit_test" in n.resource_type]
    assert {n.name for n in unit_tests} >= {
        "test_rpt_product_affinity_lift_matches_hand_computed_baskets",
        "test_rpt_customer_rfm_scores_and_segments",
        "test_rpt_attribution_first_touch_is_earliest_human",
        "test_rpt_session_funnel_is_closed",
        "test_rpt_funnel_by_segment_rates_and_weakest_step",
    }
    assert all(n.status == "pass" for n in unit_tests)


def test_catalog_rejects_an_sql_file_without_documentation(tmp_path: Path) -> None:
    (tmp_path / "_analyses.yml").write_text(
        "version: 2\nanalyses:\n  - name: a\n    columns:\n      - name: x\n"
    )
    (tmp_path / "a.sql").write_text("select 1 as x")
    (tmp_path / "b.sql").write_text("select 1 as y")
    with pytest.raises(ConfigError, match="b"):
        load_catalog(tmp_path)


def test_failing_query_error_names_the_analysis(pg_dsn: str) -> None:
    from clickstream.db import connect

    spec = AnalysisSpec("99_broken", "broken on purpose", ("x",))
    conn = connect(pg_dsn)
    try:
        with pytest.raises(StageFailedError, match="99_broken"):
            execute_analysis(conn, spec, "select x from marts.no_such_table")
        with pytest.raises(StageFailedError, match=r"99_broken returned columns \['y'\]"):
            execute_analysis(conn, spec, "select 1 as y")
        assert execute_analysis(conn, spec, "select 1 as x").rows == [(1,)]
    finally:
        conn.close()


def test_analyses_run_in_utc_without_jit_compilation(pg_dsn: str) -> None:
    sessions = _ThreadConnections(pg_dsn)
    try:
        with sessions.get().cursor() as cur:
            cur.execute("select current_setting('timezone'), current_setting('jit')")
            assert cur.fetchone() == ("UTC", "off")
    finally:
        sessions.close()


def test_analyses_cannot_modify_the_warehouse(pg_dsn: str) -> None:
    from clickstream.db import connect

    spec = AnalysisSpec("98_writer", "writes on purpose", ("x",))
    conn = connect(pg_dsn)
    try:
        with pytest.raises(StageFailedError, match="read-only"):
            execute_analysis(conn, spec, "create table sneaky as select 1 as x")
    finally:
        conn.close()


# --- key numbers against independent computations --------------------------------------------


def test_kpi_summary_matches_python_totals(warehouse: AnalysisWarehouse) -> None:
    sessions = human_sessions(warehouse)
    orders = warehouse.marts.rows("fct_orders")
    revenue = sum((o["revenue"] for o in orders), Decimal(0))
    (kpi,) = records(warehouse, "24_kpi_summary")
    assert kpi["sessions"] == len(sessions)
    assert kpi["unique_users"] == len({s["user_id"] or s["anonymous_id"] for s in sessions})
    assert kpi["orders"] == len(orders)
    assert kpi["revenue"] == revenue
    converted = sum(s["is_converted"] for s in sessions)
    assert kpi["conversion_rate"] == round(Decimal(converted) / len(sessions), 4)
    assert kpi["aov"] == round(revenue / len(orders), 2)
    assert kpi["first_date"] == min(s["session_date"] for s in sessions)


def test_conversion_funnel_counts_match_a_closed_funnel_in_python(
    warehouse: AnalysisWarehouse,
) -> None:
    flags = ("has_product_view", "has_add_to_cart", "has_checkout", "is_converted")
    sessions = human_sessions(warehouse)
    expected = [len(sessions)]
    for depth in range(1, len(flags) + 1):
        expected.append(sum(all(s[f] for f in flags[:depth]) for s in sessions))
    rows = records(warehouse, "01_conversion_funnel")
    assert [r["sessions"] for r in rows] == expected
    for previous, row in pairwise(rows):
        assert row["dropped_sessions"] == previous["sessions"] - row["sessions"]
        assert row["step_conversion_rate"] == round(
            Decimal(row["sessions"]) / previous["sessions"], 4
        )


def test_funnel_by_channel_sessions_and_purchases_add_up(warehouse: AnalysisWarehouse) -> None:
    sessions = human_sessions(warehouse)
    by_channel = Counter(s["channel"] for s in sessions)
    rows = records(warehouse, "02_funnel_by_channel")
    assert {r["channel"]: r["sessions"] for r in rows} == dict(by_channel)
    funnel = records(warehouse, "01_conversion_funnel")
    assert sum(r["purchase_sessions"] for r in rows) == funnel[-1]["sessions"]
    device_rows = records(warehouse, "03_funnel_by_device")
    assert sum(r["sessions"] for r in device_rows) == len(sessions)


def test_daily_revenue_and_7_day_average_match_python(warehouse: AnalysisWarehouse) -> None:
    daily: dict[dt.date, Decimal] = defaultdict(Decimal)
    for order in warehouse.marts.rows("fct_orders"):
        daily[order["ordered_at"].date()] += order["revenue"]
    first, last = min(daily), max(daily)
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    rows = records(warehouse, "12_daily_revenue_aov")
    assert [r["order_date"] for r in rows] == days
    for i, row in enumerate(rows):
        assert row["revenue"] == daily.get(days[i], 0)
        window = [daily.get(d, Decimal(0)) for d in days[max(0, i - 6) : i + 1]]
        assert row["revenue_7d_avg"] == round(sum(window) / len(window), 2)


def test_top_products_revenue_and_shares_match_order_lines(warehouse: AnalysisWarehouse) -> None:
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    for event in warehouse.marts.rows("fct_events"):
        if event["event_name"] == "order_completed":
            revenue[event["product_id"]] += event["revenue"]
    rows = records(warehouse, "13_top_products_by_revenue")
    assert {r["product_id"]: r["revenue"] for r in rows} == dict(revenue)
    top = max(revenue, key=lambda p: revenue[p])
    assert rows[0]["product_id"] == top and rows[0]["revenue_rank"] == 1
    assert rows[-1]["cumulative_share"] == Decimal("1.0000")


def test_product_affinity_lift_matches_python_market_basket(warehouse: AnalysisWarehouse) -> None:
    baskets: dict[str, set[str]] = defaultdict(set)
    for event in warehouse.marts.rows("fct_events"):
        if event["event_name"] == "order_completed":
            baskets[event["order_id"]].add(event["product_id"])
    total = len(baskets)
    with_product = Counter(p for basket in baskets.values() for p in basket)
    pairs = Counter(pair for basket in baskets.values() for pair in permutations(basket, 2))
    rows = records(warehouse, "05_product_affinity")
    assert rows, "the synthetic data has multi-product orders"
    for row in rows:
        a, b = row["antecedent_product_id"], row["consequent_product_id"]
        lift = Decimal(pairs[(a, b)] * total) / (with_product[a] * with_product[b])
        assert row["pair_orders"] == pairs[(a, b)]
        assert row["lift"] == round(lift, 6)
        assert row["confidence"] == round(Decimal(pairs[(a, b)]) / with_product[a], 6)


def test_attribution_credits_every_order_once_under_both_models(
    warehouse: AnalysisWarehouse,
) -> None:
    total = sum((o["revenue"] for o in warehouse.marts.rows("fct_orders")), Decimal(0))
    rows = records(warehouse, "16_channel_attribution")
    assert sum(r["first_touch_revenue"] for r in rows) == total
    assert sum(r["last_touch_revenue"] for r in rows) == total
    assert sum(r["revenue_shift"] for r in rows) == 0


def test_cohort_retention_week_zero_is_the_whole_cohort(warehouse: AnalysisWarehouse) -> None:
    sessions = human_sessions(warehouse)
    rows = records(warehouse, "04_weekly_cohort_retention")
    week_zero = [r for r in rows if r["week_number"] == 0]
    assert all(r["retention_rate"] == 1 for r in week_zero)
    assert sum(r["cohort_size"] for r in week_zero) == len(
        {s["user_id"] or s["anonymous_id"] for s in sessions}
    )


def test_price_change_impact_finds_the_scd2_price_change(warehouse: AnalysisWarehouse) -> None:
    versions = [p for p in warehouse.marts.rows("dim_products") if p["product_id"] == "p00"]
    old, new = sorted(versions, key=lambda v: v["valid_from"])
    (row,) = records(warehouse, "15_price_change_impact")
    assert (row["product_id"], row["old_price"], row["new_price"]) == (
        "p00",
        old["price"],
        new["price"],
    )
    assert row["price_change_pct"] == Decimal("-0.2000")
    units_before = sum(
        e["quantity"]
        for e in warehouse.marts.rows("fct_events")
        if e["event_name"] == "order_completed"
        and e["product_id"] == "p00"
        and new["valid_from"] - dt.timedelta(days=row["days_before"])
        <= e["event_ts"].replace(tzinfo=None)
        < new["valid_from"]
        and not e["is_bot"]
    )
    assert row["units_before"] == units_before


def test_bot_share_counts_every_session(warehouse: AnalysisWarehouse) -> None:
    sessions = warehouse.marts.rows("fct_sessions")
    rows = records(warehouse, "22_bot_traffic_share")
    assert sum(r["sessions"] for r in rows) == len(sessions)
    assert sum(r["bot_sessions"] for r in rows) == sum(s["is_bot"] for s in sessions)


def test_data_quality_summary_reconciles_with_the_load_audit(
    warehouse: AnalysisWarehouse,
) -> None:
    quarantine = Counter(
        (q["arrival_date"], q["reason"]) for q in warehouse.marts.rows("raw.events_quarantine")
    )
    rows = records(warehouse, "23_data_quality_summary")
    assert {(r["arrival_date"], r["reason"]): r["quarantined_rows"] for r in rows} == dict(
        quarantine
    )
    assert all(r["reconciles"] for r in rows)


def test_new_vs_returning_splits_every_session(warehouse: AnalysisWarehouse) -> None:
    sessions = human_sessions(warehouse)
    rows = records(warehouse, "07_new_vs_returning")
    new = sum(r["sessions"] for r in rows if r["visitor_type"] == "new")
    assert new == sum(s["is_first_session"] for s in sessions)
    assert sum(r["sessions"] for r in rows) == len(sessions)


# --- charts and dashboard ---------------------------------------------------------------------


def test_every_chart_is_a_png_under_reports_charts(warehouse: AnalysisWarehouse) -> None:
    charts = warehouse.report.charts
    assert len(charts) == len(CHARTS) >= 20
    for chart in charts:
        assert chart.parent == warehouse.reports_dir / "charts"
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dashboard_is_self_contained_with_kpis_charts_and_data_range(
    warehouse: AnalysisWarehouse,
) -> None:
    page = warehouse.report.dashboard_path.read_text(encoding="utf-8")
    (kpi,) = records(warehouse, "24_kpi_summary")
    assert page.count('src="data:image/png;base64,') == len(warehouse.report.charts)
    for label in ("Sessions", "Users", "Orders", "Revenue", "Conversion rate", "Average order"):
        assert f'<div class="label">{label}' in page
    assert f"{kpi['sessions']:,}" in page
    assert f"Data range: {kpi['first_date']} to {kpi['last_date']}" in page
    assert "generated at" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page


def test_chart_of_an_empty_result_is_a_placeholder_not_an_error(tmp_path: Path) -> None:
    spec = next(c for c in CHARTS if c.analysis == "12_daily_revenue_aov")
    catalog = {s.name: s for s in load_catalog(ANALYSES_DIR)}
    empty = AnalysisResult(
        spec=catalog[spec.analysis],
        columns=list(catalog[spec.analysis].columns),
        rows=[],
        seconds=0.0,
    )
    path = render_chart(spec, empty, tmp_path / "empty.png")
    assert path.stat().st_size > 0
