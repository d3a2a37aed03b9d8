"""The loader puts exactly the lake's rows in ``raw``, replaces days atomically and reconciles."""

from __future__ import annotations

import datetime as dt
import random
import threading
import uuid
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pgpq
import psycopg2
import pyarrow as pa
import pytest
from psycopg2 import sql

from clickstream.config import Settings
from clickstream.errors import (
    ConfigError,
    EmptyInputError,
    StageFailedError,
    WarehouseUnavailableError,
)
from spark_staging import ddl, validate
from spark_staging.load import (
    BinaryCopyStream,
    arrow_type,
    as_day,
    conform,
    copy_batches,
    copy_schema,
    event_window,
    load_days,
)
from tests.conftest import create_database, drop_database
from tests.lake_factory import (
    LAKE_EVENT_SCHEMA,
    make_event,
    make_product,
    make_quarantine,
    make_user,
    stage_day,
    write_partition,
)
from tests.pg import query

pytestmark = pytest.mark.postgres

D = dt.date(2024, 3, 10)


def days_before(n: int) -> dt.date:
    return D - dt.timedelta(days=n)


def raw_state(dsn: str) -> dict[str, Any]:
    """Everything a load may change, minus the load timestamps."""
    return {
        "events": query(
            dsn,
            "select event_id, event_date, arrival_date, event_name, session_event_seq "
            "from raw.events order by event_id",
        ),
        "partitions": query(
            dsn,
            "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid "
            "where i.inhparent = 'raw.events'::regclass order by 1",
        ),
        "quarantine": query(
            dsn,
            "select arrival_date, line_number, reason, raw_line from raw.events_quarantine "
            "order by 1, 2",
        ),
        "users": query(dsn, "select extract_date, user_id, email from raw.users order by 1, 2"),
        "products": query(
            dsn, "select extract_date, product_id, price from raw.products order by 1, 2"
        ),
        "audit": query(
            dsn,
            "select batch_id, input_rows, accepted, quarantined, quarantined_by_reason, "
            "duplicates_exact, duplicates_payload, loaded_rows, events_checksum "
            "from raw.load_audit order by 1",
        ),
    }


_MASK32 = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _MASK32


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    for shift_a, shift_b, shift_c in ((4, 6, 8), (16, 19, 4)):
        a = ((a - c) & _MASK32) ^ _rot(c, shift_a)
        c = (c + b) & _MASK32
        b = ((b - a) & _MASK32) ^ _rot(a, shift_b)
        a = (a + c) & _MASK32
        c = ((c - b) & _MASK32) ^ _rot(b, shift_c)
        b = (b + a) & _MASK32
    return a, b, c


def _final(a: int, b: int, c: int) -> tuple[int, int, int]:
    c = ((c ^ b) - _rot(b, 14)) & _MASK32
    a = ((a ^ c) - _rot(c, 11)) & _MASK32
    b = ((b ^ a) - _rot(a, 25)) & _MASK32
    c = ((c ^ b) - _rot(b, 16)) & _MASK32
    a = ((a ^ c) - _rot(c, 4)) & _MASK32
    b = ((b ^ a) - _rot(a, 14)) & _MASK32
    c = ((c ^ b) - _rot(b, 24)) & _MASK32
    return a, b, c


def hashtextextended(text: str) -> int:
    """PostgreSQL's ``hashtextextended(text, 0)`` re-implemented from its C source
    (``hash_bytes_extended``, Bob Jenkins' lookup3, on a little-endian server): an
    independent computation to check the loader's checksum against."""
    key = text.encode()
    a = b = c = (0x9E3779B9 + len(key) + 3923095) & _MASK32
    while len(key) >= 12:
        a = (a + int.from_bytes(key[0:4], "little")) & _MASK32
        b = (b + int.from_bytes(key[4:8], "little")) & _MASK32
        c = (c + int.from_bytes(key[8:12], "little")) & _MASK32
        a, b, c = _mix(a, b, c)
        key = key[12:]
    a = (a + int.from_bytes(key[0:4], "little")) & _MASK32
    b = (b + int.from_bytes(key[4:8], "little")) & _MASK32
    c = (c + (int.from_bytes(key[8:11], "little") << 8)) & _MASK32
    a, b, c = _final(a, b, c)
    value = (b << 32) | c
    return value - (1 << 64) if value >= 1 << 63 else value


def expected_checksum(event_ids: Iterable[str]) -> str:
    """``raw.load_audit.events_checksum`` as docs/contracts.md §3 defines it."""
    return f"hsum64:{sum(map(hashtextextended, event_ids))}"


