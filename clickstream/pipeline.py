"""The daily loop: land → stage → load → transform, one arrival day at a time.

Each day really is processed incrementally (staging's lookback, the loader's partition swap,
dbt's incremental facts and snapshots), so ``run --days 7`` exercises exactly what a scheduler
would run on seven consecutive nights.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clickstream.config import Settings
from clickstream.errors import ConfigError, EmptyInputError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)


@dataclass
class DayResult:
    """What happened to one arrival day, stage by stage."""

    day: dt.date
    landed_rows: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    loaded_rows: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class RunSummary:
    """The short summary ``clickstream run`` prints at the end."""

    days: list[DayResult]
    sessions: int = 0
    orders: int = 0
    revenue: float = 0.0
    conversion_rate: float = 0.0
    events: int = 0
    report_path: Path | None = None
    docs_path: Path | None = None
    source_sessions: int | None = None
    source_sessions_reproduced: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def day_range(start: dt.date, days: int) -> list[dt.date]:
    """``days`` consecutive dates from ``start``; rejects non-positive counts and days outside
    the warehouse calendar."""
    if days <= 0:
        raise ConfigError(f"--days must be a positive number, got {days}.")
    from clickstream.dbt import check_in_calendar

    # a day's events reach into the next date (received just before midnight)
    try:
        last = start + dt.timedelta(days=days)
    except OverflowError:  # past the last date Python knows: outside the calendar too
        last = dt.date.max
    check_in_calendar(start, last, "The simulated days")
    return [start + dt.timedelta(days=i) for i in range(days)]


def _timed(seconds: dict[str, float], name: str, work: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    result = work()
    seconds[name] = round(time.perf_counter() - started, 3)
    return result


def process_days(
    settings: Settings,
    dsn: str,
    days: Sequence[dt.date],
    spark: SparkSession | None = None,
    on_stage: Callable[[str, dt.date], None] | None = None,
    results: dict[dt.date, DayResult] | None = None,
) -> list[DayResult]:
    """Stage, load and transform arrival days that are already landed, in date order."""
    from clickstream.dbt import build_day
    from spark_staging.landing import landing_bytes
    from spark_staging.load import load_days
    from spark_staging.session import spark_for
    from spark_staging.stage import stage_days

    spark = spark or spark_for(settings, input_bytes=landing_bytes(settings, days))
    results = results if results is not None else {}
    for day in sorted(days):
        result = results.setdefault(day, DayResult(day))
        if on_stage:
            on_stage("stage", day)
        (stats,) = _timed(
            result.seconds, "stage", functools.partial(stage_days, spark, settings, [day])
        )
        result.landed_rows = stats.input_rows
        result.accepted = stats.accepted
        result.quarantined = sum(stats.quarantined.values())
        result.duplicates = stats.duplicates_exact + stats.duplicates_payload
        if on_stage:
            on_stage("load", day)
        (loaded,) = _timed(
            result.seconds, "load", functools.partial(load_days, dsn, settings, [day])
        )
        result.loaded_rows = loaded.loaded_rows
        if on_stage:
            on_stage("transform", day)
        _timed(
            result.seconds,
            "transform",
            functools.partial(build_day, dsn, day, settings.lateness_days),
        )
        logger.info(
            "day %s: landed=%d accepted=%d quarantined=%d duplicates=%d loaded=%d (%s)",
            day,
            result.landed_rows,
            result.accepted,
            result.quarantined,
            result.duplicates,
            result.loaded_rows,
            ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items()),
        )
    return [results[d] for d in sorted(days)]


def landed_days(settings: Settings) -> list[dt.date]:
    """Arrival days present in the landing folder, oldest first."""
    root = settings.events_landing_dir
    if not root.exists():
        return []
    days = []
    for folder in root.glob("event_date=*"):
        try:
            days.append(dt.date.fromisoformat(folder.name.split("=", 1)[1]))
        except ValueError:
            logger.warning("Ignoring landing folder with a malformed date: %s", folder)
    return sorted(days)


def require_landed(settings: Settings) -> list[dt.date]:
    """Landed days, or a clear error when the landing folder is empty."""
    days = landed_days(settings)
    if not days:
        raise EmptyInputError(
            f"No landed data under {settings.events_landing_dir}. Run 'clickstream generate' "
            "or 'clickstream ingest' first."
        )
    return days


def require_staged(settings: Settings) -> list[dt.date]:
    """Arrival days the lake has staged (what a load reads), or a clear error when none: the
    landing folder may be archived by then."""
    from spark_staging.lake import staged_arrival_days

    days = staged_arrival_days(settings)
    if not days:
        raise EmptyInputError(
            f"No staged days in the lake {settings.lake_dir}. Run 'clickstream stage' first."
        )
    return days


def warehouse_totals(dsn: str) -> dict[str, float]:
    """Headline numbers from the marts for the run summary."""
    from clickstream.db import connection

    sql = """
        select
            (select count(*) from marts.fct_events) as events,
            (select count(*) from marts.fct_sessions where not is_bot) as sessions,
            (select count(*) from marts.fct_orders) as orders,
            (select coalesce(sum(revenue), 0) from marts.fct_orders) as revenue,
            (select coalesce(avg(case when is_converted then 1.0 else 0.0 end), 0)
               from marts.fct_sessions where not is_bot) as conversion_rate
    """
    with connection(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql)
        row = cur.fetchone()
        assert row is not None
        names = [d[0] for d in cur.description]
    return {name: float(value) for name, value in zip(names, row, strict=True)}


def source_session_agreement(dsn: str) -> tuple[int, float] | None:
    """For imported data with source session ids: (source sessions, share reproduced exactly).

    A source session is reproduced when exactly one warehouse session has exactly its events.
    """
    from clickstream.db import connection

    sql = """
        with per_source as (
            select
                source_session_id,
                count(*) as source_events,
                count(distinct session_id) as warehouse_sessions,
                min(session_id) as session_id
            from marts.fct_events
            where source_session_id is not null
            group by source_session_id
        ),
        session_sizes as (
            select session_id, count(*) as session_events
            from marts.fct_events
            group by session_id
        )
        select
            count(*) as source_sessions,
            coalesce(avg(case when p.warehouse_sessions = 1
                               and s.session_events = p.source_events then 1.0 else 0.0 end), 0)
        from per_source as p
        left join session_sizes as s on s.session_id = p.session_id
    """
    with connection(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql)
        row = cur.fetchone()
    if not row or not row[0]:
        return None
    return int(row[0]), float(row[1])
