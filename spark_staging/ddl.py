"""DDL for PostgreSQL's ``raw`` schema: the loader's landing zone and dbt's sources.

Column lists live here once; the loader derives its COPY column order from them and tests
compare them with the lake schema, so the three can't drift apart.
"""

from __future__ import annotations

import datetime as dt

from psycopg2 import extensions as pg
from psycopg2 import sql

from clickstream.config import validate_identifier

RAW_SCHEMA = "raw"

ID_TEXT = 'text collate "C"'
"""The type of the identifier columns of ``raw.events``: text compared byte by byte.

Ids are opaque, so the C collation orders them exactly as well as a linguistic one, and sorts
on them (the primary key build, grouping by event, session and device, uniqueness tests) use
abbreviated keys instead of the locale's comparison function. Measured on a C.UTF-8 database,
30 days x 20K events, interleaved builds on copies of one database: a full dbt build 33.2 ->
28.2 s, the daily one 10.6 -> 10.1 s (medians of 2 and 3); the key of 1M random ids builds in
1.6-1.7 s instead of 2.0-2.6 s. Equality is the same in every deterministic collation, and a
C column meets a default-collation one (the marts' tables) without a collation conflict.
"""

EVENT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", f"{ID_TEXT} not null"),
    ("event_name", "text not null"),
    ("anonymous_id", f"{ID_TEXT} not null"),
    ("user_id", ID_TEXT),
    ("dvce_created_ts", "timestamptz"),
    ("dvce_sent_ts", "timestamptz"),
    ("collector_ts", "timestamptz not null"),
    ("derived_ts", "timestamptz not null"),
    ("page_url", "text"),
    ("page_path", "text"),
    ("page_referrer", "text"),
    ("utm_source", "text"),
    ("utm_medium", "text"),
    ("utm_campaign", "text"),
    ("refr_medium", "text"),
    ("useragent", "text"),
    ("device_type", "text"),
    ("geo_country", "text"),
    ("ip", "text"),
    ("product_id", ID_TEXT),
    ("price", "numeric(12, 2)"),
    ("quantity", "integer"),
    ("order_id", ID_TEXT),
    ("revenue", "numeric(14, 2)"),
    ("currency", "text"),
    ("search_query", "text"),
    ("source_session_id", ID_TEXT),
    ("is_bot", "boolean not null"),
    ("session_id", f"{ID_TEXT} not null"),
    ("session_start_ts", "timestamptz not null"),
    ("session_event_seq", "integer not null"),
    ("arrival_date", "date not null"),
    ("event_date", "date not null"),
)
"""Typed columns of ``raw.events``, in the lake's order (plus ``_loaded_at``)."""

QUARANTINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("arrival_date", "date not null"),
    ("source_file", "text not null"),
    ("line_number", "bigint not null"),
    ("reason", "text not null"),
    ("detail", "text"),
    ("event_id", "text"),
    ("raw_line", "text"),
)

USER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("user_id", "text not null"),
    ("email", "text"),
    ("first_name", "text"),
    ("last_name", "text"),
    ("city", "text"),
    ("country", "text"),
    ("loyalty_tier", "text"),
    ("marketing_opt_in", "boolean"),
    ("created_at", "timestamp"),
    ("updated_at", "timestamp not null"),
    ("extract_date", "date not null"),
)

PRODUCT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("product_id", "text not null"),
    ("product_name", "text"),
    ("category_l1", "text"),
    ("category_l2", "text"),
    ("category_l3", "text"),
    ("brand", "text"),
    ("price", "numeric(12, 2)"),
    ("currency", "text"),
    ("is_discontinued", "boolean"),
    ("created_at", "timestamp"),
    ("updated_at", "timestamp not null"),
    ("extract_date", "date not null"),
)

LOAD_AUDIT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("batch_id", "text not null"),
    ("arrival_date", "date not null"),
    ("input_rows", "bigint not null"),
    ("accepted", "bigint not null"),
    ("quarantined", "bigint not null"),
    ("quarantined_by_reason", "jsonb not null"),
    ("duplicates_exact", "bigint not null"),
    ("duplicates_payload", "bigint not null"),
    ("loaded_rows", "bigint not null"),
    ("events_checksum", "text"),
    ("started_at", "timestamptz not null"),
    ("finished_at", "timestamptz not null"),
    ("seconds", "double precision not null"),
)


