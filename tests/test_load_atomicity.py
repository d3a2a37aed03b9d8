"""A day is replaced atomically: a killed load changes nothing, concurrent loads serialise."""

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
from spark_staging.load import LoadResult, load_days
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
    from spark_staging.load import load_days

    dsn, lake_dir, marker, day = sys.argv[1:5]

    def stall_during_events_copy(table, rows):
        if table.startswith("events_p"):
            pathlib.Path(marker).write_text(table)
            time.sleep(600)

    load_days(dsn, Settings(lake_dir=pathlib.Path(lake_dir)), [dt.date.fromisoformat(day)],
              batch_rows=2, progress=stall_during_events_copy)
    """
)


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


def test_load_killed_during_copy_leaves_previous_day_intact_and_rerun_completes(
    fresh_pg_dsn: str, tmp_settings: Settings, tmp_path: Path
) -> None:
    stage_day(tmp_settings.lake_dir, D, events("old", 10), quarantine=[make_quarantine(1)])
    load_days(fresh_pg_dsn, tmp_settings, [D])
    before = raw_state(fresh_pg_dsn)
    stage_day(tmp_settings.lake_dir, D, events("new", 20))
    script = tmp_path / "slow_load.py"
    script.write_text(SLOW_LOAD_SCRIPT)
    marker = tmp_path / "copying"

    process = subprocess.Popen(
        [
            sys.executable,
            str(script),
            fresh_pg_dsn,
            str(tmp_settings.lake_dir),
            str(marker),
            D.isoformat(),
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    try:
        wait_for(marker.exists, "the load to start copying events")
        assert query(
            fresh_pg_dsn,
            "select count(*) from pg_stat_activity where query ilike "
            "'copy %%events_p%%_loading%%' and state = 'active'",
        ) == [(1,)]
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(WAIT_SECONDS)
    wait_for(lambda: other_backends(fresh_pg_dsn) == 0, "PostgreSQL to abort the killed load")

    assert raw_state(fresh_pg_dsn) == before
    assert query(
        fresh_pg_dsn, "select count(*) from pg_tables where tablename like '%%loading'"
    ) == [(0,)]
    [result] = load_days(fresh_pg_dsn, tmp_settings, [D])
    assert result.loaded_rows == 20
    after = raw_state(fresh_pg_dsn)
    assert [row[0] for row in after["events"]] == [f"new-{i:03d}" for i in range(20)]
    assert after["quarantine"] == []


@pytest.fixture()
def reference_dsn() -> Iterator[str]:
    """A second empty database, for the state one plain load produces."""
    name = f"clickstream_ref_{uuid.uuid4().hex[:10]}"
    yield create_database(name)
    drop_database(name)


def test_concurrent_loads_of_the_same_day_serialise_and_end_like_one_load(
    fresh_pg_dsn: str, reference_dsn: str, tmp_settings: Settings
) -> None:
    stage_day(tmp_settings.lake_dir, D, events("e", 30), quarantine=[make_quarantine(4)])
    load_days(reference_dsn, tmp_settings, [D])
    single_load = raw_state(reference_dsn)
    first_copying = threading.Event()
    release_first = threading.Event()
    results: dict[str, LoadResult] = {}
    errors: list[BaseException] = []

    def hold_during_copy(table: str, rows: int) -> None:
        if not first_copying.is_set():
            first_copying.set()
            release_first.wait(WAIT_SECONDS)

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
        wait_for(first_copying.is_set, "the first load to start copying")
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