def first_day_events() -> list[dict[str, Any]]:
    """Six events arriving on D, three of them late (event dates D-1 and D-2)."""
    return [
        make_event("e-1", D, D),
        make_event(
            "e-2",
            D,
            D,
            event_name="order_completed",
            order_id="o-1",
            product_id="p-1",
            price=Decimal("19.99"),
            quantity=2,
            revenue=Decimal("39.98"),
            currency="EUR",
        ),
        make_event("e-3", D, D, page_referrer="", user_id=None, useragent='a "b", c\nd'),
        make_event("e-4", days_before(1), D),
        make_event("e-5", days_before(1), D),
        make_event("e-6", days_before(2), D, is_bot=True),
    ]


@pytest.fixture()
def settings(tmp_settings: Settings) -> Settings:
    return tmp_settings.with_(lateness_days=3)


@pytest.fixture()
def staged_first_day(settings: Settings) -> list[dict[str, Any]]:
    events = first_day_events()
    stage_day(
        settings.lake_dir,
        D,
        events,
        quarantine=[make_quarantine(7), make_quarantine(9, "bad_type", raw_line="")],
        users=[make_user("u-1", D), make_user("u-2", D, marketing_opt_in=None)],
        products=[make_product("p-1", D)],
        duplicates=(2, 1),
    )
    return events


def test_load_puts_exactly_the_lake_rows_in_raw(
    fresh_pg_dsn: str, settings: Settings, staged_first_day: list[dict[str, Any]]
) -> None:
    [result] = load_days(fresh_pg_dsn, settings, [D])

    assert result.loaded_rows == 6
    assert result.quarantined == 2
    assert result.partitions_replaced == 3
    assert result.rows_copied == 6 + 2 + 2 + 1
    state = raw_state(fresh_pg_dsn)
    assert [row[0] for row in state["events"]] == [f"e-{n}" for n in range(1, 7)]
    assert state["partitions"] == [
        ("events_p20240308",),
        ("events_p20240309",),
        ("events_p20240310",),
    ]
    assert [(r[1], r[2], r[3]) for r in state["quarantine"]] == [
        (7, "malformed", 'broken,"line\nwith newline'),
        (9, "bad_type", ""),
    ]
    assert [r[1] for r in state["users"]] == ["u-1", "u-2"]
    assert state["products"] == [(D, "p-1", Decimal("19.99"))]


def test_typed_values_survive_the_csv_round_trip(
    fresh_pg_dsn: str, settings: Settings, staged_first_day: list[dict[str, Any]]
) -> None:
    """Quotes, commas, newlines, nulls vs empty strings, decimals and UTC instants."""
    load_days(fresh_pg_dsn, settings, [D])

    rows = query(
        fresh_pg_dsn,
        "select event_id, price, quantity, revenue, page_referrer, user_id, useragent, "
        "derived_ts, collector_ts, is_bot from raw.events where event_id in ('e-2', 'e-3', 'e-6') "
        "order by 1",
    )
    noon = dt.datetime(2024, 3, 10, 12, tzinfo=dt.UTC)
    assert rows[0][:4] == ("e-2", Decimal("19.99"), 2, Decimal("39.98"))
    assert rows[1][4:9] == ("", None, 'a "b", c\nd', noon, noon)
    assert rows[2][9] is True
    [user] = query(
        fresh_pg_dsn, "select marketing_opt_in, updated_at from raw.users where user_id = 'u-2'"
    )
    assert user == (None, dt.datetime(2024, 3, 10))


def test_audit_row_reconciles_with_staging_stats(
    fresh_pg_dsn: str, settings: Settings, staged_first_day: list[dict[str, Any]]
) -> None:
    load_days(fresh_pg_dsn, settings, [D])

    [audit] = raw_state(fresh_pg_dsn)["audit"]
    batch, input_rows, accepted, quarantined, by_reason, exact, payload, loaded, checksum = audit
    assert batch == "events-2024-03-10"
    assert input_rows == accepted + quarantined + exact + payload == 6 + 2 + 2 + 1
    assert loaded == accepted == 6
    assert by_reason == {"bad_type": 1, "malformed": 1}
    assert checksum == expected_checksum(f"e-{n}" for n in range(1, 7))


def test_reload_of_same_day_is_idempotent(
    fresh_pg_dsn: str, settings: Settings, staged_first_day: list[dict[str, Any]]
) -> None:
    load_days(fresh_pg_dsn, settings, [D])
    before = raw_state(fresh_pg_dsn)

    [again] = load_days(fresh_pg_dsn, settings, [D])

    assert raw_state(fresh_pg_dsn) == before
    assert len(before["audit"]) == 1
    assert again.loaded_rows == 6


