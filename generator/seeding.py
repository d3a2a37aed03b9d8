"""Independent, reproducible random streams.

Every random draw comes from a stream named by *what* it is for and *which* day/chunk/batch it
belongs to, never from a shared generator whose state depends on what ran before. That is what
lets day k be generated alone, byte-identical to day k of a longer run.
"""

from __future__ import annotations

import numpy as np

STREAMS: dict[str, int] = {
    "vocab": 1,
    "users": 2,
    "products": 3,
    "devices": 4,
    "visits": 5,
    "bots": 6,
    "defects": 7,
    "ids": 8,
}


def rng_for(seed: int, stream: str, *keys: int) -> np.random.Generator:
    """A generator determined only by ``(seed, stream, *keys)`` (keys are non-negative ints)."""
    return np.random.default_rng(np.random.SeedSequence([seed, STREAMS[stream], *keys]))
