"""The benchmark's database helpers on the real test server: throwaway databases and the
snapshot that lets a repeated daily build start from the same state every time."""

from __future__ import annotations

from urllib.parse import urlsplit

import psycopg2
import pytest

from clickstream.bench_env import database_snapshot, throwaway_database
from clickstream.bench_scenarios import daily_and_full_builds
from tests.conftest import ADMIN_DSN

pytestmark = pytest.mark.postgres


def _execute(dsn: str, statement: str) -> list[tuple]:
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(statement)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def _database_exists(name: str) -> bool:
    conn = psycopg2.connect(ADMIN_DSN)
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (name,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def test_a_snapshot_restores_the_state_it_was_taken_in_and_is_dropped_afterwards():
    with throwaway_database(ADMIN_DSN, "snapshot") as dsn:
        name = urlsplit(dsn).path.lstrip("/")
        _execute(dsn, "create table marker (x int); insert into marker values (1)")
        with database_snapshot(ADMIN_DSN, dsn) as restore:
            assert _database_exists(f"{name}_snapshot")
            _execute(dsn, "insert into marker values (2)")
            idle = psycopg2.connect(dsn)  # a session left open, as a finished run may leave
            try:
                restore()
            finally:
                idle.close()
            assert _execute(dsn, "select x from marker order by x") == [(1,)]
            _execute(dsn, "delete from marker")
            restore()
            assert _execute(dsn, "select x from marker order by x") == [(1,)]
        assert not _database_exists(f"{name}_snapshot")
        assert _execute(dsn, "select x from marker order by x") == [(1,)]
    assert not _database_exists(name)


def test_every_repeated_daily_build_starts_from_the_state_the_load_left():
    # stand-ins for the builds: the daily one reads what it finds and adds a row, the full
    # refresh adds another; each daily build must find only the loaded row
    with throwaway_database(ADMIN_DSN, "repeats") as dsn:
        _execute(dsn, "create table events (kind text); insert into events values ('loaded')")

        def build(full_refresh: bool) -> list[str]:
            found = [kind for (kind,) in _execute(dsn, "select kind from events order by kind")]
            kind = "full refresh" if full_refresh else "daily"
            _execute(dsn, f"insert into events values ('{kind}')")
            return found

        pairs = daily_and_full_builds(ADMIN_DSN, dsn, 3, build)

        assert [daily for daily, _ in pairs] == [["loaded"]] * 3
        assert [full for _, full in pairs] == [["daily", "loaded"]] * 3
        # the last repeat's full refresh is what the benchmark goes on from
        assert _execute(dsn, "select count(*) from events") == [(3,)]


def test_a_single_repeat_builds_in_place_without_a_snapshot(monkeypatch):
    def no_snapshot(*_args: object) -> None:
        raise AssertionError("one repeat needs no snapshot")

    monkeypatch.setattr("clickstream.bench_scenarios.database_snapshot", no_snapshot)
    calls: list[bool | str] = []
    monkeypatch.setattr("clickstream.bench_scenarios.settle_io", lambda: calls.append("sync"))
    pairs = daily_and_full_builds(ADMIN_DSN, "postgresql:///unused", 1, calls.append)
    # each build starts once the page cache was written out
    assert calls == ["sync", False, "sync", True] and len(pairs) == 1
