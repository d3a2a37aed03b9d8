"""Column lists and Spark schemas of the landing files and the lake, in one place.

Every staging step and the tests import these, so the landing contract (docs/contracts.md §1)
and the lake contract (§2) are written down exactly once in code.
"""

from __future__ import annotations

from pyspark.sql.types import (
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    IntegerType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from clickstream.contract import (
    EVENT_NAMES,
    LANDING_EVENT_COLUMNS,
    QUARANTINE_REASONS,
    REQUIRED_COLUMNS,
    TIMESTAMP_COLUMNS,
)

LANDING_HEADER = ",".join(LANDING_EVENT_COLUMNS)


PRICE_TYPE = DecimalType(12, 2)
REVENUE_TYPE = DecimalType(14, 2)

TYPED_COLUMNS: dict[str, DataType] = {
    "dvce_created_ts": TimestampType(),
    "dvce_sent_ts": TimestampType(),
    "collector_ts": TimestampType(),
    "price": PRICE_TYPE,
    "quantity": IntegerType(),
    "revenue": REVENUE_TYPE,
}
"""Landing columns that are not plain strings in the lake."""


def _landing_field(name: str) -> StructField:
    return StructField(name, TYPED_COLUMNS.get(name, StringType()), True)


LAKE_EVENT_SCHEMA = StructType(
    [
        *(_landing_field(name) for name in LANDING_EVENT_COLUMNS),
        StructField("derived_ts", TimestampType(), True),
        StructField("event_date", DateType(), True),
        StructField("arrival_date", DateType(), True),
        StructField("is_bot", BooleanType(), True),
        StructField("session_id", StringType(), True),
        StructField("session_start_ts", TimestampType(), True),
        StructField("session_event_seq", IntegerType(), True),
    ]
)
"""Lake ``events`` columns in order; ``event_date`` is also the partition folder."""

LAKE_EVENT_COLUMNS: tuple[str, ...] = tuple(f.name for f in LAKE_EVENT_SCHEMA.fields)

QUARANTINE_SCHEMA = StructType(
    [
        StructField("arrival_date", DateType(), True),
        StructField("source_file", StringType(), True),
        StructField("line_number", IntegerType(), True),
        StructField("reason", StringType(), True),
        StructField("detail", StringType(), True),
        StructField("event_id", StringType(), True),
        StructField("raw_line", StringType(), True),
    ]
)
QUARANTINE_COLUMNS: tuple[str, ...] = tuple(f.name for f in QUARANTINE_SCHEMA.fields)

USERS_SCHEMA = StructType(
    [
        StructField("user_id", StringType(), True),
        StructField("email", StringType(), True),
        StructField("first_name", StringType(), True),
        StructField("last_name", StringType(), True),
        StructField("city", StringType(), True),
        StructField("country", StringType(), True),
        StructField("loyalty_tier", StringType(), True),
        StructField("marketing_opt_in", BooleanType(), True),
        StructField("created_at", TimestampType(), True),
        StructField("updated_at", TimestampType(), True),
    ]
)
"""Typed users extract (the lake adds the ``extract_date`` partition)."""

PRODUCTS_SCHEMA = StructType(
    [
        StructField("product_id", StringType(), True),
        StructField("product_name", StringType(), True),
        StructField("category_l1", StringType(), True),
        StructField("category_l2", StringType(), True),
        StructField("category_l3", StringType(), True),
        StructField("brand", StringType(), True),
        StructField("price", PRICE_TYPE, True),
        StructField("currency", StringType(), True),
        StructField("is_discontinued", BooleanType(), True),
        StructField("created_at", TimestampType(), True),
        StructField("updated_at", TimestampType(), True),
    ]
)
"""Typed products extract (the lake adds the ``extract_date`` partition)."""

__all__ = [
    "EVENT_NAMES",
    "LAKE_EVENT_COLUMNS",
    "LAKE_EVENT_SCHEMA",
    "LANDING_EVENT_COLUMNS",
    "LANDING_HEADER",
    "PRODUCTS_SCHEMA",
    "QUARANTINE_COLUMNS",
    "QUARANTINE_REASONS",
    "QUARANTINE_SCHEMA",
    "REQUIRED_COLUMNS",
    "TIMESTAMP_COLUMNS",
    "USERS_SCHEMA",
]


__all__ = [
    "EVENT_NAMES",
    "LAKE_EVENT_COLUMNS",
    "LAKE_EVENT_SCHEMA",
    "LANDING_EVENT_COLUMNS",
    "LANDING_HEADER",
    "PRICE_TYPE",
    "PRODUCTS_SCHEMA",
    "QUARANTINE_COLUMNS",
    "QUARANTINE_REASONS",
    "QUARANTINE_SCHEMA",
    "REQUIRED_COLUMNS",
    "REVENUE_TYPE",
    "TIMESTAMP_COLUMNS",
    "TYPED_COLUMNS",
    "USERS_SCHEMA",
]
