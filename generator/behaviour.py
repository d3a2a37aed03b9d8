"""Visitors and what they do: visits, a Markov shopping funnel, identities and timing (numpy).

One call simulates one *chunk* of one day: the visits that start in the chunk's time window.
Each visit walks a Markov chain over page types (landing -> list/search -> product view -> add to
cart -> checkout -> order, with exits everywhere); channel, device and being a known customer
scale the conversion steps. All visits of a chunk advance together one step at a time, so the
Python loop runs once per funnel step, never once per event.

Rows come out sorted by (visit, time) with true event times; device clocks, network delays and
defects are applied later (defects.py).
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass, fields

import numpy as np

from generator.channels import CONVERSION_FACTOR, LANDING_STATE_SHARE, draw_combos
from generator.entities import NEVER, World, pick_agents
from generator.seeding import rng_for
from generator.timeprofile import DAY_MS, epoch_ms, seconds_from_quantiles, window_seconds
from generator.vocab import CONTENT_PATHS, COUNTRIES, TAXONOMY

# Event codes = positions in vocab.EVENT_NAMES.
PV, PLV, SRCH, VIEW, ADD, REM, CHK, ORD, IDENT = range(9)
EXIT = 8  # column of the transition matrix meaning "leave"
MAX_CART = 6
MAX_STEPS = 60

# Transition probabilities; columns PV, PLV, SRCH, VIEW, ADD, REM, CHK, ORD, EXIT.
_P = np.array(
    [
        [0.18, 0.30, 0.12, 0.14, 0.00, 0.00, 0.00, 0.00, 0.26],  # page_view
        [0.05, 0.14, 0.05, 0.50, 0.00, 0.00, 0.00, 0.00, 0.26],  # product list
        [0.00, 0.10, 0.10, 0.55, 0.00, 0.00, 0.00, 0.00, 0.25],  # search
        [0.05, 0.20, 0.07, 0.22, 0.11, 0.00, 0.04, 0.00, 0.31],  # product view
        [0.00, 0.14, 0.00, 0.36, 0.00, 0.05, 0.22, 0.00, 0.23],  # added to cart
        [0.00, 0.30, 0.00, 0.30, 0.00, 0.00, 0.12, 0.00, 0.28],  # removed from cart
        [0.00, 0.00, 0.00, 0.05, 0.00, 0.00, 0.00, 0.50, 0.45],  # checkout started
        [0.10, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.90],  # order completed
    ]
)
_P_BY_TARGET = np.ascontiguousarray(_P.T)
"""``_P`` transposed: row = next state, column = current state."""
_PROGRESS = (ADD, CHK, ORD)
_QUANTITIES = np.array([1, 1, 1, 1, 1, 2, 2, 3])
"""Units per add to cart, drawn uniformly (so 1 is most likely)."""
DEVICE_FACTOR = np.array([1.2, 0.8, 1.0])  # desktop, mobile, tablet

# Static page paths; category, content and product paths follow in the path pool.
STATIC_PATHS = ("/search", "/cart", "/checkout", "/checkout/confirmation", "/login")
_STATIC_OF_EVENT = {SRCH: 0, REM: 1, CHK: 2, ORD: 3, IDENT: 4}
CONTENT_OFFSET = len(STATIC_PATHS)
CATEGORY_OFFSET = CONTENT_OFFSET + len(CONTENT_PATHS)
PRODUCT_OFFSET = CATEGORY_OFFSET + len(TAXONOMY)


@dataclass
class Frame:
    """One chunk's events before defects; one entry per row, sorted by (visit, time)."""

    visit: np.ndarray
    event: np.ndarray
    device: np.ndarray  # index into ChunkDevices
    user: np.ndarray  # -1 = not logged in
    ts: np.ndarray  # true event time, epoch ms
    batch_delay: np.ndarray  # device send delay, ms
    net: np.ndarray  # network latency, ms
    product: np.ndarray
    price: np.ndarray  # cents, -1 = none
    qty: np.ndarray  # -1 = none
    order: np.ndarray  # chunk-local order number, -1 = none
    revenue: np.ndarray  # cents, -1 = none
    path: np.ndarray  # index into the day's path pool
    combo: np.ndarray  # landing combo, -1 = not a landing event
    search: np.ndarray  # search query index, -1 = none
    is_bot: np.ndarray
    uid: np.ndarray  # (n, 16) random bytes of the event id

    def __len__(self) -> int:
        return len(self.visit)

    def take(self, index: np.ndarray) -> Frame:
        return Frame(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def concat(frames: list[Frame]) -> Frame:
        return Frame(
            **{f.name: np.concatenate([getattr(x, f.name) for x in frames]) for f in fields(Frame)}
        )


@dataclass
class ChunkDevices:
    """Devices seen in a chunk: the world's devices, then one-off visitors, then bots."""

    device_type: np.ndarray
    agent: np.ndarray
    country: np.ndarray
    ip: np.ndarray  # (n, 3)
    anon_raw: np.ndarray  # (n, 16) for devices beyond the world's


@dataclass
class _Visits:
    device: np.ndarray
    start: np.ndarray  # epoch ms
    channel: np.ndarray
    combo: np.ndarray
    mode: np.ndarray  # 0 anonymous, 1 logged in throughout, 2 identifies during the visit
    user: np.ndarray
    mult: np.ndarray
    landing: np.ndarray


def _sample_cdf(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"), len(cdf) - 1)


def _walk(
    rng: np.random.Generator, visits: _Visits, pop_cdf: np.ndarray, partner: np.ndarray
) -> dict[str, np.ndarray]:
    """Run the funnel for all visits at once; returns row arrays (unsorted)."""
    n = len(visits.device)
    state = visits.landing.astype(np.int64).copy()
    cart = np.full((n, MAX_CART), -1, dtype=np.int64)
    cart_qty = np.zeros((n, MAX_CART), dtype=np.int64)
    cart_n = np.zeros(n, dtype=np.int64)
    current = np.full(n, -1, dtype=np.int64)
    order_of = np.full(n, -1, dtype=np.int64)
    came_from_add = np.zeros(n, dtype=bool)
    orders = 0
    out: dict[str, list[np.ndarray]] = {
        k: [] for k in ("visit", "step", "sub", "event", "product", "qty", "order", "arg")
    }
    active = np.arange(n)
    step = 0
    while active.size:
        s = state[active]
        m = active.size
        product = np.full(m, -1, dtype=np.int64)
        qty = np.full(m, -1, dtype=np.int64)
        order = np.full(m, -1, dtype=np.int64)
        arg = rng.integers(0, 1 << 30, m)
        # product views: popular products, or the partner of what was just added
        sel = s == VIEW
        if sel.any():
            idx = active[sel]
            pick = _sample_cdf(rng, pop_cdf, idx.size)
            last = cart[idx, np.maximum(cart_n[idx] - 1, 0)]
            use_partner = came_from_add[idx] & (cart_n[idx] > 0) & (rng.random(idx.size) < 0.6)
            pick = np.where(use_partner, partner[np.maximum(last, 0)], pick)
            current[idx] = pick
            product[sel] = pick
        sel = s == ADD
        if sel.any():
            idx = active[sel]
            q = _QUANTITIES[rng.integers(0, len(_QUANTITIES), idx.size)]  # = rng.choice, cheaper
            cart[idx, cart_n[idx]] = current[idx]
            cart_qty[idx, cart_n[idx]] = q
            cart_n[idx] += 1
            product[sel] = current[idx]
            qty[sel] = q
        sel = s == REM
        if sel.any():
            idx = active[sel]
            cart_n[idx] -= 1
            product[sel] = cart[idx, cart_n[idx]]
            qty[sel] = cart_qty[idx, cart_n[idx]]
        sel = s == CHK
        if sel.any():
            idx = active[sel]
            order_of[idx] = orders + np.arange(idx.size)
            orders += idx.size
            order[sel] = order_of[idx]
        line_rows: dict[str, np.ndarray] | None = None
        sel = s == ORD
        if sel.any():
            idx = active[sel]
            counts = cart_n[idx]
            v = np.repeat(idx, counts)
            line = np.arange(v.size) - np.repeat(np.cumsum(counts) - counts, counts)
            line_rows = {
                "visit": v,
                "step": np.full(v.size, step),
                "sub": line + 1,
                "event": np.full(v.size, ORD),
                "product": cart[v, line],
                "qty": cart_qty[v, line],
                "order": order_of[v],
                "arg": np.zeros(v.size, dtype=np.int64),
            }
            cart_n[idx] = 0
        keep = s != ORD
        for key, values in (
            ("visit", active[keep]),
            ("step", np.full(int(keep.sum()), step)),
            ("sub", np.ones(int(keep.sum()), dtype=np.int64)),
            ("event", s[keep]),
            ("product", product[keep]),
            ("qty", qty[keep]),
            ("order", order[keep]),
            ("arg", arg[keep]),
        ):
            out[key].append(values)
            if line_rows is not None:
                out[key].append(line_rows[key])
        # transitions, one row per target state (so each operation runs over all visits at once)
        probs = np.take(_P_BY_TARGET, s, axis=1)
        mult = visits.mult[active]
        for target in _PROGRESS:
            probs[target] *= mult
        in_cart = cart_n[active]
        probs[CHK, in_cart == 0] = 0.0
        probs[REM, in_cart == 0] = 0.0
        probs[ADD, in_cart >= MAX_CART] = 0.0
        if step + 1 >= MAX_STEPS:
            probs[:EXIT] = 0.0
            probs[EXIT] = 1.0
        cdf = probs  # cumulative over targets, in place; same additions as np.cumsum, faster
        for target in range(1, EXIT + 1):
            np.add(cdf[target - 1], cdf[target], out=cdf[target])
        above = (rng.random(m) * cdf[EXIT] > cdf).view(np.uint8)
        nxt = np.add.reduce(above, axis=0, dtype=np.uint8)  # targets passed = next state
        came_from_add[active] = s == ADD
        state[active] = nxt
        active = active[nxt != EXIT]
        step += 1
    return {k: np.concatenate(v) if v else np.zeros(0, dtype=np.int64) for k, v in out.items()}


def _identify_rows(
    rng: np.random.Generator, visits: _Visits, rows: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Insert the login (identify) event: before the first checkout, else anywhere."""
    who = np.flatnonzero(visits.mode == 2)
    if who.size == 0:
        return rows
    n = len(visits.device)
    last_step = np.zeros(n, dtype=np.int64)
    np.maximum.at(last_step, rows["visit"], rows["step"])
    first_chk = np.full(n, MAX_STEPS + 1, dtype=np.int64)
    chk = rows["event"] == CHK
    np.minimum.at(first_chk, rows["visit"][chk], rows["step"][chk])
    at = np.where(
        first_chk[who] <= MAX_STEPS,
        first_chk[who],
        1 + (rng.random(who.size) * last_step[who]).astype(np.int64),
    )
    extra = {
        "visit": who,
        "step": at,
        "sub": np.zeros(who.size, dtype=np.int64),
        "event": np.full(who.size, IDENT),
        "product": np.full(who.size, -1),
        "qty": np.full(who.size, -1),
        "order": np.full(who.size, -1),
        "arg": np.zeros(who.size, dtype=np.int64),
    }
    return {k: np.concatenate([rows[k], extra[k]]) if k in extra else rows[k] for k in rows}


@dataclass(frozen=True)
class ChunkSpec:
    """Which chunk of which day to simulate, and how big it is."""

    day_index: int
    day: dt.date
    chunk: int
    chunks: int
    events: int  # events to simulate in this chunk (humans + bots)


_DRAW_TABLES_LOCK = threading.Lock()


def _day_draw_tables(world: World, j: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """What every chunk of day ``j`` draws from: devices that exist and their cumulative visit
    weights, cumulative product popularity, and the devices registering that day.

    The same for all chunks of a day, so built once per world (under a lock: chunks may be
    simulated on several threads).
    """
    cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    cache = world.__dict__.setdefault("_draw_tables", {})
    if j in cache:
        return cache[j]
    with _DRAW_TABLES_LOCK:
        if j not in cache:
            dev = world.devices
            eligible = np.flatnonzero(dev.first_seen <= j)
            age = j - dev.first_seen[eligible]
            weight = dev.activity[eligible] * (1.0 + 2.0 * np.exp(-age / 14.0))
            products = world.products
            pop = np.where(products.discontinued, 0.0, products.popularity)
            users = world.users
            start_ms = epoch_ms(world.config.start_date)
            created_day = (users.created_at * 1000 - start_ms) // DAY_MS
            registering = np.flatnonzero(
                (dev.user >= 0)
                & (dev.first_seen == j)
                & (dev.login_day == j)
                & (created_day[np.maximum(dev.user, 0)] == j)
            )
            cache[j] = (
                eligible,
                np.cumsum(weight),
                np.cumsum(pop if pop.sum() > 0 else np.ones(len(pop))),
                registering,
            )
    return cache[j]


def simulate_chunk(world: World, next_world: World, spec: ChunkSpec) -> tuple[Frame, ChunkDevices]:
    """Simulate one chunk: human visits (incl. today's registrations) and bot crawls."""
    cfg = world.config
    seed = cfg.seed
    j, c = spec.day_index, spec.chunk
    day_ms = epoch_ms(spec.day)
    dev = world.devices
    n_world = len(dev)
    extra: list[ChunkDevices] = []
    n_extra = 0

    eligible, device_cdf, pop_cdf, reg_day = _day_draw_tables(world, j)
    products = world.products

    bot_budget = round(spec.events * cfg.bot_share)
    human_budget = spec.events - bot_budget
    lo_s, hi_s = window_seconds(c, spec.chunks, spec.day)

    frames: list[Frame] = []
    visit_base = 0
    order_base = 0
    if spec.events == 0:
        return _empty_frame(), _chunk_devices(world, [])
    # Today's registrations whose account creation falls in this chunk's window.
    users = world.users
    reg = reg_day
    reg_tod = users.created_at[dev.user[reg]] - day_ms // 1000
    reg = reg[(reg_tod >= lo_s) & (reg_tod < hi_s)]
    batch = 0
    produced = 0
    while produced < human_budget or (batch == 0 and reg.size):
        rng = rng_for(seed, "visits", j, c, batch)
        if batch == 0 and reg.size:
            device = reg
            start = users.created_at[dev.user[reg]] * 1000
            vtype = dev.device_type[reg]
        else:
            remaining = human_budget - produced
            n = max(8, int(remaining / 4.5) + 8)
            oneoff = rng.random(n) < 0.35
            device = (
                eligible[_sample_cdf(rng, device_cdf, n)]
                if eligible.size
                else np.zeros(n, dtype=np.int64)
            )
            if not eligible.size:
                oneoff[:] = True
            vtype = (
                dev.device_type[np.minimum(device, n_world - 1)]
                if n_world
                else np.zeros(n, dtype=np.int8)
            )
            k = int(oneoff.sum())
            if k:
                new = _oneoff_devices(rng, world, k)
                extra.append(new)
                device = device.copy()
                device[oneoff] = n_world + n_extra + np.arange(k)
                vtype = vtype.copy()
                vtype[oneoff] = new.device_type
                n_extra += k
            u = (c + rng.random(n)) / spec.chunks
            start = day_ms + (seconds_from_quantiles(u, spec.day) * 1000).astype(np.int64)
        visits = _make_visits(
            rng, world, device, vtype, start, n_world, registering=(batch == 0 and reg.size > 0)
        )
        rows = _identify_rows(rng, visits, _walk(rng, visits, pop_cdf, products.partner))
        per_visit = np.bincount(rows["visit"], minlength=len(device))
        if batch > 0 or not reg.size:
            need = human_budget - produced
            cum = np.cumsum(per_visit)
            cut = (
                int(np.searchsorted(cum, need)) + 1 if cum.size and cum[-1] >= need else len(device)
            )
            keep_rows = rows["visit"] < cut
            rows = {k: v[keep_rows] for k, v in rows.items()}
            per_visit = per_visit[:cut]
        frame = _to_frame(rng, world, next_world, visits, rows, visit_base, spec)
        frame.order = np.where(frame.order >= 0, frame.order + order_base, -1)
        order_base = int(frame.order.max()) + 1 if (frame.order >= 0).any() else order_base
        frames.append(frame)
        visit_base += len(per_visit)
        produced += int(per_visit.sum())
        batch += 1
        if batch > 10_000:  # pragma: no cover - defensive: budget always shrinks
            break
    if bot_budget > 0:
        bot_frame, bots = _bots(
            world, next_world, spec, bot_budget, visit_base, n_world + n_extra, lo_s, hi_s
        )
        frames.append(bot_frame)
        extra.append(bots)
    frame = Frame.concat(frames) if frames else _empty_frame()
    devices = _chunk_devices(world, extra)
    frame.batch_delay = _send_delays(rng_for(seed, "visits", j, c, 999_999), frame, devices)
    frame.uid = rng_for(seed, "ids", j, c).integers(0, 256, (len(frame), 16), dtype=np.uint8)
    return frame, devices


def _send_delays(rng: np.random.Generator, frame: Frame, devices: ChunkDevices) -> np.ndarray:
    """Device send delay (ms): mobile apps batch events for a few seconds; order lines share it."""
    n = len(frame)
    mobile = devices.device_type[frame.device] == 1
    delay = np.where(mobile, rng.integers(0, 4000, n), rng.integers(0, 250, n))
    delay = np.where(frame.is_bot, 0, delay)
    same_order = np.zeros(n, dtype=bool)
    same_order[1:] = (
        (frame.event[1:] == ORD) & (frame.event[:-1] == ORD) & (frame.order[1:] == frame.order[:-1])
    )
    line_start = np.maximum.accumulate(np.where(~same_order, np.arange(n), 0))
    return delay[line_start].astype(np.int64)


def _make_visits(
    rng: np.random.Generator,
    world: World,
    device: np.ndarray,
    device_type: np.ndarray,
    start: np.ndarray,
    n_world: int,
    registering: bool,
) -> _Visits:
    dev = world.devices
    j = world.day_index
    n = len(device)
    in_world = device < n_world
    wd = np.where(in_world, device, 0)
    owner = np.where(in_world, dev.user[wd], -1)
    shared = np.where(in_world, dev.shared_user[wd], -1)
    login = np.where(in_world, dev.login_day[wd], NEVER)
    mode = np.zeros(n, dtype=np.int8)
    mode[(owner >= 0) & (login < j)] = 1
    mode[(owner >= 0) & (login == j)] = 2
    mode[shared >= 0] = 2
    if registering:
        mode[:] = 2
    user = np.where(shared >= 0, np.where(rng.random(n) < 0.5, owner, shared), owner)
    user = np.where(mode > 0, user, -1)
    channel, combo = draw_combos(rng, owner >= 0)
    mult = CONVERSION_FACTOR[channel] * DEVICE_FACTOR[device_type] * np.where(mode > 0, 1.25, 1.0)
    landing_cdf = np.cumsum(LANDING_STATE_SHARE[channel], axis=1)
    landing = (rng.random(n)[:, None] > landing_cdf).sum(axis=1)
    landing = np.array([PV, PLV, SRCH, VIEW])[np.minimum(landing, 3)]
    return _Visits(device, start, channel, combo, mode, user, mult, landing)


def _oneoff_devices(rng: np.random.Generator, world: World, k: int) -> ChunkDevices:
    from generator.entities import COUNTRY_SHARES

    device_type = rng.choice(3, k, p=[0.35, 0.55, 0.10]).astype(np.int8)
    return ChunkDevices(
        device_type=device_type,
        agent=pick_agents(rng, world.agents, device_type),
        country=rng.choice(len(COUNTRIES), k, p=COUNTRY_SHARES).astype(np.int8),
        ip=rng.integers(1, 255, (k, 3), dtype=np.uint8),
        anon_raw=rng.integers(0, 256, (k, 16), dtype=np.uint8),
    )


def _chunk_devices(world: World, extra: list[ChunkDevices]) -> ChunkDevices:
    dev = world.devices
    parts = [
        ChunkDevices(
            dev.device_type, dev.agent, dev.country, dev.ip, np.zeros((0, 16), dtype=np.uint8)
        )
    ]
    parts += extra
    return ChunkDevices(
        device_type=np.concatenate([p.device_type for p in parts]),
        agent=np.concatenate([p.agent for p in parts]),
        country=np.concatenate([p.country for p in parts]),
        ip=np.concatenate([p.ip for p in parts]),
        anon_raw=np.concatenate([p.anon_raw for p in parts[1:]])
        if extra
        else np.zeros((0, 16), dtype=np.uint8),
    )


def _event_timing(
    rng: np.random.Generator, visit: np.ndarray, start: np.ndarray, gap: np.ndarray, day_ms: int
) -> np.ndarray:
    """Event times: visit start + running sum of the gaps inside each visit."""
    first = np.ones(len(visit), dtype=bool)
    first[1:] = visit[1:] != visit[:-1]
    gap = np.where(first, 0, gap)
    total = np.cumsum(gap)
    base = np.maximum.accumulate(np.where(first, np.arange(len(visit)), 0))
    ts = start + total - total[base]
    return np.minimum(ts, day_ms + 2 * DAY_MS - 1)


def _prices(
    world: World, next_world: World, product: np.ndarray, derived: np.ndarray, day_ms: int
) -> np.ndarray:
    """Unit price valid at the event's (derived) time: that day's extract price."""
    has = product >= 0
    p = np.maximum(product, 0)
    today = world.products.price[np.minimum(p, len(world.products) - 1)]
    tomorrow = next_world.products.price[np.minimum(p, len(next_world.products) - 1)]
    price = np.where(derived >= day_ms + DAY_MS, tomorrow, today)
    return np.where(has, price, -1)


def _to_frame(
    rng: np.random.Generator,
    world: World,
    next_world: World,
    visits: _Visits,
    rows: dict[str, np.ndarray],
    visit_base: int,
    spec: ChunkSpec,
) -> Frame:
    order = np.lexsort((rows["sub"], rows["step"], rows["visit"]))
    r = {k: v[order] for k, v in rows.items()}
    n = len(r["visit"])
    v = r["visit"]
    event = r["event"]
    # gaps: seconds to minutes, with occasional long pauses that split the visit into sessions
    gap = rng.lognormal(np.log(22_000), 1.1, n).astype(np.int64)
    pause = rng.random(n) < 0.012
    gap = np.where(pause, rng.integers(31 * 60_000, 150 * 60_000, n), np.minimum(gap, 25 * 60_000))
    gap = np.where(event == IDENT, rng.integers(3_000, 20_000, n), gap)
    order_line = (event == ORD) & (r["sub"] > 1)
    gap = np.where(order_line, 0, gap)
    day_ms = epoch_ms(spec.day)
    ts = _event_timing(rng, v, visits.start[v], gap, day_ms)
    device = visits.device[v]
    # network latency; lines of one order share their timestamps
    line_start = np.maximum.accumulate(np.where(~order_line, np.arange(n), 0))
    net = rng.integers(25, 450, n).astype(np.int64)[line_start]
    # user id: from the login on for identifying visits, throughout for logged-in ones
    mode = visits.mode[v]
    ident_pos = np.full(len(visits.device), n + 1, dtype=np.int64)
    is_ident = event == IDENT
    ident_pos[v[is_ident]] = np.flatnonzero(is_ident)
    logged = (mode == 1) | ((mode == 2) & (np.arange(n) >= ident_pos[v]))
    user = np.where(logged, visits.user[v], -1)
    product = r["product"]
    price = _prices(world, next_world, product, ts + net, day_ms)
    qty = r["qty"]
    revenue = np.where(event == ORD, price * qty, -1)
    path = np.zeros(n, dtype=np.int64)
    for code, static in _STATIC_OF_EVENT.items():
        path[event == code] = static
    path = np.where(event == PV, CONTENT_OFFSET + r["arg"] % len(CONTENT_PATHS), path)
    path = np.where(event == PLV, CATEGORY_OFFSET + r["arg"] % len(TAXONOMY), path)
    path = np.where((event == VIEW) | (event == ADD), PRODUCT_OFFSET + product, path)
    first = np.ones(n, dtype=bool)
    first[1:] = v[1:] != v[:-1]
    return Frame(
        visit=(v + visit_base).astype(np.int64),
        event=event.astype(np.int8),
        device=device.astype(np.int64),
        user=user.astype(np.int64),
        ts=ts.astype(np.int64),
        batch_delay=np.zeros(n, dtype=np.int64),
        net=net,
        product=product.astype(np.int64),
        price=np.where(qty >= 0, price, np.where(event == VIEW, price, -1)).astype(np.int64),
        qty=qty.astype(np.int64),
        order=r["order"].astype(np.int64),
        revenue=revenue.astype(np.int64),
        path=path,
        combo=np.where(first, visits.combo[v], -1).astype(np.int64),
        search=np.where(event == SRCH, r["arg"] % len(world.vocab.search_queries), -1).astype(
            np.int64
        ),
        is_bot=np.zeros(n, dtype=bool),
        uid=np.zeros((n, 16), dtype=np.uint8),
    )


def _bots(
    world: World,
    next_world: World,
    spec: ChunkSpec,
    budget: int,
    visit_base: int,
    device_base: int,
    lo_s: float,
    hi_s: float,
) -> tuple[Frame, ChunkDevices]:
    """Crawlers: 300-900 page/product hits ~170 ms apart; they never buy.

    At that pace any whole minute-bucket of a crawl holds well over 120 events, so staging's rate
    rule catches even the bots that spoof a browser user agent.
    """
    rng = rng_for(world.config.seed, "bots", spec.day_index, spec.chunk)
    lengths = rng.integers(300, 900, budget // 300 + 2)
    cum = np.cumsum(lengths)
    k = int(np.searchsorted(cum, budget)) + 1
    lengths = lengths[:k]
    lengths[-1] -= int(cum[k - 1] - budget)
    lengths = lengths[lengths > 0]
    k = len(lengths)
    n = int(lengths.sum())
    v = np.repeat(np.arange(k), lengths)
    event = rng.choice(np.array([PV, PLV, SRCH, VIEW]), n, p=[0.2, 0.3, 0.1, 0.4])
    n_products = len(world.products)
    product = np.where(event == VIEW, rng.integers(0, n_products, n), -1)
    arg = rng.integers(0, 1 << 30, n)
    day_ms = epoch_ms(spec.day)
    start = day_ms + (rng.uniform(lo_s, hi_s, k) * 1000).astype(np.int64)
    gap = (rng.exponential(150, n) + 20).astype(np.int64)  # ~350 events a minute
    ts = _event_timing(rng, v, start[v], gap, day_ms)
    net = rng.integers(5, 60, n).astype(np.int64)
    batch_delay = np.zeros(n, dtype=np.int64)
    lo, hi = world.agents.bot_range
    desktop_lo, desktop_hi = world.agents.ranges["desktop"]
    # Most bots announce themselves; some spoof a browser and are caught only by their rate.
    agent = np.where(
        rng.random(k) < 0.8, rng.integers(lo, hi, k), rng.integers(desktop_lo, desktop_hi, k)
    )
    bots = ChunkDevices(
        device_type=np.zeros(k, dtype=np.int8),
        agent=agent.astype(np.int32),
        country=rng.integers(0, len(COUNTRIES), k).astype(np.int8),
        ip=np.column_stack(
            [rng.choice([34, 35, 52, 54, 66, 157], k), rng.integers(1, 255, (k, 2))]
        ).astype(np.uint8),
        anon_raw=rng.integers(0, 256, (k, 16), dtype=np.uint8),
    )
    path = np.select(
        [event == PV, event == PLV, event == SRCH, event == VIEW],
        [
            CONTENT_OFFSET + arg % len(CONTENT_PATHS),
            CATEGORY_OFFSET + arg % len(TAXONOMY),
            0,
            PRODUCT_OFFSET + product,
        ],
    )
    first = np.ones(n, dtype=bool)
    first[1:] = v[1:] != v[:-1]
    frame = Frame(
        visit=(v + visit_base).astype(np.int64),
        event=event.astype(np.int8),
        device=(v + device_base).astype(np.int64),
        user=np.full(n, -1, dtype=np.int64),
        ts=ts,
        batch_delay=batch_delay,
        net=net,
        product=product.astype(np.int64),
        price=_prices(world, next_world, product, ts + net, day_ms).astype(np.int64),
        qty=np.full(n, -1, dtype=np.int64),
        order=np.full(n, -1, dtype=np.int64),
        revenue=np.full(n, -1, dtype=np.int64),
        path=path.astype(np.int64),
        combo=np.where(first, 0, -1).astype(np.int64),
        search=np.where(event == SRCH, arg % len(world.vocab.search_queries), -1).astype(np.int64),
        is_bot=np.ones(n, dtype=bool),
        uid=np.zeros((n, 16), dtype=np.uint8),
    )
    return frame, bots


def _empty_frame() -> Frame:
    z = np.zeros(0, dtype=np.int64)
    return Frame(
        z,
        z.astype(np.int8),
        z,
        z,
        z,
        z,
        z,
        z,
        z,
        z,
        z,
        z,
        z,
        z,
        z,
        z.astype(bool),
        np.zeros((0, 16), np.uint8),
    )
