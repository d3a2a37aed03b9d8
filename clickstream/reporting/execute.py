"""Run compiled analyses on the warehouse and keep their results as plain Python rows.

Each query runs in a read-only transaction with the session time zone set to UTC, so an
analysis can never change the warehouse and hour/day buckets don't depend on the server's
locale. A failing query or a result whose columns differ from the documented ones raises an
error that names the analysis.
"""

from __future__ import annotations

import csv
import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extensions

from clickstream.errors import StageFailedError
from clickstream.reporting.catalog import AnalysisSpec

logger = logging.getLogger(__name__)


@dataclass
class AnalysisResult:
    """The rows one analysis returned, with where its CSV was written."""

    spec: AnalysisSpec
    columns: list[str]
    rows: list[tuple[Any, ...]]
    seconds: float
    csv_path: Path | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def column(self, name: str) -> list[Any]:
        """All values of one column, in row order."""
        index = self.columns.index(name)
        return [row[index] for row in self.rows]

    def records(self) -> list[dict[str, Any]]:
        """Rows as dicts keyed by column name."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def execute_analysis(
    conn: psycopg2.extensions.connection, spec: AnalysisSpec, sql: str
) -> AnalysisResult:
    """Run one compiled analysis; check it returns exactly its documented columns."""
    started = time.perf_counter()
    try:
        with conn.cursor() as cur:
            cur.execute("set transaction read only")
            cur.execute(sql)
            columns = [desc.name for desc in cur.description or []]
            rows = [tuple(row) for row in cur.fetchall()]
        conn.rollback()
    except psycopg2.Error as exc:
        conn.rollback()
        raise StageFailedError(_query_error(spec, exc)) from None
    if tuple(columns) != spec.columns:
        raise StageFailedError(
            f"Analysis {spec.name} returned columns {columns}, but analyses/_analyses.yml "
            f"documents {list(spec.columns)}; update the query or its documentation."
        )
    seconds = round(time.perf_counter() - started, 3)
    logger.debug("analysis %s: %d rows in %.2f s", spec.name, len(rows), seconds)
    return AnalysisResult(spec=spec, columns=columns, rows=rows, seconds=seconds)


def _query_error(spec: AnalysisSpec, exc: psycopg2.Error) -> str:
    first_line = (str(exc).strip().splitlines() or ["no detail"])[0]
    hint = "fix analyses/{name}.sql (the compiled SQL is under dbt_project/target/compiled/)."
    if isinstance(exc, psycopg2.errors.UndefinedTable):
        hint = (
            "a mart or rpt_* model it reads is missing: build the warehouse first "
            "(`clickstream run`, or `dbt build` in dbt_project/)."
        )
    return f"Analysis {spec.name} failed: {first_line}. To fix: " + hint.format(name=spec.name)


def write_csv(result: AnalysisResult, path: Path) -> Path:
    """Write a result as CSV (header row, ISO dates, empty field = null)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows(_csv_row(row) for row in result.rows)
    result.csv_path = path
    return path


def _csv_row(row: Sequence[Any]) -> list[str]:
    return [_csv_value(value) for value in row]


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)
