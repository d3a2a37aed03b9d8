"""Render planned rows as CSV lines: the 26 landing columns, then the text defects.

Column text comes from small pre-escaped pools (event names, user agents, paths, queries, landing
combos) indexed with numpy, plus Arrow casts for numbers, so rendering is vectorised end to end.
Only malformed lines (a fraction of a percent) are assembled in Python.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass

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
    csv_lines,
    escape_csv_value,
    int_strings,
    ipv4_strings,
    prefixed_ids,
    take_pool,
    uuid_strings,
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
    *EVENT_COLUMNS[:10],
    "campaign_segment",
    "device_segment",
    *EVENT_COLUMNS[18:],
)
"""Columns as rendered: utm/refr_medium and the four device columns are pre-joined segments."""
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


@dataclass
class RenderContext:
    """Everything needed to turn one chunk's plan into text."""

    world: World
    devices: ChunkDevices
    day: dt.date
    chunk: int
    _urls: pa.Array | None = None

    @functools.cached_property
    def anonymous_ids(self) -> pa.Array:
        extra = uuid_strings(self.devices.anon_raw)
        world_ids = self.world.anonymous_ids
        return pa.concat_arrays([world_ids, extra]) if len(extra) else world_ids

    @functools.cached_property
    def device_segments(self) -> pa.Array:
        """``useragent,device_type,geo_country,ip`` per device (world part built once per day)."""
        n_world = len(self.world.devices)
        world_part = _world_cache(
            self.world,
            "device_segments",
            lambda: _device_segments(self.world, self.devices, 0, n_world),
        )
        if len(self.devices.device_type) == n_world:
            return world_part
        extra = _device_segments(self.world, self.devices, n_world, len(self.devices.device_type))
        return pa.concat_arrays([world_part, extra])

    @functools.cached_property
    def paths(self) -> pa.Array:
        def build() -> pa.Array:
            product_paths = pc.binary_join_element_wise("/p/", self.world.product_ids, "")
            static = _static_pools()["paths"]
            assert len(static) == PRODUCT_OFFSET and CATEGORY_OFFSET < PRODUCT_OFFSET
            return pa.concat_arrays([static, product_paths])

        return _world_cache(self.world, "paths", build)

    def urls(self, frame: Frame) -> pa.Array:
        """Page URL of every frame row (landing rows keep their campaign query string)."""
        if self._urls is None:
            self._urls = _page_url(self, frame.path, frame.combo)
        return self._urls

    @functools.cached_property
    def search_queries(self) -> pa.Array:
        return _pool(self.world.vocab.search_queries)


def _world_cache(world: World, key: str, build: Callable[[], pa.Array]) -> pa.Array:
    """Text derived from one day's world, shared by all chunks of that day."""
    cache: dict[str, pa.Array] = world.__dict__.setdefault("_render_cache", {})
    if key not in cache:
        cache[key] = build()
    return cache[key]


def _device_segments(world: World, dev: ChunkDevices, lo: int, hi: int) -> pa.Array:
    pools = _static_pools()
    ip = dev.ip[lo:hi]
    return pc.binary_join_element_wise(
        world.agents.escaped.take(pa.array(dev.agent[lo:hi].astype(np.int64))),
        pools["device_type"].take(pa.array(dev.device_type[lo:hi].astype(np.int64))),
        pools["country"].take(pa.array(dev.country[lo:hi].astype(np.int64))),
        ipv4_strings(ip[:, 0], ip[:, 1], ip[:, 2]),
        ",",
    )


TEXT_DEFECTS = tuple(
    CODE[k] for k in ("malformed", "bad_type", "missing_field", "unknown_event", "orphan_product")
)


def render(frame: Frame, plan: Plan, rows: np.ndarray, ctx: RenderContext) -> pa.Array:
    """CSV lines (each ending in ``\\n``) for output rows ``rows`` of ``plan``, in that order.

    Rows are rendered clean first; the few rows with a text defect are then re-rendered on their
    own with the defect applied and swapped in, so no full-size column is copied per defect kind.
    """
    lines = _render_columns(frame, plan, rows, ctx, defects=False)
    special = np.isin(plan.kind[rows], TEXT_DEFECTS)
    if not special.any():
        return lines
    broken = _render_columns(frame, plan, rows[special], ctx, defects=True)
    return pc.replace_with_mask(lines, pa.array(special), broken)


