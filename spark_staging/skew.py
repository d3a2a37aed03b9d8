"""Timestamp repairs: seconds written as milliseconds, and skewed device clocks.

*Units.* Landing timestamps are epoch milliseconds; a known defect writes some in seconds
(10 digits instead of 13). Any value below 10^11 (in ms that would be before March 1973) is
taken to be seconds and multiplied by 1000; the row is flagged ``units_fixed``.

*Clock skew.* Device clocks can be off by hours, but the *interval* between creating and
sending an event on one device is reliable, and the collector's clock is trusted. So the event
happened at ``derived_ts = collector_ts - (dvce_sent_ts - dvce_created_ts)`` (Snowplow's
``derived_tstamp``), and the event's date in the lake is the UTC date of ``derived_ts``.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

SECONDS_THRESHOLD = 10**11
"""Epoch values below this are seconds, not milliseconds."""

MAX_EPOCH_MS = 4_102_444_800_000
"""2100-01-01T00:00:00Z: anything later is a broken clock (quarantined as ``future_ts``)."""


def fix_units(epoch: Column) -> tuple[Column, Column]:
    """``(epoch_ms, was_seconds)`` for an epoch long that may be in seconds or milliseconds."""
    was_seconds = epoch.isNotNull() & (epoch >= 0) & (epoch < SECONDS_THRESHOLD)
    return F.when(was_seconds, epoch * 1000).otherwise(epoch), was_seconds


def millis_to_timestamp(epoch_ms: Column) -> Column:
    """Timestamp of an epoch-ms long; null when negative or after 2100 (cannot overflow)."""
    in_range = (epoch_ms >= 0) & (epoch_ms <= MAX_EPOCH_MS)
    return F.when(in_range, F.timestamp_millis(epoch_ms))


def derived_millis(df_created: Column, df_sent: Column, df_collector: Column) -> Column:
    """``collector - (sent - created)`` in epoch ms, from three timestamp columns."""
    return F.unix_millis(df_collector) - (F.unix_millis(df_sent) - F.unix_millis(df_created))


def correct_clock_skew(df: DataFrame) -> DataFrame:
    """Add ``derived_ts`` (timestamp) and ``event_date`` (its UTC date) to typed events.

    Needs the timestamp columns ``dvce_created_ts``, ``dvce_sent_ts`` and ``collector_ts``;
    rows where any is null get null ``derived_ts`` (validation quarantines them earlier).
    """
    derived = millis_to_timestamp(
        derived_millis(F.col("dvce_created_ts"), F.col("dvce_sent_ts"), F.col("collector_ts"))
    )
    return df.select("*", derived.alias("derived_ts"), F.to_date(derived).alias("event_date"))
