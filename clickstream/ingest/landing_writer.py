"""Write the landing layout (docs/contracts.md §1) for importers of real exports, atomically.

Importers stream rows of many arrival days in whatever order the source has them; this writer
keeps a bounded number of day files open (evicting the least recently used one and starting a
new ``part-NNNNN.csv`` when that day comes back), so memory and file handles stay bounded for
inputs of any size.

Everything goes to a hidden scratch folder under the landing root first and is moved into place
only by :meth:`LandingWriter.publish`: a failed import leaves the landing folder as it was, and
re-importing the same days replaces them instead of appending duplicates.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import shutil
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from clickstream.contract import (
    LANDING_EVENT_COLUMNS,
    PRODUCT_EXTRACT_COLUMNS,
    USER_EXTRACT_COLUMNS,
)

logger = logging.getLogger(__name__)

EVENT_COLUMNS = LANDING_EVENT_COLUMNS
USER_COLUMNS = USER_EXTRACT_COLUMNS
PRODUCT_COLUMNS = PRODUCT_EXTRACT_COLUMNS

_ROWS_PER_PART = 250_000
"""Start a new part file after this many rows (≈60 MB): staging reads each file as one value."""


class _DayFile:
    """One open ``part-NNNNN.csv`` of one arrival day."""

    def __init__(self, path: Path) -> None:
        self.handle: IO[str] = path.open("w", encoding="utf-8", newline="")
        self.writer = csv.writer(self.handle, lineterminator="\n")
        self.writer.writerow(EVENT_COLUMNS)
        self.rows = 0

    def close(self) -> None:
        self.handle.close()


class LandingWriter:
    """Day-partitioned landing files for one import run, published all at once at the end.

    Use as a context manager: leaving the block without :meth:`publish` (an error) discards the
    scratch folder.
    """

    def __init__(self, landing_dir: Path, max_open_days: int = 32) -> None:
        self.landing_dir = landing_dir
        self.max_open_days = max_open_days
        self.scratch = landing_dir / f".ingest-{uuid.uuid4().hex[:12]}"
        self.rows_by_day: dict[dt.date, int] = {}
        self._open: OrderedDict[dt.date, _DayFile] = OrderedDict()
        self._next_part: dict[dt.date, int] = {}
        self._current: tuple[dt.date, _DayFile] | None = None  # fast path: same day as before

    def __enter__(self) -> LandingWriter:
        self.scratch.mkdir(parents=True, exist_ok=False)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close_all()
        shutil.rmtree(self.scratch, ignore_errors=True)

    @property
    def days(self) -> list[dt.date]:
        """Arrival days that received at least one event line, oldest first."""
        return sorted(self.rows_by_day)

    def _events_dir(self, root: Path, day: dt.date) -> Path:
        return root / "events" / f"event_date={day.isoformat()}"

    def _day_file(self, day: dt.date) -> _DayFile:
        current = self._current
        if current is not None and current[0] == day and current[1].rows < _ROWS_PER_PART:
            return current[1]
        day_file = self._lookup(day)
        self._current = (day, day_file)
        return day_file

    def _lookup(self, day: dt.date) -> _DayFile:
        day_file = self._open.get(day)
        if day_file is not None and day_file.rows < _ROWS_PER_PART:
            self._open.move_to_end(day)
            return day_file
        if day_file is not None:  # part is full: roll over to the next one
            day_file.close()
            del self._open[day]
        if len(self._open) >= self.max_open_days:
            _, evicted = self._open.popitem(last=False)
            evicted.close()
        folder = self._events_dir(self.scratch, day)
        folder.mkdir(parents=True, exist_ok=True)
        part = self._next_part.get(day, 0)
        self._next_part[day] = part + 1
        day_file = _DayFile(folder / f"part-{part:05d}.csv")
        self._open[day] = day_file
        return day_file

    def write_event(self, day: dt.date, row: Sequence[str]) -> None:
        """Append one event row (26 values) to ``day``'s landing files."""
        day_file = self._day_file(day)
        day_file.writer.writerow(row)
        day_file.rows += 1
        self.rows_by_day[day] = self.rows_by_day.get(day, 0) + 1

    def write_raw_line(self, day: dt.date, line: str) -> None:
        """Append one line verbatim (a deliberately malformed record; no line breaks inside)."""
        day_file = self._day_file(day)
        day_file.handle.write(line + "\n")
        day_file.rows += 1
        self.rows_by_day[day] = self.rows_by_day.get(day, 0) + 1

    def write_extract(
        self, kind: str, day: dt.date, columns: Sequence[str], rows: Iterable[Sequence[str]]
    ) -> int:
        """Write ``<kind>/extract_date=D/<kind>.csv`` (users or products); return its row count."""
        folder = self.scratch / kind / f"extract_date={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        count = 0
        with (folder / f"{kind}.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(columns)
            for row in rows:
                writer.writerow(row)
                count += 1
        return count

    def write_manifest(self, day: dt.date, manifest: dict[str, Any]) -> None:
        """Write ``events/event_date=D/_manifest.json``."""
        folder = self._events_dir(self.scratch, day)
        folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(manifest, indent=2, sort_keys=False, default=str)
        (folder / "_manifest.json").write_text(text + "\n", encoding="utf-8")

    def _close_all(self) -> None:
        self._current = None
        while self._open:
            _, day_file = self._open.popitem(last=False)
            day_file.close()

    def finish_events(self) -> None:
        """Close every event file (call before writing extracts and manifests)."""
        self._close_all()

    def publish(self) -> None:
        """Move every written day into the landing folder, replacing earlier imports of it."""
        self._close_all()
        for kind, prefix in (
            ("events", "event_date"),
            ("users", "extract_date"),
            ("products", "extract_date"),
        ):
            source_root = self.scratch / kind
            if not source_root.exists():
                continue
            target_root = self.landing_dir / kind
            target_root.mkdir(parents=True, exist_ok=True)
            for folder in sorted(source_root.glob(f"{prefix}=*")):
                target = target_root / folder.name
                if target.exists():
                    logger.info("replacing earlier landing folder %s", target)
                    shutil.rmtree(target)
                folder.rename(target)
