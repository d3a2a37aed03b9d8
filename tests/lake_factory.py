"""Build small Parquet lakes exactly as docs/contracts.md §2 lays them out, without Spark.

Tests of the loader (and anyone else downstream of staging) describe rows as dicts and let
:func:`stage_day` write what ``stage(D)`` would: the event partitions ``[D-L, D]`` (hive style,
partition column in the folder name only, as Spark writes them), the quarantine rows and
extracts of D, and ``_stats/arrival_date=D.json`` with reconciling counts.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

UTC = dt.UTC
TS = pa.timestamp("us", tz="UTC")

LAKE_EVENT_SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_name", pa.string()),
        ("anonymous_id", pa.string()),
        ("user_id", pa.string()),
        ("dvce_created_ts", TS),
        ("dvce_sent_ts", TS),
        ("collector_ts", TS),
        ("page_url", pa.string()),
        ("page_path", pa.string()),
        ("page_referrer", pa.string()),
        ("utm_source", pa.string()),
        ("utm_medium", pa.string()),
        ("utm_campaign", pa.string()),
        ("refr_medium", pa.string()),
        ("useragent", pa.string()),
        ("device_type", pa.string()),
        ("geo_country", pa.string()),
        ("ip", pa.string()),
        ("product_id", pa.string()),
        ("price", pa.decimal128(12, 2)),
        ("quantity", pa.int32()),
        ("order_id", pa.string()),
        ("revenue", pa.decimal128(14, 2)),
        ("currency", pa.string()),
        ("search_query", pa.string()),
        ("source_session_id", pa.string()),
        ("derived_ts", TS),
        ("arrival_date", pa.date32()),
        ("is_bot", pa.bool_()),
        ("session_id", pa.string()),
        ("session_start_ts", TS),
        ("session_event_seq", pa.int32()),
    ]
)
"""Columns of ``events/event_date=D/*.parquet`` files (event_date lives in the folder name)."""

LAKE_QUARANTINE_SCHEMA = pa.schema(
    [
        ("source_file", pa.string()),
        ("line_number", pa.int64()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("event_id", pa.string()),
        ("raw_line", pa.string()),
    ]
)

LAKE_USER_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("email", pa.string()),
        ("first_name", pa.string()),
        ("last_name", pa.string()),
        ("city", pa.string()),
        ("country", pa.string()),
        ("loyalty_tier", pa.string()),
        ("marketing_opt_in", pa.bool_()),
        ("created_at", TS),
        ("updated_at", TS),
    ]
)

LAKE_PRODUCT_SCHEMA = pa.schema(
    [
        ("product_id", pa.string()),
        ("product_name", pa.string()),
        ("category_l1", pa.string()),
        ("category_l2", pa.string()),
        ("category_l3", pa.string()),
        ("brand", pa.string()),
        ("price", pa.decimal128(12, 2)),
        ("currency", pa.string()),
        ("is_discontinued", pa.bool_()),
        ("created_at", TS),
        ("updated_at", TS),
    ]
)


def _noon(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


def make_event(
    event_id: str, event_date: dt.date, arrival_date: dt.date | None = None, **overrides: Any
) -> dict[str, Any]:
    """An accepted lake event at noon of ``event_date`` that arrived on ``arrival_date``."""
    arrival = arrival_date or event_date
    ts = _noon(event_date)
    row: dict[str, Any] = {name: None for name in LAKE_EVENT_SCHEMA.names}
    row.update(
        event_id=event_id,
        event_name="page_view",
        anonymous_id=f"anon-{event_id}",
        dvce_created_ts=ts,
        dvce_sent_ts=ts,
        collector_ts=_noon(arrival),
        page_url="https://shop.example/p?q=a,b",
        page_path="/p",
        useragent='Mozilla/5.0 "quoted"',
        device_type="desktop",
        geo_country="DE",
        derived_ts=ts,
        arrival_date=arrival,
        is_bot=False,
        session_id=f"s-{event_id}",
        session_start_ts=ts,
        session_event_seq=1,
        event_date=event_date,
    )
    row.update(overrides)
    return row


def make_user(user_id: str, extract_date: dt.date, **overrides: Any) -> dict[str, Any]:
    ts = dt.datetime(extract_date.year, extract_date.month, extract_date.day, tzinfo=UTC)
    row = {
        "user_id": user_id,
        "email": f"{user_id}@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "city": "Berlin",
        "country": "DE",
        "loyalty_tier": "gold",
        "marketing_opt_in": True,
        "created_at": ts,
        "updated_at": ts,
    }
    row.update(overrides)
    return row


def make_product(product_id: str, extract_date: dt.date, **overrides: Any) -> dict[str, Any]:
    ts = dt.datetime(extract_date.year, extract_date.month, extract_date.day, tzinfo=UTC)
    row = {
        "product_id": product_id,
        "product_name": f"Product {product_id}",
        "category_l1": "home",
        "category_l2": "kitchen",
        "category_l3": "pans",
        "brand": "Acme",
        "price": Decimal("19.99"),
        "currency": "EUR",
        "is_discontinued": False,
        "created_at": ts,
        "updated_at": ts,
    }
    row.update(overrides)
    return row


def make_quarantine(line_number: int, reason: str = "malformed", **overrides: Any) -> dict:
    row = {
        "source_file": "part-00000.csv",
        "line_number": line_number,
        "reason": reason,
        "detail": "wrong field count",
        "event_id": None,
        "raw_line": 'broken,"line\nwith newline',
    }
    row.update(overrides)
    return row


def write_partition(
    directory: Path,
    rows: Sequence[Mapping[str, Any]],
    schema: pa.Schema,
    *,
    int96_timestamps: bool = False,
    files: int = 1,
) -> None:
    """Replace one lake partition folder with ``rows`` split over ``files`` Parquet files.

    ``int96_timestamps`` writes timestamps the way Spark does by default (INT96, no zone).
    """
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    table = pa.Table.from_pylist([{k: row.get(k) for k in schema.names} for row in rows], schema)
    step = max(1, -(-table.num_rows // files))
    for index, offset in enumerate(range(0, max(table.num_rows, 1), step)):
        pq.write_table(
            table.slice(offset, step),
            directory / f"part-{index:05d}-test.c000.zstd.parquet",
            compression="zstd",
            use_deprecated_int96_timestamps=int96_timestamps,
        )
    (directory.parent / "_SUCCESS").touch()


def event_window(day: dt.date, lateness_days: int) -> list[dt.date]:
    """Event dates ``stage(day)`` rewrites: ``[day - L, day + 1]``."""
    return [day + dt.timedelta(days=n) for n in range(-lateness_days, 2)]


def stage_day(
    lake_dir: Path,
    arrival: dt.date,
    events: Iterable[Mapping[str, Any]],
    *,
    lateness_days: int = 3,
    quarantine: Sequence[Mapping[str, Any]] = (),
    users: Sequence[Mapping[str, Any]] = (),
    products: Sequence[Mapping[str, Any]] = (),
    duplicates: tuple[int, int] = (0, 0),
    stats_overrides: Mapping[str, Any] | None = None,
    int96_timestamps: bool = False,
    files_per_partition: int = 1,
) -> dict[str, Any]:
    """Write what ``stage(arrival)`` would, given every accepted event known so far.

    ``events`` are all the accepted events the lake holds after that staging (any arrival day).
    Like ``spark_staging.stage``, every partition of ``[D-L, D+1]`` is rewritten with the events
    of its date and removed when that leaves it empty. Returns the stats.
    """
    known = [dict(event) for event in events]
    for event_date in event_window(arrival, lateness_days):
        rows = [event for event in known if event["event_date"] == event_date]
        directory = lake_dir / "events" / f"event_date={event_date.isoformat()}"
        if not rows:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            write_partition(
                directory,
                rows,
                LAKE_EVENT_SCHEMA,
                int96_timestamps=int96_timestamps,
                files=files_per_partition,
            )
    day = arrival.isoformat()
    write_partition(
        lake_dir / "quarantine" / f"arrival_date={day}", quarantine, LAKE_QUARANTINE_SCHEMA
    )
    if users:
        write_partition(lake_dir / "users" / f"extract_date={day}", users, LAKE_USER_SCHEMA)
    if products:
        write_partition(
            lake_dir / "products" / f"extract_date={day}", products, LAKE_PRODUCT_SCHEMA
        )
    by_reason: dict[str, int] = {}
    for row in quarantine:
        by_reason[row["reason"]] = by_reason.get(row["reason"], 0) + 1
    accepted = sum(1 for event in known if event["arrival_date"] == arrival)
    stats: dict[str, Any] = {
        "input_rows": accepted + len(quarantine) + sum(duplicates),
        "accepted": accepted,
        "quarantined": by_reason,
        "duplicates": {"exact": duplicates[0], "payload": duplicates[1]},
        "units_fixed": 0,
        "bots": 0,
        "seconds": 0.1,
    }
    stats.update(stats_overrides or {})
    write_stats(lake_dir, arrival, stats)
    return stats


def write_stats(lake_dir: Path, arrival: dt.date, stats: Mapping[str, Any]) -> None:
    path = lake_dir / "_stats" / f"arrival_date={arrival.isoformat()}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stats), encoding="utf-8")
