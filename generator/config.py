"""Generator parameters: one frozen object, validated once, passed to every step.

Everything the generator produces is a pure function of this object and the day being generated,
so the config (with its ``start_date``, the epoch of the simulated world) is what makes runs
reproducible.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass
from typing import Any

from clickstream.errors import ConfigError

DEFECT_KINDS: tuple[str, ...] = (
    "exact_duplicate",
    "payload_duplicate",
    "malformed",
    "bad_type",
    "missing_field",
    "unknown_event",
    "clock_skew",
    "seconds_ts",
    "future_ts",
    "late_arrival",
    "orphan_product",
    "too_late",
)
"""Manifest keys of the deliberate defects, in code order (code = index + 1, 0 = clean)."""


DUPLICATE_KINDS: tuple[str, ...] = ("exact_duplicate", "payload_duplicate")

DEFAULT_DEFECT_WEIGHTS: tuple[tuple[str, float], ...] = (
    ("exact_duplicate", 30.0),
    ("payload_duplicate", 10.0),
    ("malformed", 8.0),
    ("bad_type", 8.0),
    ("missing_field", 8.0),
    ("unknown_event", 8.0),
    ("clock_skew", 40.0),
    ("seconds_ts", 20.0),
    ("future_ts", 5.0),
    ("late_arrival", 60.0),
    ("orphan_product", 5.0),
)
"""Relative mix of the defects sharing ``defect_rate`` (``too_late`` has its own rate)."""

MAX_PRODUCTS = 900_000
"""Real product ids are ``P`` + 6 digits; orphan ids use 7 digits, so they can never collide."""


def _check_rate(name: str, value: float) -> None:
    if not isinstance(value, int | float) or math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be a number between 0 and 1, got {value!r}.")


@dataclass(frozen=True)
class GeneratorConfig:
    """Knobs of the synthetic shop; defaults give a realistic ~15K-event day.

    ``n_users``/``n_products`` of ``None`` scale with ``events_per_day`` (about 7.5 events per
    user and 30 per product a day). ``defect_rate`` is the total share of rows given one of the
    weighted defects; ``too_late_rate`` is separate and 0 by default because such rows only
    exist when something upstream is badly broken.
    """

    seed: int = 42
    start_date: dt.date = dt.date(2024, 3, 1)
    events_per_day: int = 15_000
    defect_rate: float = 0.015
    bot_share: float = 0.03
    n_users: int | None = None
    n_products: int | None = None
    lateness_days: int = 3
    too_late_rate: float = 0.0
    defect_weights: tuple[tuple[str, float], ...] = DEFAULT_DEFECT_WEIGHTS
    chunk_events: int = 100_000
    daily_new_user_rate: float = 0.01
    daily_user_change_rate: float = 0.01
    daily_new_product_rate: float = 0.004
    daily_product_change_rate: float = 0.025
    currency: str = "EUR"

    def __post_init__(self) -> None:
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative whole number, got {self.seed!r}.")
        if not isinstance(self.start_date, dt.date):
            raise ConfigError("start_date must be a date (YYYY-MM-DD).")
        if not isinstance(self.events_per_day, int) or self.events_per_day < 0:
            raise ConfigError(
                f"events_per_day must be a whole number >= 0, got {self.events_per_day!r}."
            )
        for name in (
            "defect_rate",
            "bot_share",
            "too_late_rate",
            "daily_new_user_rate",
            "daily_user_change_rate",
            "daily_new_product_rate",
            "daily_product_change_rate",
        ):
            _check_rate(name, getattr(self, name))
        if self.bot_share > 0.5:
            raise ConfigError(f"bot_share must be at most 0.5, got {self.bot_share}.")
        if self.lateness_days < 0:
            raise ConfigError(f"lateness_days must be >= 0, got {self.lateness_days}.")
        if self.n_users is not None and self.n_users < 1:
            raise ConfigError(f"n_users must be >= 1, got {self.n_users}.")
        if self.n_products is not None and not 1 <= self.n_products <= MAX_PRODUCTS // 2:
            raise ConfigError(f"n_products must be between 1 and {MAX_PRODUCTS // 2}.")
        if self.chunk_events < 1000:
            raise ConfigError(f"chunk_events must be >= 1000, got {self.chunk_events}.")
        known = set(DEFECT_KINDS) - {"too_late"}
        for kind, weight in self.defect_weights:
            if kind not in known:
                raise ConfigError(
                    f"Unknown defect kind {kind!r} in defect_weights; use one of {sorted(known)}."
                )
            if weight < 0:
                raise ConfigError(f"defect weight of {kind} must be >= 0, got {weight}.")
        if self.total_defect_rate() > 0.5:
            raise ConfigError("defect_rate + too_late_rate must be at most 0.5.")

    # --- resolved values ---------------------------------------------------------------------

    @property
    def users(self) -> int:
        """Users existing on the first day."""
        if self.n_users is not None:
            return self.n_users
        return int(min(100_000, max(50, round(self.events_per_day / 7.5))))

    @property
    def products(self) -> int:
        """Products in the catalogue on the first day."""
        if self.n_products is not None:
            return self.n_products
        return int(min(50_000, max(50, self.events_per_day // 30)))

    def rate(self, kind: str) -> float:
        """Share of a day's simulated events given defect ``kind``."""
        if kind == "too_late":
            return self.too_late_rate
        weights = dict(self.defect_weights)
        total = sum(weights.values())
        if total <= 0:
            return 0.0
        rate = self.defect_rate * weights.get(kind, 0.0) / total
        if kind == "late_arrival" and self.lateness_days == 0:
            return 0.0  # nothing can be late-but-accepted with a zero lateness window
        return rate

    def total_defect_rate(self) -> float:
        return self.defect_rate + self.too_late_rate

    def day_index(self, day: dt.date) -> int:
        """Days since ``start_date``; the world before it does not exist."""
        index = (day - self.start_date).days
        if index < 0:
            raise ConfigError(
                f"Day {day} is before the generator start_date {self.start_date}; "
                "pass a later day or an earlier --start-date."
            )
        return index

    def to_params(self) -> dict[str, Any]:
        """JSON-ready parameters for the manifest (resolved sizes and per-kind rates)."""
        params = asdict(self)
        params["start_date"] = self.start_date.isoformat()
        params["defect_weights"] = {k: w for k, w in self.defect_weights}
        params["n_users"] = self.users
        params["n_products"] = self.products
        params["defect_rates"] = {k: round(self.rate(k), 8) for k in DEFECT_KINDS}
        return params
