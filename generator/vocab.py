"""Words the shop is made of: mimesis-built name pools plus a fixed catalogue taxonomy.

mimesis is slow (~26K records/s), so it only fills small pools once per seed (names, cities,
brands, user agents); entities and events then index into those pools with numpy. The pools are a
pure function of the seed, cached per process.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import numpy as np
from mimesis import Address as MimesisAddress
from mimesis import Finance, Internet, Person, Text
from mimesis.locales import Locale

from clickstream.contract import BOT_USER_AGENT_PATTERN

COUNTRIES: tuple[tuple[str, Locale, float], ...] = (
    ("DE", Locale.DE, 0.30),
    ("FR", Locale.FR, 0.18),
    ("NL", Locale.NL, 0.12),
    ("ES", Locale.ES, 0.10),
    ("IT", Locale.IT, 0.10),
    ("AT", Locale.DE_AT, 0.06),
    ("BE", Locale.NL_BE, 0.06),
    ("FI", Locale.FI, 0.04),
    ("PT", Locale.PT, 0.04),
)
"""Euro-zone markets (codes, mimesis locale, share of customers)."""

EVENT_NAMES: tuple[str, ...] = (
    "page_view",
    "product_list_viewed",
    "search",
    "product_viewed",
    "product_added",
    "product_removed",
    "checkout_started",
    "order_completed",
    "identify",
)
"""Valid event names; the position is the event code used throughout the generator."""

UNKNOWN_EVENT_NAMES: tuple[str, ...] = (
    "page_ping",
    "wishlist_added",
    "video_played",
    "coupon_applied",
    "newsletter_signup",
)

DEVICE_TYPES: tuple[str, ...] = ("desktop", "mobile", "tablet")

LOYALTY_TIERS: tuple[str, ...] = ("bronze", "silver", "gold", "platinum")

EMAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "outlook.com",
    "yahoo.com",
    "gmx.de",
    "web.de",
    "orange.fr",
    "hotmail.com",
    "proton.me",
    "icloud.com",
    "ziggo.nl",
)

TAXONOMY: tuple[tuple[str, str, str], ...] = (
    ("Fashion", "Women", "Dresses"),
    ("Fashion", "Women", "Jeans"),
    ("Fashion", "Women", "Tops"),
    ("Fashion", "Men", "Shirts"),
    ("Fashion", "Men", "Jackets"),
    ("Fashion", "Men", "Trousers"),
    ("Fashion", "Shoes", "Sneakers"),
    ("Fashion", "Shoes", "Boots"),
    ("Electronics", "Computers", "Laptops"),
    ("Electronics", "Computers", "Monitors"),
    ("Electronics", "Computers", "Keyboards"),
    ("Electronics", "Phones", "Smartphones"),
    ("Electronics", "Phones", "Phone Cases"),
    ("Electronics", "Audio", "Headphones"),
    ("Electronics", "Audio", "Speakers"),
    ("Home", "Kitchen", "Coffee Machines"),
    ("Home", "Kitchen", "Cookware"),
    ("Home", "Kitchen", "Knives"),
    ("Home", "Furniture", "Chairs"),
    ("Home", "Furniture", "Lamps"),
    ("Home", "Bedding", "Pillows"),
    ("Home", "Bedding", "Duvets"),
    ("Sports", "Running", "Running Shoes"),
    ("Sports", "Running", "Sports Watches"),
    ("Sports", "Cycling", "Helmets"),
    ("Sports", "Cycling", "Bike Lights"),
    ("Sports", "Fitness", "Yoga Mats"),
    ("Sports", "Fitness", "Dumbbells"),
    ("Beauty", "Skincare", "Moisturisers"),
    ("Beauty", "Skincare", "Sunscreen"),
    ("Beauty", "Fragrance", "Perfume"),
    ("Toys", "Games", "Board Games"),
    ("Toys", "Games", "Puzzles"),
    ("Toys", "Building", "Building Sets"),
    ("Books", "Fiction", "Novels"),
    ("Books", "Non-fiction", "Cookbooks"),
)
"""Category leaves (l1, l2, l3). Typical price (EUR) per l1 is in PRICE_LEVEL."""

PRICE_LEVEL: dict[str, float] = {
    "Fashion": 45.0,
    "Electronics": 180.0,
    "Home": 60.0,
    "Sports": 50.0,
    "Beauty": 25.0,
    "Toys": 30.0,
    "Books": 18.0,
}

PRODUCT_ADJECTIVES: tuple[str, ...] = (
    "Classic",
    "Pro",
    "Ultra",
    "Eco",
    "Essential",
    "Premium",
    "Lite",
    "Max",
    "Urban",
    "Vintage",
    "Smart",
    "Comfort",
)

CONTENT_PATHS: tuple[str, ...] = (
    "/",
    "/",
    "/",
    "/sale",
    "/new-arrivals",
    "/about",
    "/help/shipping",
    "/help/returns",
    "/blog/spring-trends",
    "/blog/gift-guide",
    "/stores",
    "/account",
)

BOT_USER_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "python-requests/2.31.0",
    "Scrapy/2.11.0 (+https://scrapy.org)",
    "curl/8.4.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.6099.109 Safari/537.36",
)
"""User agents any bot filter should recognise (bot/crawl/spider/headless/http clients)."""

_BOT_PATTERN = re.compile(r"bot|crawl|spider|slurp|headless|python|curl|scrapy", re.IGNORECASE)
_STAGING_BOT_PATTERN = re.compile(BOT_USER_AGENT_PATTERN)
"""Human agents must not look like bots to staging either (e.g. PhantomJS)."""


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """mimesis-built pools for one seed (plain Python lists; small)."""

    first_names: dict[str, list[str]]
    last_names: dict[str, list[str]]
    cities: dict[str, list[str]]
    brands: list[str]
    model_words: list[str]
    user_agents: dict[str, list[str]]  # device type -> browser user agents
    search_queries: list[str]


def ascii_slug(text: str) -> str:
    """Lower-case ASCII form of a name for emails and URLs (``Müller`` -> ``muller``)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", folded.lower()).strip("-") or "x"


