"""Files on disk: part files, daily extracts and the manifest, each written atomically.

A file is written under a temporary name and renamed into place, so a reader (or a crashed run)
never sees half a file; regenerating a day replaces its files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from generator.formatting import csv_lines, header_line, write_lines


def events_dir(out_dir: Path, day_iso: str) -> Path:
    return out_dir / "events" / f"event_date={day_iso}"


def extract_path(out_dir: Path, entity: str, day_iso: str) -> Path:
    return out_dir / entity / f"extract_date={day_iso}" / f"{entity}.csv"


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """Open ``path.tmp`` for writing and move it over ``path`` on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as handle:
            yield handle
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def clear_event_folder(folder: Path) -> None:
    """Remove a previous run's part files so the folder holds exactly this run's output."""
    if folder.is_dir():
        for old in folder.glob("part-*.csv"):
            old.unlink()


def write_csv(path: Path, columns: tuple[str, ...], lines: pa.Array) -> None:
    """Header plus already rendered lines."""
    with atomic_file(path) as handle:
        handle.write(header_line(columns))
        write_lines(handle, lines)


def write_table(path: Path, columns: tuple[str, ...], values: list[pa.Array]) -> None:
    """Header plus rows joined from escaped text columns."""
    write_csv(path, columns, csv_lines(values) if len(values[0]) else pa.array([], pa.string()))


def write_text(path: Path, text: str) -> None:
    with atomic_file(path) as handle:
        handle.write(text.encode("utf-8"))
