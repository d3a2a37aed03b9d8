"""Drop repeated event_ids (collector retries), counting exact and payload-differing copies.

The copy kept is the first by ``(arrival_date, collector_ts, source_file, line_number)``:
arrival first, so a row already accepted on an earlier day is never displaced by a later
arrival. Copies with the same payload as the kept row are ``exact`` duplicates, the rest are
``payload`` duplicates; neither is quarantined, both are counted in the day's stats.

The window is partitioned by ``event_id`` (not by ``anonymous_id`` as the sessions are): a
payload duplicate may differ in any column, including the device id, and must still be found.
Rows accepted by earlier runs (the lake) take part as ``prior`` rows, so a retry arriving days
later is caught no matter how the days were batched; they are never returned.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

from spark_staging.schema import LANDING_EVENT_COLUMNS

ORDER_COLUMNS: tuple[str, ...] = ("arrival_date", "collector_ts", "source_file", "line_number")


def payload_hash() -> Column:
    """A 64-bit hash of the typed landing columns and of which of them are null.

    It is only compared between copies of one ``event_id``, so a 64-bit hash is plenty
    (a false "exact" needs a collision between two copies of the same event). The null flags
    keep ``(null, 'x')`` apart from ``('x', null)``, which a plain ``xxhash64`` (it skips nulls)
    would mix up; it costs a fraction of ``md5(to_json(...))``.
    """
    columns = [F.col(c) for c in LANDING_EVENT_COLUMNS]
    return F.xxhash64(*columns, F.array(*(c.isNull() for c in columns)))


def deduplicate(
    df: DataFrame, prior: DataFrame | None = None, eligible: str | None = None
) -> DataFrame:
    """Add ``duplicate``: null for the kept copy, else ``'exact'`` or ``'payload'``.

    ``df`` holds typed events with the ordering columns; ``prior`` (optional) holds events
    accepted earlier (typed landing columns plus ``arrival_date``), all arrived before any row
    of ``df``. When ``eligible`` names a boolean column, only those rows take part (the others,
    e.g. quarantined rows, get a null ``duplicate``): filtering them out first would make Spark
    push the whole validation expression into a filter. No row is removed.
    """
    flag = F.col(eligible) if eligible else F.lit(True)
    current = df.select("*", F.lit(False).alias("_prior"), payload_hash().alias("_payload"))
    current = current.withColumn("_eligible", F.coalesce(flag, F.lit(False)))
    if prior is not None:
        earlier = prior.select(
            *LANDING_EVENT_COLUMNS,
            "arrival_date",
            F.lit(None).cast("string").alias("source_file"),
            F.lit(None).cast("int").alias("line_number"),
        )
        earlier = earlier.join(df.select("event_id").distinct(), "event_id", "left_semi")
        earlier = earlier.select(
            "*",
            F.lit(True).alias("_prior"),
            payload_hash().alias("_payload"),
            F.lit(True).alias("_eligible"),
        )
        current = current.unionByName(earlier, allowMissingColumns=True)
    by_id = Window.partitionBy("event_id", "_eligible").orderBy(*ORDER_COLUMNS)
    first_payload = F.first("_payload").over(by_id)
    kind = (
        F.when(~F.col("_eligible") | (F.row_number().over(by_id) == 1), F.lit(None).cast("string"))
        .when(F.col("_payload") == first_payload, F.lit("exact"))
        .otherwise(F.lit("payload"))
    )
    return current.withColumn("duplicate", kind).where(~F.col("_prior")).drop("_prior", "_payload")
