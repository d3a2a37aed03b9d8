"""Parse landing lines into fields, type them and decide each row's quarantine reason.

Rules run in the contract's order and the first failing one wins (docs/contracts.md §2):
``malformed`` → ``missing_field`` → ``bad_type`` → ``unknown_event`` → ``future_ts`` →
``too_late`` → ``orphan_product``. Every rule is a Spark column expression (no Python UDF), so
the same code runs on ``local[N]`` and on a standalone cluster.

A line is ``malformed`` when its double quotes are unbalanced (RFC 4180 lines always have an
even number), when Spark's CSV parser does not split it into exactly 26 fields (quoted
sections may hold commas and doubled quotes), when it holds a NUL byte (PostgreSQL text cannot store
one) or when it is not valid UTF-8 (Spark decodes such bytes to U+FFFD, so a latin-1 file's
accented letters are caught here instead of being accepted garbled). An id longer than 256
characters is ``bad_type`` (absurd, and too long for a b-tree index downstream). Negative
timestamps count as absurd (``bad_type``); a row whose derived time is negative (a device
interval of decades) is ``too_late``.
"""

from __future__ import annotations

import operator
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

from spark_staging.schema import (
    EVENT_NAMES,
    LANDING_EVENT_COLUMNS,
    PRICE_TYPE,
    REQUIRED_COLUMNS,
    REVENUE_TYPE,
    TIMESTAMP_COLUMNS,
)
from spark_staging.skew import MAX_EPOCH_MS, correct_clock_skew, fix_units, millis_to_timestamp

FUTURE_TOLERANCE_MS = 5 * 60 * 1000
"""``derived_ts`` may be at most this far after ``collector_ts`` (device/collector jitter)."""

MAX_PRICE = 100_000
MAX_QUANTITY = 1_000
MAX_ID_LENGTH = 256
"""Longer id values are absurd (``bad_type``): they would not fit a PostgreSQL b-tree index."""

ID_COLUMNS: tuple[str, ...] = (
    "event_id",
    "anonymous_id",
    "user_id",
    "product_id",
    "order_id",
    "source_session_id",
)
"""Landing columns that are keys downstream (primary keys, joins, unique indexes)."""

NUL = "\x00"
REPLACEMENT_CHARACTER = "\ufffd"
"""What Spark's UTF-8 decoding puts in place of bytes that are not UTF-8 (e.g. a latin-1 file)."""

_CORRUPT = "_corrupt_record"
_CSV_OPTIONS = {
    "escape": '"',
    "quote": '"',
    "mode": "PERMISSIVE",
    # Set by the parser when a line does not split into exactly the schema's 26 fields.
    "columnNameOfCorruptRecord": _CORRUPT,
}
# A quoted CSV section, written as an unrolled loop: the same language as '"([^"]|"")*"' but
# without an alternation per character, which Java's regex engine handles by recursing per
# character (slow on every long quoted user agent, and a stack overflow risk).
_QUOTED_SECTION = r'"[^"]*(?:""[^"]*)*"'
_STRING_SCHEMA = ", ".join(f"{name} string" for name in (*LANDING_EVENT_COLUMNS, _CORRUPT))


def fence(df: DataFrame) -> DataFrame:
    """Pass ``df`` through a one-row ``explode``: an optimizer barrier, no data change.

    Spark pushes a filter down through projections by inlining their expressions; a filter
    on ``reason`` would then re-evaluate the CSV parse and every rule inside the filter (huge
    generated code, and one CSV parser per field reference). Filters cannot be pushed through
    a generator, so expensive columns are computed once, below the fence.
    """
    return df.select(F.explode(F.array(F.struct(*df.columns))).alias("_row")).select("_row.*")


