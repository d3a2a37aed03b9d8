"""Render planned rows as CSV lines: the 26 landing columns, then the text defects.

Column text comes from pre-escaped pools indexed with numpy plus Arrow casts for numbers, so
rendering is vectorised end to end; only malformed lines (a fraction of a percent) are assembled
in Python. Neighbouring columns that are decided by the same thing are pooled as one segment
(``page_url,page_path`` by the page, ``page_referrer,utm_*,refr_medium`` by the landing combo or
the previous page, the four device columns by the device), so the final row-wise join has fewer,
longer pieces. Pools end with an empty string that negative indexes point at, so the columns have
no nulls to fill before the join.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clickstream.contract import LANDING_EVENT_COLUMNS
from generator.behaviour import CATEGORY_OFFSET, PRODUCT_OFFSET, STATIC_PATHS, ChunkDevices, Frame
from generator.channels import combo_columns
from generator.defects import CODE, Plan
from generator.entities import World
from generator.formatting import (
    cents_strings,
    csv_escape,
    csv_lines_empty_last,
    escape_csv_value,
    int_strings,
    ipv4_strings,
    line_views,
    prefixed_ids,
    take_or_empty,
    uuid_strings,
    with_empty,
    write_patched,
)
from generator.vocab import (
    CONTENT_PATHS,
    COUNTRIES,
    DEVICE_TYPES,
    EVENT_NAMES,
    TAXONOMY,
    UNKNOWN_EVENT_NAMES,
    ascii_slug,
)

EVENT_COLUMNS = LANDING_EVENT_COLUMNS
"""Landing event columns, in file order (contracts.md section 1)."""

GROUPED_COLUMNS: tuple[str, ...] = (
    *EVENT_COLUMNS[:7],
    "page_segment",
    "referrer_segment",
    "device_segment",
    *EVENT_COLUMNS[18:25],
)
"""Columns as rendered: page_url/page_path, page_referrer/utm_*/refr_medium and the four device
columns are pre-joined segments; the last column (source_session_id) is always empty for the
generator and is written by the line terminator."""
assert EVENT_COLUMNS[25] == "source_session_id"
COL = {name: i for i, name in enumerate(GROUPED_COLUMNS)}
REQUIRED = (
    "event_id",
    "event_name",
    "anonymous_id",
    "dvce_created_ts",
    "dvce_sent_ts",
    "collector_ts",
)
SITE = "https://shop.example.com"
INTERNAL_CAMPAIGN = ",,,internal"
"""utm_source, utm_medium, utm_campaign, refr_medium of an event inside a visit."""

BAD_PRICES = ('"12,99"', "N/A", "twelve", "-5.00")
BAD_QUANTITIES = ("two", "-2", "x1")
BAD_TIMESTAMPS = ("2024-03-01T10:15:00Z", "yesterday", "17O9251200000")
MALFORMED_EXTRA_FIELD = '24" screen'


def _pool(values: list[str] | tuple[str, ...]) -> pa.Array:
    return csv_escape(pa.array(list(values), type=pa.string()))


@functools.lru_cache(maxsize=1)
def _static_pools() -> dict[str, pa.Array]:
    category_paths = [f"/c/{ascii_slug(a)}/{ascii_slug(b)}/{ascii_slug(c)}" for a, b, c in TAXONOMY]
    return {
        "event": _pool(EVENT_NAMES),
        "unknown": _pool(UNKNOWN_EVENT_NAMES),
        "device_type": _pool(DEVICE_TYPES),
        "country": _pool([c for c, _l, _s in COUNTRIES]),
        "paths": _pool([*STATIC_PATHS, *CONTENT_PATHS, *category_paths]),
        "bad_price": pa.array(BAD_PRICES, type=pa.string()),
        "bad_qty": pa.array(BAD_QUANTITIES, type=pa.string()),
        "bad_ts": pa.array(BAD_TIMESTAMPS, type=pa.string()),
    }


@functools.lru_cache(maxsize=1)
def _combo_pools() -> dict[str, pa.Array]:
    """Per landing combo: its query string (``""`` if none) and its referrer segment."""
    c = combo_columns()
    names = ("page_referrer", "utm_source", "utm_medium", "utm_campaign", "refr_medium")
    return {
        "query": pc.fill_null(c["query_string"], ""),
        "has_query": pa.array(np.asarray(pc.is_valid(c["query_string"]))),
        "referrer_segment": pc.binary_join_element_wise(
            *[pc.fill_null(c[k], "") for k in names], ","
        ),
    }


@dataclass
class PageText:
    """Pools and per-frame-row indexes for the page and referrer segments of one chunk.

    A page's URL is the site, its path and, on the landing event of a campaign visit, the
    campaign's query string. Pages without a query string come from world-wide pools (one entry
    per path); the few with one are joined for this chunk and appended to those pools.
    """

    page_pool: pa.Array  # "url,path" per page
    referrer_pool: pa.Array  # "url,,,,internal" per page (as the next event's referrer), then
    #                          "referrer,utm_source,utm_medium,utm_campaign,refr_medium" per combo
    index: np.ndarray  # frame row -> its page in both pools
    combo_base: int  # referrer_pool index of landing combo 0


@dataclass
class DeviceText:
    """``anonymous_id`` and ``useragent,device_type,geo_country,ip`` of a chunk's devices."""

    anonymous_ids: pa.Array
    segments: pa.Array
    index: np.ndarray  # frame row -> entry of both pools