ID_COLUMNS = (*validate.ID_COLUMNS, "session_id")
"""The landing's key columns and staging's session id."""


def _event_collations(dsn: str, table: str) -> dict[str, str]:
    rows = query(
        dsn,
        "select attname, collname from pg_catalog.pg_attribute a "
        "join pg_catalog.pg_collation c on c.oid = a.attcollation "
        "where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped",
        (table,),
    )
    return dict(rows)


def test_event_ids_compare_bytewise_in_the_table_and_its_partitions(
    fresh_pg_dsn: str, settings: Settings, staged_first_day: list[dict[str, Any]]
) -> None:
    """The id columns sort with the C collation (abbreviated keys: faster keys, groupings and
    uniqueness tests); every other text column keeps the database's."""
    load_days(fresh_pg_dsn, settings, [D])

    for table in ("raw.events", "raw.events_p20240310"):
        collations = _event_collations(fresh_pg_dsn, table)
        assert {name: collations[name] for name in ID_COLUMNS} == dict.fromkeys(ID_COLUMNS, "C")
        assert collations["page_url"] == collations["useragent"] == "default"


def _partition_indexes(dsn: str, table: str) -> list[list[str]]:
    """The key columns of each index of ``table``, in key order."""
    rows = query(
        dsn,
        "select array(select a.attname from unnest(i.indkey) with ordinality as k (attnum, pos) "
        "join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum "
        "order by k.pos) from pg_catalog.pg_index i where i.indrelid = %s::regclass",
        (table,),
    )
    return [list(row[0]) for row in rows]


def test_event_partitions_are_keyed_by_id_then_date(
    fresh_pg_dsn: str, settings: Settings, staged_first_day: list[dict[str, Any]]
) -> None:
    """The id leads the key (a faster build: abbreviated keys), and a reload's partition is
    keyed exactly like the parent's key, by one index: ATTACH adopted it."""
    load_days(fresh_pg_dsn, settings, [D])
    load_days(fresh_pg_dsn, settings, [D])

    with psycopg2.connect(fresh_pg_dsn) as conn, conn.cursor() as cur:
        assert ddl.events_primary_key(cur) == ("event_id", "event_date")
    conn.close()
    assert _partition_indexes(fresh_pg_dsn, "raw.events_p20240310") == [["event_id", "event_date"]]


