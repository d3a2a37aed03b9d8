"""Locks that keep concurrent runs of the pipeline out of each other's way.

In the warehouse, every lock of this project is a two-key ``pg_advisory_lock(LOCK_NAMESPACE,
key)``: the loader takes one per event date (the date's ordinal) and one for creating the
schema; a dbt build that writes the warehouse takes :data:`DBT_BUILD_LOCK_KEY`. Session-level
locks are released when their connection ends, so a killed process never leaves one behind.

Why a dbt build needs one: two builds of one warehouse at once (an overlapping cron run, a
``clickstream transform`` beside a ``clickstream run``) replace the same tables, and PostgreSQL
resolved the measured case by killing one of them mid-build ("deadlock detected" in
``int_identity__stitched``). With the lock the second build waits, then runs on what the first
one left.

In the lake, :func:`lake_lock` is an ``flock`` on one file: staging rewrites partitions (and
reads the days before for its lookback) under an exclusive lock, loads read them under a shared
one. Two stagings of one lake at once (an overlapping cron run) would each read the other's
half-replaced lookback days, and a load beside a staging could read a day mid-swap. The kernel
drops an ``flock`` with its process, so a killed run never leaves one behind either.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from clickstream.db import connect, redact_dsn

logger = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x636C6B  # "clk": first key of every advisory lock this project takes
SCHEMA_LOCK_KEY = 0
"""Second key of the lock serialising ``create ... if not exists`` (not concurrency-safe)."""
DBT_BUILD_LOCK_KEY = -1
"""Second key of the lock serialising dbt builds of one warehouse (dates' ordinals are > 0)."""

_held: dict[tuple[str, int], tuple[bool, int]] = {}
"""Holds in this process: (dsn, thread) -> (shared, nesting depth)."""
_held_guard = threading.Lock()


@contextmanager
def warehouse_build_lock(dsn: str, *, shared: bool = False) -> Iterator[None]:
    """Hold the warehouse's dbt build lock for the block; wait (and say so) while another
    process holds it in a conflicting mode.

    A build holds it exclusively; ``shared`` is for readers that need one finished build
    throughout (the analyses: a dashboard whose queries straddle a build would mix marts of
    two days, and a query meeting dbt's table swap fails on the dropped relation).

    Re-entrant within a thread (``build_day`` holds it around ``run_dbt``, which takes it
    too), so a nested use costs nothing and cannot wait on itself; another thread waits like
    another process.
    """
    key = (dsn, threading.get_ident())
    with _held_guard:
        held = _held.get(key)
        if held is not None:
            held_shared, depth = held
            if held_shared and not shared:
                raise RuntimeError("a build cannot start inside a shared hold of its lock")
            _held[key] = (held_shared, depth + 1)
    if held is not None:
        try:
            yield
        finally:
            with _held_guard:
                held_shared, depth = _held[key]
                _held[key] = (held_shared, depth - 1)
        return

    conn = connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            suffix = "_shared" if shared else ""
            keys = (LOCK_NAMESPACE, DBT_BUILD_LOCK_KEY)
            cur.execute(f"select pg_try_advisory_lock{suffix}(%s, %s)", keys)
            if not cur.fetchone()[0]:
                logger.info(
                    "%s %s is running: waiting for it to finish",
                    "a dbt build of" if shared else "another dbt build or analysis run of",
                    redact_dsn(dsn),
                )
                cur.execute(f"select pg_advisory_lock{suffix}(%s, %s)", keys)
        with _held_guard:
            _held[key] = (shared, 1)
        try:
            yield
        finally:
            with _held_guard:
                _held.pop(key, None)
    finally:
        conn.close()  # ends the session, which releases its advisory locks


LAKE_LOCK_FILE = ".clickstream.lock"
"""The lock file in the lake folder (a dot file: Spark, Arrow and DuckDB readers skip it)."""


@contextmanager
def lake_lock(lake_dir: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold the lake's lock for the block: ``exclusive`` to stage, shared to load.

    Waits, and says so, while a conflicting holder runs. A lake the caller cannot create the
    lock file in (a read-only copy a load only reads) is read without a lock: nothing can be
    staging into it through this project.
    """
    fd = _open_lock_file(Path(lake_dir) / LAKE_LOCK_FILE)
    if fd is None:
        logger.debug("lake %s: no lock file and none can be made; reading unlocked", lake_dir)
        yield
        return
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    try:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info(
                "the lake %s is being %s by another run: waiting for it to finish",
                lake_dir,
                "read or staged" if exclusive else "staged",
            )
            fcntl.flock(fd, mode)
        yield
    finally:
        os.close(fd)  # closing the only descriptor releases the flock


def _open_lock_file(path: Path) -> int | None:
    """A descriptor of the lock file, created if need be; None if it can be neither opened nor
    created (a read-only lake without one, or no lake folder yet)."""
    for flags in (os.O_RDWR | os.O_CREAT, os.O_RDONLY):
        try:
            return os.open(path, flags, 0o666)
        except OSError:
            continue
    return None
