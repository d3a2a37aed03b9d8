"""``clickstream run``: every stage, day by day, with one progress bar and one summary."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from clickstream.config import Settings
from clickstream.errors import EmptyInputError
from clickstream.pipeline import (
    DayResult,
    RunSummary,
    day_range,
    process_days,
    source_session_agreement,
    warehouse_totals,
)

logger = logging.getLogger(__name__)


def run_all(
    settings: Settings,
    *,
    days: int = 7,
    events_per_day: int = 15_000,
    seed: int = 42,
    start_date: dt.date = dt.date(2024, 3, 1),
    source: str = "generator",
    inputs: Sequence[Path] = (),
    analyze: bool = True,
    docs: bool = True,
    console: Console | None = None,
) -> RunSummary:
    """Generate (or ingest) then stage, load and transform each day; analyse and document.

    With ``source='rees46'`` the export files decide the days; ``days``/``start_date`` are ignored.
    """
    from clickstream.warehouse import check_connection, resolve_dsn
    from spark_staging.landing import landing_bytes
    from spark_staging.session import LANDING_BYTES_PER_EVENT, spark_in_background

    dsn = resolve_dsn(settings)
    check_connection(dsn)
    results: dict[dt.date, DayResult] = {}
    progress = Progress(
        TextColumn("[bold blue]{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TimeElapsedColumn(),
        console=console or Console(stderr=True),
    )
    with progress:
        if source == "rees46":
            from clickstream.ingest.rees46 import ingest_rees46

            ingest_task = progress.add_task("ingest", total=1)  # one step: the whole import
            ingested = ingest_rees46(
                list(inputs),
                settings.landing_dir,
                progress=False,
                session_gap_minutes=settings.session_gap_minutes,
            )
            progress.update(ingest_task, completed=1)
            day_list = ingested.days
            if not day_list:
                raise EmptyInputError(f"No rows to import in {', '.join(map(str, inputs))}.")
            land_day: Callable[[dt.date], Any] | None = None
            input_bytes = landing_bytes(settings, day_list)
        else:
            import generator

            day_list = day_range(start_date, days)
            config = generator.GeneratorConfig(
                seed=seed, events_per_day=events_per_day, start_date=start_date
            )
            land_day = functools.partial(
                generator.generate_day, config, out_dir=settings.landing_dir
            )
            input_bytes = events_per_day * days * LANDING_BYTES_PER_EVENT
        steps_per_day = 4 if land_day else 3
        task = progress.add_task("starting Spark", total=len(day_list) * steps_per_day + 2)
        # starts while the first day lands
        spark_session = spark_in_background(settings, input_bytes=input_bytes)

        def on_stage(step: str, day: dt.date) -> None:
            progress.update(task, description=f"{day} {step}", advance=1)

        for day in day_list:
            if land_day is not None:
                progress.update(task, description=f"{day} generate", advance=1)
                manifest = land_day(day)
                results.setdefault(day, DayResult(day)).landed_rows = manifest.rows["events"]
            process_days(
                settings, dsn, [day], spark=spark_session(), on_stage=on_stage, results=results
            )
        summary = RunSummary(days=[results[d] for d in day_list])
        totals = warehouse_totals(dsn)
        summary.events = int(totals["events"])
        summary.sessions = int(totals["sessions"])
        summary.orders = int(totals["orders"])
        summary.revenue = totals["revenue"]
        summary.conversion_rate = totals["conversion_rate"]
        agreement = source_session_agreement(dsn)
        if agreement:
            summary.source_sessions, summary.source_sessions_reproduced = agreement
        if analyze:
            from clickstream.analyze import run_analyses

            progress.update(task, description="analyses")
            report = run_analyses(dsn, settings, progress=False)
            summary.report_path = report.dashboard_path
        progress.advance(task)
        if docs:
            from clickstream.dbt import docs_generate

            progress.update(task, description="dbt docs")
            summary.docs_path = docs_generate(dsn)
        progress.update(task, description="done", advance=1)
    return summary
