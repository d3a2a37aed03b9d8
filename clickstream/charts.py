"""One PNG chart per analysis that has a visual story, drawn with matplotlib's Agg backend.

Each chart function takes an analysis result and draws on one figure; ``CHARTS`` maps the
analysis name to its function, title and file name, so adding a chart is one entry. Every chart
gets a title, labelled axes with units, and a "no data" placeholder instead of an error when the
analysis returned no rows (a brand-new warehouse).
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from clickstream.reporting.execute import AnalysisResult

logger = logging.getLogger(__name__)

PALETTE = ("#2563eb", "#f97316", "#16a34a", "#dc2626", "#9333ea", "#0891b2", "#ca8a04", "#64748b")
CURRENCY = "EUR"

Draw = Callable[[Figure, AnalysisResult], None]


@dataclass(frozen=True)
class ChartSpec:
    """How one analysis is drawn: the function, the figure title and size."""

    analysis: str
    title: str
    draw: Draw
    size: tuple[float, float] = (9.0, 4.8)


def num(value: Any) -> float:
    """Plot-friendly float for Decimal/int/None values (None -> 0.0)."""
    if value is None:
        return 0.0
    return float(value) if isinstance(value, Decimal | int | float) else float(str(value))


def nums(values: Sequence[Any]) -> list[float]:
    return [num(v) for v in values]


def _clip(label: object, width: int = 32) -> str:
    """Axis label cut to ``width`` characters so long product names don't squeeze the plot."""
    text = str(label)
    return text if len(text) <= width else text[: width - 1] + "…"


def _short(value: float) -> str:
    """Bar label: thousands separators for big numbers, 3 significant digits for small ones."""
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _money(ax: Axes, axis: str = "y") -> None:
    formatter = FuncFormatter(lambda v, _pos: f"{v:,.0f}")
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(formatter)


def _percent(ax: Axes, axis: str = "y") -> None:
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(1.0))


def _hbar(ax: Axes, labels: Sequence[str], values: Sequence[float], xlabel: str) -> None:
    """Horizontal bars, largest on top, value-labelled."""
    positions = list(range(len(labels)))[::-1]
    bars = ax.barh(positions, values, color=PALETTE[0])
    ax.set_yticks(positions, [_clip(label, 48) for label in labels])
    ax.set_xlabel(xlabel)
    ax.bar_label(bars, fmt=_short, padding=2, fontsize=8)


