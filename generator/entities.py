"""The shop's slowly changing world: users, products and devices, day by day.

``World`` is an immutable snapshot at the end of one simulated day. ``World.initial`` builds the
state before day 0 and ``advance`` applies one day's new users/products/devices and attribute
changes, each drawn from a stream keyed by that day only. So the world on day k is a pure function
of (seed, start_date, k), whatever else was generated in the same process.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from generator.config import GeneratorConfig
from generator.formatting import csv_escape, datetime_strings, prefixed_ids, uuid_strings
from generator.seeding import rng_for
from generator.timeprofile import DAY_S, epoch_ms, seconds_from_quantiles
from generator.vocab import (
    BOT_USER_AGENTS,
    COUNTRIES,
    DEVICE_TYPES,
    EMAIL_DOMAINS,
    LOYALTY_TIERS,
    PRICE_LEVEL,
    PRODUCT_ADJECTIVES,
    TAXONOMY,
    Vocabulary,
    ascii_slug,
    build_vocabulary,
)

NEVER = 1_000_000
"""``login_day`` of a device that never logs in."""

COUNTRY_SHARES = np.array([share for _c, _l, share in COUNTRIES]) / sum(
    s for _c, _l, s in COUNTRIES
)
USER_COLUMNS = (
    "user_id", "email", "first_name", "last_name", "city", "country",
    "loyalty_tier", "marketing_opt_in", "created_at", "updated_at",
)  # fmt: skip
PRODUCT_COLUMNS = (
    "product_id", "product_name", "category_l1", "category_l2", "category_l3",
    "brand", "price", "currency", "is_discontinued", "created_at", "updated_at",
)  # fmt: skip


@dataclass(frozen=True)
class AgentPool:
    """All user agents, flat; browser agents grouped by device type, bot agents last."""

    agents: list[str]
    ranges: dict[str, tuple[int, int]]
    bot_range: tuple[int, int]

    @functools.cached_property
    def escaped(self) -> pa.Array:
        return csv_escape(pa.array(self.agents, type=pa.string()))


def agent_pool(vocab: Vocabulary) -> AgentPool:
    agents: list[str] = []
    ranges: dict[str, tuple[int, int]] = {}
    for kind in DEVICE_TYPES:
        ranges[kind] = (len(agents), len(agents) + len(vocab.user_agents[kind]))
        agents += vocab.user_agents[kind]
    bot_range = (len(agents), len(agents) + len(BOT_USER_AGENTS))
    agents += list(BOT_USER_AGENTS)
    return AgentPool(agents, ranges, bot_range)


def pick_agents(rng: np.random.Generator, pool: AgentPool, device_type: np.ndarray) -> np.ndarray:
    """A browser user agent index matching each device type (vectorised)."""
    out = np.zeros(len(device_type), dtype=np.int32)
    for code, kind in enumerate(DEVICE_TYPES):
        sel = device_type == code
        lo, hi = pool.ranges[kind]
        out[sel] = rng.integers(lo, hi, int(sel.sum()))
    return out


def _pool_index(rng: np.random.Generator, sizes: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Uniform index into per-group pools of different sizes."""
    return (rng.random(len(group)) * sizes[group]).astype(np.int32)


def _make_emails(
    rng: np.random.Generator,
    vocab: Vocabulary,
    country: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
) -> np.ndarray:
    """``first.last[NN]@domain`` from the (ASCII-folded) name pools (joined by Arrow)."""
    pools = _name_pools(vocab)
    numbers = rng.integers(0, 100, len(country))
    domains = rng.integers(0, len(EMAIL_DOMAINS), len(country))
    emails = pc.binary_join_element_wise(
        pools["first_slug"].take(country, first),
        ".",
        pools["last_slug"].take(country, last),
        _EMAIL_NUMBERS.take(pa.array(numbers)),
        "@",
        _EMAIL_DOMAINS.take(pa.array(domains)),
        "",
    )
    return np.asarray(emails.to_numpy(zero_copy_only=False), dtype=object)