def parse_fields(lines: DataFrame) -> DataFrame:
    """Add the 26 landing columns (strings, ``""`` → null) and ``_fields_ok``/``_quotes_ok``.

    Expects a ``raw_line`` column; other columns pass through. Parsing uses Spark's own CSV
    parser (``from_csv`` with ``"`` as quote and escape, i.e. RFC 4180 doubled quotes), and the
    same parser decides whether the line has exactly 26 fields, so the fields accepted are the
    fields it found. Both checks are byte counts, not regexes: the regex versions cost more
    CPU than the CSV parse itself (measured on 1M lines).
    """
    quotes = F.octet_length("raw_line") - F.octet_length(F.expr("replace(raw_line, '\"', '')"))
    parsed = fence(
        lines.withColumn("_parsed", F.from_csv(F.col("raw_line"), _STRING_SCHEMA, _CSV_OPTIONS))
    )
    return parsed.select(
        *(c for c in lines.columns),
        *(
            F.nullif(F.col(f"_parsed.{name}"), F.lit("")).alias(name)
            for name in LANDING_EVENT_COLUMNS
        ),
        (quotes % 2 == 0).alias("_quotes_ok"),
        F.col(f"_parsed.{_CORRUPT}").isNull().alias("_fields_ok"),
    )


def field_count(raw_line: Column) -> Column:
    """Fields in a line once quoted sections (which may hold commas) are set aside.

    Only for the quarantine detail of a malformed line: a regex per line is too slow for
    every row, and the parser has already decided.
    """
    return F.size(F.split(F.regexp_replace(raw_line, _QUOTED_SECTION, ""), ",", -1))


def _try_cast(name: str, type_name: str) -> Column:
    return F.expr(f"try_cast(`{name}` as {type_name})")


def _names_where(condition_by_name: dict[str, Column], sep: str = ", ") -> Column:
    """Comma list of the names whose condition holds (``concat_ws`` skips the nulls)."""
    return F.concat_ws(
        sep, *(F.when(cond, F.lit(name)) for name, cond in condition_by_name.items())
    )


def _quoted(name: str) -> Column:
    return F.concat(F.lit(f"{name} '"), F.col(f"_raw_{name}"), F.lit("'"))


def type_fields(df: DataFrame) -> DataFrame:
    """Type the landing strings; keep the raw strings as ``_raw_<col>`` for error details.

    Adds ``_bad_type`` (a detail string, null when every typed field is fine), the epoch-ms
    longs ``_<ts>_ms`` and ``units_fixed`` (any timestamp was written in seconds). Each cast
    is computed once in its own projection and referenced afterwards, which keeps the
    generated code small (one huge inlined expression overflows Java's method size limit).
    """
    typed_names = (*TIMESTAMP_COLUMNS, "price", "quantity", "revenue")
    checks = {
        "price": (PRICE_TYPE.simpleString(), MAX_PRICE, "a decimal"),
        "quantity": ("int", MAX_QUANTITY, "an integer"),
        "revenue": (REVENUE_TYPE.simpleString(), None, "a decimal"),
    }
    df = df.select(
        *(c for c in df.columns if c not in typed_names),
        *(F.col(name).alias(f"_raw_{name}") for name in typed_names),
    )
    df = df.select(
        "*",
        *(_try_cast(f"_raw_{n}", "bigint").alias(f"_{n}_epoch") for n in TIMESTAMP_COLUMNS),
        *(_try_cast(f"_raw_{n}", t).alias(n) for n, (t, _, _) in checks.items()),
    )
    problems: list[Column] = []
    outputs: list[Column] = []
    fixed_flags: list[Column] = []
    for name in TIMESTAMP_COLUMNS:
        epoch = F.col(f"_{name}_epoch")
        epoch_ms, was_seconds = fix_units(epoch)
        fixed_flags.append(was_seconds)
        outputs.append(epoch_ms.alias(f"_{name}_ms"))
        problems.append(
            F.when(
                F.col(f"_raw_{name}").isNotNull() & epoch.isNull(),
                F.concat(_quoted(name), F.lit(" is not an integer")),
            ).when(epoch < 0, F.concat(_quoted(name), F.lit(" is negative")))
        )
    for name in ID_COLUMNS:
        problems.append(
            F.when(
                # bytes bound characters from above: count characters only for long values
                (F.octet_length(name) > MAX_ID_LENGTH) & (F.length(name) > MAX_ID_LENGTH),
                F.format_string(
                    f"{name} is %d characters long (max {MAX_ID_LENGTH})", F.length(name)
                ),
            )
        )
    for name, (_, maximum, kind) in checks.items():
        value = F.col(name)
        problem = F.when(
            F.col(f"_raw_{name}").isNotNull() & value.isNull(),
            F.concat(_quoted(name), F.lit(f" is not {kind}")),
        )
        if maximum is not None:
            problem = problem.when(value < 0, F.concat(_quoted(name), F.lit(" is negative"))).when(
                value > maximum, F.concat(_quoted(name), F.lit(f" is above {maximum}"))
            )
        problems.append(problem)
    detail = F.concat_ws("; ", *problems)
    df = df.select(
        "*",
        *outputs,
        F.when(detail != "", detail).alias("_bad_type"),
        reduce(operator.or_, fixed_flags).alias("units_fixed"),
    )
    return df.select(
        "*", *(millis_to_timestamp(F.col(f"_{n}_ms")).alias(n) for n in TIMESTAMP_COLUMNS)
    )