def classify_user_agent(agent: str) -> str:
    """Device type a browser user agent stands for."""
    if re.search(r"iPad|Tablet|Kindle|Silk|Nexus (7|9|10)", agent):
        return "tablet"
    if re.search(r"Mobile|iPhone|Android|Windows Phone|Opera Mini|BlackBerry", agent):
        return "mobile"
    return "desktop"


def _unique(values: list[str]) -> list[str]:
    return sorted(set(v for v in values if v and "\n" not in v and "\r" not in v))


@functools.lru_cache(maxsize=4)
def build_vocabulary(seed: int) -> Vocabulary:
    """Fill the pools with mimesis (seeded, so identical for the same seed)."""
    first: dict[str, list[str]] = {}
    last: dict[str, list[str]] = {}
    cities: dict[str, list[str]] = {}
    for i, (code, locale, _share) in enumerate(COUNTRIES):
        person = Person(locale, seed=seed * 100 + i)
        address = MimesisAddress(locale, seed=seed * 100 + i)
        first[code] = _unique([person.first_name() for _ in range(300)])
        last[code] = _unique([person.last_name() for _ in range(300)])
        cities[code] = _unique([address.city() for _ in range(150)])[:60]
    finance = Finance(seed=seed)
    brands = _unique([finance.company().split(",")[0].replace('"', "").strip() for _ in range(400)])
    text = Text(seed=seed)
    words = _unique([text.word().capitalize() for _ in range(600)])
    internet = Internet(seed=seed)
    agents: dict[str, list[str]] = {kind: [] for kind in DEVICE_TYPES}
    for agent in _unique([internet.user_agent() for _ in range(2500)]):
        if (
            not (_BOT_PATTERN.search(agent) or _STAGING_BOT_PATTERN.search(agent))
            and '"' not in agent
        ):
            agents[classify_user_agent(agent)].append(agent)
    agents["tablet"] += [
        "Mozilla/5.0 (iPad; CPU OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Tablet",
    ]
    leaves = sorted({leaf for _l1, _l2, leaf in TAXONOMY})
    queries = [leaf.lower() for leaf in leaves]
    queries += [b.lower() for b in brands[:40]]
    queries += [
        f"{b.split()[0].lower()} {leaf.lower()}" for b, leaf in zip(brands, leaves, strict=False)
    ]
    queries += [
        '"red dress"',
        "shoes, size 42",
        "laptop 16gb",
        "cofee machine",
        "headphnes",
        "gift for him",
    ]
    # Shuffle brands so the Zipf-popular ones are not simply the alphabetically first.
    brands = [brands[i] for i in np.random.default_rng(seed).permutation(len(brands))]
    return Vocabulary(
        first_names=first,
        last_names=last,
        cities=cities,
        brands=brands[:200],
        model_words=words[:300],
        user_agents=agents,
        search_queries=queries,
    )
