"""Stage arrival days: landing CSV → validated, deduplicated, sessionized Parquet lake.

One job stages a run of consecutive arrival days ``D1..Dn`` (one day is a run of one):

1. read every line of the landing folders ``D1..Dn`` (``landing``), parse, type and validate
   it (``validate``); failing lines go to ``quarantine/arrival_date=D`` with their reason;
2. deduplicate the valid rows on ``event_id`` against each other and against every event the
   lake accepted on earlier arrival days (``dedupe``);
3. rebuild the lake partitions ``event_date ∈ [D1-L, Dn+1]``: the new rows plus the rows of
   other arrival days already there, sessionized with the sessions of partition ``D1-L-1`` as
   context (``sessionize``) and bot-flagged (``bots``), then swapped in (``lake``);
4. write the typed users/products extracts of ``D1..Dn`` (their jobs run beside steps 1-3,
   on the cores those leave idle) and ``_stats/arrival_date=D.json``.

Rows accepted earlier are taken from the lake rather than re-derived from older landing
folders, so each row's fate is decided once, on its arrival day, with everything that arrived
before it: staging days one at a time and in one backfill give the same lake (tested). The
range reaches ``Dn+1`` because ``derived_ts`` may be up to 5 minutes after ``collector_ts``,
so an event received just before midnight can belong to the next date.

Stage days in arrival order. Re-staging a day replaces its own rows and quarantine and keeps
the rows of later arrival days; if its landing files changed, re-stage the later days too.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from py4j.protocol import Py4JError, Py4JJavaError
from pyspark import StorageLevel
from pyspark.errors import PySparkException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

from clickstream.config import Settings
from clickstream.errors import ConfigError, StageFailedError, headline
from clickstream.locks import lake_lock
from spark_staging.bots import flag_bots
from spark_staging.dedupe import ORDER_COLUMNS, duplicate_copies, mark_duplicates
from spark_staging.extracts import check_extract_headers, known_products, stage_extracts
from spark_staging.lake import (
    check_arrival_order,
    check_lake_dir,
    date_range,
    events_dir,
    quarantine_dir,
    read_partitions,
    replace_partitions,
    write_stats,
)
from spark_staging.landing import (
    available_landing_days,
    event_files_for_days,
    read_event_lines,
)
from spark_staging.schema import (
    LAKE_EVENT_COLUMNS,
    LAKE_EVENT_SCHEMA,
    LANDING_EVENT_COLUMNS,
    QUARANTINE_COLUMNS,
    QUARANTINE_REASONS,
)
from spark_staging.session import driver_memory
from spark_staging.sessionize import sessionize
from spark_staging.validate import parse_fields, storable_text, validate

logger = logging.getLogger(__name__)

__all__ = ["StageStats", "available_landing_days", "stage_days"]

ACCEPTED = "accepted"
DUPLICATE_EXACT = "duplicate_exact"
DUPLICATE_PAYLOAD = "duplicate_payload"
_SESSION_COLUMNS = ("is_bot", "session_id", "session_start_ts", "session_event_seq")


@dataclass(frozen=True)
class StageStats:
    """Counts for one arrival day; ``input_rows = accepted + quarantined + duplicates``."""

    arrival_date: dt.date
    input_rows: int
    accepted: int
    quarantined: dict[str, int] = field(default_factory=dict)
    duplicates_exact: int = 0
    duplicates_payload: int = 0
    units_fixed: int = 0
    bots: int = 0
    seconds: float = 0.0

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    @property
    def duplicates(self) -> int:
        return self.duplicates_exact + self.duplicates_payload

    @property
    def reconciles(self) -> bool:
        return self.input_rows == self.accepted + self.quarantined_total + self.duplicates

    def to_json(self) -> dict[str, Any]:
        """The ``_stats`` file body (docs/contracts.md §2)."""
        return {
            "arrival_date": self.arrival_date.isoformat(),
            "input_rows": self.input_rows,
            "accepted": self.accepted,
            "quarantined": dict(self.quarantined),
            "duplicates": {"exact": self.duplicates_exact, "payload": self.duplicates_payload},
            "units_fixed": self.units_fixed,
            "bots": self.bots,
            "seconds": round(self.seconds, 3),
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def consecutive_runs(days: Sequence[dt.date]) -> list[list[dt.date]]:
    """Split sorted unique days into runs of consecutive dates (one job per run)."""
    runs: list[list[dt.date]] = []
    for day in sorted(set(days)):
        if runs and day - runs[-1][-1] == dt.timedelta(days=1):
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def stage_days(
    spark: SparkSession, settings: Settings, days: Sequence[dt.date]
) -> list[StageStats]:
    """Stage arrival ``days`` (consecutive days in one job) and return their stats in order.

    Raises EmptyInputError (before any Spark work) when a day has no landing files.
    """
    if not days:
        raise ConfigError("no days to stage: pass --date D or --from D1 --to D2.")
    runs = consecutive_runs(days)
    # found and header-checked up front, to fail fast on a missing day before spending
    # minutes on earlier ones; each run's job then reads exactly these files
    files = [event_files_for_days(settings, run) for run in runs]
    check_extract_headers(settings, list(days))
    check_lake_dir(settings)
    results: list[StageStats] = []
    # one staging of a lake at a time, and no load reading it meanwhile (clickstream.locks)
    with lake_lock(settings.lake_dir, exclusive=True):
        check_arrival_order(settings, days)
        for run, run_files in zip(runs, files, strict=True):
            try:
                results.extend(_stage_run(spark, settings, run, run_files))
            except (Py4JError, PySparkException, ConnectionError) as exc:
                raise _spark_failed(run, exc) from exc
    return results


def _spark_failed(days: list[dt.date], exc: BaseException) -> StageFailedError:
    """One clear line for a Spark job that failed, instead of a Java stack trace.

    Running out of heap is the failure a bigger day meets first, so it names the two knobs.
    """
    text = str(exc)
    memory = (
        f"raise CLICKSTREAM_SPARK_DRIVER_MEMORY (now {driver_memory()}) or stage fewer days per run"
    )
    if "OutOfMemoryError" in text:
        cause = f"the Spark driver ran out of memory; {memory}"
    elif isinstance(exc, Py4JJavaError | PySparkException):
        cause = headline(exc)
    else:  # the gateway lost the JVM: in local mode a task's OutOfMemoryError exits it
        cause = f"the Spark JVM stopped (in local mode, most likely out of memory: {memory})"
    return StageFailedError(
        f"Staging {days[0]}..{days[-1]} failed in Spark: {cause}. Re-run 'clickstream stage' "
        "for these days: a complete run replaces whatever this one wrote (--debug shows the "
        "trace)."
    )


def check_lines(
    spark: SparkSession,
    settings: Settings,
    days: list[dt.date],
    files: Sequence[Path] | None = None,
) -> DataFrame:
    """Every landing line of ``days``, parsed, typed and validated (``reason`` null if valid).

    ``files``: the days' events files when the caller has already found and checked them.
    """
    if files is None:
        files = event_files_for_days(settings, days)
    lines = read_event_lines(spark, files)
    products = known_products(spark, settings, days[-1])
    checked = validate(parse_fields(lines), settings.lateness_days, products)
    keep: tuple[Column | str, ...] = (
        *LANDING_EVENT_COLUMNS,
        *(c for c in ORDER_COLUMNS if c not in LANDING_EVENT_COLUMNS),
        # Only quarantined lines keep their raw text: carried for every line it was ~40% of
        # the bytes the dedupe shuffle and the cache move.
        F.when(F.col("reason").isNotNull(), F.col("raw_line")).alias("raw_line"),
        "derived_ts",
        "event_date",
        "units_fixed",
        "reason",
        "detail",
    )
    return checked.select(*keep)


def classify(
    checked: DataFrame,
    prior: DataFrame | None,
    copies: DataFrame | None = None,
    *,
    broadcast: bool = True,
) -> DataFrame:
    """``checked`` lines with ``outcome``: a quarantine reason, ``accepted``,
    ``duplicate_exact`` or ``duplicate_payload`` (plus its typed fields).

    ``prior`` holds the lake rows that arrived before these days (None: there are none).
    ``copies``: :func:`find_copies` of the same lines when the caller has materialized them
    (computed within this plan otherwise); ``broadcast`` as in :func:`mark_duplicates`.
    """
    if copies is None:
        copies = find_copies(checked, prior)
    deduped = mark_duplicates(checked, copies, broadcast=broadcast)
    outcome = (
        F.when(F.col("reason").isNotNull(), F.col("reason"))
        .when(F.col("duplicate") == "exact", DUPLICATE_EXACT)
        .when(F.col("duplicate") == "payload", DUPLICATE_PAYLOAD)
        .otherwise(ACCEPTED)
    )
    return deduped.select("*", outcome.alias("outcome")).drop("duplicate")


def find_copies(checked: DataFrame, prior: DataFrame | None) -> DataFrame:
    """The duplicate copies among the valid ``checked`` lines (:func:`duplicate_copies`)."""
    valid = checked.select("*", F.col("reason").isNull().alias("_valid"))
    return duplicate_copies(valid, prior, eligible="_valid")


def _collect_counts(classified: DataFrame) -> dict[dt.date, dict[str, int]]:
    """``{arrival_date: {outcome: n, 'units_fixed': n}}`` in one aggregation."""
    rows = (
        classified.groupBy("arrival_date", "outcome")
        .agg(
            F.count(F.lit(1)).alias("n"),
            F.sum((F.col("units_fixed") & (F.col("outcome") != "malformed")).cast("int")).alias(
                "fixed"
            ),
        )
        .collect()
    )
    counts: dict[dt.date, dict[str, int]] = {}
    for row in rows:
        day = counts.setdefault(row["arrival_date"], {})
        day[row["outcome"]] = day.get(row["outcome"], 0) + row["n"]
        day["units_fixed"] = day.get("units_fixed", 0) + int(row["fixed"] or 0)
    return counts


def _rebuild_events(
    settings: Settings, days: list[dt.date], accepted: DataFrame, lake_events: DataFrame
) -> list[dt.date]:
    """Resessionize and replace lake partitions ``[D1-L, Dn+1]``; return that range."""
    first, last = days[0], days[-1]
    rewritten = date_range(
        first - dt.timedelta(days=settings.lateness_days), last + dt.timedelta(days=1)
    )
    context_day = rewritten[0] - dt.timedelta(days=1)
    in_range = F.col("event_date").isin(*rewritten)
    others = lake_events.where(in_range & ~F.col("arrival_date").between(first, last))
    fresh = accepted.select(*(c for c in LAKE_EVENT_COLUMNS if c not in _SESSION_COLUMNS))
    events = fresh.unionByName(others.drop(*_SESSION_COLUMNS))
    context = lake_events.where(F.col("event_date") == F.lit(context_day))
    sessions = sessionize(events, settings.session_gap_minutes, context, keep_minute=True)
    result = flag_bots(sessions)
    replace_partitions(
        result.select(*LAKE_EVENT_COLUMNS),
        events_dir(settings),
        "event_date",
        rewritten,
        # The session window has just hashed the rows by device and sorted them by time:
        # written as they are, the files come out ordered by (anonymous_id, derived_ts).
        reshuffle=False,
    )
    return rewritten


MAX_BROADCAST_COPIES = 1_000_000
"""Duplicate copies (≈100 bytes each) up to which a run ships their list to every task
(:func:`~spark_staging.dedupe.mark_duplicates`) instead of shuffling the lines to meet it."""

BYTES_PER_SHUFFLE_PARTITION = 200 * 1024 * 1024
"""Landing CSV bytes per shuffle partition (≈500K events): see :func:`shuffle_partitions_for`."""


def shuffle_partitions_for(input_bytes: int, parallelism: int, upper: int) -> int:
    """The shuffle partitions of a run: one per ~200 MB of landing CSV, in whole waves of
    ``parallelism`` tasks (at least two), never more than ``upper``.

    Sized from the input rather than fixed or left to AQE. A fixed 4 made a 10M-event day's
    cached blocks 600 MB each (reading one back ran the driver out of heap). Letting AQE
    coalesce 64 partitions into ~64 MB ones made the 1M-event day slower: staging took 93.6 s
    against 74.7 s with 4 partitions on 2 cores, and more partitions cost CPU at that size
    (6: 84-88 s; 2: 78.7 s; 4: 74.7-78.3 s, one run each). Whole waves keep every core busy
    until the end of each stage.
    """
    wanted = math.ceil(input_bytes / BYTES_PER_SHUFFLE_PARTITION)
    waves = max(2, math.ceil(wanted / max(1, parallelism)))
    return max(1, min(upper, waves * max(1, parallelism)))


def _size_shuffles(spark: SparkSession, settings: Settings, files: Sequence[Path]) -> None:
    """Set the run's shuffle partitions from the size of its landing files."""
    input_bytes = sum(path.stat().st_size for path in files)
    partitions = shuffle_partitions_for(
        input_bytes, spark.sparkContext.defaultParallelism, settings.spark_shuffle_partitions
    )
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    logger.debug("%d MB of landing files: %d shuffle partitions", input_bytes >> 20, partitions)


