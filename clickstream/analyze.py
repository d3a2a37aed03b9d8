"""``clickstream analyze``: compile the dbt analyses, run them, write CSVs, charts and a dashboard.

The analyses are SQL files in ``analyses/`` that read the marts through ``ref()``; dbt compiles
all of them in one invocation, then each runs read-only on the warehouse. Outputs, under the
reports folder: ``analyses/<name>.csv``, ``charts/*.png`` and one self-contained
``dashboard.html``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg2.extensions
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from clickstream.charts import CHART_OF, draw_png, write_charts
from clickstream.config import Settings
from clickstream.dashboard import render_dashboard
from clickstream.db import connect
from clickstream.dbt import default_target_path
from clickstream.errors import StageFailedError
from clickstream.locks import warehouse_build_lock
from clickstream.reporting.catalog import AnalysisSpec, load_catalog
from clickstream.reporting.compile import compile_analyses
from clickstream.reporting.execute import AnalysisResult, execute_analysis, write_csv

logger = logging.getLogger(__name__)

ANALYZE_TARGET = "analyze"
"""Sub-folder of dbt_project/target/ holding the artifacts of ``analyze``'s compile."""

SESSION_OPTIONS = "-c timezone=UTC -c jit=off"
"""Settings of the analyses' connections. UTC: dates never depend on the server's zone. No
JIT: PostgreSQL compiled the bigger analyses at every run, for more time than it saved. The
25 analyses one after another on the 1M-event warehouse (two rounds each, interleaved): 7.7
and 7.9 s with JIT, 5.9 and 6.0 s without (``15_price_change_impact`` 1.1 s against 0.45 s,
``21_search_no_purchase`` 1.2-1.4 s against 0.64 s); the dbt models turn it off likewise."""


@dataclass
class AnalysisReport:
    """Everything one ``analyze`` run produced."""

    results: list[AnalysisResult]
    out_dir: Path
    charts: list[Path] = field(default_factory=list)
    dashboard_path: Path | None = None
    generated_at: dt.datetime | None = None
    seconds: float = 0.0

    def result(self, name: str) -> AnalysisResult:
        """The result of one analysis by name (e.g. ``01_conversion_funnel``)."""
        for result in self.results:
            if result.name == name:
                return result
        raise KeyError(f"no analysis named {name!r}")

    @property
    def csv_paths(self) -> list[Path]:
        return [r.csv_path for r in self.results if r.csv_path is not None]


def run_analyses(
    dsn: str,
    settings: Settings,
    out_dir: Path | None = None,
    progress: bool = True,
    *,
    target_path: Path | None = None,
) -> AnalysisReport:
    """Compile (one dbt call), execute and render every documented analysis.

    dbt writes its artifacts to ``target_path`` (default ``analyze/`` in the dbt target
    folder, :func:`clickstream.dbt.default_target_path`; the compiled SQL under its
    ``compiled/`` folder), never the shared target root. Raises
    StageFailedError naming every analysis that failed; outputs are written only when all
    succeeded.
    """
    from clickstream.warehouse import check_connection

    # one clear line for an unreachable server, before dbt's compile retries and its trace
    check_connection(dsn)
    started = time.perf_counter()
    out_dir = out_dir or settings.reports_dir
    # A folder of our own: other dbt calls (a build, docs, another helper's run on another
    # database) rewrite target/manifest.json and compiled/ concurrently, and reading their
    # compiled SQL would query the wrong database. Kept between runs for partial parsing.
    target_path = target_path or default_target_path(settings.dbt_project_dir) / ANALYZE_TARGET
    specs = load_catalog(settings.analyses_dir)
    with _progress_bar(progress) as bar:
        task = bar.add_task("compiling analyses (dbt)", total=len(specs) + 3)
        compiled = compile_analyses(dsn, settings.dbt_project_dir, target_path)
        bar.advance(task)
        pngs: dict[str, bytes] = {}

        def draw(result: AnalysisResult) -> None:
            if (spec := CHART_OF.get(result.name)) is not None:
                pngs[result.name] = draw_png(spec, result)

        # every query reads the same finished build: a build waits for them, they for a build
        with warehouse_build_lock(dsn, shared=True):
            results = _execute_all(dsn, specs, compiled, bar, task, on_result=draw)
        for result in results:
            write_csv(result, out_dir / "analyses" / f"{result.name}.csv")
        bar.update(task, description="writing charts", advance=1)
        charts = write_charts(pngs, out_dir / "charts")
        bar.update(task, description="writing dashboard", advance=1)
        generated_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
        dashboard = render_dashboard(results, charts, out_dir / "dashboard.html", generated_at)
        bar.update(task, description="done")
    report = AnalysisReport(
        results=results,
        out_dir=out_dir,
        charts=charts,
        dashboard_path=dashboard,
        generated_at=generated_at,
        seconds=round(time.perf_counter() - started, 3),
    )
    logger.info(
        "analyze: %d analyses, %d rows, %d charts -> %s in %.1f s",
        len(results),
        sum(len(r.rows) for r in results),
        len(charts),
        dashboard,
        report.seconds,
    )
    return report