@dataclass
class RenderContext:
    """Everything needed to turn one chunk's plan into text."""

    world: World
    devices: ChunkDevices
    day: dt.date
    chunk: int
    frame: Frame

    @functools.cached_property
    def devices_used(self) -> DeviceText:
        """Text of the devices this chunk's events come from (a few thousand of the world's).

        Taking them once per chunk keeps the pools rows are taken from small, instead of copying
        the world-wide pools with the chunk's new devices appended.
        """
        used, inverse = np.unique(self.frame.device, return_inverse=True)
        world = world_text(self.world)
        n_world = len(self.world.devices)
        split = int(np.searchsorted(used, n_world))
        old, new = pa.array(used[:split]), used[split:] - n_world  # all new devices are used
        dev = self.devices
        new_in_chunk = new + n_world
        return DeviceText(
            anonymous_ids=pa.concat_arrays(
                [world["anonymous_ids"].take(old), uuid_strings(dev.anon_raw[new])]
            ),
            segments=pa.concat_arrays(
                [
                    world["device_segments"].take(old),
                    _device_segments(
                        self.world,
                        dev.agent[new_in_chunk],
                        dev.device_type[new_in_chunk],
                        dev.country[new_in_chunk],
                        dev.ip[new_in_chunk],
                    ),
                ]
            ),
            index=inverse.reshape(-1),
        )

    @functools.cached_property
    def pages(self) -> PageText:
        world_pools = world_text(self.world)
        paths, urls = world_pools["paths"], world_pools["urls"]
        frame = self.frame
        combos = _combo_pools()
        combo = np.maximum(frame.combo, 0)
        has_query = (frame.combo >= 0) & np.asarray(combos["has_query"])[combo]
        q = np.flatnonzero(has_query)
        q_url = pc.binary_join_element_wise(
            urls.take(pa.array(frame.path[q])), combos["query"].take(pa.array(combo[q])), ""
        )
        q_page = pc.binary_join_element_wise(q_url, paths.take(pa.array(frame.path[q])), ",")
        q_referrer = pc.binary_join_element_wise(q_url, INTERNAL_CAMPAIGN, ",")
        n_paths = len(paths)
        index = frame.path.copy()
        index[q] = n_paths + np.arange(q.size)
        return PageText(
            page_pool=pa.concat_arrays([world_pools["pages"], q_page]),
            referrer_pool=pa.concat_arrays(
                [world_pools["referrers"], q_referrer, combos["referrer_segment"]]
            ),
            index=index,
            combo_base=n_paths + q.size,
        )

    @functools.cached_property
    def order_ids(self) -> pa.Array:
        """``ORD-YYYYMMDD-CCC-NNNNNN`` for every order number of the chunk, then ``""``."""
        orders = self.frame.order
        count = int(orders.max()) + 1 if orders.size and orders.max() >= 0 else 0
        digits = pc.utf8_lpad(int_strings(np.arange(count)), 6, "0")
        ids = pc.binary_join_element_wise(f"ORD-{self.day:%Y%m%d}-{self.chunk:03d}-", digits, "")
        return with_empty(ids)


