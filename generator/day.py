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
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa

from clickstream.errors import ConfigError
from generator import __version__
from generator.behaviour import ChunkSpec, Frame, simulate_chunk
from generator.config import DEFECT_KINDS, GeneratorConfig
from generator.defects import Plan, plan_defects
from generator.entities import PRODUCT_COLUMNS, USER_COLUMNS, World
from generator.formatting import header_line
from generator.manifest import (
    MANIFEST_NAME,
    DayManifest,
    defects_of_tally,
    expected_outcome,
    kind_tally,
)
from generator.rows import EVENT_COLUMNS, RenderContext, render, write_rendered
from generator.timeprofile import day_volume
from generator.writer import (
    atomic_file,
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


@dataclass
class Tally:
    """What the manifest needs to know about rows written: counts only, whatever the day's size."""

    rows: int = 0
    kinds: np.ndarray = field(default_factory=lambda: np.zeros(len(DEFECT_KINDS) + 1, np.int64))
    bots: int = 0

    @staticmethod
    def of(kind: np.ndarray, is_bot: np.ndarray) -> Tally:
        return Tally(len(kind), kind_tally(kind), int(is_bot.sum()))

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.rows + other.rows, self.kinds + other.kinds, self.bots + other.bots)


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

    def arrival_order(self, mask: np.ndarray) -> np.ndarray:
        """The planned rows where ``mask`` holds, in collector-arrival order (stable)."""
        idx = np.flatnonzero(mask)
        return idx[np.argsort(self.plan.sort_ts[idx], kind="stable")]

    def rows(self, mask: np.ndarray) -> RowBatch:
        """Render the planned rows where ``mask`` holds, in collector-arrival order."""
        idx = self.arrival_order(mask)
        plan = self.plan
        lines = render(plan, idx, self.ctx) if idx.size else pa.array([], pa.string())
        return RowBatch(
            plan.arrival[idx],
            plan.sort_ts[idx],
            plan.kind[idx],
            self.frame.is_bot[plan.src[idx]],
            lines,
        )

    def write(self, mask: np.ndarray, path: Path) -> Tally:
        """Write the planned rows where ``mask`` holds to part file ``path``, streamed."""
        idx = self.arrival_order(mask)
        with atomic_file(path) as handle:
            handle.write(header_line(EVENT_COLUMNS))
            write_rendered(handle, self.plan, idx, self.ctx)
        return Tally.of(self.plan.kind[idx], self.frame.is_bot[self.plan.src[idx]])


def day_chunks(world: World) -> list[ChunkSpec]:
    """The chunks one simulated day is cut into (by time of day), with their event counts."""
    cfg = world.config
    j = world.day_index
    day = cfg.start_date + dt.timedelta(days=j)
    total = day_volume(day, cfg.events_per_day)
    chunks = chunk_count(cfg, day)
    return [
        ChunkSpec(j, day, c, chunks, total // chunks + (1 if c < total % chunks else 0))
        for c in range(chunks)
    ]


def simulate(world: World, next_world: World, spec: ChunkSpec) -> SimulatedChunk:
    """Simulate one chunk and plan its defects (rendering is left to the caller).

    A pure function of the worlds and the spec (every draw comes from a stream keyed by day and
    chunk), so chunks can be simulated in any order, on any thread.
    """
    frame, devices = simulate_chunk(world, next_world, spec)
    plan = plan_defects(world.config, frame, spec.day_index, spec.chunk)
    return SimulatedChunk(frame, plan, RenderContext(world, devices, spec.day, spec.chunk, frame))


def default_workers() -> int:
    """Threads generating a day: the calling thread simulates, the others render and write.

    Two on a machine with two or more cores: simulation is many small numpy steps that hold the
    GIL most of the time, while rendering (Arrow kernels) and writing release it, so the two
    stages overlap well on two cores; more threads add memory rather than speed.
    """
    return max(1, min(2, os.cpu_count() or 1))


_T = TypeVar("_T")
_S = TypeVar("_S")
_R = TypeVar("_R")


def _pipeline(
    produce: Callable[[_T], _S], finish: Callable[[_S], _R], items: Iterable[_T], workers: int
) -> Iterator[_R]:
    """``finish(produce(item))`` for each item, results in item order.

    ``produce`` runs on the calling thread and ``finish`` on ``workers - 1`` other threads, at
    most one item per finishing thread waiting, so memory stays bounded whatever the day's size.
    With one worker everything runs on the calling thread.
    """
    if workers <= 1:
        for item in items:
            yield finish(produce(item))
        return
    with ThreadPoolExecutor(max_workers=workers - 1, thread_name_prefix="generator") as pool:
        pending: deque[Future[_R]] = deque()
        try:
            for item in items:
                produced = produce(item)
                if len(pending) >= workers - 1:
                    yield pending.popleft().result()
                pending.append(pool.submit(finish, produced))
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


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
    workers: int,
) -> DayManifest:
    """Write arrival folder ``day_index``: one part per simulated chunk, then the carried-in rows.

    Chunks are simulated on this thread while ``workers - 1`` others render and write the chunks
    simulated before, each to its own part file; results are consumed in chunk order, so the
    files and what is carried forward do not depend on the number of workers. Rows that arrive
    from earlier simulated days (after-midnight tails, late arrivals, duplicates re-sent the next
    day) go to the last part file, in arrival order.
    """
    day = config.start_date + dt.timedelta(days=day_index)
    folder = events_dir(out_dir, day.isoformat())
    clear_event_folder(folder)
    world = worlds.at(day_index)
    next_world = worlds.at(day_index + 1)
    tally = Tally()
    files: list[str] = []

    def simulate_one(spec: ChunkSpec) -> SimulatedChunk:
        return simulate(world, next_world, spec)

    def write_chunk(chunk: SimulatedChunk) -> tuple[str, Tally, RowBatch | None]:
        arrival = chunk.plan.arrival
        name = f"part-{chunk.ctx.chunk:05d}.csv"
        written = chunk.write(arrival == day_index, folder / name)
        later = None
        if carry_out is not None:
            mask = (arrival > day_index) & (arrival <= last_index)
            later = chunk.rows(mask) if mask.any() else None
        return name, written, later

    chunks = _pipeline(simulate_one, write_chunk, day_chunks(world), workers)
    for name, written, later in chunks:
        files.append(name)
        tally += written
        if later is not None and carry_out is not None:
            carry_out(later)
    if carried_in:
        batch = RowBatch.concat(carried_in).sorted()
        name = f"part-{len(files):05d}.csv"
        write_csv(folder / name, EVENT_COLUMNS, batch.lines)
        files.append(name)
        tally += Tally.of(batch.kind, batch.is_bot)
    iso = day.isoformat()
    write_table(extract_path(out_dir, "users", iso), USER_COLUMNS, world.users_table())
    write_table(extract_path(out_dir, "products", iso), PRODUCT_COLUMNS, world.products_table())
    defects = defects_of_tally(tally.kinds)
    manifest = DayManifest(
        generator_version=__version__,
        seed=config.seed,
        day=iso,
        params=config.to_params(),
        rows={"events": tally.rows, "users": len(world.users), "products": len(world.products)},
        defects=defects,
        expected=expected_outcome(defects, tally.rows),
        truth={"bot_events": tally.bots},
        files=files,
    )
    write_text(folder / MANIFEST_NAME, manifest.to_json())
    return manifest


