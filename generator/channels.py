"""Marketing channels: how a visit arrives, and what that looks like on its landing event.

A *combo* is one concrete landing signature (utm source/medium/campaign, referrer, refr_medium).
Each visit draws a channel, then one of that channel's combos; only the visit's first event
carries it. Conversion multipliers make email and paid search convert better than social.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from generator.formatting import csv_escape

CHANNELS: tuple[str, ...] = (
    "direct",
    "organic_search",
    "paid_search",
    "email",
    "social",
    "referral",
    "affiliate",
    "display",
)

CONVERSION_FACTOR = np.array([1.15, 1.0, 1.45, 1.7, 0.55, 0.95, 1.25, 0.6])
"""Multiplier on add-to-cart / checkout / order probabilities, per channel."""

CHANNEL_SHARE_KNOWN = np.array([0.30, 0.20, 0.10, 0.18, 0.08, 0.06, 0.04, 0.04])
"""Channel mix of visits by devices that belong to a customer."""
CHANNEL_SHARE_ANON = np.array([0.18, 0.30, 0.16, 0.02, 0.16, 0.07, 0.05, 0.06])
"""Channel mix of visits by anonymous devices."""

# Landing page type per channel: page_view, product_list_viewed, search, product_viewed.
LANDING_STATE_SHARE = np.array(
    [
        [0.70, 0.15, 0.10, 0.05],
        [0.35, 0.30, 0.00, 0.35],
        [0.10, 0.35, 0.00, 0.55],
        [0.40, 0.40, 0.00, 0.20],
        [0.30, 0.20, 0.00, 0.50],
        [0.40, 0.20, 0.00, 0.40],
        [0.10, 0.20, 0.00, 0.70],
        [0.30, 0.30, 0.00, 0.40],
    ]
)

_SEARCH_ENGINES = ("https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/")
_SOCIAL = (
    ("facebook", "https://www.facebook.com/"),
    ("instagram", "https://www.instagram.com/"),
    ("tiktok", "https://www.tiktok.com/"),
    ("pinterest", "https://www.pinterest.com/"),
)


@dataclass(frozen=True)
class Combo:
    channel: int
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None
    referrer: str | None
    refr_medium: str | None

    @property
    def query_string(self) -> str | None:
        if self.utm_source is None:
            return None
        return (
            f"?utm_source={self.utm_source}&utm_medium={self.utm_medium}"
            f"&utm_campaign={self.utm_campaign}"
        )


def _combos() -> list[Combo]:
    c: list[Combo] = [Combo(0, None, None, None, None, None)]
    c += [Combo(1, None, None, None, ref, "search") for ref in _SEARCH_ENGINES]
    for campaign in ("brand_search", "generic_shoes", "generic_electronics", "competitor_terms"):
        c.append(Combo(2, "google", "cpc", campaign, _SEARCH_ENGINES[0], "search"))
    c.append(Combo(2, "bing", "cpc", "brand_search", _SEARCH_ENGINES[1], "search"))
    for campaign in ("weekly_newsletter", "abandoned_cart", "spring_sale", "win_back"):
        c.append(Combo(3, "newsletter", "email", campaign, None, "email"))
    c.append(Combo(3, "crm", "email", "loyalty_upgrade", "https://mail.google.com/", "email"))
    for source, ref in _SOCIAL:
        c.append(Combo(4, source, "social", "spring_collection", ref, "social"))
        c.append(Combo(4, None, None, None, ref, "social"))
    for ref in (
        "https://www.reddit.com/r/BuyItForLife/",
        "https://blog.techreview.example/best-headphones",
        "https://forum.runners.example/thread/412",
    ):
        c.append(Combo(5, None, None, None, ref, "unknown"))
    for source in ("awin", "tradedoubler", "cashback_club"):
        c.append(
            Combo(
                6,
                source,
                "affiliate",
                "partner_program",
                f"https://www.{source}.example/",
                "unknown",
            )
        )
    for source in ("gdn", "criteo"):
        c.append(
            Combo(
                7, source, "display", "retargeting", "https://news.site.example/article", "unknown"
            )
        )
    return c


COMBOS: tuple[Combo, ...] = tuple(_combos())
COMBOS_BY_CHANNEL: tuple[np.ndarray, ...] = tuple(
    np.array([i for i, combo in enumerate(COMBOS) if combo.channel == ch])
    for ch in range(len(CHANNELS))
)


@functools.lru_cache(maxsize=1)
def combo_columns() -> dict[str, pa.Array]:
    """Escaped text of every combo field, indexable by combo number."""

    def col(values: list[str | None]) -> pa.Array:
        return csv_escape(pa.array(values, type=pa.string()))

    return {
        "utm_source": col([c.utm_source for c in COMBOS]),
        "utm_medium": col([c.utm_medium for c in COMBOS]),
        "utm_campaign": col([c.utm_campaign for c in COMBOS]),
        "page_referrer": col([c.referrer for c in COMBOS]),
        "refr_medium": col([c.refr_medium for c in COMBOS]),
        "query_string": col([c.query_string for c in COMBOS]),
    }


def draw_combos(rng: np.random.Generator, known_user: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(channel, combo) for each visit; customers get more email/direct traffic."""
    n = len(known_user)
    u = rng.random(n)
    channel = np.where(
        known_user,
        np.searchsorted(
            np.cumsum(CHANNEL_SHARE_KNOWN), u * CHANNEL_SHARE_KNOWN.sum(), side="right"
        ),
        np.searchsorted(np.cumsum(CHANNEL_SHARE_ANON), u * CHANNEL_SHARE_ANON.sum(), side="right"),
    )
    channel = np.minimum(channel, len(CHANNELS) - 1)
    sizes = np.array([len(c) for c in COMBOS_BY_CHANNEL])
    pick = (rng.random(n) * sizes[channel]).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flat = np.concatenate(COMBOS_BY_CHANNEL)
    return channel.astype(np.int8), flat[starts[channel] + pick].astype(np.int16)