_WORLD_CACHE_LOCK = threading.Lock()


def _world_cache(world: World, key: str, build: Callable[[], pa.Array]) -> pa.Array:
    """Text derived from one day's world, shared by all chunks of that day.

    Chunks render on several threads: the first to need an entry builds it under a lock, so it
    is built once; later lookups do not take the lock.
    """
    cache: dict[str, pa.Array] = world.__dict__.setdefault("_render_cache", {})
    if key not in cache:
        with _WORLD_CACHE_LOCK:
            if key not in cache:
                cache[key] = build()
    return cache[key]


def world_text(world: World) -> dict[str, pa.Array]:
    """Pools derived from one day's world: page paths, URLs and their segments, ids.

    Built once per simulated day, when its first chunk is rendered, and shared by its chunks.
    """

    def paths() -> pa.Array:
        product_paths = pc.binary_join_element_wise("/p/", world.product_ids, "")
        static = _static_pools()["paths"]
        assert len(static) == PRODUCT_OFFSET and CATEGORY_OFFSET < PRODUCT_OFFSET
        return pa.concat_arrays([static, product_paths])

    path_pool = _world_cache(world, "paths", paths)
    dev = world.devices
    urls = _world_cache(world, "urls", lambda: pc.binary_join_element_wise(SITE, path_pool, ""))
    return {
        "paths": path_pool,
        "urls": urls,
        "pages": _world_cache(
            world, "pages", lambda: pc.binary_join_element_wise(urls, path_pool, ",")
        ),
        "referrers": _world_cache(
            world, "referrers", lambda: pc.binary_join_element_wise(urls, INTERNAL_CAMPAIGN, ",")
        ),
        "user_ids": _world_cache(world, "user_ids", lambda: with_empty(world.user_ids)),
        "product_ids": _world_cache(world, "product_ids", lambda: with_empty(world.product_ids)),
        "anonymous_ids": _world_cache(world, "anonymous_ids", lambda: world.anonymous_ids),
        "search_queries": _world_cache(
            world, "search_queries", lambda: with_empty(_pool(world.vocab.search_queries))
        ),
        "device_segments": _world_cache(
            world,
            "device_segments",
            lambda: _device_segments(world, dev.agent, dev.device_type, dev.country, dev.ip),
        ),
    }


def _device_segments(
    world: World, agent: np.ndarray, device_type: np.ndarray, country: np.ndarray, ip: np.ndarray
) -> pa.Array:
    pools = _static_pools()
    return pc.binary_join_element_wise(
        world.agents.escaped.take(pa.array(agent)),
        pools["device_type"].take(pa.array(device_type)),
        pools["country"].take(pa.array(country)),
        ipv4_strings(ip[:, 0], ip[:, 1], ip[:, 2]),
        ",",
    )


TEXT_DEFECTS = tuple(
    CODE[k] for k in ("malformed", "bad_type", "missing_field", "unknown_event", "orphan_product")
)


RENDER_SLICE_ROWS = 50_000
"""Rows rendered at a time when writing: bounds the text a chunk holds (~20 MB of lines plus
their columns) and keeps Arrow's buffers small enough to be reused rather than re-mapped."""


