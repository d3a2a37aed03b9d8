"""Which loads the warehouse's models were built from, so that every build covers all loads since.

A daily build rebuilds the incremental facts over one window of event dates, ``[D-L, D+2)``
for arrival day D. That covers the load of D, but not a load the window does not reach: days
loaded together and built once (``clickstream load --from 3 --to 8`` then ``clickstream
transform``), or an old day re-staged and reloaded after later days were built. Their events
stayed in ``raw`` and never reached the facts, and the window-scoped tests did not see them.

So a build first compares ``raw.load_audit`` (one row per loaded arrival day, replaced by
every reload) with the loads the last successful builds covered, kept in
:data:`BUILT_LOADS_TABLE`: an arrival day whose audit row is new or changed since is still
pending, and the build's window stretches to cover every pending day. A load is identified by
its audit row's ``finished_at``, which every reload rewrites; comparing values rather than a
single high-water timestamp means that a load committing while a build runs, or one stamped by
a machine whose clock lags, is still pending for the next build. Only a build without failures
records what it covered (the audit rows as read at its start), so a failed build's loads stay
pending. A warehouse without the table (the first build, or one from before it existed) takes
every load as pending: one wide, correct build.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from psycopg2 import sql

from clickstream.db import connection

BUILT_LOADS_TABLE = ("staging", "clickstream_built_loads")
"""Schema and name of the record (the dbt-owned ``staging`` schema, which ``raw``'s loader
cannot write and dbt never drops)."""


@dataclass(frozen=True)
class AuditedLoad:
    """One ``raw.load_audit`` row as a build saw it: the arrival day and when its load ended."""

    arrival_date: dt.date
    finished_at: dt.datetime


@dataclass(frozen=True)
class PendingLoads:
    """What a build must cover: every audited load, and those no successful build covered."""

    audited: tuple[AuditedLoad, ...]
    pending: tuple[dt.date, ...]
    """Arrival days, ascending, whose current load no successful build covered."""


_TABLE_COMMENT = (
    "The raw.load_audit rows (arrival day, finished_at) that successful clickstream builds "
    "covered; a build also rebuilds every load not listed here (clickstream.built_loads)."
)


def _table() -> sql.Composable:
    return sql.Identifier(*BUILT_LOADS_TABLE)


def pending_loads(dsn: str) -> PendingLoads:
    """The loads in ``raw.load_audit`` and which of them are still pending (see the module)."""
    with connection(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "select to_regclass('raw.load_audit') is not null, to_regclass(%s) is not null",
            (".".join(BUILT_LOADS_TABLE),),
        )
        row = cur.fetchone()
        has_audit, has_record = bool(row and row[0]), bool(row and row[1])
        if not has_audit:
            return PendingLoads((), ())
        cur.execute("select arrival_date, finished_at from raw.load_audit order by arrival_date")
        audited = tuple(AuditedLoad(day, finished) for day, finished in cur.fetchall())
        built: dict[dt.date, dt.datetime] = {}
        if has_record:
            cur.execute(sql.SQL("select arrival_date, load_finished_at from {}").format(_table()))
            built = dict(cur.fetchall())
    pending = tuple(
        load.arrival_date for load in audited if built.get(load.arrival_date) != load.finished_at
    )
    return PendingLoads(audited, pending)


def record_built(dsn: str, audited: Sequence[AuditedLoad]) -> None:
    """Record that a build without failures covered ``audited`` (as read at its start)."""
    if not audited:
        return
    with connection(dsn) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass(%s) is null", (".".join(BUILT_LOADS_TABLE),))
        row = cur.fetchone()
        if row and row[0]:
            cur.execute(
                sql.SQL(
                    "create table {table} (arrival_date date primary key, "
                    "load_finished_at timestamptz not null, "
                    "built_at timestamptz not null default now())"
                ).format(table=_table())
            )
            cur.execute(
                sql.SQL("comment on table {table} is %s").format(table=_table()),
                (_TABLE_COMMENT,),
            )
        cur.executemany(
            sql.SQL(
                "insert into {table} (arrival_date, load_finished_at) values (%s, %s) "
                "on conflict (arrival_date) do update set "
                "load_finished_at = excluded.load_finished_at, built_at = now()"
            ).format(table=_table()),
            [(load.arrival_date, load.finished_at) for load in audited],
        )