def _rules(lateness_days: int, check_products: bool) -> list[tuple[str, Column, Column]]:
    """``(reason, failed, detail)`` per rule, in contract order (needs ``_derived_ms``)."""
    n_fields = len(LANDING_EVENT_COLUMNS)
    created, sent, collector = (F.col(f"_{name}_ms") for name in TIMESTAMP_COLUMNS)
    derived = F.col("_derived_ms")
    earliest_ms = F.unix_millis(F.to_timestamp(F.date_sub("arrival_date", lateness_days)))
    # an arrival's events are dated D+1 at the latest (received before midnight, up to 5 min
    # of device time later): a later one was misfiled or stamped by a jumped clock, and its
    # date lies outside the partitions staging D rewrites
    after_window_ms = F.unix_millis(F.to_timestamp(F.date_add("arrival_date", 2)))
    raw = {name: f"_raw_{name}" if name in TIMESTAMP_COLUMNS else name for name in REQUIRED_COLUMNS}
    missing = {name: F.col(column).isNull() for name, column in raw.items()}
    any_after_2100 = (created > MAX_EPOCH_MS) | (sent > MAX_EPOCH_MS) | (collector > MAX_EPOCH_MS)
    has_nul = F.col("raw_line").contains(NUL)
    not_utf8 = F.col("raw_line").contains(REPLACEMENT_CHARACTER)
    rules = [
        (
            "malformed",
            ~F.col("_quotes_ok")
            | ~F.col("_fields_ok")
            | (F.col("raw_line") == "")
            | has_nul
            | not_utf8,
            F.when(F.col("raw_line") == "", F.lit("empty line"))
            .when(has_nul, F.lit("contains a NUL byte"))
            .when(not_utf8, F.lit("not valid UTF-8 (is the file in another encoding?)"))
            .when(~F.col("_quotes_ok"), F.lit("unbalanced double quotes"))
            .when(
                field_count(F.col("raw_line")) == n_fields,
                F.lit(
                    f"the fields do not split into {n_fields} (a quote inside an unquoted field?)"
                ),
            )
            .otherwise(
                F.format_string(
                    f"expected {n_fields} fields, found %d", field_count(F.col("raw_line"))
                )
            ),
        ),
        (
            "missing_field",
            reduce(operator.or_, missing.values()),
            F.concat(F.lit("empty required field(s): "), _names_where(missing)),
        ),
        ("bad_type", F.col("_bad_type").isNotNull(), F.col("_bad_type")),
        (
            "unknown_event",
            ~F.col("event_name").isin(*EVENT_NAMES),
            F.concat(F.lit("event_name '"), F.col("event_name"), F.lit("' is not a known event")),
        ),
        (
            "future_ts",
            any_after_2100
            | (derived > collector + FUTURE_TOLERANCE_MS)
            | (derived > MAX_EPOCH_MS)
            | (derived >= after_window_ms),
            F.when(any_after_2100, F.lit("a timestamp is after 2100-01-01"))
            .when(
                derived > collector + FUTURE_TOLERANCE_MS,
                F.format_string(
                    "derived_ts is %.1f min after collector_ts (tolerance 5 min)",
                    (derived - collector) / 60000.0,
                ),
            )
            .otherwise(
                F.format_string(
                    "event date %s is after arrival date %s + 1 day",
                    F.to_date(millis_to_timestamp(derived)).cast("string"),
                    F.col("arrival_date").cast("string"),
                )
            ),
        ),
        (
            "too_late",
            derived < earliest_ms,
            F.format_string(
                "event date %s is more than %d day(s) before arrival date %s",
                F.coalesce(F.to_date(millis_to_timestamp(derived)).cast("string"), F.lit("<1970")),
                F.lit(lateness_days),
                F.col("arrival_date").cast("string"),
            ),
        ),
    ]
    if check_products:
        rules.append(
            (
                "orphan_product",
                F.col("product_id").isNotNull()
                & (
                    F.col("_first_extract_date").isNull()
                    | (F.col("_first_extract_date") > F.col("arrival_date"))
                ),
                F.format_string(
                    "product_id '%s' is in no products extract up to %s",
                    F.col("product_id"),
                    F.col("arrival_date").cast("string"),
                ),
            )
        )
    return rules


