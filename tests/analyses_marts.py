"""A small, internally consistent star schema written straight into ``marts`` for analysis tests.

Why this exists: the analyses only read the marts (docs/contracts.md section 4), so they can be
tested on a warehouse whose marts are inserted directly — independent of the generator, Spark and
the dbt models that build the marts for real. The generator here is deliberately simple and
seeded: sessions walk a fixed funnel with random drop-off, orders are consistent with their
events, one product changes price mid-range (SCD2), some sessions are bots, and a couple of
quarantine/audit rows exist so the data-quality analysis has something to read.

Also used to hand-build tiny datasets (e.g. baskets for the affinity lift check): every table can
be created empty with :func:`create_marts_schema` and filled with :func:`insert_rows`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2.extras import execute_values

MART_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "dim_date": (
        ("date_key", "integer"),
        ("date_day", "date"),
        ("year", "integer"),
        ("quarter", "integer"),
        ("month", "integer"),
        ("month_name", "text"),
        ("iso_week", "integer"),
        ("day_of_week", "integer"),
        ("day_name", "text"),
        ("is_weekend", "boolean"),
        ("fiscal_year", "integer"),
        ("fiscal_quarter", "integer"),
    ),
    "dim_channel": (
        ("channel_key", "text"),
        ("channel", "text"),
        ("is_paid", "boolean"),
        ("description", "text"),
    ),
    "dim_device": (
        ("device_key", "text"),
        ("device_type", "text"),
        ("browser", "text"),
        ("os", "text"),
    ),
    "dim_users": (
        ("user_sk", "text"),
        ("user_id", "text"),
        ("email", "text"),
        ("city", "text"),
        ("country", "text"),
        ("loyalty_tier", "text"),
        ("marketing_opt_in", "boolean"),
        ("valid_from", "timestamp"),
        ("valid_to", "timestamp"),
        ("is_current", "boolean"),
    ),
    "dim_products": (
        ("product_sk", "text"),
        ("product_id", "text"),
        ("product_name", "text"),
        ("category_l1", "text"),
        ("category_l2", "text"),
        ("category_l3", "text"),
        ("brand", "text"),
        ("price", "numeric(12, 2)"),
        ("is_discontinued", "boolean"),
        ("valid_from", "timestamp"),
        ("valid_to", "timestamp"),
        ("is_current", "boolean"),
    ),
    "fct_events": (
        ("event_id", "text"),
        ("event_name", "text"),
        ("event_ts", "timestamp"),
        ("event_date", "date"),
        ("date_key", "integer"),
        ("session_id", "text"),
        ("session_event_seq", "integer"),
        ("anonymous_id", "text"),
        ("user_id", "text"),
        ("user_sk", "text"),
        ("product_id", "text"),
        ("product_sk", "text"),
        ("channel_key", "text"),
        ("device_key", "text"),
        ("page_path", "text"),
        ("page_url", "text"),
        ("page_referrer", "text"),
        ("search_query", "text"),
        ("order_id", "text"),
        ("price", "numeric(12, 2)"),
        ("quantity", "integer"),
        ("revenue", "numeric(14, 2)"),
        ("currency", "text"),
        ("is_bot", "boolean"),
        ("arrival_date", "date"),
        ("source_session_id", "text"),
    ),
    "fct_sessions": (
        ("session_id", "text"),
        ("anonymous_id", "text"),
        ("user_id", "text"),
        ("user_sk", "text"),
        ("session_start_ts", "timestamp"),
        ("session_end_ts", "timestamp"),
        ("session_date", "date"),
        ("date_key", "integer"),
        ("duration_seconds", "integer"),
        ("last_arrival_date", "date"),
        ("event_count", "integer"),
        ("page_view_count", "integer"),
        ("product_view_count", "integer"),
        ("landing_page_path", "text"),
        ("exit_page_path", "text"),
        ("channel_key", "text"),
        ("channel", "text"),
        ("device_key", "text"),
        ("device_type", "text"),
        ("is_bounce", "boolean"),
        ("has_product_view", "boolean"),
        ("has_add_to_cart", "boolean"),
        ("has_checkout", "boolean"),
        ("is_converted", "boolean"),
        ("order_count", "integer"),
        ("revenue", "numeric(14, 2)"),
        ("is_bot", "boolean"),
        ("is_first_session", "boolean"),
        ("source_session_id", "text"),
        ("last_logged_user_id", "text"),
    ),
    "fct_orders": (
        ("order_id", "text"),
        ("session_id", "text"),
        ("user_id", "text"),
        ("user_sk", "text"),
        ("ordered_at", "timestamp"),
        ("date_key", "integer"),
        ("line_count", "integer"),
        ("item_quantity", "integer"),
        ("revenue", "numeric(14, 2)"),
    ),
    "fct_daily_metrics": (
        ("date_key", "integer"),
        ("metric_date", "date"),
        ("channel", "text"),
        ("device_type", "text"),
        ("sessions", "integer"),
        ("users", "integer"),
        ("new_users", "integer"),
        ("orders", "integer"),
        ("revenue", "numeric(14, 2)"),
        ("conversion_rate", "numeric(7, 4)"),
        ("bounce_rate", "numeric(7, 4)"),
    ),
}
"""The mart tables of docs/contracts.md section 4, with plausible PostgreSQL types."""

RAW_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "events_quarantine": (
        ("arrival_date", "date"),
        ("source_file", "text"),
        ("line_number", "bigint"),
        ("reason", "text"),
        ("detail", "text"),
        ("event_id", "text"),
        ("raw_line", "text"),
        ("_loaded_at", "timestamptz"),
    ),
    "load_audit": (
        ("batch_id", "text"),
        ("arrival_date", "date"),
        ("input_rows", "bigint"),
        ("accepted", "bigint"),
        ("quarantined", "bigint"),
        ("quarantined_by_reason", "jsonb"),
        ("duplicates_exact", "bigint"),
        ("duplicates_payload", "bigint"),
        ("loaded_rows", "bigint"),
        ("events_checksum", "text"),
        ("started_at", "timestamptz"),
        ("finished_at", "timestamptz"),
        ("seconds", "double precision"),
    ),
}
"""The raw tables the data-quality analysis reads (docs/contracts.md section 3)."""

CHANNELS = ("direct", "organic_search", "paid_search", "social", "email", "referral")
DEVICES = (
    ("desktop", "Chrome", "Windows"),
    ("mobile", "Safari", "iOS"),
    ("tablet", "Chrome", "Android"),
)
PAGES = ("/", "/category/shoes", "/category/bags", "/sale", "/search", "/cart", "/checkout")
QUERIES = ("red shoes", "leather bag", "running", "gift", "xyzzy", "sale boots")
CATEGORIES = (
    ("Fashion", "Shoes", "Sneakers"),
    ("Fashion", "Bags", "Totes"),
    ("Home", "Kitchen", "Cups"),
)


def md5(*parts: object) -> str:
    """The same md5-of-joined-parts surrogate key style the dbt project uses."""
    return hashlib.md5("|".join(str(p) for p in parts).encode()).hexdigest()


def create_marts_schema(dsn: str, *, with_raw: bool = True) -> None:
    """(Re)create empty ``marts`` tables (and the two raw tables the analyses read)."""
    schemas: list[tuple[str, dict[str, tuple[tuple[str, str], ...]]]] = [("marts", MART_COLUMNS)]
    if with_raw:
        schemas.append(("raw", RAW_COLUMNS))
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        for schema, tables in schemas:
            cur.execute(f"create schema if not exists {schema}")
            for table, columns in tables.items():
                cols = ", ".join(f"{name} {sql_type}" for name, sql_type in columns)
                cur.execute(f"drop table if exists {schema}.{table} cascade")
                cur.execute(f"create table {schema}.{table} ({cols})")
    conn.close()


def insert_rows(dsn: str, table: str, rows: Iterable[dict[str, Any]]) -> int:
    """Insert dict rows into ``schema.table``; columns not given are null."""
    schema, name = table.split(".")
    columns = [c for c, _ in (MART_COLUMNS if schema == "marts" else RAW_COLUMNS)[name]]
    values = [tuple(row.get(c) for c in columns) for row in rows]
    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        execute_values(cur, f"insert into {table} ({', '.join(columns)}) values %s", values)
    conn.close()
    return len(values)


@dataclass
class SyntheticMarts:
    """Rows of every mart, built in memory so tests can compute expectations from them."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def rows(self, table: str) -> list[dict[str, Any]]:
        return self.tables.setdefault(table, [])