_EMAIL_NUMBERS = pa.array(["" if n < 40 else str(n) for n in range(100)], pa.string())
_EMAIL_DOMAINS = pa.array(EMAIL_DOMAINS, pa.string())


@dataclass(frozen=True)
class _CountryPool:
    """Per-country lists of one vocabulary pool, flattened into one Arrow array."""

    values: pa.Array
    starts: np.ndarray  # position of each country's first value

    def take(self, country: np.ndarray, index: np.ndarray) -> pa.Array:
        return self.values.take(pa.array(self.starts[country] + index))


@functools.lru_cache(maxsize=4)
def _name_pools(vocab: Vocabulary) -> dict[str, _CountryPool]:
    """Names, their ASCII slugs (for emails) and cities, escaped for CSV, per country."""
    codes = [c for c, _l, _s in COUNTRIES]

    def flat(lists: dict[str, list[str]], slug: bool = False) -> _CountryPool:
        sizes = np.array([len(lists[c]) for c in codes])
        values = [ascii_slug(v) if slug else v for c in codes for v in lists[c]]
        return _CountryPool(
            values=csv_escape(pa.array(values, pa.string())),
            starts=np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64),
        )

    return {
        "first": flat(vocab.first_names),
        "last": flat(vocab.last_names),
        "city": flat(vocab.cities),
        "first_slug": flat(vocab.first_names, slug=True),
        "last_slug": flat(vocab.last_names, slug=True),
    }


@dataclass(frozen=True)
class Users:
    country: np.ndarray
    first: np.ndarray
    last: np.ndarray
    city: np.ndarray
    email: np.ndarray
    tier: np.ndarray
    opt_in: np.ndarray
    created_at: np.ndarray
    updated_at: np.ndarray

    def __len__(self) -> int:
        return len(self.country)

    @staticmethod
    def concat(a: Users, b: Users) -> Users:
        return Users(
            **{f: np.concatenate([getattr(a, f), getattr(b, f)]) for f in a.__dataclass_fields__}
        )


@dataclass(frozen=True)
class Products:
    leaf: np.ndarray
    brand: np.ndarray
    name: np.ndarray
    price: np.ndarray  # cents
    discontinued: np.ndarray
    created_at: np.ndarray
    updated_at: np.ndarray
    popularity: np.ndarray
    partner: np.ndarray

    def __len__(self) -> int:
        return len(self.leaf)

    @staticmethod
    def concat(a: Products, b: Products) -> Products:
        return Products(
            **{f: np.concatenate([getattr(a, f), getattr(b, f)]) for f in a.__dataclass_fields__}
        )


@dataclass(frozen=True)
class Devices:
    anon_raw: np.ndarray  # (n, 16) uint8 -> anonymous_id UUID
    device_type: np.ndarray
    agent: np.ndarray
    country: np.ndarray
    ip: np.ndarray  # (n, 3) octets; the last octet is always 0
    user: np.ndarray  # -1 = anonymous-only device
    shared_user: np.ndarray  # second user of a shared device, -1 otherwise
    first_seen: np.ndarray
    login_day: np.ndarray
    activity: np.ndarray

    def __len__(self) -> int:
        return len(self.device_type)

    @staticmethod
    def concat(a: Devices, b: Devices) -> Devices:
        return Devices(
            **{f: np.concatenate([getattr(a, f), getattr(b, f)]) for f in a.__dataclass_fields__}
        )


def _price_cents(rng: np.random.Generator, leaf: np.ndarray) -> np.ndarray:
    level = np.array([PRICE_LEVEL[TAXONOMY[i][0]] for i in range(len(TAXONOMY))])[leaf]
    euros = np.maximum(1.0, np.round(level * rng.lognormal(0.0, 0.55, len(leaf))))
    return (euros * 100 - 1).astype(np.int64)  # x.99 pricing


