"""A day is replaced atomically: a killed load changes nothing a reader sees (its unattached
loading tables are dropped by the next load), concurrent loads serialise."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clickstream.config import PROJECT_ROOT, Settings
from spark_staging.load import LoadResult, _DayLoader, load_days
from tests.conftest import create_database, drop_database
from tests.lake_factory import make_event, make_quarantine, stage_day
from tests.test_load import query, raw_state

pytestmark = pytest.mark.postgres

D = dt.date(2024, 3, 10)
WAIT_SECONDS = 60

SLOW_LOAD_SCRIPT = textwrap.dedent(
    """
    import datetime as dt, pathlib, sys, time
    from clickstream.config import Settings
    from spark_staging import load

    dsn, lake_dir, marker, day, stall = sys.argv[1:6]

    def stall_here(what):
        pathlib.Path(marker).write_text(what)
        time.sleep(600)

    def stall_during_events_copy(table, rows):
        if stall == "copy" and table.startswith("events_p"):
            stall_here(table)

    def stall_before_primary_keys(loader, cur, built):
        stall_here("committed")

    if stall == "committed":
        load._DayLoader.add_primary_keys = stall_before_primary_keys
    load.load_days(dsn, Settings(lake_dir=pathlib.Path(lake_dir)), [dt.date.fromisoformat(day)],
                   batch_rows=2, progress=stall_during_events_copy)
    """
)
"""Runs a load that stalls, to be killed, while its COPY sessions send events ("copy") or
once they have committed every event into the loading tables ("committed"), before the day's
transaction builds their keys and swaps them in."""


def wait_for(condition: Any, what: str) -> None:
    """Poll ``condition`` until true; fail the test (not hang) after WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def other_backends(dsn: str) -> int:
    [(count,)] = query(
        dsn,
        "select count(*) from pg_stat_activity "
        "where datname = current_database() and pid <> pg_backend_pid()",
    )
    return int(count)


def events(prefix: str, n: int) -> list[dict[str, Any]]:
    return [make_event(f"{prefix}-{i:03d}", D - dt.timedelta(days=i % 2), D) for i in range(n)]


def loading_tables(dsn: str) -> list[tuple[Any, ...]]:
    return query(dsn, "select tablename from pg_tables where tablename like '%%loading' order by 1")


def active_event_copies(dsn: str) -> int:
    [(count,)] = query(
        dsn,
        "select count(*) from pg_stat_activity where datname = current_database() "
        "and query ilike 'copy %%events_p%%_loading%%' and state = 'active'",
    )
    return int(count)