def _date_rows(first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    rows = []
    day = first
    while day <= last:
        rows.append(
            {
                "date_key": int(day.strftime("%Y%m%d")),
                "date_day": day,
                "year": day.year,
                "quarter": (day.month - 1) // 3 + 1,
                "month": day.month,
                "month_name": day.strftime("%B"),
                "iso_week": day.isocalendar().week,
                "day_of_week": day.isoweekday(),
                "day_name": day.strftime("%A"),
                "is_weekend": day.isoweekday() >= 6,
                "fiscal_year": day.year,
                "fiscal_quarter": (day.month - 1) // 3 + 1,
            }
        )
        day += dt.timedelta(days=1)
    return rows


def build_synthetic_marts(
    start: dt.date = dt.date(2024, 3, 1), days: int = 21, sessions_per_day: int = 60, seed: int = 7
) -> SyntheticMarts:
    """Generate consistent marts: sessions → events → orders → daily metrics."""
    rng = random.Random(seed)
    marts = SyntheticMarts()
    end = start + dt.timedelta(days=days - 1)
    marts.tables["dim_date"] = _date_rows(start - dt.timedelta(days=7), end + dt.timedelta(days=7))
    for channel in CHANNELS:
        marts.rows("dim_channel").append(
            {
                "channel_key": md5(channel),
                "channel": channel,
                "is_paid": channel == "paid_search",
                "description": channel.replace("_", " "),
            }
        )
    for device, browser, os_name in DEVICES:
        marts.rows("dim_device").append(
            {"device_key": md5(device), "device_type": device, "browser": browser, "os": os_name}
        )

    # Products: product p00 changes price on day 8 (two SCD2 versions).
    change_day = start + dt.timedelta(days=days // 2)
    far_past, far_future = dt.datetime(2000, 1, 1), None
    products: dict[str, list[dict[str, Any]]] = {}
    for i in range(12):
        pid = f"p{i:02d}"
        l1, l2, l3 = CATEGORIES[i % len(CATEGORIES)]
        base = {
            "product_id": pid,
            "product_name": f"Product {i}",
            "category_l1": l1,
            "category_l2": l2,
            "category_l3": l3,
            "brand": f"Brand{i % 4}",
            "is_discontinued": False,
        }
        price = Decimal(10 + 5 * i).quantize(Decimal("0.01"))
        if i == 0:
            old = {
                **base,
                "price": price,
                "valid_from": far_past,
                "valid_to": dt.datetime.combine(change_day, dt.time()),
                "is_current": False,
            }
            new = {
                **base,
                "price": price * Decimal("0.8"),
                "valid_from": dt.datetime.combine(change_day, dt.time()),
                "valid_to": far_future,
                "is_current": True,
            }
            versions = [old, new]
        else:
            versions = [
                {
                    **base,
                    "price": price,
                    "valid_from": far_past,
                    "valid_to": far_future,
                    "is_current": True,
                }
            ]
        for v in versions:
            v["product_sk"] = md5(pid, v["valid_from"])
            v["price"] = Decimal(v["price"]).quantize(Decimal("0.01"))
        products[pid] = versions
        marts.rows("dim_products").extend(versions)

    users = [f"u{i:03d}" for i in range(40)]
    for uid in users:
        marts.rows("dim_users").append(
            {
                "user_sk": md5(uid, far_past),
                "user_id": uid,
                "email": f"{uid}@example.com",
                "city": "Berlin",
                "country": "DE",
                "loyalty_tier": rng.choice(("bronze", "silver", "gold", "platinum")),
                "marketing_opt_in": rng.random() < 0.5,
                "valid_from": far_past,
                "valid_to": None,
                "is_current": True,
            }
        )
    devices = [f"a{i:03d}" for i in range(90)]
    device_user = {a: (users[i % len(users)] if i < 60 else None) for i, a in enumerate(devices)}
    seen: set[str] = set()
    session_ids: set[str] = set()

    def version(pid: str, ts: dt.datetime) -> dict[str, Any]:
        naive = ts.replace(tzinfo=None)
        return next(
            v
            for v in products[pid]
            if v["valid_from"] <= naive and (v["valid_to"] is None or naive < v["valid_to"])
        )

    for d in range(days):
        day = start + dt.timedelta(days=d)
        for _ in range(sessions_per_day):
            anon = rng.choice(devices)
            is_bot = rng.random() < 0.05
            uid = None if is_bot else device_user[anon]
            ts = dt.datetime.combine(
                day,
                dt.time(rng.randrange(24), rng.randrange(60), rng.randrange(60)),
                tzinfo=dt.UTC,
            )
            if md5(anon, int(ts.timestamp() * 1000)) in session_ids:
                continue  # same device, same second: not a new session
            session_ids.add(md5(anon, int(ts.timestamp() * 1000)))
            _session(marts, rng, anon, uid, ts, is_bot, first=anon not in seen, version=version)
            seen.add(anon)
    _daily_metrics(marts)
    _quality_rows(marts, start, days)
    return marts


def _session(
    marts: SyntheticMarts,
    rng: random.Random,
    anon: str,
    uid: str | None,
    start_ts: dt.datetime,
    is_bot: bool,
    first: bool,
    version: Any,
) -> None:
    channel = rng.choice(CHANNELS)
    device = rng.choice(DEVICES)[0]
    sid = md5(anon, int(start_ts.timestamp() * 1000))
    user_sk = md5(uid, dt.datetime(2000, 1, 1)) if uid else None
    events: list[dict[str, Any]] = []
    ts = start_ts

    def emit(name: str, path: str, **extra: Any) -> None:
        nonlocal ts
        events.append({"event_name": name, "event_ts": ts, "page_path": path, **extra})
        ts += dt.timedelta(seconds=rng.randrange(5, 240))

    landing = rng.choice(PAGES[:5])
    emit("page_view", landing)
    pid = f"p{rng.randrange(12):02d}"
    if is_bot:
        for _ in range(rng.randrange(5, 15)):
            emit("page_view", rng.choice(PAGES[:4]))
    elif rng.random() < 0.7:
        if rng.random() < 0.3:
            emit("search", "/search", search_query=rng.choice(QUERIES))
        emit("product_list_viewed", rng.choice(PAGES[1:3]))
        emit("page_view", f"/product/{pid}")
        emit("product_viewed", f"/product/{pid}", product_id=pid)
        if rng.random() < 0.5:
            basket = [pid] + ([f"p{rng.randrange(12):02d}"] if rng.random() < 0.5 else [])
            basket = list(dict.fromkeys(basket))
            for p in basket:
                emit("product_added", f"/product/{p}", product_id=p, quantity=1)
            if rng.random() < 0.6:
                emit("page_view", "/checkout")
                oid = md5("order", sid)
                emit("checkout_started", "/checkout", order_id=oid)
                if rng.random() < 0.7:
                    order_ts = ts
                    for p in basket:
                        qty = rng.randrange(1, 3)
                        price = version(p, order_ts)["price"]
                        events.append(
                            {
                                "event_name": "order_completed",
                                "event_ts": order_ts,
                                "page_path": "/checkout",
                                "product_id": p,
                                "order_id": oid,
                                "price": price,
                                "quantity": qty,
                                "revenue": price * qty,
                            }
                        )
    _write_session(marts, events, sid, anon, uid, user_sk, channel, device, is_bot, first, version)


def _write_session(
    marts: SyntheticMarts,
    events: list[dict[str, Any]],
    sid: str,
    anon: str,
    uid: str | None,
    user_sk: str | None,
    channel: str,
    device: str,
    is_bot: bool,
    first: bool,
    version: Any,
) -> None:
    names = [e["event_name"] for e in events]
    page_views = [e for e in events if e["event_name"] == "page_view"]
    lines = [e for e in events if e["event_name"] == "order_completed"]
    start_ts, end_ts = events[0]["event_ts"], events[-1]["event_ts"]
    day = start_ts.date()
    for seq, e in enumerate(events, start=1):
        pid = e.get("product_id")
        marts.rows("fct_events").append(
            {
                **e,
                "event_id": md5(sid, seq),
                "event_date": e["event_ts"].date(),
                "date_key": int(e["event_ts"].strftime("%Y%m%d")),
                "session_id": sid,
                "session_event_seq": seq,
                "anonymous_id": anon,
                "user_id": uid,
                "user_sk": user_sk,
                "product_sk": version(pid, e["event_ts"])["product_sk"] if pid else None,
                "channel_key": md5(channel),
                "device_key": md5(device),
                "page_url": "https://shop.example" + e["page_path"],
                "currency": "EUR",
                "is_bot": is_bot,
                "arrival_date": e["event_ts"].date(),
            }
        )
    revenue = sum((e["revenue"] for e in lines), Decimal("0.00"))
    if lines:
        marts.rows("fct_orders").append(
            {
                "order_id": lines[0]["order_id"],
                "session_id": sid,
                "user_id": uid,
                "user_sk": user_sk,
                "ordered_at": lines[0]["event_ts"],
                "date_key": int(lines[0]["event_ts"].strftime("%Y%m%d")),
                "line_count": len(lines),
                "item_quantity": sum(e["quantity"] for e in lines),
                "revenue": revenue,
            }
        )
    marts.rows("fct_sessions").append(
        {
            "session_id": sid,
            "anonymous_id": anon,
            "user_id": uid,
            "user_sk": user_sk,
            "session_start_ts": start_ts,
            "session_end_ts": end_ts,
            "session_date": day,
            "date_key": int(day.strftime("%Y%m%d")),
            "duration_seconds": int((end_ts - start_ts).total_seconds()),
            "last_arrival_date": max(e["event_ts"].date() for e in events),
            "event_count": len(events),
            "page_view_count": len(page_views),
            "product_view_count": names.count("product_viewed"),
            "landing_page_path": page_views[0]["page_path"],
            "exit_page_path": page_views[-1]["page_path"],
            "channel_key": md5(channel),
            "channel": channel,
            "device_key": md5(device),
            "device_type": device,
            "is_bounce": len(events) == 1,
            "has_product_view": "product_viewed" in names,
            "has_add_to_cart": "product_added" in names,
            "has_checkout": "checkout_started" in names,
            "is_converted": bool(lines),
            "order_count": 1 if lines else 0,
            "revenue": revenue,
            "is_bot": is_bot,
            "is_first_session": first,
            "source_session_id": None,
            "last_logged_user_id": uid,
        }
    )


def _daily_metrics(marts: SyntheticMarts) -> None:
    groups: dict[tuple[dt.date, str, str], list[dict[str, Any]]] = {}
    for s in marts.rows("fct_sessions"):
        if not s["is_bot"]:
            groups.setdefault((s["session_date"], s["channel"], s["device_type"]), []).append(s)
    for (day, channel, device), rows in sorted(groups.items()):
        n = len(rows)
        marts.rows("fct_daily_metrics").append(
            {
                "date_key": int(day.strftime("%Y%m%d")),
                "metric_date": day,
                "channel": channel,
                "device_type": device,
                "sessions": n,
                "users": len({r["user_id"] or r["anonymous_id"] for r in rows}),
                "new_users": sum(r["is_first_session"] for r in rows),
                "orders": sum(r["order_count"] for r in rows),
                "revenue": sum((r["revenue"] for r in rows), Decimal("0.00")),
                "conversion_rate": Decimal(sum(r["is_converted"] for r in rows)) / n,
                "bounce_rate": Decimal(sum(r["is_bounce"] for r in rows)) / n,
            }
        )


def _quality_rows(marts: SyntheticMarts, start: dt.date, days: int) -> None:
    reasons = ("malformed", "bad_type", "future_ts", "orphan_product")
    for d in range(days):
        day = start + dt.timedelta(days=d)
        accepted = sum(1 for e in marts.rows("fct_events") if e["arrival_date"] == day)
        by_reason: dict[str, int] = {}
        for i, reason in enumerate(reasons[: 1 + d % len(reasons)]):
            by_reason[reason] = i + 1
            for n in range(i + 1):
                marts.rows("raw.events_quarantine").append(
                    {
                        "arrival_date": day,
                        "source_file": "part-00000.csv",
                        "line_number": n + 2,
                        "reason": reason,
                        "detail": "synthetic",
                        "event_id": None,
                        "raw_line": "x",
                        "_loaded_at": dt.datetime.combine(day, dt.time(1), tzinfo=dt.UTC),
                    }
                )
        quarantined = sum(by_reason.values())
        started = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(1), tzinfo=dt.UTC)
        marts.rows("raw.load_audit").append(
            {
                "batch_id": f"b{day:%Y%m%d}",
                "arrival_date": day,
                "input_rows": accepted + quarantined + 3,
                "accepted": accepted,
                "quarantined": quarantined,
                "quarantined_by_reason": json.dumps(by_reason),
                "duplicates_exact": 2,
                "duplicates_payload": 1,
                "loaded_rows": accepted,
                "events_checksum": None,
                "started_at": started,
                "finished_at": started + dt.timedelta(seconds=3),
                "seconds": 3.0,
            }
        )


def load_synthetic_marts(
    dsn: str, marts: SyntheticMarts, tables: Sequence[str] | None = None
) -> None:
    """Create the schema and insert every generated table."""
    create_marts_schema(dsn)
    for table, rows in marts.tables.items():
        if tables is not None and table not in tables:
            continue
        insert_rows(dsn, table if "." in table else f"marts.{table}", rows)


@dataclass
class AnalysisWarehouse:
    """A database holding synthetic marts, the rpt_* models built on them, and one analyze run."""

    dsn: str
    marts: SyntheticMarts
    reports_dir: Path
    target_path: Path
    build: Any  # clickstream.dbt.DbtResult of building the reporting models
    report: Any  # clickstream.analyze.AnalysisReport


_WAREHOUSES: dict[str, AnalysisWarehouse] = {}


def analysis_warehouse(
    root: Path, create_database: Callable[[str], str], drop_database: Callable[[str], None]
) -> tuple[AnalysisWarehouse, Callable[[], None] | None]:
    """Build (once per test session) the synthetic warehouse and run ``run_analyses`` on it.

    Returns the warehouse and, the first time only, the cleanup to register with pytest; both
    the analysis tests and the browser tests share it instead of paying for dbt twice.
    """
    if "default" in _WAREHOUSES:
        return _WAREHOUSES["default"], None
    from clickstream.analyze import run_analyses
    from clickstream.config import Settings
    from clickstream.dbt import run_dbt

    name = f"clickstream_an_{uuid.uuid4().hex[:10]}"
    dsn = create_database(name)
    marts = build_synthetic_marts(days=10, sessions_per_day=50)
    load_synthetic_marts(dsn, marts)
    target_path = root / "dbt_target"
    build = run_dbt(
        dsn, ["build", "--select", "path:models/marts/reporting"], target_path=target_path
    )
    settings = Settings(reports_dir=root / "reports")
    report = run_analyses(dsn, settings, progress=False, target_path=target_path)
    warehouse = AnalysisWarehouse(dsn, marts, root / "reports", target_path, build, report)
    _WAREHOUSES["default"] = warehouse

    def cleanup() -> None:
        _WAREHOUSES.pop("default", None)
        drop_database(name)

    return warehouse, cleanup