def _same_l1_partner(rng: np.random.Generator, leaf_all: np.ndarray, new: np.ndarray) -> np.ndarray:
    """A 'bought together' partner for each new product, from its top-level category."""
    l1_of_leaf = np.array([sorted({t[0] for t in TAXONOMY}).index(t[0]) for t in TAXONOMY])
    l1 = l1_of_leaf[leaf_all]
    partner = np.empty(len(new), dtype=np.int32)
    for group in np.unique(l1[new]):
        members = np.flatnonzero(l1 == group)
        sel = l1[new] == group
        partner[sel] = members[rng.integers(0, len(members), int(sel.sum()))]
    return partner


@dataclass(frozen=True)
class World:
    """Users, products and devices as they are at the end of ``day_index``."""

    config: GeneratorConfig
    day_index: int
    users: Users
    products: Products
    devices: Devices
    vocab: Vocabulary
    agents: AgentPool

    # --- construction ------------------------------------------------------------------------

    @classmethod
    def initial(cls, config: GeneratorConfig) -> World:
        """The world before day 0: customers and catalogue that already existed."""
        vocab = build_vocabulary(config.seed)
        agents = agent_pool(vocab)
        start_s = epoch_ms(config.start_date) // 1000
        rng = rng_for(config.seed, "users", 0)
        n = config.users
        users = cls._new_users(rng, vocab, n, start_s - rng.integers(1, 730, n) * DAY_S)
        rng = rng_for(config.seed, "products", 0)
        products = cls._new_products(rng, vocab, config.products, None, start_s)
        rng = rng_for(config.seed, "devices", 0)
        user_first_day = (users.created_at - start_s) // DAY_S
        devices = cls._user_devices(rng, agents, users, np.arange(n), user_first_day, initial=True)
        anon = cls._anon_devices(
            rng, agents, int(n * 0.5), first_seen=-rng.integers(1, 120, int(n * 0.5))
        )
        world = cls(config, -1, users, products, Devices.concat(devices, anon), vocab, agents)
        return world

    @staticmethod
    def _new_users(
        rng: np.random.Generator, vocab: Vocabulary, n: int, day_start_s: np.ndarray
    ) -> Users:
        """``n`` new customers, each registering at a diurnally distributed time of its day."""
        codes = [c for c, _l, _s in COUNTRIES]
        country = rng.choice(len(COUNTRIES), n, p=COUNTRY_SHARES).astype(np.int8)
        sizes = {
            k: np.array([len(getattr(vocab, k)[c]) for c in codes])
            for k in ("first_names", "last_names", "cities")
        }
        first = _pool_index(rng, sizes["first_names"], country)
        last = _pool_index(rng, sizes["last_names"], country)
        city = _pool_index(rng, sizes["cities"], country)
        weekday = dt.date(2024, 1, 1)  # registration time-of-day follows the weekday curve
        created = day_start_s + seconds_from_quantiles(rng.random(n), weekday).astype(np.int64)
        return Users(
            country=country,
            first=first,
            last=last,
            city=city,
            email=_make_emails(rng, vocab, country, first, last),
            tier=rng.choice(4, n, p=[0.62, 0.24, 0.10, 0.04]).astype(np.int8),
            opt_in=rng.random(n) < 0.55,
            created_at=created,
            updated_at=created.copy(),
        )

    @staticmethod
    def _new_products(
        rng: np.random.Generator,
        vocab: Vocabulary,
        n: int,
        existing: Products | None,
        day_start_s: int,
    ) -> Products:
        leaf = rng.integers(0, len(TAXONOMY), n).astype(np.int16)
        brand = np.minimum(rng.zipf(1.6, n) - 1, len(vocab.brands) - 1).astype(np.int32)
        adjective = rng.integers(0, len(PRODUCT_ADJECTIVES), n)
        model = rng.integers(0, len(vocab.model_words), n)
        name = np.asarray(
            pc.binary_join_element_wise(
                pa.array(vocab.brands, pa.string()).take(pa.array(brand)),
                pa.array(PRODUCT_ADJECTIVES, pa.string()).take(pa.array(adjective)),
                pa.array(vocab.model_words, pa.string()).take(pa.array(model)),
                pa.array([t[2] for t in TAXONOMY], pa.string()).take(pa.array(leaf)),
                " ",
            ).to_numpy(zero_copy_only=False),
            dtype=object,
        )
        if existing is None:  # the initial catalogue was built up over two years
            created = day_start_s - rng.integers(1, 730, n) * DAY_S
            updated = np.minimum(created + rng.integers(0, 400, n) * DAY_S, day_start_s - DAY_S)
            updated = np.maximum(updated, created)
            all_leaf = leaf
            offset = 0
        else:
            created = np.full(n, day_start_s, dtype=np.int64)
            updated = created.copy()
            all_leaf = np.concatenate([existing.leaf, leaf])
            offset = len(existing)
        partner = _same_l1_partner(rng, all_leaf, np.arange(offset, offset + n))
        return Products(
            leaf=leaf,
            brand=brand,
            name=name,
            price=_price_cents(rng, leaf),
            discontinued=np.zeros(n, dtype=bool),
            created_at=created.astype(np.int64),
            updated_at=updated.astype(np.int64),
            popularity=(rng.pareto(1.1, n) + 1.0) ** 1.5,
            partner=partner,
        )

    @staticmethod
    def _user_devices(
        rng: np.random.Generator,
        agents: AgentPool,
        users: Users,
        user_index: np.ndarray,
        user_first_day: np.ndarray,
        initial: bool,
    ) -> Devices:
        """1-3 devices per user; the first is where the account was made (logged in that day)."""
        n_dev = rng.choice([1, 2, 3], len(user_index), p=[0.5, 0.35, 0.15])
        owner = np.repeat(np.arange(len(user_index)), n_dev)
        rank = np.arange(len(owner)) - np.repeat(np.cumsum(n_dev) - n_dev, n_dev)
        m = len(owner)
        device_type = rng.choice(3, m, p=[0.45, 0.45, 0.10]).astype(np.int8)
        first_seen = user_first_day[owner] + np.where(rank == 0, 0, rng.geometric(0.08, m))
        later_login = first_seen + rng.geometric(0.4, m) - 1
        login = np.where(rank == 0, first_seen, np.where(rng.random(m) < 0.8, later_login, NEVER))
        if initial:  # most pre-existing devices are already logged in
            login = np.where(
                (rng.random(m) < 0.85) & (login != NEVER), np.minimum(login, -1), login
            )
        shared = np.where((rank > 0) & (rng.random(m) < 0.06), rng.integers(0, len(users), m), -1)
        shared = np.where(shared == user_index[owner], -1, shared)
        device_type = np.where(shared >= 0, 0, device_type).astype(np.int8)
        return Devices(
            anon_raw=rng.integers(0, 256, (m, 16), dtype=np.uint8),
            device_type=device_type,
            agent=pick_agents(rng, agents, device_type),
            country=users.country[user_index[owner]],
            ip=rng.integers(1, 255, (m, 3), dtype=np.uint8),
            user=user_index[owner].astype(np.int32),
            shared_user=shared.astype(np.int32),
            first_seen=first_seen.astype(np.int32),
            login_day=login.astype(np.int32),
            activity=rng.lognormal(0.0, 1.0, m).astype(np.float32),
        )

    @staticmethod
    def _anon_devices(
        rng: np.random.Generator, agents: AgentPool, n: int, first_seen: np.ndarray
    ) -> Devices:
        device_type = rng.choice(3, n, p=[0.40, 0.50, 0.10]).astype(np.int8)
        return Devices(
            anon_raw=rng.integers(0, 256, (n, 16), dtype=np.uint8),
            device_type=device_type,
            agent=pick_agents(rng, agents, device_type),
            country=rng.choice(len(COUNTRIES), n, p=COUNTRY_SHARES).astype(np.int8),
            ip=rng.integers(1, 255, (n, 3), dtype=np.uint8),
            user=np.full(n, -1, dtype=np.int32),
            shared_user=np.full(n, -1, dtype=np.int32),
            first_seen=np.asarray(first_seen, dtype=np.int32),
            login_day=np.full(n, NEVER, dtype=np.int32),
            activity=rng.lognormal(-0.7, 1.0, n).astype(np.float32),
        )

    # --- one day of change -------------------------------------------------------------------

    def advance(self) -> World:
        """The world at the end of the next day: new entities appear, attributes change."""
        cfg = self.config
        j = self.day_index + 1
        day = cfg.start_date + dt.timedelta(days=j)
        day_s = epoch_ms(day) // 1000
        users = self._change_users(rng_for(cfg.seed, "users", j + 1), day, day_s)
        products = self._change_products(rng_for(cfg.seed, "products", j + 1), day_s)
        rng = rng_for(cfg.seed, "devices", j + 1)
        new_users = np.arange(len(self.users), len(users))
        devices = Devices.concat(
            self.devices,
            self._user_devices(
                rng, self.agents, users, new_users, np.full(len(new_users), j), initial=False
            ),
        )
        n_anon = int(rng.poisson(cfg.users * 0.004))
        devices = Devices.concat(
            devices, self._anon_devices(rng, self.agents, n_anon, np.full(n_anon, j))
        )
        return replace(self, day_index=j, users=users, products=products, devices=devices)

    def _change_users(self, rng: np.random.Generator, day: dt.date, day_s: int) -> Users:
        cfg = self.config
        old = self.users
        n_old = len(old)
        n_change = int(rng.binomial(n_old, cfg.daily_user_change_rate))
        who = np.sort(rng.choice(n_old, n_change, replace=False))
        what = rng.choice(4, n_change, p=[0.2, 0.25, 0.3, 0.25])  # email, city, tier, opt-in
        when = day_s + rng.integers(0, DAY_S, n_change)
        email = old.email.copy()
        city = old.city.copy()
        tier = old.tier.copy()
        opt_in = old.opt_in.copy()
        updated = old.updated_at.copy()
        sel = who[what == 0]
        email[sel] = _make_emails(rng, self.vocab, old.country[sel], old.first[sel], old.last[sel])
        email[sel] = [
            e.replace("@", f".{day.strftime('%y')}@", 1) if e == o else e
            for e, o in zip(email[sel], old.email[sel], strict=True)
        ]
        sel = who[what == 1]
        sizes = np.array([len(self.vocab.cities[c]) for c, _l, _s in COUNTRIES])
        step = 1 + (rng.random(len(sel)) * np.maximum(sizes[old.country[sel]] - 1, 1)).astype(
            np.int32
        )
        city[sel] = (old.city[sel] + step) % sizes[old.country[sel]]
        sel = who[what == 2]
        tier[sel] = np.where(old.tier[sel] == 3, 2, old.tier[sel] + 1)
        sel = who[what == 3]
        opt_in[sel] = ~old.opt_in[sel]
        updated[who] = when
        changed = Users(
            old.country, old.first, old.last, city, email, tier, opt_in, old.created_at, updated
        )
        n_new = int(rng.poisson(cfg.users * cfg.daily_new_user_rate))
        fresh = self._new_users(rng, self.vocab, n_new, np.full(n_new, day_s, dtype=np.int64))
        return Users.concat(changed, fresh)

    def _change_products(self, rng: np.random.Generator, day_s: int) -> Products:
        cfg = self.config
        old = self.products
        n_old = len(old)
        n_change = int(rng.binomial(n_old, cfg.daily_product_change_rate))
        who = np.sort(rng.choice(n_old, n_change, replace=False))
        what = rng.choice(
            4, n_change, p=[0.72, 0.08, 0.05, 0.15]
        )  # price, category, brand, discontinued
        price = old.price.copy()
        leaf = old.leaf.copy()
        brand = old.brand.copy()
        disc = old.discontinued.copy()
        updated = old.updated_at.copy()
        sel = who[what == 0]
        new_price = (
            np.round(old.price[sel] * rng.uniform(0.7, 1.2, len(sel)) / 100) * 100 - 1
        ).astype(np.int64)
        new_price = np.maximum(new_price, 99)
        price[sel] = np.where(new_price == old.price[sel], new_price + 100, new_price)
        sel = who[what == 1]
        leaf[sel] = (old.leaf[sel] + rng.integers(1, len(TAXONOMY), len(sel))) % len(TAXONOMY)
        sel = who[what == 2]
        brand[sel] = (old.brand[sel] + rng.integers(1, len(self.vocab.brands), len(sel))) % len(
            self.vocab.brands
        )
        sel = who[what == 3]
        disc[sel] = ~old.discontinued[sel]
        updated[who] = day_s
        changed = replace(
            old, leaf=leaf, brand=brand, price=price, discontinued=disc, updated_at=updated
        )
        n_new = int(rng.poisson(cfg.products * cfg.daily_new_product_rate))
        if len(changed) + n_new >= 900_000:
            n_new = 0
        fresh = self._new_products(rng, self.vocab, n_new, changed, day_s)
        return Products.concat(changed, fresh)

    # --- views used by the event simulation and the extracts ---------------------------------

    @functools.cached_property
    def anonymous_ids(self) -> pa.Array:
        return uuid_strings(self.devices.anon_raw)

    @functools.cached_property
    def user_ids(self) -> pa.Array:
        return prefixed_ids("U", np.arange(1, len(self.users) + 1), 7)

    @functools.cached_property
    def product_ids(self) -> pa.Array:
        return prefixed_ids("P", np.arange(1, len(self.products) + 1), 6)

    def users_table(self) -> list[pa.Array]:
        """Columns of the users extract (CSV-escaped text, in USER_COLUMNS order)."""
        u = self.users
        codes = [c for c, _l, _s in COUNTRIES]
        names = _name_pools(self.vocab)
        return [
            self.user_ids,
            csv_escape(pa.array(u.email, type=pa.string())),
            names["first"].take(u.country, u.first),
            names["last"].take(u.country, u.last),
            names["city"].take(u.country, u.city),
            pa.array(codes, type=pa.string()).take(pa.array(u.country.astype(np.int32))),
            pa.array(LOYALTY_TIERS, type=pa.string()).take(pa.array(u.tier.astype(np.int32))),
            pa.array(["false", "true"], type=pa.string()).take(pa.array(u.opt_in.astype(np.int32))),
            datetime_strings(u.created_at),
            datetime_strings(u.updated_at),
        ]

    def products_table(self) -> list[pa.Array]:
        """Columns of the products extract (CSV-escaped text, in PRODUCT_COLUMNS order)."""
        from generator.formatting import cents_strings

        p = self.products
        leaf = pa.array(p.leaf.astype(np.int32))
        levels = [
            csv_escape(pa.array([t[k] for t in TAXONOMY], type=pa.string())).take(leaf)
            for k in range(3)
        ]
        return [
            self.product_ids,
            csv_escape(pa.array(list(p.name), type=pa.string())),
            *levels,
            csv_escape(pa.array(self.vocab.brands, type=pa.string())).take(pa.array(p.brand)),
            cents_strings(p.price, np.ones(len(p), dtype=bool)),
            pa.array([self.config.currency] * len(p), type=pa.string()),
            pa.array(["false", "true"], type=pa.string()).take(
                pa.array(p.discontinued.astype(np.int32))
            ),
            datetime_strings(p.created_at),
            datetime_strings(p.updated_at),
        ]


def world_at(config: GeneratorConfig, day_index: int) -> World:
    """Replay the world from its initial state to the end of ``day_index``."""
    world = World.initial(config)
    while world.day_index < day_index:
        world = world.advance()
    return world
