"""dbt builds of one warehouse run one at a time: the advisory build lock, on a real server."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from clickstream import dbt
from clickstream.locks import DBT_BUILD_LOCK_KEY, LOCK_NAMESPACE, warehouse_build_lock
from tests.pg import scalar

pytestmark = pytest.mark.postgres

WAIT_SECONDS = 20.0


@pytest.fixture
def holder(pg_dsn: str) -> Iterator[Any]:
    """A connection of another "process" that can take and release the build lock."""
    conn = psycopg2.connect(pg_dsn)
    conn.autocommit = True
    yield conn
    conn.close()


def _try_lock(dsn: str) -> bool:
    """Whether another session could take the build lock now (released again at once)."""
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute("select pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, DBT_BUILD_LOCK_KEY))
            return bool(cur.fetchone()[0])
    finally:
        conn.close()


def _waiters(dsn: str) -> int:
    """Sessions waiting for the build lock (pg_locks shows a two-key lock's keys as oids)."""
    return int(
        scalar(
            dsn,
            "select count(*) from pg_locks where locktype = 'advisory' and not granted "
            f"and classid = {LOCK_NAMESPACE} and objid = {DBT_BUILD_LOCK_KEY & 0xFFFFFFFF} "
            "and objsubid = 2",
        )
    )


def _eventually(condition: Any) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_second_build_waits_for_the_first_and_then_runs(pg_dsn: str, holder: Any) -> None:
    with holder.cursor() as cur:
        cur.execute("select pg_advisory_lock(%s, %s)", (LOCK_NAMESPACE, DBT_BUILD_LOCK_KEY))
    entered = threading.Event()

    def second_build() -> None:
        with warehouse_build_lock(pg_dsn):
            entered.set()

    thread = threading.Thread(target=second_build, daemon=True)
    thread.start()
    assert _eventually(lambda: _waiters(pg_dsn) == 1)  # blocked on the server, not failed
    assert not entered.is_set()
    with holder.cursor() as cur:
        cur.execute("select pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, DBT_BUILD_LOCK_KEY))
    assert entered.wait(WAIT_SECONDS)
    thread.join(WAIT_SECONDS)
    assert _try_lock(pg_dsn)  # released when the block ended


def test_the_lock_is_reentrant_in_one_thread_and_released_after(pg_dsn: str) -> None:
    with warehouse_build_lock(pg_dsn):
        with warehouse_build_lock(pg_dsn):  # build_day around run_dbt: no self-deadlock
            assert not _try_lock(pg_dsn)
        assert not _try_lock(pg_dsn)  # the outer block still holds it
    assert _try_lock(pg_dsn)


def test_a_failing_build_releases_the_lock(pg_dsn: str) -> None:
    with pytest.raises(RuntimeError), warehouse_build_lock(pg_dsn):
        raise RuntimeError("dbt failed")
    assert _try_lock(pg_dsn)


def test_build_day_runs_dbt_under_the_lock(
    fresh_pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    held_during_build: list[bool] = []

    def fake_run_dbt(dsn: str, args: list[str], *_: Any, **__: Any) -> dbt.DbtResult:
        held_during_build.append(not _try_lock(dsn))
        return dbt.DbtResult(args=tuple(args), seconds=0.0)

    monkeypatch.setattr(dbt, "run_dbt", fake_run_dbt)
    dbt.build_day(fresh_pg_dsn, dt.date(2024, 3, 1), 3, target_path=tmp_path)
    assert held_during_build == [True]
    assert _try_lock(fresh_pg_dsn)