def render(plan: Plan, rows: np.ndarray, ctx: RenderContext) -> pa.Array:
    """CSV lines (each ending in ``\\n``) for output rows ``rows`` of ``plan``, in that order.

    Rows are rendered clean first; the few rows with a text defect are then re-rendered on their
    own with the defect applied and swapped in, so no full-size column is copied per defect kind.
    """
    lines = _render_columns(plan, rows, ctx, defects=False)
    special = np.isin(plan.kind[rows], TEXT_DEFECTS)
    if not special.any():
        return lines
    broken = _render_columns(plan, rows[special], ctx, defects=True)
    return pc.replace_with_mask(lines, pa.array(special), broken)


def write_rendered(handle: BinaryIO, plan: Plan, rows: np.ndarray, ctx: RenderContext) -> None:
    """Write the CSV lines of output rows ``rows`` of ``plan``, in that order, to ``handle``.

    The same bytes as :func:`render`, streamed: the rows with a text defect are rendered once,
    then the rest ``RENDER_SLICE_ROWS`` at a time, each slice written around the defective lines
    (vectored writes), so no line array is copied to patch it.
    """
    special = np.flatnonzero(np.isin(plan.kind[rows], TEXT_DEFECTS))
    broken = (
        line_views(_render_columns(plan, rows[special], ctx, defects=True)) if special.size else []
    )
    for lo in range(0, len(rows), RENDER_SLICE_ROWS):
        hi = min(lo + RENDER_SLICE_ROWS, len(rows))
        clean = _render_columns(plan, rows[lo:hi], ctx, defects=False)
        first, last = np.searchsorted(special, [lo, hi])
        write_patched(handle, clean, special[first:last] - lo, broken[first:last])


@dataclass
class _Rows:
    """The frame fields rendering reads, for the output rows (a narrow ``Frame.take``)."""

    src: np.ndarray
    event: np.ndarray
    user: np.ndarray
    product: np.ndarray
    price: np.ndarray
    qty: np.ndarray
    order: np.ndarray
    revenue: np.ndarray
    combo: np.ndarray
    search: np.ndarray

    @classmethod
    def of(cls, frame: Frame, src: np.ndarray) -> _Rows:
        return cls(
            src=src,
            event=frame.event[src],
            user=frame.user[src],
            product=frame.product[src],
            price=frame.price[src],
            qty=frame.qty[src],
            order=frame.order[src],
            revenue=frame.revenue[src],
            combo=frame.combo[src],
            search=frame.search[src],
        )


def _render_columns(plan: Plan, rows: np.ndarray, ctx: RenderContext, defects: bool) -> pa.Array:
    """Lines of output rows ``rows``: one column (or pooled segment) per GROUPED_COLUMNS entry,
    joined row-wise; with ``defects`` the rows' text defects are applied first."""
    frame = ctx.frame
    f = _Rows.of(frame, plan.src[rows])
    world = world_text(ctx.world)
    pages = ctx.pages
    devices = ctx.devices_used
    device = devices.index[f.src]
    landing = f.combo >= 0
    referrer = np.where(landing, pages.combo_base + f.combo, pages.index[np.maximum(f.src - 1, 0)])
    has_price = f.price >= 0
    columns: list[pa.Array] = [
        uuid_strings(frame.uid[f.src]),
        _static_pools()["event"].take(pa.array(f.event)),
        devices.anonymous_ids.take(pa.array(device)),
        take_or_empty(world["user_ids"], f.user),
        int_strings(plan.created[rows]),
        int_strings(plan.sent[rows]),
        int_strings(plan.collector[rows]),
        pages.page_pool.take(pa.array(pages.index[f.src])),
        pages.referrer_pool.take(pa.array(referrer)),
        devices.segments.take(pa.array(device)),
        take_or_empty(world["product_ids"], f.product),
        cents_strings(f.price, has_price),
        int_strings(f.qty, f.qty >= 0),
        take_or_empty(ctx.order_ids, f.order),
        cents_strings(f.revenue, f.revenue >= 0),
        _currency(ctx.world.config.currency).take(pa.array(has_price.view(np.int8))),
        take_or_empty(world["search_queries"], f.search),
    ]
    if not defects:
        return csv_lines_empty_last(columns)
    kind = plan.kind[rows]
    variant = plan.variant[rows]
    _apply_text_defects(columns, kind, variant, f)
    return _apply_malformed(csv_lines_empty_last(columns), kind, variant)