def start_slow_load(
    dsn: str, settings: Settings, tmp_path: Path, stall: str
) -> tuple[subprocess.Popen[bytes], Path]:
    """Start SLOW_LOAD_SCRIPT; return the process and the file it writes once stalled."""
    script = tmp_path / "slow_load.py"
    script.write_text(SLOW_LOAD_SCRIPT)
    marker = tmp_path / "stalled"
    process = subprocess.Popen(
        [
            sys.executable,
            str(script),
            dsn,
            str(settings.lake_dir),
            str(marker),
            D.isoformat(),
            stall,
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    return process, marker


@pytest.mark.parametrize("stall", ["copy", "committed"])
def test_killed_load_leaves_previous_day_intact_and_rerun_completes(
    fresh_pg_dsn: str, tmp_settings: Settings, tmp_path: Path, stall: str
) -> None:
    """Killed while its sessions COPY, or after they committed the new day into the loading
    tables: readers still see the old day, and the next load drops the leftovers."""
    stage_day(tmp_settings.lake_dir, D, events("old", 10), quarantine=[make_quarantine(1)])
    load_days(fresh_pg_dsn, tmp_settings, [D])
    before = raw_state(fresh_pg_dsn)
    stage_day(tmp_settings.lake_dir, D, events("new", 20))

    process, marker = start_slow_load(fresh_pg_dsn, tmp_settings, tmp_path, stall)
    try:
        wait_for(marker.exists, f"the load to stall ({stall})")
        if stall == "copy":
            wait_for(
                lambda: active_event_copies(fresh_pg_dsn) == Settings().copy_sessions,
                "every COPY session to be sending events",
            )
        else:
            assert active_event_copies(fresh_pg_dsn) == 0
            [(rows,)] = query(fresh_pg_dsn, "select count(*) from raw.events_p20240310_loading")
            assert rows == 10, "the sessions committed the new events before the swap"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(WAIT_SECONDS)
    wait_for(lambda: other_backends(fresh_pg_dsn) == 0, "PostgreSQL to abort the killed load")

    assert raw_state(fresh_pg_dsn) == before, "the old day, and only it, is still attached"
    if stall == "committed":
        assert loading_tables(fresh_pg_dsn) == [
            ("events_p20240309_loading",),
            ("events_p20240310_loading",),
        ], "committed loading tables are left behind, unattached"
    [result] = load_days(fresh_pg_dsn, tmp_settings, [D])
    assert result.loaded_rows == 20
    after = raw_state(fresh_pg_dsn)
    assert [row[0] for row in after["events"]] == [f"new-{i:03d}" for i in range(20)]
    assert after["quarantine"] == []
    assert loading_tables(fresh_pg_dsn) == [], "the rerun dropped the killed load's leftovers"


@pytest.fixture()
def reference_dsn() -> Iterator[str]:
    """A second empty database, for the state one plain load produces."""
    name = f"clickstream_ref_{uuid.uuid4().hex[:10]}"
    yield create_database(name)
    drop_database(name)


@pytest.mark.parametrize("hold", ["copy", "swap"])
def test_concurrent_loads_of_the_same_day_serialise_and_end_like_one_load(
    fresh_pg_dsn: str,
    reference_dsn: str,
    tmp_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    hold: str,
) -> None:
    """The first load is held while it COPYs, or once its loading tables are full; the second
    must wait on the advisory locks, not drop or refill those tables under it."""
    stage_day(tmp_settings.lake_dir, D, events("e", 30), quarantine=[make_quarantine(4)])
    load_days(reference_dsn, tmp_settings, [D])
    single_load = raw_state(reference_dsn)
    first_held = threading.Event()
    release_first = threading.Event()
    results: dict[str, LoadResult] = {}
    errors: list[BaseException] = []

    def hold_first() -> None:
        if not first_held.is_set():
            first_held.set()
            release_first.wait(WAIT_SECONDS)

    def hold_during_copy(table: str, rows: int) -> None:
        if hold == "copy" and table.startswith("events_p"):
            hold_first()

    swap = _DayLoader.swap_partitions

    def hold_before_swap(loader: _DayLoader, cur: Any, built: Any) -> None:
        if hold == "swap":
            hold_first()
        swap(loader, cur, built)

    monkeypatch.setattr(_DayLoader, "swap_partitions", hold_before_swap)

    def run(name: str, **kwargs: Any) -> None:
        try:
            [results[name]] = load_days(fresh_pg_dsn, tmp_settings, [D], **kwargs)
        except BaseException as exc:  # surfaced by the main thread
            errors.append(exc)

    first = threading.Thread(
        target=run, args=("first",), kwargs={"batch_rows": 5, "progress": hold_during_copy}
    )
    second = threading.Thread(target=run, args=("second",))
    first.start()
    try:
        wait_for(first_held.is_set, f"the first load to be held ({hold})")
        second.start()
        wait_for(
            lambda: (
                query(
                    fresh_pg_dsn,
                    "select count(*) from pg_stat_activity where datname = current_database() "
                    "and wait_event_type = 'Lock' and wait_event = 'advisory'",
                )
                == [(1,)]
            ),
            "the second load to wait on the first one's advisory lock",
        )
    finally:
        release_first.set()
        first.join(WAIT_SECONDS)
        if second.ident is not None:
            second.join(WAIT_SECONDS)

    assert errors == []
    assert results["first"].loaded_rows == results["second"].loaded_rows == 30
    assert raw_state(fresh_pg_dsn) == single_load
