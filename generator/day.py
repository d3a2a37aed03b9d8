"""Generate arrival days: simulate, plan defects, route rows to the folder they land in, write.

A landing folder D holds rows from several simulated days: most of day D, the after-midnight tail
of day D-1, late arrivals from up to ``lateness_days`` (+2 for too-late rows) before, and
duplicates re-sent into the next folder. ``generate`` simulates each day once and carries rows
forward; ``generate_day`` re-simulates the few earlier days it needs (keeping only their rows
that land in D). Both concatenate carried rows in (simulated day, chunk) order and sort files
stably, so a day generated alone is byte-identical to the same day of a longer run.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from clickstream.errors import ConfigError
from generator import __version__
from generator.behaviour import ChunkSpec, Frame, simulate_chunk
from generator.config import GeneratorConfig
from generator.defects import Plan, plan_defects
from generator.entities import PRODUCT_COLUMNS, USER_COLUMNS, World
from generator.manifest import MANIFEST_NAME, DayManifest, defect_counts, expected_outcome
from generator.rows import EVENT_COLUMNS, RenderContext, render
from generator.timeprofile import day_volume
from generator.writer import (
    clear_event_folder,
    events_dir,
    extract_path,
    write_csv,
    write_table,
    write_text,
)

logger = logging.getLogger(__name__)


@dataclass
class RowBatch:
    """Rendered rows with what routing, ordering and the manifest need to know about them."""

    arrival: np.ndarray
    sort_ts: np.ndarray
    kind: np.ndarray
    is_bot: np.ndarray
    lines: pa.Array

    def __len__(self) -> int:
        return len(self.arrival)

    def select(self, mask: np.ndarray) -> RowBatch:
        idx = np.flatnonzero(mask)
        return RowBatch(
            self.arrival[idx],
            self.sort_ts[idx],
            self.kind[idx],
            self.is_bot[idx],
            self.lines.take(pa.array(idx)),
        )

    @staticmethod
    def concat(batches: list[RowBatch]) -> RowBatch:
        if not batches:
            return RowBatch(
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
                np.zeros(0, np.int8),
                np.zeros(0, bool),
                pa.array([], pa.string()),
            )
        return RowBatch(
            np.concatenate([b.arrival for b in batches]),
            np.concatenate([b.sort_ts for b in batches]),
            np.concatenate([b.kind for b in batches]),
            np.concatenate([b.is_bot for b in batches]),
            pa.concat_arrays([b.lines for b in batches]),
        )

    def sorted(self) -> RowBatch:
        """Rows in arrival order at the collector (stable, so ties keep their order)."""
        order = np.argsort(self.sort_ts, kind="stable")
        return self.select_index(order)

    def select_index(self, idx: np.ndarray) -> RowBatch:
        return RowBatch(
            self.arrival[idx],
            self.sort_ts[idx],
            self.kind[idx],
            self.is_bot[idx],
            self.lines.take(pa.array(idx)),
        )


def lookback_days(config: GeneratorConfig) -> int:
    """How many earlier simulated days can land rows in a folder."""
    base = max(2, config.lateness_days + 1)
    return base + 2 if config.too_late_rate > 0 else base


def chunk_count(config: GeneratorConfig, day: dt.date) -> int:
    return max(1, math.ceil(day_volume(day, config.events_per_day) / config.chunk_events))


@dataclass
class SimulatedChunk:
    """One simulated chunk with its defect plan, ready to render any subset of its rows."""

    frame: Frame
    plan: Plan
    ctx: RenderContext

    def rows(self, mask: np.ndarray) -> RowBatch:
        """Render the planned rows where ``mask`` holds, in collector-arrival order."""
        idx = np.flatnonzero(mask)
        idx = idx[np.argsort(self.plan.sort_ts[idx], kind="stable")]
        plan = self.plan
        lines = render(self.frame, plan, idx, self.ctx) if idx.size else pa.array([], pa.string())
        return RowBatch(
            plan.arrival[idx],
            plan.sort_ts[idx],
            plan.kind[idx],
            self.frame.is_bot[plan.src[idx]],
            lines,
        )


def simulate_day(world: World, next_world: World) -> Iterator[SimulatedChunk]:
    """The chunks of one simulated day (rendering is left to the caller)."""
    cfg = world.config
    j = world.day_index
    day = cfg.start_date + dt.timedelta(days=j)
    total = day_volume(day, cfg.events_per_day)
    chunks = chunk_count(cfg, day)
    for c in range(chunks):
        events = total // chunks + (1 if c < total % chunks else 0)
        frame, devices = simulate_chunk(world, next_world, ChunkSpec(j, day, c, chunks, events))
        plan = plan_defects(cfg, frame, j, c)
        yield SimulatedChunk(frame, plan, RenderContext(world, devices, day, c))


class _Worlds:
    """Snapshots of the world, advanced forward only (replaying is cheap but not free)."""

    def __init__(self, config: GeneratorConfig) -> None:
        self._current = World.initial(config)
        self._cache: dict[int, World] = {}

    def at(self, day_index: int) -> World:
        if day_index in self._cache:
            return self._cache[day_index]
        if day_index < self._current.day_index:
            raise ValueError("worlds only move forward")  # pragma: no cover - internal misuse
        while self._current.day_index < day_index:
            self._current = self._current.advance()
        self._cache = {k: w for k, w in self._cache.items() if k >= day_index - 1}
        self._cache[day_index] = self._current
        return self._current


def _write_folder(
    config: GeneratorConfig,
    out_dir: Path,
    day_index: int,
    worlds: _Worlds,
    carried_in: list[RowBatch],
    carry_out: Callable[[RowBatch], None] | None,
    last_index: int,
) -> DayManifest:
    """Write arrival folder ``day_index``: one part per simulated chunk, then the carried-in rows.

    Rows that arrive from earlier simulated days (after-midnight tails, late arrivals, duplicates
    re-sent the next day) go to the last part file, in arrival order.
    """
    day = config.start_date + dt.timedelta(days=day_index)
    folder = events_dir(out_dir, day.isoformat())
    clear_event_folder(folder)
    world = worlds.at(day_index)
    next_world = worlds.at(day_index + 1)
    written: list[RowBatch] = []
    files: list[str] = []

    def write_part(batch: RowBatch) -> None:
        name = f"part-{len(files):05d}.csv"
        write_csv(folder / name, EVENT_COLUMNS, batch.lines)
        files.append(name)
        written.append(
            RowBatch(
                batch.arrival, batch.sort_ts, batch.kind, batch.is_bot, pa.array([], pa.string())
            )
        )

    for chunk in simulate_day(world, next_world):
        arrival = chunk.plan.arrival
        write_part(chunk.rows(arrival == day_index))
        if carry_out is not None:
            later = (arrival > day_index) & (arrival <= last_index)
            if later.any():
                carry_out(chunk.rows(later))
    if carried_in:
        write_part(RowBatch.concat(carried_in).sorted())
    iso = day.isoformat()
    write_table(extract_path(out_dir, "users", iso), USER_COLUMNS, world.users_table())
    write_table(extract_path(out_dir, "products", iso), PRODUCT_COLUMNS, world.products_table())
    kinds = np.concatenate([w.kind for w in written])
    rows = int(kinds.size)
    defects = defect_counts(kinds)
    manifest = DayManifest(
        generator_version=__version__,
        seed=config.seed,
        day=iso,
        params=config.to_params(),
        rows={"events": rows, "users": len(world.users), "products": len(world.products)},
        defects=defects,
        expected=expected_outcome(defects, rows),
        truth={"bot_events": int(sum(int(w.is_bot.sum()) for w in written))},
        files=files,
    )
    write_text(folder / MANIFEST_NAME, manifest.to_json())
    return manifest


def generate_day(config: GeneratorConfig, day: dt.date, out_dir: Path) -> DayManifest:
    """Write arrival day ``day`` (events, extracts, manifest) under ``out_dir``, reproducibly."""
    started = time.perf_counter()
    index = config.day_index(day)
    worlds = _Worlds(config)
    carried: list[RowBatch] = []
    for j in range(max(0, index - lookback_days(config)), index):
        world, next_world = worlds.at(j), worlds.at(j + 1)
        for chunk in simulate_day(world, next_world):
            mask = chunk.plan.arrival == index
            if mask.any():
                carried.append(chunk.rows(mask))
    manifest = _write_folder(config, Path(out_dir), index, worlds, carried, None, index)
    _log(manifest, started)
    return manifest


def generate(
    config: GeneratorConfig,
    start_date: dt.date,
    days: int,
    out_dir: Path,
    progress: bool = False,
) -> list[DayManifest]:
    """Write ``days`` consecutive arrival days starting at ``start_date`` (the world's epoch)."""
    if not isinstance(days, int) or days < 0:
        raise ConfigError(f"days must be a whole number >= 0, got {days!r}.")
    if start_date != config.start_date:
        config = _with_start(config, start_date)
    worlds = _Worlds(config)
    pending: dict[int, list[RowBatch]] = {}
    manifests: list[DayManifest] = []

    def carry(batch: RowBatch) -> None:
        for arrival in np.unique(batch.arrival):
            pending.setdefault(int(arrival), []).append(batch.select(batch.arrival == arrival))

    for index in _progress(range(days), progress, "Generating days"):
        started = time.perf_counter()
        manifest = _write_folder(
            config, Path(out_dir), index, worlds, pending.pop(index, []), carry, days - 1
        )
        _log(manifest, started)
        manifests.append(manifest)
    return manifests


def _with_start(config: GeneratorConfig, start_date: dt.date) -> GeneratorConfig:
    from dataclasses import replace

    return replace(config, start_date=start_date)


def _progress(items: range, enabled: bool, label: str) -> Iterator[int]:
    if not enabled:
        yield from items
        return
    from rich.progress import track

    yield from track(items, description=label)


def _log(manifest: DayManifest, started: float) -> None:
    logger.info(
        "generated %s: %d events (%d defect rows), %d users, %d products in %.2fs",
        manifest.day,
        manifest.rows["events"],
        sum(manifest.defects.values()),
        manifest.rows["users"],
        manifest.rows["products"],
        time.perf_counter() - started,
    )