def validate(
    parsed: DataFrame, lateness_days: int, known_products: DataFrame | None = None
) -> DataFrame:
    """Type parsed lines and add ``reason``/``detail`` (null when the row is valid).

    ``parsed`` is :func:`parse_fields` output (with ``arrival_date``, ``source_file``,
    ``line_number``, ``raw_line``). ``known_products`` has ``product_id, first_extract_date``
    (the first extract that lists it); ``None`` skips the orphan rule (no catalogue at all).
    Adds typed columns, ``derived_ts``, ``event_date`` and ``units_fixed``. Rows are never
    removed: quarantine and acceptance are decided by the caller from ``reason``.
    """
    df = type_fields(parsed)
    if known_products is not None:
        products = known_products.select(
            "product_id", F.col("first_extract_date").alias("_first_extract_date")
        )
        df = df.join(F.broadcast(products), on="product_id", how="left")
    created, sent, collector = (F.col(f"_{name}_ms") for name in TIMESTAMP_COLUMNS)
    df = df.select("*", (collector - (sent - created)).alias("_derived_ms"))
    rules = _rules(lateness_days, check_products=known_products is not None)
    rule_no: Column = F.lit(None).cast("int")
    for number, (_, failed, _) in reversed(list(enumerate(rules))):  # first failing rule wins
        rule_no = F.when(failed, F.lit(number)).otherwise(rule_no)
    df = fence(df.select("*", rule_no.alias("_rule")))
    reason: Column = F.lit(None).cast("string")
    detail: Column = F.lit(None).cast("string")
    for number, (name, _, text) in enumerate(rules):
        reason = F.when(F.col("_rule") == number, F.lit(name)).otherwise(reason)
        detail = F.when(F.col("_rule") == number, text).otherwise(detail)
    return correct_clock_skew(df.select("*", reason.alias("reason"), detail.alias("detail")))


def storable_text(name: str) -> Column:
    """``name`` with NUL bytes shown as U+2400 (␀): PostgreSQL text cannot hold NUL, and the
    quarantine keeps the raw line for people to read, not byte for byte."""
    return F.regexp_replace(F.col(name), NUL, "\u2400")