def generate_day(
    config: GeneratorConfig, day: dt.date, out_dir: Path, workers: int | None = None
) -> DayManifest:
    """Write arrival day ``day`` (events, extracts, manifest) under ``out_dir``, reproducibly.

    The earlier days whose late rows land in ``day`` are simulated again on this thread, and
    only those rows are rendered (on the other workers), so a later day costs its own day plus
    about one simulation per lookback day. ``workers`` (default :func:`default_workers`) changes
    the speed, never the bytes.
    """
    started = time.perf_counter()
    index = config.day_index(day)
    worlds = _Worlds(config)

    def earlier_chunks() -> Iterator[tuple[World, World, ChunkSpec]]:
        # Runs on the calling thread as the pool asks for work: worlds only move forward.
        for j in range(max(0, index - lookback_days(config)), index):
            world, next_world = worlds.at(j), worlds.at(j + 1)
            for spec in day_chunks(world):
                yield world, next_world, spec

    def landing_rows(chunk: SimulatedChunk) -> RowBatch | None:
        mask = chunk.plan.arrival == index
        return chunk.rows(mask) if mask.any() else None

    n = workers or default_workers()
    found = _pipeline(lambda item: simulate(*item), landing_rows, earlier_chunks(), n)
    carried = [batch for batch in found if batch is not None]
    manifest = _write_folder(config, Path(out_dir), index, worlds, carried, None, index, n)
    _log(manifest, started)
    return manifest


def generate(
    config: GeneratorConfig,
    start_date: dt.date,
    days: int,
    out_dir: Path,
    progress: bool = False,
    workers: int | None = None,
) -> list[DayManifest]:
    """Write ``days`` consecutive arrival days starting at ``start_date`` (the world's epoch).

    ``workers`` (default :func:`default_workers`) threads simulate and render chunks; the files
    are byte-identical whatever their number.
    """
    if not isinstance(days, int) or days < 0:
        raise ConfigError(f"days must be a whole number >= 0, got {days!r}.")
    if start_date != config.start_date:
        config = _with_start(config, start_date)
    worlds = _Worlds(config)
    pending: dict[int, list[RowBatch]] = {}
    manifests: list[DayManifest] = []
    n = workers or default_workers()

    def carry(batch: RowBatch) -> None:
        for arrival in np.unique(batch.arrival):
            pending.setdefault(int(arrival), []).append(batch.select(batch.arrival == arrival))

    for index in _progress(range(days), progress, "Generating days"):
        started = time.perf_counter()
        manifest = _write_folder(
            config, Path(out_dir), index, worlds, pending.pop(index, []), carry, days - 1, n
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
