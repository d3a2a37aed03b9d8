"""Dashboard rendering without a database: formatting, empty warehouses, HTML escaping."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from clickstream.dashboard import format_value, render_dashboard
from clickstream.reporting.catalog import AnalysisSpec
from clickstream.reporting.execute import AnalysisResult

GENERATED_AT = dt.datetime(2024, 3, 8, 6, 30, tzinfo=dt.UTC)


def result(name: str, columns: tuple[str, ...], rows: list[tuple[object, ...]]) -> AnalysisResult:
    spec = AnalysisSpec(name, f"about {name}", columns)
    return AnalysisResult(spec=spec, columns=list(columns), rows=rows, seconds=0.0)


def test_kpi_values_are_formatted_for_people() -> None:
    assert format_value(Decimal("0.1234"), "rate") == "12.3%"
    assert format_value(Decimal("1234.5"), "money") == "€1,234.50"
    assert format_value(12345, "count") == "12,345"
    assert format_value(None, "money") == "–"
    assert format_value(Decimal("0.5000")) == "0.5"


def test_dashboard_of_an_empty_warehouse_says_so_instead_of_failing(tmp_path: Path) -> None:
    kpi = result("24_kpi_summary", ("first_date", "last_date", "sessions"), [])
    page = render_dashboard([kpi], [], tmp_path / "d.html", GENERATED_AT).read_text()
    assert "Data range: no sessions yet" in page
    assert "2024-03-08 06:30 UTC" in page


def test_table_cells_are_html_escaped(tmp_path: Path) -> None:
    search = result(
        "01_conversion_funnel", ("step_name", "sessions"), [("<script>alert(1)</script>", 3)]
    )
    page = render_dashboard([search], [], tmp_path / "d.html", GENERATED_AT).read_text()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
