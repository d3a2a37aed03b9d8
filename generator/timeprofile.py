"""When people shop: diurnal and weekday seasonality as inverse-CDF samplers.

A day's traffic is split into chunks of equal expected volume by quantiles of the diurnal curve,
so chunk ``c`` of ``K`` draws its visit start times from ``u in [c/K, (c+1)/K)`` and the chunks
of a day are also (roughly) consecutive time windows.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

DAY_MS = 86_400_000
DAY_S = 86_400

# Relative traffic per UTC hour (European shop: quiet nights, lunch bump, evening peak).
_WEEKDAY_HOURS = np.array(
    [1.2, 0.7, 0.45, 0.35, 0.35, 0.5, 1.0, 2.0, 3.0, 3.6, 3.9, 4.2,
     4.6, 4.4, 4.1, 4.0, 4.1, 4.5, 5.2, 6.0, 6.4, 5.8, 4.2, 2.4]
)  # fmt: skip
_WEEKEND_HOURS = np.array(
    [1.8, 1.1, 0.7, 0.45, 0.35, 0.4, 0.6, 1.1, 2.0, 3.2, 4.3, 4.9,
     5.1, 5.0, 4.9, 4.8, 4.8, 5.0, 5.4, 6.1, 6.6, 6.0, 4.6, 2.9]
)  # fmt: skip

WEEKDAY_VOLUME = np.array([0.97, 0.95, 0.96, 0.98, 1.00, 1.02, 1.12])
"""Relative daily traffic Monday..Sunday (mean 1.0, Sunday evening is the shop's best time)."""


def _cdf(weights: np.ndarray) -> np.ndarray:
    cdf = np.concatenate([[0.0], np.cumsum(weights)])
    return cdf / cdf[-1]


_CDFS = {False: _cdf(_WEEKDAY_HOURS), True: _cdf(_WEEKEND_HOURS)}


def is_weekend(day: dt.date) -> bool:
    return day.weekday() >= 5


def day_volume(day: dt.date, events_per_day: int) -> int:
    """Events to simulate on ``day`` (weekday seasonality around the configured mean)."""
    return round(events_per_day * float(WEEKDAY_VOLUME[day.weekday()]))


def seconds_from_quantiles(u: np.ndarray, day: dt.date) -> np.ndarray:
    """Map quantiles in [0, 1) to seconds of the day along the diurnal curve (float seconds)."""
    cdf = _CDFS[is_weekend(day)]
    hour = np.clip(np.searchsorted(cdf, u, side="right") - 1, 0, 23)
    width = cdf[hour + 1] - cdf[hour]
    frac = np.where(width > 0, (u - cdf[hour]) / np.where(width > 0, width, 1.0), 0.0)
    return (hour + np.clip(frac, 0.0, 0.999999)) * 3600.0


def window_seconds(chunk: int, chunks: int, day: dt.date) -> tuple[float, float]:
    """The time window (seconds of day) covered by chunk ``chunk`` of ``chunks``."""
    lo, hi = seconds_from_quantiles(np.array([chunk / chunks, (chunk + 1) / chunks]), day)
    return float(lo), float(hi if chunk + 1 < chunks else DAY_S)


def epoch_ms(day: dt.date) -> int:
    """Epoch milliseconds of 00:00 UTC on ``day``."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()) * 1000