def _stage_run(
    spark: SparkSession, settings: Settings, days: list[dt.date], files: Sequence[Path]
) -> list[StageStats]:
    started = time.perf_counter()
    logger.info("staging arrival days %s..%s", days[0], days[-1])
    _size_shuffles(spark, settings, files)
    # The extracts share nothing with the events: their small jobs run beside the events' and
    # take the cores those leave idle (planning, stage tails) instead of running after them.
    # Leaving the pool waits for them (Spark must not be stopped under a running job); an
    # error of the events wins over one of the extracts.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="extracts") as pool:
        extracts = pool.submit(stage_extracts, spark, settings, days)
        counts, rewritten = _stage_events(spark, settings, days, files)
        extracts.result()
    written = _written_counts(spark, settings, days, rewritten)
    seconds = time.perf_counter() - started
    results = [
        _day_stats(day, counts.get(day, {}), written.get(day, (0, 0)), seconds) for day in days
    ]
    for stats in results:
        write_stats(settings, stats.arrival_date, stats.to_json())
        logger.info(
            "staged %s: %d rows in, %d accepted, %d quarantined, %d duplicates, %d bots, %.1f s",
            stats.arrival_date,
            stats.input_rows,
            stats.accepted,
            stats.quarantined_total,
            stats.duplicates,
            stats.bots,
            seconds,
        )
    return results