def _grouped_bars(
    ax: Axes, labels: Sequence[str], series: Mapping[str, Sequence[float]], ylabel: str
) -> None:
    width = 0.8 / max(len(series), 1)
    for i, (name, values) in enumerate(series.items()):
        positions = [x + i * width - 0.4 + width / 2 for x in range(len(labels))]
        ax.bar(positions, values, width=width, label=name, color=PALETTE[i % len(PALETTE)])
    ax.set_xticks(range(len(labels)), [str(label) for label in labels], rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    # headroom above the tallest bar so the legend never covers data
    tallest = max((v for values in series.values() for v in values), default=0.0)
    ax.set_ylim(0, (tallest or 1.0) * 1.3)
    ax.legend(frameon=False, fontsize=8, ncol=min(len(series), 3), loc="upper left")


def draw_funnel(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    rows = result.records()
    labels = [r["step_name"].replace("_", " ") for r in rows]
    _hbar(ax, labels, nums([r["sessions"] for r in rows]), "Sessions reaching the step (count)")
    for i, r in enumerate(rows[1:], start=1):
        rate = num(r["step_conversion_rate"])
        ax.annotate(
            f"{rate:.0%} of previous",
            (0, len(rows) - 1 - i),
            xytext=(4, -10),
            textcoords="offset points",
            fontsize=8,
            color="white",
        )


def draw_segment_funnel(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    labels = result.column(result.columns[0])
    series = {
        "product view rate": nums(result.column("product_view_rate")),
        "add-to-cart rate": nums(result.column("add_to_cart_rate")),
        "checkout rate": nums(result.column("checkout_rate")),
        "purchase rate": nums(result.column("purchase_rate")),
        "overall conversion": nums(result.column("conversion_rate")),
    }
    _grouped_bars(ax, labels, series, "Step conversion rate (% of previous step)")
    _percent(ax)


def draw_cohorts(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    cohorts = sorted(set(result.column("cohort_week")))
    weeks = max(result.column("week_number")) + 1
    grid = [[float("nan")] * weeks for _ in cohorts]
    for r in result.records():
        grid[cohorts.index(r["cohort_week"])][r["week_number"]] = num(r["retention_rate"])
    image = ax.imshow(grid, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_yticks(range(len(cohorts)), [str(c) for c in cohorts])
    ax.set_xticks(range(weeks))
    ax.set_xlabel("Weeks since first visit")
    ax.set_ylabel("Cohort (week of first visit)")
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            if not math.isnan(value):
                ax.text(
                    j,
                    i,
                    f"{value:.0%}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if value > 0.6 else "black",
                )
    fig.colorbar(image, ax=ax, label="Retention (% of cohort)", format=PercentFormatter(1.0))


def draw_affinity(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    rows = result.records()[:15]
    labels = [
        f"{_clip(r['antecedent_product_name'] or r['antecedent_product_id'], 22)} → "
        f"{_clip(r['consequent_product_name'] or r['consequent_product_id'], 22)}"
        for r in rows
    ]
    _hbar(ax, labels, nums([r["lift"] for r in rows]), "Lift (1 = independent)")
    ax.axvline(1.0, color=PALETTE[3], linestyle="--", linewidth=1)


def draw_rfm(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    labels = [s.replace("_", " ") for s in result.column("rfm_segment")]
    series = {
        "share of customers": nums(result.column("share_of_customers")),
        "share of revenue": nums(result.column("revenue_share")),
    }
    _grouped_bars(ax, labels, series, "Share (%)")
    _percent(ax)


def draw_new_vs_returning(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    for i, kind in enumerate(("new", "returning")):
        rows = [r for r in result.records() if r["visitor_type"] == kind]
        ax.plot(
            [r["session_date"] for r in rows],
            nums([r["sessions"] for r in rows]),
            marker="o",
            markersize=3,
            label=f"{kind} visitors",
            color=PALETTE[i],
        )
    ax.set_xlabel("Session date")
    ax.set_ylabel("Sessions per day (count)")
    ax.legend(frameon=False)
    fig.autofmt_xdate()


def draw_duration_depth(fig: Figure, result: AnalysisResult) -> None:
    axes = fig.subplots(1, 2)
    for ax, distribution, xlabel in zip(
        axes, ("duration", "depth"), ("Session duration", "Pages viewed per session"), strict=True
    ):
        rows = [r for r in result.records() if r["distribution"] == distribution]
        ax.bar(
            [r["bucket"] for r in rows],
            nums([r["share_of_sessions"] for r in rows]),
            color=PALETTE[0],
        )
        ax.set_xlabel(xlabel)
        ax.set_ylabel("Share of sessions (%)")
        ax.tick_params(axis="x", rotation=35, labelsize=8)
        _percent(ax)


def draw_bounce(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    rows = result.records()[:15]
    _hbar(
        ax,
        [r["landing_page_path"] for r in rows],
        nums([r["bounce_rate"] for r in rows]),
        "Bounce rate (% of sessions landing on the page)",
    )
    if rows:
        ax.axvline(
            num(rows[0]["site_bounce_rate"]),
            color=PALETTE[3],
            linestyle="--",
            linewidth=1,
            label="site average",
        )
        ax.legend(frameon=False, fontsize=8)
    _percent(ax, "x")


def draw_cart_abandonment(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    dates = result.column("session_date")
    ax.plot(
        dates,
        nums(result.column("cart_abandonment_rate")),
        marker="o",
        markersize=3,
        label="cart abandonment (daily)",
        color=PALETTE[0],
    )
    ax.plot(
        dates,
        nums(result.column("cart_abandonment_rate_7d")),
        label="7-day average",
        color=PALETTE[1],
        linewidth=2,
    )
    ax.plot(
        dates,
        nums(result.column("checkout_abandonment_rate")),
        linestyle="--",
        label="checkout abandonment",
        color=PALETTE[2],
    )
    ax.set_xlabel("Session date")
    ax.set_ylabel("Abandonment rate (%)")
    ax.set_ylim(0, 1.05)
    _percent(ax)
    ax.legend(frameon=False, fontsize=8)
    fig.autofmt_xdate()


def draw_time_to_purchase(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    ax.bar(result.column("bucket"), nums(result.column("customers")), color=PALETTE[0])
    ax.set_xlabel("Time from first visit to first order")
    ax.set_ylabel("Customers (count)")


def draw_daily_revenue(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    dates = result.column("order_date")
    ax.bar(dates, nums(result.column("revenue")), color="#93c5fd", label="daily revenue")
    ax.plot(
        dates,
        nums(result.column("revenue_7d_avg")),
        color=PALETTE[0],
        linewidth=2,
        label="7-day moving average",
    )
    ax.set_xlabel("Order date")
    ax.set_ylabel(f"Revenue ({CURRENCY})")
    _money(ax)
    twin = ax.twinx()
    twin.plot(
        dates, nums(result.column("aov_7d")), color=PALETTE[1], linestyle="--", label="AOV, 7-day"
    )
    twin.set_ylabel(f"Average order value ({CURRENCY})")
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, frameon=False, fontsize=8, loc="upper left")
    fig.autofmt_xdate()


def draw_top_products(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    rows = result.records()[:15]
    _hbar(
        ax,
        [r["product_name"] or r["product_id"] for r in rows],
        nums([r["revenue"] for r in rows]),
        f"Revenue ({CURRENCY})",
    )
    _money(ax, "x")


def draw_categories(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    rows = result.records()[:15]
    _hbar(
        ax,
        [f"{r['category_l1']} / {r['category_l2']}" for r in rows],
        nums([r["revenue"] for r in rows]),
        f"Revenue ({CURRENCY})",
    )
    _money(ax, "x")


def draw_attribution(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    series = {
        "first touch": nums(result.column("first_touch_revenue")),
        "last touch": nums(result.column("last_touch_revenue")),
    }
    _grouped_bars(ax, result.column("channel"), series, f"Attributed revenue ({CURRENCY})")
    _money(ax)


def draw_heatmap(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    grid = [[0.0] * 24 for _ in range(7)]
    names = [""] * 7
    for r in result.records():
        grid[r["day_of_week"] - 1][r["hour_of_day"]] = num(r["sessions"])
        names[r["day_of_week"] - 1] = r["day_name"]
    image = ax.imshow(grid, cmap="YlOrRd", aspect="auto")
    ax.set_yticks(range(7), names)
    ax.set_xticks(range(0, 24, 2))
    ax.set_xlabel("Hour of day (UTC)")
    ax.set_ylabel("Weekday")
    fig.colorbar(image, ax=ax, label="Sessions (count)")


def draw_transitions(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    rows = sorted(result.records(), key=lambda r: -num(r["transitions"]))[:15]
    _hbar(
        ax,
        [f"{r['from_page']} → {r['to_page']}" for r in rows],
        nums([r["transitions"] for r in rows]),
        "Page-to-page transitions (count)",
    )


def draw_clv(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    shares = nums(result.column("cumulative_revenue_share"))
    customers = [(i + 1) / len(shares) for i in range(len(shares))]
    ax.plot(customers, shares, color=PALETTE[0], linewidth=2)
    ax.plot([0, 1], [0, 1], color=PALETTE[7], linestyle=":", label="equal value")
    ax.set_xlabel("Customers, most valuable first (% of customers)")
    ax.set_ylabel("Cumulative lifetime revenue (%)")
    _percent(ax)
    _percent(ax, "x")
    ax.legend(frameon=False)


def draw_churn(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    order = ["active", "overdue", "cooling", "at_risk", "churned"]
    counts = {band: 0 for band in order}
    for band in result.column("risk_band"):
        counts[band] = counts.get(band, 0) + 1
    ax.bar(
        [b.replace("_", " ") for b in counts],
        list(counts.values()),
        color=[PALETTE[2], PALETTE[6], PALETTE[1], PALETTE[3], PALETTE[7]],
    )
    ax.set_xlabel("Churn risk band (days since last session)")
    ax.set_ylabel("Users (count)")


def draw_search(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    rows = result.records()[:15]
    _hbar(
        ax,
        [r["search_query"] for r in rows],
        nums([r["no_purchase_sessions"] for r in rows]),
        "Searching sessions without a purchase (count)",
    )


def draw_bots(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    dates = result.column("session_date")
    ax.plot(
        dates,
        nums(result.column("bot_session_share")),
        marker="o",
        markersize=3,
        label="share of sessions",
        color=PALETTE[0],
    )
    ax.plot(
        dates,
        nums(result.column("bot_event_share")),
        marker="s",
        markersize=3,
        label="share of events",
        color=PALETTE[1],
    )
    ax.set_xlabel("Session date")
    ax.set_ylabel("Bot share (%)")
    _percent(ax)
    ax.legend(frameon=False)
    fig.autofmt_xdate()


def draw_quality(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    dates = sorted(set(result.column("arrival_date")))
    reasons = sorted({r for r in result.column("reason") if r != "(none)"})
    bottom = [0.0] * len(dates)
    for i, reason in enumerate(reasons):
        values = [0.0] * len(dates)
        for r in result.records():
            if r["reason"] == reason:
                values[dates.index(r["arrival_date"])] = num(r["quarantined_rows"])
        ax.bar(dates, values, bottom=bottom, label=reason, color=PALETTE[i % len(PALETTE)])
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax.set_xlabel("Arrival date")
    ax.set_ylabel("Quarantined rows (count)")
    if reasons:
        ax.legend(frameon=False, fontsize=8, title="reason")
    fig.autofmt_xdate()


def draw_channels(fig: Figure, result: AnalysisResult) -> None:
    ax = fig.subplots()
    series = {
        "session share": nums(result.column("session_share")),
        "revenue share": nums(result.column("revenue_share")),
        "conversion rate": nums(result.column("conversion_rate")),
    }
    _grouped_bars(ax, result.column("channel"), series, "Share / rate (%)")
    _percent(ax)


CHARTS: tuple[ChartSpec, ...] = (
    ChartSpec("01_conversion_funnel", "Conversion funnel (human sessions)", draw_funnel),
    ChartSpec("02_funnel_by_channel", "Funnel step rates by channel", draw_segment_funnel),
    ChartSpec("03_funnel_by_device", "Funnel step rates by device", draw_segment_funnel),
    ChartSpec("04_weekly_cohort_retention", "Weekly cohort retention", draw_cohorts, (9, 5.5)),
    ChartSpec(
        "05_product_affinity",
        "Products bought together (top pairs by lift)",
        draw_affinity,
        (9, 5.5),
    ),
    ChartSpec("06_rfm_segmentation", "RFM segments: customers vs revenue", draw_rfm),
    ChartSpec("07_new_vs_returning", "New vs returning visitors per day", draw_new_vs_returning),
    ChartSpec(
        "08_session_duration_depth", "Session duration and depth", draw_duration_depth, (11, 4.8)
    ),
    ChartSpec("09_bounce_rate_by_landing_page", "Bounce rate by landing page", draw_bounce),
    ChartSpec("10_cart_abandonment", "Cart and checkout abandonment", draw_cart_abandonment),
    ChartSpec("11_time_to_first_purchase", "Time to first purchase", draw_time_to_purchase),
    ChartSpec(
        "12_daily_revenue_aov", "Daily revenue with 7-day moving average", draw_daily_revenue
    ),
    ChartSpec("13_top_products_by_revenue", "Top products by revenue", draw_top_products, (9, 5.5)),
    ChartSpec("14_category_performance", "Revenue by category", draw_categories),
    ChartSpec(
        "16_channel_attribution", "First-touch vs last-touch revenue by channel", draw_attribution
    ),
    ChartSpec("17_hourly_weekday_heatmap", "Sessions by weekday and hour", draw_heatmap, (10, 4.2)),
    ChartSpec(
        "18_next_page_transitions", "Most frequent page transitions", draw_transitions, (9, 5.5)
    ),
    ChartSpec("19_customer_lifetime_value", "Customer value concentration", draw_clv),
    ChartSpec("20_churn_risk", "Known users by churn risk", draw_churn),
    ChartSpec("21_search_no_purchase", "Searches that did not lead to a purchase", draw_search),
    ChartSpec("22_bot_traffic_share", "Bot traffic share per day", draw_bots),
    ChartSpec("23_data_quality_summary", "Quarantined rows by reason", draw_quality),
    ChartSpec("25_channel_performance", "Channel mix and conversion", draw_channels),
)
"""The charts, in dashboard order; analyses not listed appear as tables only."""


CHART_OF: dict[str, ChartSpec] = {spec.analysis: spec for spec in CHARTS}
"""The chart of each analysis that has one."""


def write_charts(pngs: Mapping[str, bytes], out_dir: Path) -> list[Path]:
    """Write PNGs drawn by :func:`draw_png` (keyed by analysis); return paths in dashboard order.

    Drawing and writing are apart so that charts can be drawn while other analyses still run,
    and written only once every analysis succeeded.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for spec in CHARTS:
        if spec.analysis in pngs:
            path = out_dir / f"{spec.analysis}.png"
            path.write_bytes(pngs[spec.analysis])
            paths.append(path)
    logger.debug("wrote %d charts into %s", len(paths), out_dir)
    return paths


def render_chart(spec: ChartSpec, result: AnalysisResult, path: Path) -> Path:
    """Draw one chart (or a 'no data' placeholder) and save it as PNG."""
    path.write_bytes(draw_png(spec, result))
    return path


def draw_png(spec: ChartSpec, result: AnalysisResult) -> bytes:
    """One chart (or a 'no data' placeholder) as PNG bytes."""
    fig = plt.figure(figsize=spec.size, dpi=100)
    try:
        if result.rows:
            spec.draw(fig, result)
        else:
            ax = fig.subplots()
            ax.text(0.5, 0.5, "No data yet for this analysis", ha="center", va="center")
            ax.set_axis_off()
        fig.suptitle(spec.title, fontsize=13, fontweight="bold")
        fig.tight_layout()
        png = io.BytesIO()
        fig.savefig(png, format="png")
    finally:
        plt.close(fig)
    return png.getvalue()