def test_raw_events_created_with_other_collations_still_load(
    fresh_pg_dsn: str, settings: Settings, staged_first_day: list[dict[str, Any]]
) -> None:
    """A raw.events from before the C ids (the database's collation everywhere) keeps
    loading: the loading tables copy the live table's columns, which ATTACH requires."""
    columns = ",\n".join(
        f"{name} {sql_type.replace(ddl.ID_TEXT, 'text')}" for name, sql_type in ddl.EVENT_COLUMNS
    )
    with psycopg2.connect(fresh_pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("create schema raw")
        cur.execute(
            f"create table raw.events ({columns}, {ddl.LOADED_AT_COLUMN}, "
            "primary key (event_date, event_id)) partition by range (event_date)"
        )
    conn.close()

    [result] = load_days(fresh_pg_dsn, settings, [D])

    assert result.loaded_rows == 6
    assert [row[0] for row in raw_state(fresh_pg_dsn)["events"]] == [f"e-{n}" for n in range(1, 7)]
    assert _event_collations(fresh_pg_dsn, "raw.events_p20240310")["event_id"] == "default"
    # its older key order too: the loading table builds that key, not a second index
    assert _partition_indexes(fresh_pg_dsn, "raw.events_p20240310") == [["event_date", "event_id"]]


def test_reload_after_restaging_with_late_data_replaces_the_window_partitions(
    fresh_pg_dsn: str, settings: Settings
) -> None:
    """Day D+1 brings late events for D-1; its load rewrites [D-2, D+2] and leaves D-3 alone."""
    early = [make_event("e-0", days_before(3), days_before(3))]
    stage_day(settings.lake_dir, days_before(3), early)
    stage_day(settings.lake_dir, D, [*early, *first_day_events()], quarantine=[make_quarantine(1)])
    load_days(fresh_pg_dsn, settings, [days_before(3), D])
    next_day = D + dt.timedelta(days=1)
    later = [
        *first_day_events(),
        *early,
        make_event("e-7", next_day, next_day),
        make_event("e-8", days_before(1), next_day),
    ]
    stage_day(settings.lake_dir, next_day, later, quarantine=[make_quarantine(3)])

    [result] = load_days(fresh_pg_dsn, settings, [next_day])

    state = raw_state(fresh_pg_dsn)
    by_date: dict[dt.date, list[str]] = {}
    for event_id, event_date, *_ in state["events"]:
        by_date.setdefault(event_date, []).append(event_id)
    assert by_date == {
        days_before(3): ["e-0"],
        days_before(2): ["e-6"],
        days_before(1): ["e-4", "e-5", "e-8"],
        D: ["e-1", "e-2", "e-3"],
        next_day: ["e-7"],
    }
    assert result.partitions_replaced == 4
    assert result.loaded_rows == 2
    assert [a[0] for a in state["audit"]] == [
        "events-2024-03-07",
        "events-2024-03-10",
        "events-2024-03-11",
    ]
    assert [a[7] for a in state["audit"]] == [1, 6, 2]
    assert [q[0] for q in state["quarantine"]] == [D, next_day]


def test_load_from_a_lake_lacking_a_loaded_neighbour_day_is_refused(
    fresh_pg_dsn: str, settings: Settings, tmp_path: Path
) -> None:
    """A new lake holding only D: its partitions [D-3, D+1] lack day D-1's events, which raw
    holds from an audited load. Loading D from it would drop them without a word."""
    before = days_before(1)
    earlier = [make_event("e-0", before, before), make_event("e-00", before, before)]
    stage_day(settings.lake_dir, before, earlier)
    load_days(fresh_pg_dsn, settings, [before])
    new_lake = settings.with_(lake_dir=tmp_path / "new_lake")
    stage_day(new_lake.lake_dir, D, first_day_events())
    state = raw_state(fresh_pg_dsn)

    with pytest.raises(StageFailedError, match=f"lake has no staging of it.*stage {before}"):
        load_days(fresh_pg_dsn, new_lake, [D])

    assert raw_state(fresh_pg_dsn) == state, "nothing may change"


def test_load_after_a_neighbour_day_was_restaged_asks_to_load_it_too(
    fresh_pg_dsn: str, settings: Settings
) -> None:
    before = days_before(1)
    stage_day(settings.lake_dir, before, [make_event("e-0", before, before)])
    load_days(fresh_pg_dsn, settings, [before])
    # D-1 staged again with one more event, then D: loading D alone would swap in the new
    # D-1 partition behind D-1's audit row
    again = [make_event("e-0", before, before), make_event("e-00", before, before)]
    stage_day(settings.lake_dir, before, again)
    stage_day(settings.lake_dir, D, [*again, *first_day_events()])

    with pytest.raises(StageFailedError, match=f"load {before} as well.*--from {before} --to {D}"):
        load_days(fresh_pg_dsn, settings, [D])

    results = load_days(fresh_pg_dsn, settings, [before, D])
    assert [r.loaded_rows for r in results] == [2, len(first_day_events())]


def test_window_day_without_lake_data_loses_its_stale_partition(
    fresh_pg_dsn: str, settings: Settings
) -> None:
    """raw mirrors the lake: a partition staging no longer has is not left behind."""
    events = [make_event("e-1", D, D), make_event("e-2", days_before(1), D)]
    stage_day(settings.lake_dir, D, events)
    load_days(fresh_pg_dsn, settings, [D])
    stage_day(settings.lake_dir, D, events[:1])

    [result] = load_days(fresh_pg_dsn, settings, [D])

    assert result.partitions_replaced == 1
    assert raw_state(fresh_pg_dsn)["partitions"] == [("events_p20240310",)]


def test_spark_int96_timestamps_and_multiple_files_load(
    fresh_pg_dsn: str, settings: Settings
) -> None:
    events = [make_event(f"e-{n}", D, D) for n in range(5)]
    stage_day(settings.lake_dir, D, events, int96_timestamps=True, files_per_partition=3)

    load_days(fresh_pg_dsn, settings, [D], batch_rows=2)

    rows = query(fresh_pg_dsn, "select distinct derived_ts from raw.events")
    assert rows == [(dt.datetime(2024, 3, 10, 12, tzinfo=dt.UTC),)]
    assert query(fresh_pg_dsn, "select count(*) from raw.events") == [(5,)]


def test_timestamps_keep_their_instant_whatever_their_zone_and_unit() -> None:
    instant = dt.datetime(2024, 3, 10, 23, 30, tzinfo=dt.UTC)
    berlin = pa.array([instant], pa.timestamp("us", tz="UTC")).cast(
        pa.timestamp("ns", tz="Europe/Berlin")
    )
    naive = pa.array([instant.replace(tzinfo=None)], pa.timestamp("ns"))
    target = arrow_type("timestamptz not null")

    for lake in (berlin, naive):
        assert conform(lake, target, Path("f"), "c").to_pylist() == [instant]


def test_values_a_cast_would_change_fail_the_load_instead() -> None:
    sub_microsecond = pa.array([1_000_000_001], pa.timestamp("ns"))

    with pytest.raises(StageFailedError, match=r"f: column c \(timestamp\[ns\]\)"):
        conform(sub_microsecond, arrow_type("timestamptz"), Path("f"), "c")


def test_every_raw_column_type_has_a_binary_encoding() -> None:
    for columns in (
        ddl.EVENT_COLUMNS,
        ddl.QUARANTINE_COLUMNS,
        ddl.USER_COLUMNS,
        ddl.PRODUCT_COLUMNS,
    ):
        assert copy_schema(columns).names == ddl.column_names(columns)
    assert arrow_type("numeric(14, 2)") == pa.decimal128(14, 2)
    assert arrow_type('text collate "C" not null') == pa.string()
    with pytest.raises(ConfigError, match="jsonb"):
        arrow_type("jsonb")


def _drain(stream: BinaryCopyStream, size: int) -> bytes:
    chunks = []
    while chunk := stream.read(size):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("read_size", [1, 7, 1 << 20])
def test_sliced_encoding_streams_the_same_copy_bytes_as_whole_batches(read_size: int) -> None:
    schema = pa.schema([("event_id", pa.string()), ("price", pa.decimal128(12, 2))])
    batches = [
        pa.record_batch(
            [
                pa.array([f"e-{start + i}" for i in range(rows)]),
                pa.array([Decimal(f"{start + i}.25") for i in range(rows)], schema.field(1).type),
            ],
            schema=schema,
        )
        for start, rows in ((0, 10), (10, 0), (10, 4))
    ]
    whole = pgpq.ArrowToPostgresBinaryEncoder(schema)
    expected = whole.write_header() + b"".join(map(whole.write_batch, batches)) + whole.finish()
    reported: list[int] = []

    stream = BinaryCopyStream(batches, schema, reported.append, encode_rows=3)

    assert _drain(stream, read_size) == expected
    assert reported == [3, 3, 3, 1, 3, 1]
    assert stream.rows == 14


def test_forged_stats_with_wrong_accepted_count_roll_back_the_whole_day(
    fresh_pg_dsn: str, settings: Settings, staged_first_day: list[dict[str, Any]]
) -> None:
    load_days(fresh_pg_dsn, settings, [D])
    before = raw_state(fresh_pg_dsn)
    stage_day(
        settings.lake_dir,
        D,
        [*staged_first_day, make_event("e-9", D, D)],
        stats_overrides={"accepted": 6, "input_rows": 6},
    )

    with pytest.raises(StageFailedError, match=r"accepted 6.*clickstream stage --date 2024-03-10"):
        load_days(fresh_pg_dsn, settings, [D])

    assert raw_state(fresh_pg_dsn) == before
    assert query(
        fresh_pg_dsn, "select count(*) from pg_tables where tablename like '%loading'"
    ) == [(0,)]


def test_stats_that_do_not_balance_are_rejected_before_loading(
    fresh_pg_dsn: str, settings: Settings, staged_first_day: list[dict[str, Any]]
) -> None:
    stage_day(settings.lake_dir, D, staged_first_day, stats_overrides={"input_rows": 99})

    with pytest.raises(StageFailedError, match=r"input_rows 99 != accepted 6"):
        load_days(fresh_pg_dsn, settings, [D])


def test_quarantine_rows_missing_from_the_lake_fail_the_load(
    fresh_pg_dsn: str, settings: Settings, staged_first_day: list[dict[str, Any]]
) -> None:
    stage_day(
        settings.lake_dir,
        D,
        staged_first_day,
        stats_overrides={"quarantined": {"malformed": 1}, "input_rows": 6 + 1},
    )

    with pytest.raises(StageFailedError, match="0 quarantine rows but staging counted 1"):
        load_days(fresh_pg_dsn, settings, [D])


def test_day_never_staged_says_to_run_stage_first(
    fresh_pg_dsn: str, settings: Settings, staged_first_day: list[dict[str, Any]]
) -> None:
    missing = D + dt.timedelta(days=5)

    with pytest.raises(EmptyInputError, match="run 'clickstream stage --date 2024-03-15' first"):
        load_days(fresh_pg_dsn, settings, [D, missing])

    assert query(fresh_pg_dsn, "select to_regclass('raw.events')") == [(None,)]


def test_lake_file_missing_a_contract_column_fails_clearly(
    fresh_pg_dsn: str, settings: Settings, staged_first_day: list[dict[str, Any]]
) -> None:
    directory = settings.lake_dir / "events" / f"event_date={D}"
    schema = pa.schema([pa.field("event_id", pa.string()), pa.field("arrival_date", pa.date32())])
    write_partition(directory, [{"event_id": "x", "arrival_date": D}], schema)

    with pytest.raises(StageFailedError, match=r"lacks column\(s\) event_name"):
        load_days(fresh_pg_dsn, settings, [D])


def test_row_whose_date_does_not_match_its_partition_fails_the_load(
    fresh_pg_dsn: str, settings: Settings, staged_first_day: list[dict[str, Any]]
) -> None:
    schema = LAKE_EVENT_SCHEMA.append(pa.field("event_date", pa.date32()))
    misplaced = make_event("e-2", D, D)
    misplaced["event_date"] = days_before(1)
    rows = [make_event("e-1", D, D), misplaced]
    write_partition(settings.lake_dir / "events" / f"event_date={D}", rows, schema)

    with pytest.raises(StageFailedError, match=r"rolled back.*events_p20240310_bounds"):
        load_days(fresh_pg_dsn, settings, [D])


@pytest.mark.parametrize(
    "hostile",
    [
        "2024-03-10; drop table raw.events",
        "2024-03-10' or '1'='1",
        "../../etc/passwd",
        dt.datetime(2024, 3, 10, 12),
        20240310,
        dt.date(1, 1, 1),
        dt.date(9999, 12, 31),
    ],
)
def test_hostile_arrival_days_are_rejected(hostile: object, settings: Settings) -> None:
    with pytest.raises(ConfigError, match="Invalid arrival day"):
        load_days("postgresql://nobody@127.0.0.1:1/none", settings, [hostile])  # type: ignore[list-item]


def test_iso_string_days_are_accepted() -> None:
    assert as_day("2024-03-10") == D


def test_partition_names_are_validated_identifiers() -> None:
    assert ddl.event_partition_name(D) == "events_p20240310"
    assert ddl.loading_table_name(D) == "events_p20240310_loading"
    with pytest.raises(ConfigError):
        ddl.raw_table('events"; drop table raw.users; --')


def test_unreachable_postgres_names_the_dsn(
    settings: Settings, staged_first_day: list[dict[str, Any]]
) -> None:
    with pytest.raises(WarehouseUnavailableError, match=r"127\.0\.0\.1:1"):
        load_days("postgresql://postgres@127.0.0.1:1/nowhere", settings, [D])


def test_window_is_lateness_days_back_to_the_arrival_day() -> None:
    next_day = D + dt.timedelta(days=1)
    assert event_window(D, 2) == [days_before(2), days_before(1), D, next_day]
    assert event_window(D, 0) == [D, next_day]


def test_empty_arrival_day_loads_zero_rows(fresh_pg_dsn: str, settings: Settings) -> None:
    stage_day(settings.lake_dir, D, [])

    [result] = load_days(fresh_pg_dsn, settings, [D])

    assert (result.loaded_rows, result.partitions_replaced) == (0, 0)
    assert raw_state(fresh_pg_dsn)["audit"][0][7] == 0


def test_event_dated_just_after_midnight_of_its_arrival_day_is_loaded(
    fresh_pg_dsn: str, settings: Settings
) -> None:
    """derived_ts may run 5 minutes past collector_ts, so arrival D can hold event_date D+1."""
    next_day = D + dt.timedelta(days=1)
    just_after = dt.datetime(2024, 3, 11, 0, 2, tzinfo=dt.UTC)
    events = [
        make_event("e-1", D, D),
        make_event("e-2", next_day, D, derived_ts=just_after, session_start_ts=just_after),
    ]
    stage_day(settings.lake_dir, D, events)

    [result] = load_days(fresh_pg_dsn, settings, [D])

    assert result.loaded_rows == 2
    assert raw_state(fresh_pg_dsn)["partitions"][-1] == ("events_p20240311",)


def full_raw_events(dsn: str) -> list[tuple[Any, ...]]:
    """Every column of raw.events but ``_loaded_at``, row by row."""
    columns = ", ".join(ddl.column_names(ddl.EVENT_COLUMNS))
    return query(dsn, f"select {columns} from raw.events order by event_id")


def many_events(n: int) -> list[dict[str, Any]]:
    """``n`` events over three event dates, with the awkward values of first_day_events."""
    awkward = first_day_events()
    return [
        {**awkward[i % len(awkward)], "event_id": f"e-{i:04d}", "session_event_seq": i}
        for i in range(n)
    ]


def test_parallel_sessions_load_the_same_rows_as_one_session(
    fresh_pg_dsn: str, settings: Settings
) -> None:
    """Several sessions each COPY a share of every partition; together they load exactly what
    one session loads, checksum included."""
    stage_day(
        settings.lake_dir,
        D,
        many_events(600),
        quarantine=[make_quarantine(7)],
        users=[make_user("u-1", D)],
        products=[make_product("p-1", D)],
        files_per_partition=3,
    )
    reference = create_database(f"clickstream_t_ref_{uuid.uuid4().hex[:10]}")
    sessions = 3
    all_copying = threading.Barrier(sessions, timeout=60)
    copied_by: set[str] = set()

    def one_batch_per_session_first(table: str, rows: int) -> None:
        """Hold each session at its first batch until all have one: all of them take part."""
        if table.startswith("events_p") and threading.current_thread().name not in copied_by:
            copied_by.add(threading.current_thread().name)
            all_copying.wait()

    try:
        [single] = load_days(reference, settings, [D], copy_sessions=1)
        [parallel] = load_days(
            fresh_pg_dsn,
            settings,
            [D],
            batch_rows=7,
            copy_sessions=sessions,
            progress=one_batch_per_session_first,
        )

        assert len(copied_by) == sessions
        assert (parallel.loaded_rows, parallel.rows_copied) == (single.loaded_rows, 603)
        assert full_raw_events(fresh_pg_dsn) == full_raw_events(reference)
        assert raw_state(fresh_pg_dsn) == raw_state(reference)
    finally:
        drop_database(reference.rsplit("/", 1)[1])


def test_binary_copy_round_trips_edge_values(fresh_pg_dsn: str) -> None:
    """Values whose binary encoding differs most from their text: signs, scales, epochs."""
    columns = (
        ("n", "numeric(14, 2)"),
        ("i", "integer"),
        ("b", "boolean"),
        ("d", "date"),
        ("ts", "timestamptz"),
        ("naive", "timestamp"),
        ("t", "text"),
    )
    numbers = ["0", "-0.01", "0.10", "123456789012.34", "-99.50", None]
    old = dt.datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC)
    batch = pa.RecordBatch.from_arrays(
        [
            pa.array([None if n is None else Decimal(n) for n in numbers], pa.decimal128(14, 2)),
            pa.array([0, -1, 2**31 - 1, -(2**31), 7, None], pa.int64()),
            pa.array([True, False, None, True, False, True]),
            pa.array([dt.date(1999, 12, 31), dt.date(2000, 1, 1), dt.date(1970, 1, 1)] * 2),
            pa.array([old, None, old, old, old, old], pa.timestamp("ns", tz="Europe/Berlin")),
            pa.array([old.replace(tzinfo=None)] * 6, pa.timestamp("ms")),
            pa.array(["", None, "é€𝄞", "a\tb\\n", 'q"u,o', "x" * 70_000]),
        ],
        names=[name for name, _ in columns],
    )
    schema = copy_schema(columns)
    conformed = pa.RecordBatch.from_arrays(
        [conform(batch.column(f.name), f.type, Path("f"), f.name) for f in schema], schema=schema
    )
    conn = psycopg2.connect(fresh_pg_dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(f"create table t ({', '.join(f'{n} {t}' for n, t in columns)})")
            assert copy_batches(cur, sql.Identifier("t"), schema, [conformed]) == 6
            cur.execute("select * from t")
            rows = cur.fetchall()
    finally:
        conn.close()

    assert [r[0] for r in rows] == [None if n is None else Decimal(n) for n in numbers]
    assert [r[1] for r in rows] == [0, -1, 2**31 - 1, -(2**31), 7, None]
    assert [r[2] for r in rows] == [True, False, None, True, False, True]
    assert [r[3] for r in rows] == [
        dt.date(1999, 12, 31),
        dt.date(2000, 1, 1),
        dt.date(1970, 1, 1),
    ] * 2
    assert [r[4] for r in rows] == [old, None, old, old, old, old]
    assert {r[5] for r in rows} == {dt.datetime(1969, 12, 31, 23, 59, 59, 999000)}
    assert [r[6] for r in rows] == ["", None, "é€𝄞", "a\tb\\n", 'q"u,o', "x" * 70_000]


# --------------------------------------------------------------------------- checksum and keys


def test_python_hashtextextended_matches_postgres(fresh_pg_dsn: str) -> None:
    """The test's reimplementation is only an independent check if it agrees with the server:
    every length around lookup3's 12-byte blocks, multi-byte UTF-8 included."""
    rng = random.Random(20240310)
    alphabet = "abcXYZ019-_ é€😀"
    texts = ["", "e-1", "0123456789ab"] + [
        "".join(rng.choice(alphabet) for _ in range(length))
        for length in range(41)
        for _ in range(3)
    ]
    rows = query(
        fresh_pg_dsn, "select t, hashtextextended(t, 0) from unnest(%s::text[]) as t", (texts,)
    )
    assert rows == [(text, hashtextextended(text)) for text in texts]


def primary_keys(dsn: str) -> list[tuple[Any, ...]]:
    """Each partition's primary key constraint, its index and the parent index it belongs to."""
    return query(
        dsn,
        "select t.relname, i.relname, parent.relname from pg_inherits p "
        "join pg_class t on t.oid = p.inhrelid "
        "join pg_constraint k on k.conrelid = t.oid and k.contype = 'p' "
        "join pg_class i on i.oid = k.conindid "
        "join pg_inherits pi on pi.inhrelid = i.oid "
        "join pg_class parent on parent.oid = pi.inhparent "
        "where p.inhparent = 'raw.events'::regclass order by 1",
    )


def test_checksum_and_keys_of_a_window_of_partitions(fresh_pg_dsn: str, settings: Settings) -> None:
    """Three partitions COPYed by three sessions: the checksum is the sum of the ids' hashes
    computed here, each partition has its primary key, attached to the parent's, and a reload
    (keys rebuilt under the same names) changes nothing."""
    events = many_events(300)
    stage_day(settings.lake_dir, D, events, files_per_partition=2)
    expected = expected_checksum(str(event["event_id"]) for event in events)

    for _ in range(2):
        [result] = load_days(fresh_pg_dsn, settings, [D], batch_rows=11, copy_sessions=3)
        assert result.loaded_rows == 300
        assert query(fresh_pg_dsn, "select events_checksum from raw.load_audit") == [(expected,)]
        assert primary_keys(fresh_pg_dsn) == [
            (f"events_p{day:%Y%m%d}", f"events_p{day:%Y%m%d}_pkey", "events_pkey")
            for day in (days_before(2), days_before(1), D)
        ]
    with pytest.raises(psycopg2.errors.UniqueViolation):
        query(fresh_pg_dsn, "insert into raw.events select * from raw.events limit 1")


def test_checksum_differs_when_one_id_differs() -> None:
    ids = [f"e-{n}" for n in range(1, 7)]
    assert expected_checksum(ids) == expected_checksum(reversed(ids))
    assert expected_checksum(ids) != expected_checksum([*ids[:-1], "e-7"])


def test_duplicate_event_id_fails_the_key_build_and_changes_nothing(
    fresh_pg_dsn: str, settings: Settings, staged_first_day: list[dict[str, Any]]
) -> None:
    """A primary key build failing in the day's transaction (after the COPY sessions have
    committed the loading tables) rolls the whole day back and drops the loading tables."""
    load_days(fresh_pg_dsn, settings, [D])
    before = raw_state(fresh_pg_dsn)
    schema = LAKE_EVENT_SCHEMA.append(pa.field("event_date", pa.date32()))
    rows = [make_event("e-1", D, D), make_event("e-2", D, D), make_event("e-1", D, D)]
    write_partition(settings.lake_dir / "events" / f"event_date={D}", rows, schema)

    with pytest.raises(StageFailedError, match=r"rolled back.*events_p20240310_loading_pkey"):
        load_days(fresh_pg_dsn, settings, [D])
    assert raw_state(fresh_pg_dsn) == before
    assert (
        query(fresh_pg_dsn, "select tablename from pg_tables where tablename like '%%loading'")
        == []
    )


def test_row_of_the_arrival_day_stranded_after_the_window_fails_the_reconciliation(
    fresh_pg_dsn: str, settings: Settings, staged_first_day: list[dict[str, Any]]
) -> None:
    """Rows of the day in partitions after the window, which the load does not replace,
    count too (the arrival figures scan every partition from D - L on), so they fail it."""
    load_days(fresh_pg_dsn, settings, [D])
    later = D + dt.timedelta(days=5)
    conn = psycopg2.connect(fresh_pg_dsn)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(
                "create table raw.events_p20240315 partition of raw.events "
                "for values from (%s) to (%s)",
                (later, later + dt.timedelta(days=1)),
            )
            cur.execute(
                "create temp table stray as select * from raw.events where event_id = 'e-1'"
            )
            cur.execute("update stray set event_id = 'stray', event_date = %s", (later,))
            cur.execute("insert into raw.events select * from stray")
    finally:
        conn.close()
    before = raw_state(fresh_pg_dsn)

    with pytest.raises(StageFailedError, match=r"raw\.events would hold 7 rows .* accepted 6"):
        load_days(fresh_pg_dsn, settings, [D])
    assert raw_state(fresh_pg_dsn) == before