def column_names(columns: tuple[tuple[str, str], ...]) -> list[str]:
    """Names only, in table order (the COPY column list)."""
    return [name for name, _ in columns]


def _column_sql(columns: tuple[tuple[str, str], ...]) -> str:
    return ",\n    ".join(f"{name} {sql_type}" for name, sql_type in columns)


LOADED_AT_COLUMN = "_loaded_at timestamptz not null default now()"
"""Set by PostgreSQL when a row is written: lets dbt pick up what a load changed."""

EVENTS_PRIMARY_KEY = ("event_id", "event_date")
"""The primary key of ``raw.events`` as this version creates it.

A partitioned table's key must contain the partition key; event_id alone is unique by staging.
The id comes first because each load builds the key of a whole day after COPY, and a sort on
a C-collated text column first compares abbreviated keys (its first 8 bytes as an integer),
while behind the date - one value per partition - every comparison fell through to the full
text compare: on the 1M-event day the key built in 0.67-0.74 s instead of 1.0-1.2 s. The
lookups it serves give both columns (``event_id = ... and event_date = ...``), and a date range
selects whole partitions, which pruning does without an index. The one query that lost its
index is the newest date of all of raw (a max reads every partition now): fct_events' recency
test, which a daily build scopes to its window. A ``raw.events`` created with the older
``(event_date, event_id)`` keeps its order (:func:`events_primary_key`).
"""


def events_primary_key(cur: pg.cursor) -> tuple[str, ...]:
    """The columns of ``raw.events``' primary key, in key order, as the database has it.

    A loading table must build exactly this key: ATTACH PARTITION adopts a matching index and
    would build a second one for a key in another order. Warehouses created before
    :data:`EVENTS_PRIMARY_KEY` put the id first keep ``(event_date, event_id)``; dropping and
    re-adding the parent's key in the new order converts one (rebuilding every partition's).
    """
    cur.execute(
        """
        select attribute.attname
        from pg_catalog.pg_constraint as constraint_
        cross join lateral unnest(constraint_.conkey) with ordinality as key (attnum, position)
        inner join pg_catalog.pg_attribute as attribute
            on attribute.attrelid = constraint_.conrelid and attribute.attnum = key.attnum
        where constraint_.conrelid = %s::regclass and constraint_.contype = 'p'
        order by key.position
        """,
        (f"{RAW_SCHEMA}.events",),
    )
    return tuple(row[0] for row in cur.fetchall()) or EVENTS_PRIMARY_KEY


def raw_schema_ddl() -> list[str]:
    """Idempotent statements creating the raw schema and its tables."""
    loaded_at = LOADED_AT_COLUMN
    return [
        f"create schema if not exists {RAW_SCHEMA}",
        f"""create table if not exists {RAW_SCHEMA}.events (
    {_column_sql(EVENT_COLUMNS)},
    {loaded_at},
    primary key ({", ".join(EVENTS_PRIMARY_KEY)})
) partition by range (event_date)""",
        f"""create table if not exists {RAW_SCHEMA}.events_quarantine (
    {_column_sql(QUARANTINE_COLUMNS)},
    {loaded_at}
)""",
        f"create index if not exists events_quarantine_arrival_idx "
        f"on {RAW_SCHEMA}.events_quarantine (arrival_date)",
        f"""create table if not exists {RAW_SCHEMA}.users (
    {_column_sql(USER_COLUMNS)},
    {loaded_at},
    primary key (extract_date, user_id)
)""",
        f"""create table if not exists {RAW_SCHEMA}.products (
    {_column_sql(PRODUCT_COLUMNS)},
    {loaded_at},
    primary key (extract_date, product_id)
)""",
        f"""create table if not exists {RAW_SCHEMA}.load_audit (
    {_column_sql(LOAD_AUDIT_COLUMNS)},
    primary key (batch_id)
)""",
    ]


