"""One self-contained ``dashboard.html``: KPI tiles, embedded charts and key tables.

Self-contained means it opens from disk or an e-mail attachment with no server and no network:
charts are base64 PNGs inside the page, styles are inline, and there is no JavaScript.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from clickstream.reporting.execute import AnalysisResult

logger = logging.getLogger(__name__)

KPI_ANALYSIS = "24_kpi_summary"


@dataclass(frozen=True)
class Tile:
    """One KPI tile: label, the kpi_summary column and how to format it."""

    label: str
    column: str
    kind: str  # "count", "money" or "rate"


TILES: tuple[Tile, ...] = (
    Tile("Sessions", "sessions", "count"),
    Tile("Users", "unique_users", "count"),
    Tile("Orders", "orders", "count"),
    Tile("Revenue", "revenue", "money"),
    Tile("Conversion rate", "conversion_rate", "rate"),
    Tile("Average order value", "aov", "money"),
)

KEY_TABLES: tuple[tuple[str, int], ...] = (
    ("01_conversion_funnel", 10),
    ("02_funnel_by_channel", 10),
    ("13_top_products_by_revenue", 10),
    ("16_channel_attribution", 10),
    ("06_rfm_segmentation", 10),
    ("15_price_change_impact", 10),
    ("05_product_affinity", 10),
    ("23_data_quality_summary", 15),
)
"""Analyses shown as tables (first N rows); the full results are the CSVs."""

STYLE = """
body { font-family: -apple-system, Segoe UI, Helvetica, Arial, sans-serif; margin: 0;
       background: #f8fafc; color: #0f172a; }
header { background: #1e293b; color: #f8fafc; padding: 18px 32px; }
header h1 { margin: 0 0 4px 0; font-size: 22px; }
header p { margin: 0; color: #cbd5e1; font-size: 13px; }
main { padding: 24px 32px; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 12px; }
.tile { background: white; border-radius: 8px; padding: 14px 16px;
        box-shadow: 0 1px 3px rgba(15, 23, 42, .12); }
.tile .label { font-size: 12px; color: #64748b; text-transform: uppercase; letter-spacing: .04em; }
.tile .value { font-size: 26px; font-weight: 600; margin-top: 4px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 16px;
          margin-top: 24px; }
figure { background: white; margin: 0; padding: 12px; border-radius: 8px;
         box-shadow: 0 1px 3px rgba(15, 23, 42, .12); }
figure img { width: 100%; height: auto; }
figcaption { font-size: 12px; color: #475569; margin-top: 6px; }
section.table { background: white; border-radius: 8px; padding: 12px 16px; margin-top: 16px;
                box-shadow: 0 1px 3px rgba(15, 23, 42, .12); overflow-x: auto; }
section.table h3 { margin: 0 0 4px 0; font-size: 15px; }
section.table p { margin: 0 0 8px 0; font-size: 12px; color: #475569; }
table { border-collapse: collapse; font-size: 12px; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e2e8f0; text-align: right;
         white-space: nowrap; }
th { background: #f1f5f9; }
td.text, th.text { text-align: left; }
h2 { margin: 28px 0 8px 0; font-size: 18px; }
footer { padding: 16px 32px; font-size: 12px; color: #64748b; }
"""


def render_dashboard(
    results: Sequence[AnalysisResult],
    charts: Sequence[Path],
    path: Path,
    generated_at: dt.datetime,
) -> Path:
    """Write the dashboard HTML and return its path."""
    by_name = {result.name: result for result in results}
    kpis = _kpi_row(by_name.get(KPI_ANALYSIS))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>Clickstream dashboard</title>",
        f"<style>{STYLE}</style></head><body>",
        "<header><h1>Clickstream analytics dashboard</h1>",
        f"<p>Data range: {_data_range(kpis)} &middot; generated at "
        f'<time datetime="{generated_at.isoformat()}">{generated_at:%Y-%m-%d %H:%M} UTC</time>'
        f" &middot; {len(results)} analyses</p></header>",
        "<main>",
        _tiles(kpis),
        "<h2>Charts</h2>",
        '<div class="charts">',
        *(_figure(chart, by_name.get(chart.stem)) for chart in charts),
        "</div>",
        "<h2>Key tables</h2>",
        *(_table(by_name[name], limit) for name, limit in KEY_TABLES if name in by_name),
        "</main>",
        "<footer>Bots are excluded from every analysis except bot traffic share and data "
        "quality. Full results: reports/analyses/*.csv. Definitions: analyses/_analyses.yml."
        "</footer>",
        "</body></html>",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    logger.debug("dashboard written to %s (%d charts)", path, len(charts))
    return path


def _kpi_row(result: AnalysisResult | None) -> dict[str, Any]:
    if result is None or not result.rows:
        return {}
    return result.records()[0]


def _data_range(kpis: dict[str, Any]) -> str:
    first, last = kpis.get("first_date"), kpis.get("last_date")
    if first is None or last is None:
        return "no sessions yet"
    return f"{first} to {last}"


def format_value(value: Any, kind: str = "auto") -> str:
    """Display formatting shared by tiles and tables (thousands separators, %, 2 dp money)."""
    if value is None:
        return "–"
    if kind == "rate":
        return f"{float(value):.1%}"
    if kind == "money":
        return f"€{float(value):,.2f}"
    if kind == "count":
        return f"{int(value):,}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, Decimal | float):
        return f"{value:,.4f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M}"
    return str(value)


def _tiles(kpis: dict[str, Any]) -> str:
    tiles = [
        f'<div class="tile"><div class="label">{html.escape(tile.label)}</div>'
        f'<div class="value">{html.escape(format_value(kpis.get(tile.column), tile.kind))}'
        "</div></div>"
        for tile in TILES
    ]
    return '<div class="tiles">' + "".join(tiles) + "</div>"


def _figure(chart: Path, result: AnalysisResult | None) -> str:
    encoded = base64.b64encode(chart.read_bytes()).decode("ascii")
    title = result.spec.title if result else chart.stem
    caption = result.spec.description if result else ""
    return (
        f'<figure id="chart-{html.escape(chart.stem)}">'
        f'<img alt="{html.escape(title)}" src="data:image/png;base64,{encoded}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _table(result: AnalysisResult, limit: int) -> str:
    text_columns = {
        column
        for column in result.columns
        if any(isinstance(v, str) for v in result.column(column))
    }

    def cell(tag: str, column: str, content: str) -> str:
        css = ' class="text"' if column in text_columns else ""
        return f"<{tag}{css}>{html.escape(content)}</{tag}>"

    head = "".join(cell("th", c, c) for c in result.columns)
    body = "".join(
        "<tr>"
        + "".join(cell("td", c, format_value(v)) for c, v in zip(result.columns, row, strict=True))
        + "</tr>"
        for row in result.rows[:limit]
    )
    shown = (
        f"first {limit} of {len(result.rows)} rows"
        if len(result.rows) > limit
        else (f"{len(result.rows)} rows")
    )
    return (
        f'<section class="table" id="table-{html.escape(result.name)}">'
        f"<h3>{html.escape(result.spec.title)}</h3>"
        f"<p>{html.escape(result.spec.description)} ({shown})</p>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>"
    )
