"""The record of the loads builds covered: what is pending, and when a build may record it."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from typing import Any

import pytest

from clickstream import dbt
from clickstream.built_loads import (
    BUILT_LOADS_TABLE,
    AuditedLoad,
    PendingLoads,
    pending_loads,
    record_built,
)
from clickstream.db import connection
from spark_staging import ddl
from tests.pg import scalar

pytestmark = pytest.mark.postgres

DAY = dt.date(2024, 3, 1)
LOADED_AT = dt.datetime(2024, 3, 2, 1, 0, tzinfo=dt.UTC)


def audit(dsn: str, day: dt.date, finished_at: dt.datetime) -> None:
    """Write ``raw.load_audit``'s row for ``day`` as a load (or reload) of it does."""
    with connection(dsn) as conn, conn.cursor() as cur:
        ddl.ensure_raw_schema(cur)
        cur.execute(
            "insert into raw.load_audit (batch_id, arrival_date, input_rows, accepted, "
            "quarantined, quarantined_by_reason, duplicates_exact, duplicates_payload, "
            "loaded_rows, started_at, finished_at, seconds) "
            "values (%s, %s, 1, 1, 0, '{}', 0, 0, 1, %s, %s, 0.1) "
            "on conflict (batch_id) do update set finished_at = excluded.finished_at",
            (f"events-{day}", day, finished_at, finished_at),
        )


def days(n: int) -> list[dt.date]:
    return [DAY + dt.timedelta(days=i) for i in range(n)]


@pytest.fixture
def warehouse_dsn(fresh_pg_dsn: str) -> str:
    """An empty database with the ``staging`` schema dbt creates on its first build."""
    with connection(fresh_pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("create schema staging")
    return fresh_pg_dsn


def loaded(dsn: str, count: int) -> str:
    """``dsn`` after loads of the first ``count`` days (their audit rows)."""
    for day in days(count):
        audit(dsn, day, LOADED_AT)
    return dsn


def test_a_warehouse_without_loads_has_nothing_pending(fresh_pg_dsn: str) -> None:
    assert pending_loads(fresh_pg_dsn) == PendingLoads((), ())
    record_built(fresh_pg_dsn, [])  # nothing to record: no table is created either
    assert scalar(fresh_pg_dsn, "select to_regclass(%s)", (".".join(BUILT_LOADS_TABLE),)) is None


def test_every_load_is_pending_until_a_build_records_it(fresh_pg_dsn: str) -> None:
    loads = pending_loads(loaded(fresh_pg_dsn, 3))
    assert loads.pending == tuple(days(3))
    assert loads.audited == tuple(AuditedLoad(day, LOADED_AT) for day in days(3))

    with connection(fresh_pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("create schema staging")
    record_built(fresh_pg_dsn, loads.audited)
    assert pending_loads(fresh_pg_dsn).pending == ()
    assert "clickstream.built_loads" in scalar(
        fresh_pg_dsn,
        "select obj_description(%s::regclass, 'pg_class')",
        (".".join(BUILT_LOADS_TABLE),),
    )


def test_a_reload_or_a_new_day_is_pending_again(warehouse_dsn: str) -> None:
    record_built(warehouse_dsn, pending_loads(loaded(warehouse_dsn, 3)).audited)

    audit(warehouse_dsn, days(3)[1], LOADED_AT + dt.timedelta(hours=5))  # day 2 reloaded
    audit(warehouse_dsn, days(4)[3], LOADED_AT + dt.timedelta(hours=5))  # day 4 loaded
    assert pending_loads(warehouse_dsn).pending == (days(4)[1], days(4)[3])


def test_a_load_stamped_earlier_than_the_last_build_is_still_pending(warehouse_dsn: str) -> None:
    """No high-water mark: a loader whose clock lags, or a load that committed while a build
    ran, is told apart by its own audit row, not by its time."""
    audit(warehouse_dsn, days(2)[1], LOADED_AT)
    seen_by_build = pending_loads(warehouse_dsn)
    audit(warehouse_dsn, days(2)[0], LOADED_AT - dt.timedelta(days=1))  # commits during the build
    record_built(warehouse_dsn, seen_by_build.audited)
    assert pending_loads(warehouse_dsn).pending == (days(2)[0],)


def _fake_dbt(monkeypatch: pytest.MonkeyPatch, status: str) -> list[dict[str, Any]]:
    """Replace dbt itself: record each build's window, report every node as ``status``."""
    windows: list[dict[str, Any]] = []

    def run_dbt(dsn: str, args: list[str], *rest: object, **kwargs: object) -> dbt.DbtResult:
        windows.append(json.loads(args[args.index("--vars") + 1]))
        node = dbt.NodeResult("fct_events", "model", status, 0.1)
        return dbt.DbtResult(args=tuple(args), seconds=0.1, nodes=(node,))

    monkeypatch.setattr(dbt, "run_dbt", run_dbt)
    monkeypatch.setattr(dbt, "warehouse_build_lock", lambda dsn: contextlib.nullcontext())
    return windows


def test_build_day_covers_the_pending_days_and_records_them_only_on_success(
    warehouse_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dsn = loaded(warehouse_dsn, 6)
    windows = _fake_dbt(monkeypatch, "error")
    dbt.build_day(dsn, days(6)[-1], 3, check=False)
    assert (windows[-1]["window_start"], windows[-1]["window_end"]) == ("2024-02-27", "2024-03-08")
    assert pending_loads(dsn).pending == tuple(days(6))  # a failed build covers nothing

    windows = _fake_dbt(monkeypatch, "success")
    dbt.build_day(dsn, days(6)[-1], 3)
    assert windows[-1]["window_start"] == "2024-02-27"
    assert pending_loads(dsn).pending == ()

    dbt.build_day(dsn, days(6)[-1], 3)  # nothing new: the day's own window again
    assert (windows[-1]["window_start"], windows[-1]["window_end"]) == ("2024-03-03", "2024-03-08")


def test_a_full_refresh_keeps_the_days_window_and_records_every_load(
    warehouse_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full refresh rebuilds everything: stretching its window over the pending days would
    only date the identity map's settled state back (the next daily build regrouping the
    history since then)."""
    dsn = loaded(warehouse_dsn, 6)
    windows = _fake_dbt(monkeypatch, "success")
    dbt.build_day(dsn, days(6)[-1], 3, full_refresh=True)
    assert (windows[-1]["window_start"], windows[-1]["window_end"]) == ("2024-03-03", "2024-03-08")
    assert pending_loads(dsn).pending == ()
