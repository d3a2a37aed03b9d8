"""Deliberate defects: which rows get which one, and what that does to their timestamps.

Every defective row carries exactly one defect, so the quarantine reason staging must give it is
unambiguous (contracts.md section 2). Duplicates are *extra* rows copied from clean rows; the
original stays clean. Timestamp defects are applied here on numbers; text defects (bad types,
missing fields, unknown names, orphan products, broken lines) are applied when rows are rendered
(rows.py) using the ``variant`` drawn here, so rendering only a subset of rows draws nothing new.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from generator.behaviour import Frame
from generator.config import DEFECT_KINDS, GeneratorConfig
from generator.seeding import rng_for
from generator.timeprofile import DAY_MS, epoch_ms

CODE: dict[str, int] = {kind: i + 1 for i, kind in enumerate(DEFECT_KINDS)}
"""Defect code per kind; 0 means a clean row."""

# Kinds drawn from the frame's rows, most constrained eligibility first.
_ASSIGN_ORDER = (
    "orphan_product",
    "bad_type",
    "malformed",
    "missing_field",
    "unknown_event",
    "clock_skew",
    "seconds_ts",
    "future_ts",
    "late_arrival",
    "too_late",
    "exact_duplicate",
    "payload_duplicate",
)
_YEAR_MS = 365 * DAY_MS
_HOUR_MS = 3_600_000


@dataclass
class Plan:
    """Output rows of one chunk: frame rows first, then duplicate copies."""

    src: np.ndarray  # frame row each output row renders
    kind: np.ndarray  # defect code (0 = clean)
    variant: np.ndarray  # random selector for the text form of a defect
    created: np.ndarray  # dvce_created_ts as written (ms, or s for seconds_ts)
    sent: np.ndarray
    collector: np.ndarray
    arrival: np.ndarray  # day index of the landing folder
    sort_ts: np.ndarray  # trusted collector time, for ordering rows in a file

    def __len__(self) -> int:
        return len(self.src)


def plan_defects(config: GeneratorConfig, frame: Frame, day_index: int, chunk: int) -> Plan:
    """Pick disjoint rows for each defect kind at its configured rate and apply the timing ones."""
    rng = rng_for(config.seed, "defects", day_index, chunk)
    n = len(frame)
    start_ms = epoch_ms(config.start_date)
    created = frame.ts.copy()
    sent = frame.ts + frame.batch_delay
    collector = sent + frame.net
    derived_day = (frame.ts + frame.net - start_ms) // DAY_MS
    arrival = (collector - start_ms) // DAY_MS
    kind = np.zeros(n, dtype=np.int8)
    variant = rng.integers(0, 1 << 40, n)
    free = np.ones(n, dtype=bool)
    sources: dict[str, np.ndarray] = {}
    for name in _ASSIGN_ORDER:
        rate = config.rate(name)
        if rate <= 0 or n == 0:
            continue
        eligible = free & (frame.product >= 0) if name == "orphan_product" else free
        candidates = np.flatnonzero(eligible)
        k = min(int(rng.binomial(n, rate)), candidates.size)
        chosen = (
            np.sort(rng.choice(candidates, k, replace=False)) if k else np.zeros(0, dtype=np.int64)
        )
        free[chosen] = False
        if name in ("exact_duplicate", "payload_duplicate"):
            sources[name] = chosen  # originals stay clean; copies are appended below
        else:
            kind[chosen] = CODE[name]
    sort_ts = collector.copy()

    sel = kind == CODE["clock_skew"]
    shift = rng.integers(1 * _HOUR_MS, 12 * _HOUR_MS, n) * np.where(rng.random(n) < 0.5, -1, 1)
    created = np.where(sel, created + shift, created)
    sent = np.where(sel, sent + shift, sent)

    sel = kind == CODE["seconds_ts"]
    which = variant % 3
    created = np.where(sel & (which == 0), created // 1000, created)
    sent = np.where(sel & (which == 1), sent // 1000, sent)
    collector = np.where(sel & (which == 2), collector // 1000, collector)

    sel = kind == CODE["future_ts"]
    created = np.where(sel, created + rng.integers(2, 6, n) * _YEAR_MS, created)

    lateness = config.lateness_days
    for name, low, high in (
        ("late_arrival", 1, lateness),
        ("too_late", lateness + 1, lateness + 2),
    ):
        sel = kind == CODE[name]
        if not sel.any():
            continue
        offset = rng.integers(low, high + 1, n)
        new_arrival = derived_day + offset
        new_collector = start_ms + new_arrival * DAY_MS + rng.integers(0, DAY_MS, n)
        # The device was offline: it sends when it reconnects, so sent ~ collector and staging's
        # derived_ts = collector - (sent - created) still recovers the original event time.
        arrival = np.where(sel, new_arrival, arrival)
        collector = np.where(sel, new_collector, collector)
        sent = np.where(sel, new_collector - frame.net, sent)
        sort_ts = np.where(sel, new_collector, sort_ts)

    src = [np.arange(n)]
    kinds = [kind]
    extra: dict[str, list[np.ndarray]] = {
        k: [] for k in ("created", "sent", "collector", "arrival", "sort_ts", "variant")
    }
    exact = sources.get("exact_duplicate", np.zeros(0, dtype=np.int64))
    if exact.size:
        next_folder = rng.random(exact.size) < 0.3
        src.append(exact)
        kinds.append(np.full(exact.size, CODE["exact_duplicate"], dtype=np.int8))
        extra["created"].append(created[exact])
        extra["sent"].append(sent[exact])
        extra["collector"].append(collector[exact])
        extra["arrival"].append(arrival[exact] + next_folder)
        extra["sort_ts"].append(
            np.where(next_folder, start_ms + (arrival[exact] + 1) * DAY_MS, sort_ts[exact])
        )
        extra["variant"].append(variant[exact])
    payload = sources.get("payload_duplicate", np.zeros(0, dtype=np.int64))
    if payload.size:
        retry = rng.integers(1_000, 600_000, payload.size)  # the client retried 1 s - 10 min later
        src.append(payload)
        kinds.append(np.full(payload.size, CODE["payload_duplicate"], dtype=np.int8))
        extra["created"].append(created[payload])
        extra["sent"].append(sent[payload] + retry)
        extra["collector"].append(collector[payload] + retry)
        extra["arrival"].append((collector[payload] + retry - start_ms) // DAY_MS)
        extra["sort_ts"].append(collector[payload] + retry)
        extra["variant"].append(variant[payload])
    return Plan(
        src=np.concatenate(src),
        kind=np.concatenate(kinds),
        variant=np.concatenate([variant, *extra["variant"]]),
        created=np.concatenate([created, *extra["created"]]),
        sent=np.concatenate([sent, *extra["sent"]]),
        collector=np.concatenate([collector, *extra["collector"]]),
        arrival=np.concatenate([arrival, *extra["arrival"]]).astype(np.int64),
        sort_ts=np.concatenate([sort_ts, *extra["sort_ts"]]),
    )