def ensure_raw_schema(cur: pg.cursor) -> None:
    """Create the raw schema and tables if missing (safe to run on every load)."""
    for statement in raw_schema_ddl():
        cur.execute(statement)


def event_partition_name(day: dt.date) -> str:
    """``events_pYYYYMMDD``: the partition of ``raw.events`` holding one event_date."""
    return validate_identifier(f"events_p{day:%Y%m%d}", "partition name")


def loading_table_name(day: dt.date) -> str:
    """``events_pYYYYMMDD_loading``: a partition being built, before it replaces the live one."""
    return validate_identifier(f"{event_partition_name(day)}_loading", "partition name")


def raw_table(name: str) -> sql.Composed:
    """``raw.<name>`` as a quoted, validated identifier (never string formatting)."""
    return sql.Identifier(RAW_SCHEMA, validate_identifier(name, "table name"))


def partition_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    """Range bounds ``[day, day + 1)`` of the partition holding one event_date."""
    return day, day + dt.timedelta(days=1)


def create_loading_partition_sql(day: dt.date) -> sql.Composed:
    """A standalone table shaped exactly like ``raw.events``, constrained to one event_date.

    ``like raw.events``, not the column list: the columns, their types, collations, NOT NULLs
    and defaults are the live table's, so ATTACH PARTITION accepts it even where ``raw.events``
    was created by an older version with other collations (ATTACH rejects any difference).
    It has no index while COPY fills it (indexes during COPY cost ~2.5x); the CHECK matches the
    partition bounds so ATTACH PARTITION can skip its validation scan, and COPY enforces it per
    row, so a row of the wrong date fails the load instead of landing in the wrong partition.
    """
    low, high = partition_bounds(day)
    name = loading_table_name(day)
    return sql.SQL(
        "create table {table} (like {parent} including defaults, constraint {check} "
        "check (event_date >= {low} and event_date < {high}))"
    ).format(
        table=raw_table(name),
        parent=raw_table("events"),
        check=sql.Identifier(f"{event_partition_name(day)}_bounds"),
        low=sql.Literal(low),
        high=sql.Literal(high),
    )


def add_loading_primary_key_sql(
    day: dt.date, columns: tuple[str, ...] = EVENTS_PRIMARY_KEY
) -> sql.Composed:
    """Build the partition's primary key after COPY (one sort instead of per-row inserts), on
    ``columns``: the parent's key (:func:`events_primary_key`)."""
    name = loading_table_name(day)
    return sql.SQL("alter table {table} add constraint {pkey} primary key ({columns})").format(
        table=raw_table(name),
        pkey=sql.Identifier(f"{name}_pkey"),
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
    )


def drop_partition_sql(day: dt.date) -> sql.Composed:
    """Drop the live partition of one event_date, if any (its rows go with it)."""
    return sql.SQL("drop table if exists {table}").format(
        table=raw_table(event_partition_name(day))
    )


def swap_in_partition_sql(day: dt.date) -> list[sql.Composed]:
    """Replace the live partition of ``day`` with its freshly loaded table.

    Run inside the load's transaction: DDL is transactional in PostgreSQL, so readers see the
    old partition until COMMIT and a crash leaves it untouched. The primary key index is renamed
    so the next load can build ``..._loading_pkey`` again.
    """
    low, high = partition_bounds(day)
    live = event_partition_name(day)
    loading = loading_table_name(day)
    return [
        drop_partition_sql(day),
        sql.SQL("alter table {table} rename to {name}").format(
            table=raw_table(loading), name=sql.Identifier(live)
        ),
        sql.SQL("alter index {index} rename to {name}").format(
            index=sql.Identifier(RAW_SCHEMA, f"{loading}_pkey"),
            name=sql.Identifier(f"{live}_pkey"),
        ),
        sql.SQL(
            "alter table {parent} attach partition {table} for values from ({low}) to ({high})"
        ).format(
            parent=raw_table("events"),
            table=raw_table(live),
            low=sql.Literal(low),
            high=sql.Literal(high),
        ),
    ]
