"""Builders for tiny hand-written landing folders used by the staging tests (no tests here)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from clickstream.config import Settings
from spark_staging.schema import LANDING_EVENT_COLUMNS, PRODUCTS_SCHEMA, USERS_SCHEMA

UTC = dt.UTC


def ms(value: dt.datetime | str) -> int:
    """Epoch milliseconds of a UTC datetime or ISO string ('2024-03-01T10:00')."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)


def event(
    at: str,
    anon: str = "anon-1",
    name: str = "page_view",
    event_id: str | None = None,
    collector: str | None = None,
    skew_ms: int = 0,
    send_delay_ms: int = 0,
    **fields: Any,
) -> dict[str, Any]:
    """One landing event that happened at ``at`` (UTC); the device clock is off by skew_ms.

    ``collector`` defaults to ``at`` + send delay (received right away); when given, the
    device held the event until then, so the send delay is ``collector - at`` and
    ``derived_ts`` is ``at`` again.
    """
    if collector is not None and not send_delay_ms:
        send_delay_ms = ms(collector) - ms(at)
    created = ms(at) + skew_ms
    sent = created + send_delay_ms
    collected = ms(collector) if collector else ms(at) + send_delay_ms
    identity = repr((anon, at, name, collector, skew_ms, sorted(fields.items())))
    row: dict[str, Any] = {
        "event_id": event_id or str(uuid.uuid5(uuid.NAMESPACE_URL, identity)),
        "event_name": name,
        "anonymous_id": anon,
        "dvce_created_ts": created,
        "dvce_sent_ts": sent,
        "collector_ts": collected,
        "page_path": "/",
        "useragent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/125.0",
        "device_type": "desktop",
    }
    row.update(fields)
    return row


def csv_line(row: dict[str, Any]) -> str:
    """RFC 4180 line (no newline) of a row dict in landing column order."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(
        ["" if row.get(c) is None else row.get(c) for c in LANDING_EVENT_COLUMNS]
    )
    return buffer.getvalue()


def write_landing(
    settings: Settings,
    day: dt.date | str,
    rows: Iterable[dict[str, Any] | str],
    name: str = "part-00000.csv",
) -> Path:
    """Write an events file for arrival ``day``; str rows are written verbatim (raw lines)."""
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    folder = settings.landing_events_day(day)
    folder.mkdir(parents=True, exist_ok=True)
    lines = [",".join(LANDING_EVENT_COLUMNS)]
    lines += [r if isinstance(r, str) else csv_line(r) for r in rows]
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def write_products(settings: Settings, day: dt.date | str, product_ids: Iterable[str]) -> Path:
    """A products extract listing ``product_ids`` for ``day``."""
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    folder = settings.landing_dir / "products" / f"extract_date={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "products.csv"
    header = ",".join(PRODUCTS_SCHEMA.fieldNames())
    body = [
        f"{pid},Name {pid},Cat,Sub,Leaf,Brand,9.99,EUR,false,"
        "2024-01-01 00:00:00,2024-01-01 00:00:00"
        for pid in product_ids
    ]
    path.write_text("\n".join([header, *body]) + "\n", encoding="utf-8")
    return path


def write_users(settings: Settings, day: dt.date | str, user_ids: Iterable[str]) -> Path:
    """A users extract listing ``user_ids`` for ``day``."""
    day = dt.date.fromisoformat(day) if isinstance(day, str) else day
    folder = settings.landing_dir / "users" / f"extract_date={day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "users.csv"
    header = ",".join(USERS_SCHEMA.fieldNames())
    body = [
        f'{uid},{uid}@example.com,"Ann, Jr.",Lee,Berlin,DE,gold,true,'
        "2024-01-01 00:00:00,2024-02-01 12:30:00"
        for uid in user_ids
    ]
    path.write_text("\n".join([header, *body]) + "\n", encoding="utf-8")
    return path
