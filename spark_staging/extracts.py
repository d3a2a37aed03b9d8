"""The daily users and products extracts: typed copies in the lake, and the known products.

Extracts are small full snapshots from operational systems, so a bad one is an error to fix at
the source, not something to quarantine row by row: a line that does not parse or type raises
InputFormatError naming the file, the line count and an example.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)
from pyspark.sql.types import StringType, StructField, StructType, TimestampType

from clickstream.config import Settings
from clickstream.errors import InputFormatError
from spark_staging import ddl
from spark_staging.lake import extract_dir, replace_partitions
from spark_staging.landing import check_header, extract_files
from spark_staging.schema import PRODUCTS_SCHEMA, USERS_SCHEMA

logger = logging.getLogger(__name__)

EXTRACT_SCHEMAS: dict[str, StructType] = {"users": USERS_SCHEMA, "products": PRODUCTS_SCHEMA}
EXTRACT_KEYS: dict[str, str] = {"users": "user_id", "products": "product_id"}
"""One row per key in an extract: the key of its raw table, with the extract date."""
REQUIRED_EXTRACT_FIELDS: dict[str, tuple[str, ...]] = {
    kind: tuple(
        name
        for name, sql_type in columns
        if sql_type.endswith("not null") and name != "extract_date"
    )
    for kind, columns in (("users", ddl.USER_COLUMNS), ("products", ddl.PRODUCT_COLUMNS))
}
"""Fields the raw tables declare not null: an extract row without one fails here, naming the
file, instead of failing a later load on PostgreSQL's constraint."""
TIMESTAMP_FORMAT = "yyyy-MM-dd HH:mm:ss"
_CORRUPT = "_corrupt_record"


def _typed(name: str, field: StructField) -> Column:
    raw = F.col(name)
    if isinstance(field.dataType, StringType):
        return raw
    if isinstance(field.dataType, TimestampType):
        return F.try_to_timestamp(raw, F.lit(TIMESTAMP_FORMAT))
    return F.expr(f"try_cast(`{name}` as {field.dataType.simpleString()})")


def read_extract(
    spark: SparkSession,
    path: Path,
    schema: StructType,
    key: str | None = None,
    required: tuple[str, ...] = (),
) -> DataFrame:
    """Read one extract CSV (explicit schema, RFC 4180 quoting) and type it; raise if a line
    does not parse or type, lacks a ``required`` field, or repeats another line's ``key``."""
    strings = StructType(
        [StructField(f.name, StringType()) for f in schema.fields]
        + [StructField(_CORRUPT, StringType())]
    )
    raw = (
        spark.read.schema(strings)
        .option("header", True)
        .option("escape", '"')
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", _CORRUPT)
        .csv(str(path))
    )
    typed = raw.select(
        *(_typed(f.name, f).alias(f.name) for f in schema.fields),
        F.col(_CORRUPT),
        *(F.col(f.name).alias(f"_raw_{f.name}") for f in schema.fields),
    )
    failed = F.col(_CORRUPT).isNotNull()
    for f in schema.fields:
        failed = failed | (F.col(f"_raw_{f.name}").isNotNull() & F.col(f.name).isNull())
    for name in required:
        failed = failed | F.col(name).isNull()
    bad = typed.where(failed).limit(1).collect()
    if bad:
        n_bad = typed.where(failed).count()
        example = bad[0][_CORRUPT] or {f.name: bad[0][f"_raw_{f.name}"] for f in schema.fields}
        raise InputFormatError(
            f"{path}: {n_bad} line(s) do not match the extract contract (docs/contracts.md §1); "
            f"first: {example}. Fix or regenerate the extract."
        )
    if key is not None:
        repeated = typed.groupBy(key).count().where(F.col("count") > 1)
        first = repeated.limit(1).collect()
        if first:
            raise InputFormatError(
                f"{path}: {repeated.count()} {key} value(s) appear on more than one line "
                f"(first: {first[0][key]!r}, {first[0]['count']} lines); an extract holds one "
                "line per key. Fix or regenerate the extract."
            )
    return typed.select(*schema.fieldNames())


def check_extract_headers(settings: Settings, days: list[dt.date]) -> None:
    """Raise InputFormatError unless every extract of ``days`` starts with its exact header.

    The extracts are read by column position, so a file with its columns reordered would load
    emails as first names; an empty file would load as a day without users. Checked before any
    Spark work, as the events files are.
    """
    wanted = set(days)
    for kind, schema in EXTRACT_SCHEMAS.items():
        for day, path in extract_files(settings, kind, max(days)).items():
            if day in wanted:
                check_header(path, ",".join(schema.fieldNames()))


def stage_extracts(spark: SparkSession, settings: Settings, days: list[dt.date]) -> None:
    """Write typed ``users`` and ``products`` extracts of ``days`` to the lake.

    A day without an extract is logged and skipped (events can be staged without it).
    """
    for kind, schema in EXTRACT_SCHEMAS.items():
        files = {d: p for d, p in extract_files(settings, kind, max(days)).items() if d in days}
        for day in days:
            if day not in files:
                logger.warning("no %s extract for %s; skipped", kind, day.isoformat())
        if not files:
            continue
        frames = [
            read_extract(
                spark, path, schema, EXTRACT_KEYS[kind], REQUIRED_EXTRACT_FIELDS[kind]
            ).withColumn("extract_date", F.lit(day))
            for day, path in files.items()
        ]
        combined = frames[0]
        for frame in frames[1:]:
            combined = combined.unionByName(frame)
        replace_partitions(combined, extract_dir(settings, kind), "extract_date", list(files))


def known_products(spark: SparkSession, settings: Settings, up_to: dt.date) -> DataFrame | None:
    """``product_id, first_extract_date`` over products extracts up to ``up_to``.

    None when there is no products extract at all: the orphan rule is then skipped (with a
    warning) rather than quarantining every product event.
    """
    files = extract_files(settings, "products", up_to)
    if not files:
        logger.warning(
            "no products extract up to %s: the orphan_product rule is skipped", up_to.isoformat()
        )
        return None
    frames = [
        spark.read.option("header", True)
        .option("escape", '"')
        .schema(StructType([StructField(f.name, StringType()) for f in PRODUCTS_SCHEMA.fields]))
        .csv(str(path))
        .select("product_id")
        .withColumn("extract_date", F.lit(day))
        for day, path in files.items()
    ]
    combined = frames[0]
    for frame in frames[1:]:
        combined = combined.unionByName(frame)
    return (
        combined.where(F.col("product_id").isNotNull())
        .groupBy("product_id")
        .agg(F.min("extract_date").alias("first_extract_date"))
    )
