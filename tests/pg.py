"""PostgreSQL helpers the tests share: one short connection per call, so a test's reads never
hold a lock or a snapshot across the builds and loads it checks."""

from __future__ import annotations

from typing import Any

import psycopg2

MARTS = (
    "fct_events",
    "fct_sessions",
    "fct_orders",
    "fct_daily_metrics",
    "dim_users",
    "dim_products",
    "dim_date",
    "dim_channel",
    "dim_device",
)
"""The star schema's tables in ``marts`` (the reporting tables aside)."""


def query(dsn: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement in its own committed transaction; its rows, if it returns any.

    Without params the SQL is sent as written (psycopg2 formats nothing), so ``%`` needs no
    doubling; a doubled ``%%`` in a LIKE pattern means the same as one.
    """
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params or None)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def scalar(dsn: str, sql: str, params: tuple[Any, ...] = ()) -> Any:
    """The first column of the first row (None without rows)."""
    rows = query(dsn, sql, params)
    return rows[0][0] if rows else None