def _render_columns(
    frame: Frame, plan: Plan, rows: np.ndarray, ctx: RenderContext, defects: bool
) -> pa.Array:
    src = plan.src[rows]
    f = frame.take(src)
    pools = _static_pools()
    combos = combo_columns()
    landing = f.combo >= 0
    url = _page_url(ctx, f.path, np.where(landing, f.combo, -1))
    prev = np.maximum(src - 1, 0)
    prev_url = _page_url(
        ctx, frame.path[prev], np.where(frame.combo[prev] >= 0, frame.combo[prev], -1)
    )
    referrer = pc.if_else(pa.array(landing), take_pool(combos["page_referrer"], f.combo), prev_url)
    has_price = f.price >= 0
    has_order = f.order >= 0
    order_ids = None
    if has_order.any():
        digits = pc.utf8_lpad(int_strings(np.maximum(f.order, 0), has_order), 6, "0")
        order_ids = pc.binary_join_element_wise(
            f"ORD-{ctx.day:%Y%m%d}-{ctx.chunk:03d}-", digits, ""
        )
    columns: list[pa.Array] = [
        uuid_strings(f.uid),
        take_pool(pools["event"], f.event.astype(np.int64)),
        ctx.anonymous_ids.take(pa.array(f.device)),
        take_pool(ctx.world.user_ids, f.user),
        int_strings(plan.created[rows]),
        int_strings(plan.sent[rows]),
        int_strings(plan.collector[rows]),
        url,
        take_pool(ctx.paths, f.path),
        referrer,
        take_pool(_campaign_segments(), np.where(landing, f.combo, len(_campaign_segments()) - 1)),
        ctx.device_segments.take(pa.array(f.device)),
        take_pool(ctx.world.product_ids, f.product),
        cents_strings(f.price, has_price),
        int_strings(f.qty, f.qty >= 0),
        order_ids if order_ids is not None else pa.nulls(len(rows), pa.string()),
        cents_strings(f.revenue, f.revenue >= 0),
        pc.if_else(
            pa.array(has_price), pa.scalar(ctx.world.config.currency), pa.scalar(None, pa.string())
        ),
        take_pool(ctx.search_queries, f.search),
        pa.nulls(len(rows), pa.string()),
    ]
    if not defects:
        return csv_lines(columns)
    kind = plan.kind[rows]
    variant = plan.variant[rows]
    _apply_text_defects(columns, kind, variant, f)
    return _apply_malformed(csv_lines(columns), kind, variant)


@functools.lru_cache(maxsize=1)
def _campaign_segments() -> pa.Array:
    """``utm_source,utm_medium,utm_campaign,refr_medium`` per landing combo, then 'internal'."""
    c = combo_columns()
    names = ("utm_source", "utm_medium", "utm_campaign", "refr_medium")
    joined = pc.binary_join_element_wise(*[pc.fill_null(c[k], "") for k in names], ",")
    return pa.concat_arrays([joined, pa.array([",,,internal"], pa.string())])


def _page_url(ctx: RenderContext, path: np.ndarray, combo: np.ndarray) -> pa.Array:
    query = take_pool(combo_columns()["query_string"], combo)
    return pc.binary_join_element_wise(
        SITE, take_pool(ctx.paths, path), query, "", null_handling="skip"
    )


def _replace(columns: list[pa.Array], name: str, mask: np.ndarray, values: pa.Array) -> None:
    """Overwrite column ``name`` where ``mask`` with ``values`` (one per masked row)."""
    if mask.any():
        col = columns[COL[name]]
        columns[COL[name]] = pc.replace_with_mask(col, pa.array(mask), values.cast(col.type))


def _apply_text_defects(
    columns: list[pa.Array], kind: np.ndarray, variant: np.ndarray, f: Frame
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
