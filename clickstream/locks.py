"""PostgreSQL advisory locks that keep concurrent runs of the pipeline out of each other's way.

Every lock of this project is a two-key ``pg_advisory_lock(LOCK_NAMESPACE, key)``: the loader
takes one per event date (the date's ordinal) and one for creating the schema; a dbt build that
writes the warehouse takes :data:`DBT_BUILD_LOCK_KEY`. Session-level locks are released when
their connection ends, so a killed process never leaves one behind.

Why a dbt build needs one: two builds of one warehouse at once (an overlapping cron run, a
``clickstream transform`` beside a ``clickstream run``) replace the same tables, and PostgreSQL
resolved the measured case by killing one of them mid-build ("deadlock detected" in
``int_identity__stitched``). With the lock the second build waits, then runs on what the first
one left.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from clickstream.db import connect, redact_dsn

logger = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x636C6B  # "clk": first key of every advisory lock this project takes
SCHEMA_LOCK_KEY = 0
"""Second key of the lock serialising ``create ... if not exists`` (not concurrency-safe)."""
DBT_BUILD_LOCK_KEY = -1
"""Second key of the lock serialising dbt builds of one warehouse (dates' ordinals are > 0)."""

_held: dict[tuple[str, int], int] = {}
"""Builds in progress in this process: (dsn, thread) -> nesting depth."""
_held_guard = threading.Lock()


@contextmanager
def warehouse_build_lock(dsn: str) -> Iterator[None]:
    """Hold the warehouse's dbt build lock for the block; wait (and say so) while another
    process holds it.

    Re-entrant within a thread (``build_day`` holds it around ``run_dbt``, which takes it
    too), so a nested use costs nothing and cannot wait on itself; another thread waits like
    another process.
    """
    key = (dsn, threading.get_ident())
    with _held_guard:
        nested = key in _held
        if nested:
            _held[key] += 1
    if nested:
        try:
            yield
        finally:
            with _held_guard:
                _held[key] -= 1
        return

    conn = connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("select pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, DBT_BUILD_LOCK_KEY))
            if not cur.fetchone()[0]:
                logger.info(
                    "another dbt build of %s is running: waiting for it to finish",
                    redact_dsn(dsn),
                )
                cur.execute("select pg_advisory_lock(%s, %s)", (LOCK_NAMESPACE, DBT_BUILD_LOCK_KEY))
        with _held_guard:
            _held[key] = 1
        try:
            yield
        finally:
            with _held_guard:
                _held.pop(key, None)
    finally:
        conn.close()  # ends the session, which releases its advisory locks
