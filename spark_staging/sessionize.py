"""Sessions: per ``anonymous_id``, ordered by ``(derived_ts, event_id)``, a new session starts
when the gap to the previous event is greater than the inactivity gap (30 minutes).

``session_id`` is ``md5(anonymous_id || '|' || session_start_ts epoch ms)``, so it is the same
however the events were batched. ``context_df`` carries the sessions already decided for the
day before the rewritten range (the lake partition ``D-L-1``): the last event of each device
there *seeds* the window, so a session crossing into the range keeps its id, start time and
event numbering. Everything is window functions over one ``anonymous_id`` partitioning.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

SEED_COLUMNS: tuple[str, ...] = (
    "anonymous_id",
    "event_id",
    "derived_ts",
    "session_id",
    "session_start_ts",
    "session_event_seq",
)


def session_id_of(anonymous_id: Column, session_start_ts: Column) -> Column:
    """The deterministic session id (contract: md5 hex of ``anonymous_id|start epoch ms``)."""
    return F.md5(F.concat_ws("|", anonymous_id, F.unix_millis(session_start_ts).cast("string")))


def last_event_per_device(context_df: DataFrame) -> DataFrame:
    """The latest sessionized event of each device: the seed its next session continues."""
    latest = Window.partitionBy("anonymous_id").orderBy(
        F.col("derived_ts").desc(), F.col("event_id").desc()
    )
    return (
        context_df.select(*SEED_COLUMNS)
        .withColumn("_rank", F.row_number().over(latest))
        .where(F.col("_rank") == 1)
        .drop("_rank")
    )


MINUTE = "_minute"
"""The sort's leading key after ``anonymous_id``: ``derived_ts`` truncated to the minute."""


def minute_of(ts: Column) -> Column:
    """``ts`` truncated to its UTC minute (the session sort's prefix, the bot rule's bucket)."""
    return F.date_trunc("minute", ts)


def sessionize(
    df: DataFrame,
    gap_minutes: int,
    context_df: DataFrame | None = None,
    *,
    keep_minute: bool = False,
) -> DataFrame:
    """Add ``session_id``, ``session_start_ts`` and ``session_event_seq`` (from 1).

    ``df`` needs ``anonymous_id``, ``event_id`` and ``derived_ts``, and must not contain
    events older than the newest context event of the same device. ``context_df`` (optional)
    is sessionized lake rows that precede ``df``; they are used as seeds, never returned.

    Every window shares one partitioning and one sort, ``(anonymous_id; minute, derived_ts,
    event_id)``: session start, first row and seed offset are carried forward from the last
    session start with ``last(..., ignorenulls)`` instead of re-partitioning by session, which
    cost two more sorts of every row. The leading minute does not change the order (it is
    monotonic in ``derived_ts``) but lets a later window partitioned by ``(anonymous_id,
    minute)`` — the bot rate rule — reuse this sort instead of sorting every row again; pass
    ``keep_minute=True`` to keep that column (``MINUTE``) for it.
    """
    gap_ms = gap_minutes * 60 * 1000
    events = df.select(
        "*",
        minute_of(F.col("derived_ts")).alias(MINUTE),
        F.lit(False).alias("_seed"),
        F.lit(None).cast("timestamp").alias("_seed_start"),
        F.lit(None).cast("int").alias("_seed_offset"),
    )
    if context_df is not None:
        seeds = last_event_per_device(context_df).select(
            "anonymous_id",
            "event_id",
            "derived_ts",
            minute_of(F.col("derived_ts")).alias(MINUTE),
            F.col("session_start_ts").alias("_seed_start"),
            (F.col("session_event_seq") - 1).alias("_seed_offset"),
            F.lit(True).alias("_seed"),
        )
        events = events.unionByName(seeds, allowMissingColumns=True)
    by_device = Window.partitionBy("anonymous_id").orderBy(MINUTE, "derived_ts", "event_id")
    so_far = by_device.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    gap = F.unix_millis("derived_ts") - F.unix_millis(F.lag("derived_ts").over(by_device))
    starts = F.col("_seed") | gap.isNull() | (gap > gap_ms)
    events = events.select(
        "*", starts.alias("_starts"), F.row_number().over(by_device).alias("_row")
    )

    def at_session_start(value: Column) -> Column:
        return F.last(F.when(F.col("_starts"), value), ignorenulls=True).over(so_far)

    first_row = at_session_start(F.col("_row"))
    offset = at_session_start(F.coalesce(F.col("_seed_offset"), F.lit(0)))
    sessionized = events.select(
        "*",
        at_session_start(F.coalesce(F.col("_seed_start"), F.col("derived_ts"))).alias(
            "session_start_ts"
        ),
        (offset + F.col("_row") - first_row + 1).cast("int").alias("session_event_seq"),
    ).withColumn("session_id", session_id_of(F.col("anonymous_id"), F.col("session_start_ts")))
    helpers = ["_seed", "_seed_start", "_seed_offset", "_starts", "_row"]
    return sessionized.where(~F.col("_seed")).drop(*helpers, *([] if keep_minute else [MINUTE]))
