"""The analyses on a warehouse built by the real pipeline, checked against the Parquet lake.

``e2e_warehouse`` (tests/conftest.py) runs generate → Spark stage → COPY load → dbt build for two
days. The funnel, orders and revenue the analyses report must equal an independent pyarrow
computation over the staged lake — the data before PostgreSQL and dbt touched it.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pytest

from clickstream.analyze import AnalysisReport, run_analyses
from clickstream.reporting.catalog import load_catalog

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.spark]

FUNNEL_EVENTS = ("product_viewed", "product_added", "checkout_started", "order_completed")


@pytest.fixture(scope="module")
def report(
    e2e_warehouse: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> AnalysisReport:
    root = tmp_path_factory.mktemp("analyses_e2e")
    settings = e2e_warehouse["settings"]
    return run_analyses(
        e2e_warehouse["dsn"],
        settings,
        out_dir=root / "reports",
        progress=False,
        target_path=root / "dbt_target",
    )


@pytest.fixture(scope="module")
def lake_events(e2e_warehouse: dict[str, Any]) -> list[dict[str, Any]]:
    lake: Path = e2e_warehouse["settings"].lake_dir / "events"
    table = ds.dataset(lake, format="parquet", partitioning="hive").to_table(
        columns=["session_id", "event_name", "order_id", "revenue", "is_bot"]
    )
    return table.to_pylist()


def test_every_analysis_returns_its_documented_columns_on_the_real_warehouse(
    report: AnalysisReport, e2e_warehouse: dict[str, Any]
) -> None:
    specs = load_catalog(e2e_warehouse["settings"].analyses_dir)
    assert [r.name for r in report.results] == [s.name for s in specs]
    for spec, result in zip(specs, report.results, strict=True):
        assert tuple(result.columns) == spec.columns
    assert report.dashboard_path is not None and report.dashboard_path.is_file()


def test_funnel_matches_a_pyarrow_closed_funnel_over_the_lake(
    report: AnalysisReport, lake_events: list[dict[str, Any]]
) -> None:
    names: dict[str, set[str]] = defaultdict(set)
    bots: set[str] = set()
    for event in lake_events:
        names[event["session_id"]].add(event["event_name"])
        if event["is_bot"]:
            bots.add(event["session_id"])
    human = [events for session, events in names.items() if session not in bots]
    expected = [len(human)] + [
        sum(all(step in events for step in FUNNEL_EVENTS[:depth]) for events in human)
        for depth in range(1, len(FUNNEL_EVENTS) + 1)
    ]
    funnel = report.result("01_conversion_funnel").records()
    assert [row["sessions"] for row in funnel] == expected


def test_orders_and_revenue_match_the_lake(
    report: AnalysisReport, lake_events: list[dict[str, Any]]
) -> None:
    lines = [e for e in lake_events if e["event_name"] == "order_completed"]
    revenue = sum((Decimal(str(e["revenue"])) for e in lines), Decimal(0))
    (kpi,) = report.result("24_kpi_summary").records()
    assert kpi["orders"] == len({e["order_id"] for e in lines})
    assert kpi["revenue"] == revenue
    daily = report.result("12_daily_revenue_aov")
    assert sum(daily.column("revenue")) == revenue
