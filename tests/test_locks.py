"""Concurrent runs wait for each other: dbt builds of one warehouse (an advisory lock, on a real
server) and stagings of one lake against each other and against loads (an flock)."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

import spark_staging.load as loader
import spark_staging.stage as staging
from clickstream import dbt
from clickstream.locks import (
    DBT_BUILD_LOCK_KEY,
    LAKE_LOCK_FILE,
    LOCK_NAMESPACE,
    lake_lock,
    warehouse_build_lock,
)
from generator import GeneratorConfig, generate
from tests.conftest import settings_under
from tests.lake_factory import make_event, stage_day
from tests.pg import scalar

WAIT_SECONDS = 20.0


@pytest.fixture
def holder(pg_dsn: str) -> Iterator[Any]:
    """A connection of another "process" that can take and release the build lock."""
    conn = psycopg2.connect(pg_dsn)
    conn.autocommit = True
    yield conn
    conn.close()


def _try_lock(dsn: str, shared: bool = False) -> bool:
    """Whether another session could take the build lock now (released again at once: the
    query's connection closes)."""
    function = "pg_try_advisory_lock_shared" if shared else "pg_try_advisory_lock"
    return bool(scalar(dsn, f"select {function}(%s, %s)", (LOCK_NAMESPACE, DBT_BUILD_LOCK_KEY)))


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


@pytest.mark.postgres
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


@pytest.mark.postgres
def test_analysis_runs_share_the_lock_and_a_build_waits_for_them(pg_dsn: str) -> None:
    built = threading.Event()

    def build() -> None:
        with warehouse_build_lock(pg_dsn):
            built.set()

    with warehouse_build_lock(pg_dsn, shared=True):
        assert _try_lock(pg_dsn, shared=True)  # another analysis run may read too
        assert not _try_lock(pg_dsn)  # a build may not
        thread = threading.Thread(target=build, daemon=True)
        thread.start()
        assert _eventually(lambda: _waiters(pg_dsn) == 1)
        assert not built.is_set()
    assert built.wait(WAIT_SECONDS)
    thread.join(WAIT_SECONDS)


@pytest.mark.postgres
def test_the_lock_is_reentrant_in_one_thread_and_released_after(pg_dsn: str) -> None:
    with warehouse_build_lock(pg_dsn):
        with warehouse_build_lock(pg_dsn):  # build_day around run_dbt: no self-deadlock
            assert not _try_lock(pg_dsn)
        assert not _try_lock(pg_dsn)  # the outer block still holds it
    assert _try_lock(pg_dsn)


@pytest.mark.postgres
def test_a_build_cannot_start_inside_a_shared_hold_of_its_own_thread(pg_dsn: str) -> None:
    # a shared hold cannot be upgraded in place: that build would run beside other readers
    with warehouse_build_lock(pg_dsn, shared=True):
        with (
            pytest.raises(RuntimeError, match="inside a shared hold"),
            warehouse_build_lock(pg_dsn),
        ):
            pass
        with warehouse_build_lock(pg_dsn, shared=True):  # another reader nests fine
            pass
    assert _try_lock(pg_dsn)


@pytest.mark.postgres
def test_a_failing_build_releases_the_lock(pg_dsn: str) -> None:
    with pytest.raises(RuntimeError), warehouse_build_lock(pg_dsn):
        raise RuntimeError("dbt failed")
    assert _try_lock(pg_dsn)


@pytest.mark.postgres
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


# --- the lake ---------------------------------------------------------------------------------


def _lake_free_for(lake_dir: Path, mode: int) -> bool:
    """Whether another run could take the lake's lock in ``mode`` now (released at once)."""
    fd = os.open(lake_dir / LAKE_LOCK_FILE, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_loads_share_the_lake_and_a_staging_waits_for_them(tmp_path: Path) -> None:
    entered = threading.Event()

    def staging_run() -> None:
        with lake_lock(tmp_path, exclusive=True):
            entered.set()

    with lake_lock(tmp_path, exclusive=False), lake_lock(tmp_path, exclusive=False):
        assert _lake_free_for(tmp_path, fcntl.LOCK_SH)  # a third load may read too
        thread = threading.Thread(target=staging_run, daemon=True)
        thread.start()
        assert not entered.wait(0.5)
    assert entered.wait(WAIT_SECONDS)
    thread.join(WAIT_SECONDS)
    assert _lake_free_for(tmp_path, fcntl.LOCK_EX)


def test_a_lake_without_a_lock_file_that_cannot_have_one_is_read_unlocked(
    tmp_path: Path,
) -> None:
    with lake_lock(tmp_path / "missing", exclusive=False):
        pass  # no folder: the load's own check says the day was not staged


@pytest.mark.postgres
def test_load_days_reads_the_lake_under_a_shared_lock(
    fresh_pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_under(tmp_path)
    day = dt.date(2024, 3, 1)
    stage_day(settings.lake_dir, day, [make_event("e1", day)])
    seen: list[tuple[bool, bool]] = []

    def probe(*_: Any, **__: Any) -> Any:
        lake = settings.lake_dir
        seen.append((_lake_free_for(lake, fcntl.LOCK_SH), _lake_free_for(lake, fcntl.LOCK_EX)))
        return None

    monkeypatch.setattr(loader, "load_day", probe)
    loader.load_days(fresh_pg_dsn, settings, [day])
    assert seen == [(True, False)]  # other loads may read, a staging may not write


def test_stage_days_rewrites_the_lake_under_an_exclusive_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_under(tmp_path)
    day = dt.date(2024, 3, 1)
    generate(
        GeneratorConfig(seed=3, events_per_day=50, start_date=day), day, 1, settings.landing_dir
    )
    seen: list[bool] = []

    def probe(*_: Any, **__: Any) -> list[Any]:
        seen.append(_lake_free_for(settings.lake_dir, fcntl.LOCK_SH))
        return []

    monkeypatch.setattr(staging, "_stage_run", probe)
    staging.stage_days(None, settings, [day])  # type: ignore[arg-type]  # _stage_run is fake
    assert seen == [False]  # not even a load may read meanwhile


@pytest.mark.postgres
def test_analyses_run_under_the_shared_lock(
    pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clickstream import analyze

    seen: list[tuple[bool, bool]] = []

    def probe(dsn: str, *_: Any, **__: Any) -> list[Any]:
        seen.append((_try_lock(dsn, shared=True), _try_lock(dsn)))
        return []

    monkeypatch.setattr(analyze, "compile_analyses", lambda *_: {})
    monkeypatch.setattr(analyze, "_execute_all", probe)
    analyze.run_analyses(pg_dsn, settings_under(tmp_path), progress=False)
    assert seen == [(True, False)]  # other readers yes, a build no