def query_sessions() -> int:
    """Analyses run side by side on this many connections (one per core, 2 to 4).

    Each query runs on one PostgreSQL backend while this process mostly waits, so a second
    session uses the other core; meanwhile the main thread draws the charts of the results
    already in (matplotlib, CPU-bound), instead of drawing them all after the last query.
    """
    return max(2, min(4, os.cpu_count() or 2))


def _execute_all(
    dsn: str,
    specs: list[AnalysisSpec],
    compiled: dict[str, str],
    bar: Progress,
    task: TaskID,
    on_result: Callable[[AnalysisResult], None] = lambda _result: None,
) -> list[AnalysisResult]:
    """Run every analysis (read-only, :func:`query_sessions` at a time); results in spec order.

    ``on_result`` is called in this thread as each result arrives, in completion order. Every
    analysis runs even when one fails; the failures are then raised together.
    """
    if missing := [spec.name for spec in specs if spec.name not in compiled]:
        raise StageFailedError(
            f"dbt compiled no SQL for analyses {', '.join(missing)}: is analysis-paths in "
            "dbt_project/dbt_project.yml pointing at the analyses folder?"
        )
    sessions = _ThreadConnections(dsn)
    done: dict[str, AnalysisResult] = {}
    errors: dict[str, str] = {}
    try:
        with ThreadPoolExecutor(query_sessions(), thread_name_prefix="analysis") as pool:
            futures = {
                pool.submit(
                    lambda spec: execute_analysis(sessions.get(), spec, compiled[spec.name]),
                    spec,
                ): spec
                for spec in specs
            }
            try:
                for future in as_completed(futures):
                    spec = futures[future]
                    bar.update(task, description=f"analysis {spec.name}", advance=1)
                    try:
                        result = future.result()
                    except StageFailedError as exc:
                        errors[spec.name] = str(exc)
                        continue
                    done[spec.name] = result
                    on_result(result)
            except BaseException:
                for future in futures:  # e.g. no connection: don't run the queued analyses
                    future.cancel()
                raise
    finally:
        sessions.close()
    if errors:
        raise StageFailedError(
            f"{len(errors)} of {len(specs)} analyses failed. "
            + " | ".join(errors[spec.name] for spec in specs if spec.name in errors)
        )
    return [done[spec.name] for spec in specs]


class _ThreadConnections:
    """One connection per worker thread (a psycopg2 connection runs one query at a time)."""

    def __init__(self, dsn: str):
        self._dsn = dsn
        self._local = threading.local()
        self._lock = threading.Lock()
        self._all: list[psycopg2.extensions.connection] = []

    def get(self) -> psycopg2.extensions.connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self._dsn, options=SESSION_OPTIONS)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Progress]:
    """A rich progress bar, or the same object disabled so callers need no branches."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=False,
    )
    with bar:
        yield bar
