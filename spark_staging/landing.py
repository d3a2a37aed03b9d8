"""Find landing files and read them as numbered raw lines.

Lines are read with ``wholetext`` (one row per file) and split with ``posexplode``, so every
line keeps its physical position in its file no matter how Spark partitions the work: line
numbers are stable across runs and backfills, which the dedupe ordering and the quarantine's
``line_number`` rely on. Parsing the fields happens later (``validate.parse_fields``), so a line
that is not valid CSV is still a row here and can be quarantined with its raw text.

``line_number`` is the 1-based physical line number in the file as an editor shows it: the
header is line 1 and the first data row is line 2. A quoted field containing a newline is not
supported by this line-oriented reader; both halves then fail the quote check and are
quarantined as ``malformed`` (counted, never dropped).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

from clickstream.config import Settings
from clickstream.errors import EmptyInputError, InputFormatError
from spark_staging.schema import LANDING_HEADER

logger = logging.getLogger(__name__)

_DAY_FOLDER = re.compile(r"^(?:event_date|extract_date)=(\d{4}-\d{2}-\d{2})$")
_SOURCE_FILE = r"(events/event_date=\d{4}-\d{2}-\d{2}/[^/]+)$"
_ARRIVAL = r"events/event_date=(\d{4}-\d{2}-\d{2})/[^/]+$"


def _dated_folders(root: Path) -> dict[dt.date, Path]:
    """``{date: folder}`` for every ``<key>=YYYY-MM-DD`` folder directly under ``root``."""
    if not root.is_dir():
        return {}
    found: dict[dt.date, Path] = {}
    for child in root.iterdir():
        match = _DAY_FOLDER.match(child.name)
        if child.is_dir() and match:
            try:
                found[dt.date.fromisoformat(match.group(1))] = child
            except ValueError:
                logger.warning("ignoring landing folder with an impossible date: %s", child)
    return found


def available_landing_days(settings: Settings) -> list[dt.date]:
    """Arrival days that have at least one events CSV under the landing folder, ascending."""
    return sorted(
        day
        for day, folder in _dated_folders(settings.events_landing_dir).items()
        if any(folder.glob("*.csv"))
    )


def _day_event_files(settings: Settings, day: dt.date) -> list[Path]:
    """The events CSV files landed for one arrival day, sorted (empty when none)."""
    folder = settings.landing_events_day(day)
    return sorted(folder.glob("*.csv")) if folder.is_dir() else []


def landing_bytes(settings: Settings, days: Iterable[dt.date]) -> int:
    """Bytes of the events CSV landed for ``days`` (a day not landed counts 0: staging says so).

    Sizes a run before Spark starts (:func:`spark_staging.session.jit_options`)."""
    return sum(path.stat().st_size for day in days for path in _day_event_files(settings, day))


_UNREADABLE_NAME = re.compile(r"^[_.]|[*?\[\]{}\\:]")
"""File names Spark does not read as they are: Hadoop skips names starting with ``_`` or ``.``
as hidden, and takes ``* ? [ ] { } \\`` (and ``:``, a URI scheme) as a path pattern."""


def check_landing_names(folder: Path, files: list[Path]) -> None:
    """Raise InputFormatError for a landing file Spark would skip or misread; warn about visible
    files beside them that are not ``*.csv`` (``.CSV``, ``.csv.gz``) and so are not staged.

    Spark would skip a hidden-looking name without a word (its rows missing from the day's
    input count) and read a name with a pattern character as a glob: ``part-0000[0].csv`` read
    ``part-00000.csv`` twice and none of its own rows.
    """
    for path in files:
        if _UNREADABLE_NAME.search(path.name):
            raise InputFormatError(
                f"{path}: Spark skips landing files whose name starts with '_' or '.' and reads "
                "* ? [ ] { } \\ : in a name as a pattern; rename the file and stage again."
            )
    ignored = sorted(
        entry.name
        for entry in folder.iterdir()
        # hidden by the same convention (_manifest.json, _SUCCESS, .DS_Store): not data
        if entry.is_file() and entry.suffix != ".csv" and not entry.name.startswith(("_", "."))
    )
    if ignored:
        logger.warning(
            "%s: not staged, not *.csv: %s",
            folder,
            ", ".join(ignored[:5]) + (f" (+{len(ignored) - 5} more)" if len(ignored) > 5 else ""),
        )


def landing_event_files(settings: Settings, day: dt.date) -> list[Path]:
    """The events CSV files of one arrival day, sorted; EmptyInputError when there are none."""
    files = _day_event_files(settings, day)
    if files or settings.landing_events_day(day).is_dir():
        check_landing_names(settings.landing_events_day(day), files)
    if not files:
        raise EmptyInputError(
            f"no landing files for {day.isoformat()} under {settings.landing_events_day(day)}; "
            "run 'clickstream generate' or 'clickstream ingest' first (or pick a day that has "
            "landed)."
        )
    return files


HEADER_PROBE_BYTES = 64 * 1024
"""How much of a file the header check reads: a header longer than this is not a header."""


def check_header(path: Path, expected: str) -> bool:
    """Raise InputFormatError unless the file's first line is exactly the expected header;
    return whether anything follows it.

    Checked on the driver (one line per file) so a file in the wrong format fails fast with
    its name, instead of quarantining every line of it as malformed. The line is read as Spark
    splits the file, up to the first LF: a file whose lines end in a bare CR (classic Mac)
    would be one single "line" to Spark, skipped whole as the header, so it is refused here.
    """
    with path.open("rb") as handle:
        raw = handle.readline(HEADER_PROBE_BYTES)
        holds_rows = bool(handle.read(HEADER_PROBE_BYTES).strip())
    line = raw.decode("utf-8", errors="replace").removesuffix("\n").removesuffix("\r")
    if "\r" in line:
        raise InputFormatError(
            f"{path} ends its lines with a bare CR (classic Mac line endings), which the "
            "line-oriented reader cannot split: nothing of it would be staged. Convert it to "
            "LF or CRLF line endings (e.g. `tr '\\r' '\\n' < in.csv > out.csv`) and stage again."
        )
    first = line.lstrip("\ufeff")
    if first != expected:
        shown = first if len(first) <= 200 else first[:200] + "..."
        raise InputFormatError(
            f"{path} does not start with the expected header.\n  expected: {expected}\n"
            f"  found:    {shown or '(empty file)'}\n{_header_difference(first, expected)}"
            "Landing files must follow docs/contracts.md section 1; regenerate or fix the file."
        )
    return holds_rows


def _header_difference(found: str, expected: str) -> str:
    """``  unknown column(s): ...`` / ``  missing column(s): ...`` lines, when it is a header."""
    found_columns, expected_columns = found.split(","), expected.split(",")
    if len(found_columns) < 2:  # not comma separated at all: the columns say nothing
        return ""
    unknown = [c for c in found_columns if c not in expected_columns]
    missing = [c for c in expected_columns if c not in found_columns]
    lines = [f"  unknown column(s): {', '.join(unknown)[:200]}\n"] if unknown else []
    lines += [f"  missing column(s): {', '.join(missing)}\n"] if missing else []
    if not lines:
        lines = ["  the columns are in the wrong order\n"]
    return "".join(lines)


def extract_files(settings: Settings, kind: str, up_to: dt.date) -> dict[dt.date, Path]:
    """``{extract_date: csv}`` of the ``users``/``products`` extracts dated up to ``up_to``."""
    found: dict[dt.date, Path] = {}
    for day, folder in _dated_folders(settings.landing_dir / kind).items():
        csv = folder / f"{kind}.csv"
        if day <= up_to and csv.is_file():
            found[day] = csv
    return dict(sorted(found.items()))


def _normalized_path(path_col: Column) -> Column:
    """The file path without a ``file:`` scheme; the tail is all later expressions use."""
    return F.regexp_replace(path_col, r"^file:(//)?", "")


def read_event_lines(spark: SparkSession, files: Iterable[Path]) -> DataFrame:
    """One row per data line: ``arrival_date, source_file, line_number, raw_line``.

    ``source_file`` is relative to the landing root (``events/event_date=D/part-00000.csv``) so
    it is the same on every machine; ``arrival_date`` comes from the folder name. A trailing
    ``\\r`` is removed (CRLF files), the header line is skipped and the empty string after a
    final newline is not a line; any other blank line is kept and later quarantined.
    """
    paths = [str(p.resolve()) for p in files]
    if not paths:
        raise EmptyInputError("no landing files to read; run 'clickstream generate' first.")
    path = _normalized_path(F.col("_metadata.file_path"))
    # Per-file columns are computed here, once per file: in the select that explodes the file,
    # Spark would evaluate them again for every line.
    whole = spark.read.text(paths, wholetext=True).select(
        F.regexp_extract(path, _SOURCE_FILE, 1).alias("source_file"),
        F.to_date(F.regexp_extract(path, _ARRIVAL, 1)).alias("arrival_date"),
        F.col("value"),
    )
    # No regex and no copy of a whole file: on 40 MB values either costs more than the split.
    # The line count is taken per file, before the explode (above it, it would run per line).
    split = whole.select(
        "source_file", "arrival_date", F.split("value", "\n", -1).alias("_lines")
    ).select("*", F.size("_lines").alias("_count"))
    lines = split.select(
        "source_file",
        "arrival_date",
        "_count",
        F.posexplode("_lines").alias("_pos", "_line"),
    )
    line = F.col("_line")
    after_final_newline = (F.col("_pos") == F.col("_count") - 1) & (line == "")
    return lines.where((F.col("_pos") > 0) & ~after_final_newline).select(
        "arrival_date",
        "source_file",
        (F.col("_pos") + 1).cast("int").alias("line_number"),
        F.when(line.endswith("\r"), F.expr("substring(_line, 1, length(_line) - 1)"))
        .otherwise(line)
        .alias("raw_line"),
    )


def event_files_for_days(settings: Settings, days: Iterable[dt.date]) -> list[Path]:
    """All events files of the given arrival days, header-checked; raises for a missing day."""
    files: list[Path] = []
    for day in days:
        for path in landing_event_files(settings, day):
            if not check_header(path, LANDING_HEADER):  # a day of no rows is legal, but said
                logger.warning("%s holds only its header: no events landed in it", path)
            files.append(path)
    return files