def _stage_events(
    spark: SparkSession, settings: Settings, days: list[dt.date], files: Sequence[Path]
) -> tuple[dict[dt.date, dict[str, int]], list[dt.date]]:
    """Validate, classify and write the events and quarantine of ``days``.

    Returns the per-day outcome counts and the lake partitions rewritten.
    """
    lake_events = read_partitions(spark, events_dir(settings), "event_date", LAKE_EVENT_SCHEMA)
    checked = check_lines(spark, settings, days, files)
    prior: DataFrame | None = lake_events.where(F.col("arrival_date") < F.lit(days[0]))
    if prior is not None and prior.isEmpty():  # the first run: no need to look back
        prior = None
    # read for the duplicates' keys, then for the counts and both writes: parse it once
    checked = checked.persist(StorageLevel.MEMORY_AND_DISK)
    copies = find_copies(checked, prior).persist(StorageLevel.MEMORY_AND_DISK)
    classified = checked
    try:
        broadcast = copies.count() <= MAX_BROADCAST_COPIES
        classified = classify(checked, prior, copies, broadcast=broadcast)
        if not broadcast:  # a day of mostly duplicates: join it to its copies once, not thrice
            classified = classified.persist(StorageLevel.MEMORY_AND_DISK)
        counts = _collect_counts(classified)
        quarantine = classified.where(F.col("outcome").isin(*QUARANTINE_REASONS)).select(
            "arrival_date",
            "source_file",
            "line_number",
            F.col("outcome").alias("reason"),
            "detail",
            F.when(F.col("outcome") != "malformed", F.col("event_id")).alias("event_id"),
            storable_text("raw_line").alias("raw_line"),
        )
        replace_partitions(
            quarantine.select(*QUARANTINE_COLUMNS),
            quarantine_dir(settings),
            "arrival_date",
            days,
            sort_within=("source_file", "line_number"),
        )
        accepted = classified.where(F.col("outcome") == ACCEPTED)
        rewritten = _rebuild_events(settings, days, accepted, lake_events)
    finally:
        _unpersist_quietly(classified, copies, checked)
    return counts, rewritten