@functools.lru_cache(maxsize=4)
def _currency(code: str) -> pa.Array:
    """Index 0: no price, so no currency; index 1: the shop's currency."""
    return pa.array(["", code], pa.string())


def _replace(columns: list[pa.Array], name: str, mask: np.ndarray, values: pa.Array) -> None:
    """Overwrite column ``name`` where ``mask`` with ``values`` (one per masked row)."""
    if mask.any():
        col = columns[COL[name]]
        columns[COL[name]] = pc.replace_with_mask(col, pa.array(mask), values.cast(col.type))


def _apply_text_defects(
    columns: list[pa.Array], kind: np.ndarray, variant: np.ndarray, f: _Rows
) -> None:
    pools = _static_pools()
    # unknown event name
    sel = kind == CODE["unknown_event"]
    _replace(
        columns,
        "event_name",
        sel,
        pools["unknown"].take(pa.array(variant[sel] % len(UNKNOWN_EVENT_NAMES))),
    )
    # orphan product: an id no extract will ever contain (7 digits, real ids have 6)
    sel = kind == CODE["orphan_product"]
    _replace(columns, "product_id", sel, prefixed_ids("P9", variant[sel] % 1_000_000, 6))
    # missing required field
    sel = kind == CODE["missing_field"]
    for i, name in enumerate(REQUIRED):
        which = sel & (variant % len(REQUIRED) == i)
        _replace(columns, name, which, pa.nulls(int(which.sum()), pa.string()))
    # text (or absurd values) in typed fields
    sel = kind == CODE["bad_type"]
    pick = (variant // 7) % 3
    on_qty = sel & (f.qty >= 0) & (pick == 0)
    on_price = sel & ~on_qty & (f.price >= 0)
    on_ts = sel & ~on_qty & ~on_price
    _replace(
        columns,
        "quantity",
        on_qty,
        pools["bad_qty"].take(pa.array(variant[on_qty] % len(BAD_QUANTITIES))),
    )
    _replace(
        columns,
        "price",
        on_price,
        pools["bad_price"].take(pa.array(variant[on_price] % len(BAD_PRICES))),
    )
    ts_col = (variant // 5) % 2
    for i, name in enumerate(("dvce_created_ts", "collector_ts")):
        which = on_ts & (ts_col == i)
        _replace(
            columns,
            name,
            which,
            pools["bad_ts"].take(pa.array(variant[which] % len(BAD_TIMESTAMPS))),
        )


def _apply_malformed(lines: pa.Array, kind: np.ndarray, variant: np.ndarray) -> pa.Array:
    """Break the CSV structure of malformed rows without ever spanning two lines.

    Variants: truncated line (a partial write), an extra field holding a stray quote, or the
    user agent written without quoting so its commas split it. An unbalanced quote that opens a
    field is deliberately not produced: RFC 4180 parsers would swallow the following lines, making
    the row count depend on the parser.
    """
    rows = np.flatnonzero(kind == CODE["malformed"])
    if rows.size == 0:
        return lines
    broken: list[str] = []
    for line, var in zip(lines.take(pa.array(rows)).to_pylist(), variant[rows], strict=True):
        parts = [escape_csv_value(v) for v in next(csv.reader([line.rstrip("\n")]))]
        mode = int(var % 3)
        if mode == 0:
            parts = parts[: 4 + int(var // 3) % 17]
        elif mode == 1:
            at = 1 + int(var // 3) % 25
            parts = [*parts[:at], MALFORMED_EXTRA_FIELD, *parts[at:]]
        else:
            ua = EVENT_COLUMNS.index("useragent")
            raw = next(csv.reader([parts[ua]]))[0]
            parts[ua] = raw if "," in raw else raw + ", (compatible)"
        broken.append(",".join(parts) + "\n")
    return pc.replace_with_mask(
        lines, pa.array(kind == CODE["malformed"]), pa.array(broken, pa.string())
    )