def _unpersist_quietly(*frames: DataFrame) -> None:
    """Free cached frames; when the JVM is already gone there is nothing to free, and the
    error that stopped it is the one to report."""
    for frame in frames:
        try:
            frame.unpersist()
        except (Py4JError, ConnectionError):
            return


def _written_counts(
    spark: SparkSession, settings: Settings, days: list[dt.date], rewritten: list[dt.date]
) -> dict[dt.date, tuple[int, int]]:
    """``{arrival_date: (rows, bot rows)}`` as written to the lake (read back, cheap)."""
    lake = read_partitions(spark, events_dir(settings), "event_date", LAKE_EVENT_SCHEMA, rewritten)
    rows = (
        lake.where(F.col("arrival_date").between(days[0], days[-1]))
        .groupBy("arrival_date")
        .agg(F.count(F.lit(1)).alias("n"), F.sum(F.col("is_bot").cast("int")).alias("bots"))
        .collect()
    )
    return {row["arrival_date"]: (row["n"], int(row["bots"] or 0)) for row in rows}


def _day_stats(
    day: dt.date, counts: dict[str, int], written: tuple[int, int], seconds: float
) -> StageStats:
    stats = StageStats(
        arrival_date=day,
        input_rows=sum(n for key, n in counts.items() if key != "units_fixed"),
        accepted=counts.get(ACCEPTED, 0),
        quarantined={reason: counts.get(reason, 0) for reason in QUARANTINE_REASONS},
        duplicates_exact=counts.get(DUPLICATE_EXACT, 0),
        duplicates_payload=counts.get(DUPLICATE_PAYLOAD, 0),
        units_fixed=counts.get("units_fixed", 0),
        bots=written[1],
        seconds=seconds,
    )
    if written[0] != stats.accepted:
        raise StageFailedError(
            f"staging {day}: {stats.accepted} rows accepted but {written[0]} written to the lake; "
            "this is a bug, please report it with the landing files."
        )
    return stats
