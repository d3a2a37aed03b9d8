"""The staging job's rules in DuckDB SQL: the single-machine rival the benchmark measures.

``clickstream bench`` compares the Spark job with what a user would reach for on one machine.
For the comparison to be honest, this module does the same work on the same landing CSV:
read every line with its file and line number, quarantine by the contract's rules in their
order (``malformed`` → ``missing_field`` → ``bad_type`` → ``unknown_event`` → ``future_ts`` →
``too_late`` → ``orphan_product``), dedupe on ``event_id`` (first by arrival date, collector
time, file, line; ``exact`` vs ``payload`` copies), correct clock skew
(``derived_ts = collector - (sent - created)``), flag bots (user agent or > 120 events per
device-minute) and cut 30-minute sessions, then write date-partitioned Parquet (zstd).

It is a *baseline*, not a second staging engine: it stages a set of landing days as one batch
into an empty folder (no lookback into an existing lake, no incremental partition swap, no
``_stats`` files), which is exactly the part of the work both engines share. The rules are
those of ``spark_staging.validate``/``dedupe``/``skew``/``bots``/``sessionize``; the thresholds
are imported from there so the two cannot drift apart silently, and a test checks that both
accept the same rows and cut the same number of sessions on a generated day.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from clickstream.config import Settings
from clickstream.errors import EmptyInputError
from spark_staging.bots import BOT_USER_AGENT, MAX_EVENTS_PER_MINUTE
from spark_staging.landing import event_files_for_days, extract_files
from spark_staging.schema import EVENT_NAMES, LANDING_EVENT_COLUMNS, QUARANTINE_REASONS
from spark_staging.skew import MAX_EPOCH_MS, SECONDS_THRESHOLD
from spark_staging.validate import FUTURE_TOLERANCE_MS, MAX_PRICE, MAX_QUANTITY

logger = logging.getLogger(__name__)

_QUOTED_SECTION = r'"([^"]|"")*"'
_FIELD = r'("(?:[^"]|"")*"|[^,"]*),'
_INTEGER = r"^\s*[+-]?[0-9]+\s*$"
_TIMESTAMPS = ("dvce_created_ts", "dvce_sent_ts", "collector_ts")


@dataclass(frozen=True)
class DuckDBStageResult:
    """Counts of one DuckDB staging batch (all days together) and its wall time."""

    input_rows: int
    accepted: int
    quarantined: dict[str, int] = field(default_factory=dict)
    duplicates_exact: int = 0
    duplicates_payload: int = 0
    sessions: int = 0
    bots: int = 0
    seconds: float = 0.0

    @property
    def reconciles(self) -> bool:
        rejected = sum(self.quarantined.values()) + self.duplicates_exact + self.duplicates_payload
        return self.input_rows == self.accepted + rejected


def _sql_list(values: Sequence[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def _lines_sql(files: Sequence[Path]) -> str:
    """One row per data line (header skipped), like ``landing.read_event_lines``."""
    return f"""
    with texts as (
        select
            regexp_extract(filename, '(events/event_date=\\d{{4}}-\\d{{2}}-\\d{{2}}/[^/]+)$', 1)
                as source_file,
            cast(regexp_extract(filename, 'event_date=(\\d{{4}}-\\d{{2}}-\\d{{2}})/[^/]+$', 1)
                as date) as arrival_date,
            string_split(content, chr(10)) as parts
        from read_text({_sql_list([str(p.resolve()) for p in files])})
    ),
    numbered as (
        select
            source_file,
            arrival_date,
            len(parts) as n_lines,
            unnest(parts) as line,
            unnest(range(1, len(parts) + 1)) as line_number
        from texts
    )
    select
        arrival_date,
        source_file,
        cast(line_number as integer) as line_number,
        regexp_replace(line, '\\r$', '') as raw_line
    from numbered
    where line_number > 1 and not (line_number = n_lines and line = '')
    """


def _parsed_sql() -> str:
    """Split each line into the 26 fields (RFC 4180 quotes) plus the malformed checks."""
    unquote = "case when f like '\"%' then replace(f[2:-2], '\"\"', '\"') else f end"
    columns = ",\n        ".join(
        f"nullif(fields[{i + 1}], '') as {name}" for i, name in enumerate(LANDING_EVENT_COLUMNS)
    )
    return f"""
    with split as (
        select
            *,
            length(raw_line) - length(replace(raw_line, '"', '')) as n_quotes,
            len(string_split(regexp_replace(raw_line, '{_QUOTED_SECTION}', '', 'g'), ','))
                as field_count,
            case
                when strpos(raw_line, '"') = 0 then string_split(raw_line, ',')
                else list_transform(
                    regexp_extract_all(raw_line || ',', '{_FIELD}', 1), lambda f: {unquote}
                )
            end as fields
        from lines
    )
    select
        arrival_date, source_file, line_number, raw_line,
        n_quotes % 2 = 0 as quotes_ok,
        field_count,
        {columns}
    from split
    """


def _typed_sql(lateness_days: int, check_products: bool) -> str:
    """Type the fields, fix second-timestamps, derive the event time and pick the reason."""
    ts_ms = {
        name: (
            f"(case when regexp_matches({name}, '{_INTEGER}') then "
            f"try_cast(trim({name}) as bigint) end)"
        )
        for name in _TIMESTAMPS
    }
    fixed = {
        name: f"case when {e} >= 0 and {e} < {SECONDS_THRESHOLD} then {e} * 1000 else {e} end"
        for name, e in ts_ms.items()
    }
    units_fixed = " or ".join(f"({e} >= 0 and {e} < {SECONDS_THRESHOLD})" for e in ts_ms.values())
    quantity = (
        f"(case when regexp_matches(quantity, '{_INTEGER}') then "
        "try_cast(trim(quantity) as integer) end)"
    )
    bad_type = " or ".join(
        [
            *(f"({n} is not null and ({e} is null or {e} < 0))" for n, e in ts_ms.items()),
            f"(price is not null and (price_t is null or price_t < 0 or price_t > {MAX_PRICE}))",
            "(quantity is not null and (quantity_t is null or quantity_t < 0 "
            f"or quantity_t > {MAX_QUANTITY}))",
            "(revenue is not null and revenue_t is null)",
        ]
    )
    required = " or ".join(
        f"{c} is null" for c in ("event_id", "event_name", "anonymous_id", *_TIMESTAMPS)
    )
    after_2100 = " or ".join(f"{c}_ms > {MAX_EPOCH_MS}" for c in _TIMESTAMPS)
    orphan = (
        "when product_id is not null and (first_extract_date is null "
        "or first_extract_date > arrival_date) then 'orphan_product'"
        if check_products
        else ""
    )
    join = "left join known_products using (product_id)" if check_products else ""
    return f"""
    with typed as (
        select
            p.*,
            {fixed["dvce_created_ts"]} as dvce_created_ts_ms,
            {fixed["dvce_sent_ts"]} as dvce_sent_ts_ms,
            {fixed["collector_ts"]} as collector_ts_ms,
            coalesce({units_fixed}, false) as units_fixed,
            try_cast(price as decimal(12, 2)) as price_t,
            {quantity} as quantity_t,
            try_cast(revenue as decimal(14, 2)) as revenue_t
        from parsed as p
    ),
    derived as (
        select
            *,
            collector_ts_ms - (dvce_sent_ts_ms - dvce_created_ts_ms) as derived_ms
        from typed
        {join}
    )
    select
        *,
        case
            when not quotes_ok or field_count <> {len(LANDING_EVENT_COLUMNS)} or raw_line = ''
                then 'malformed'
            when {required} then 'missing_field'
            when {bad_type} then 'bad_type'
            when event_name not in {tuple(EVENT_NAMES)} then 'unknown_event'
            when {after_2100} or derived_ms > collector_ts_ms + {FUTURE_TOLERANCE_MS}
                or derived_ms > {MAX_EPOCH_MS}
                or derived_ms >= epoch_ms(cast(arrival_date + 2 as timestamp)) then 'future_ts'
            when derived_ms < epoch_ms(cast(arrival_date - {lateness_days} as timestamp))
                then 'too_late'
            {orphan}
        end as reason
    from derived
    """


def _deduped_sql() -> str:
    """Valid rows ranked per event_id; rank 1 is kept, others are exact/payload copies."""
    payload = ", ".join(
        f"coalesce(cast({c} as varchar), chr(0))"
        for c in (
            *(
                c
                for c in LANDING_EVENT_COLUMNS
                if c not in (*_TIMESTAMPS, "price", "quantity", "revenue")
            ),
            "dvce_created_ts_ms",
            "dvce_sent_ts_ms",
            "collector_ts_ms",
            "price_t",
            "quantity_t",
            "revenue_t",
        )
    )
    return f"""
    with hashed as (
        select *, md5(concat_ws(chr(31), {payload})) as payload_hash
        from checked
        where reason is null
    ),
    ranked as (
        select
            *,
            row_number() over (
                partition by event_id
                order by arrival_date, collector_ts_ms, source_file, line_number
            ) as copy_no,
            first(payload_hash) over (
                partition by event_id
                order by arrival_date, collector_ts_ms, source_file, line_number
            ) as kept_hash
        from hashed
    )
    select
        *,
        case
            when copy_no = 1 then null
            when payload_hash = kept_hash then 'exact'
            else 'payload'
        end as duplicate
    from ranked
    """


def _sessions_sql(gap_minutes: int) -> str:
    """Bot flag and 30-minute sessions over the kept rows, as the lake stores them."""
    landing = [
        c for c in LANDING_EVENT_COLUMNS if c not in (*_TIMESTAMPS, "price", "quantity", "revenue")
    ]
    gap_ms = gap_minutes * 60 * 1000
    by_device = "partition by anonymous_id order by derived_ms, event_id"
    return f"""
    with kept as (
        select * from deduped where duplicate is null
    ),
    gaps as (
        select
            *,
            derived_ms - lag(derived_ms) over ({by_device}) as gap_ms,
            count(*) over (
                partition by anonymous_id, date_trunc('minute', epoch_ms(derived_ms))
            ) as per_minute
        from kept
    ),
    numbered as (
        select
            *,
            sum(case when gap_ms is null or gap_ms > {gap_ms} then 1 else 0 end)
                over ({by_device} rows between unbounded preceding and current row) as session_no
        from gaps
    ),
    sessions as (
        select
            *,
            min(derived_ms) over (partition by anonymous_id, session_no) as start_ms,
            row_number() over (
                partition by anonymous_id, session_no order by derived_ms, event_id
            ) as seq
        from numbered
    )
    select
        {", ".join(landing[:4])},
        epoch_ms(dvce_created_ts_ms) as dvce_created_ts,
        epoch_ms(dvce_sent_ts_ms) as dvce_sent_ts,
        epoch_ms(collector_ts_ms) as collector_ts,
        {", ".join(landing[4:])},
        price_t as price,
        quantity_t as quantity,
        revenue_t as revenue,
        epoch_ms(derived_ms) as derived_ts,
        cast(epoch_ms(derived_ms) as date) as event_date,
        arrival_date,
        coalesce(regexp_matches(useragent, '{BOT_USER_AGENT}'), false)
            or per_minute > {MAX_EVENTS_PER_MINUTE} as is_bot,
        md5(anonymous_id || '|' || cast(start_ms as varchar)) as session_id,
        epoch_ms(start_ms) as session_start_ts,
        cast(seq as integer) as session_event_seq
    from sessions
    """


def _products_sql(settings: Settings, up_to: dt.date) -> str | None:
    files = extract_files(settings, "products", up_to)
    if not files:
        return None
    parts = " union all ".join(
        f"select product_id, date '{day.isoformat()}' as extract_date "
        f"from read_csv('{path.resolve()}', header = true, all_varchar = true)"
        for day, path in files.items()
    )
    return (
        "select product_id, min(extract_date) as first_extract_date "
        f"from ({parts}) where product_id is not null group by product_id"
    )


def stage_with_duckdb(
    settings: Settings,
    days: Sequence[dt.date],
    out_dir: Path,
    threads: int | None = None,
) -> DuckDBStageResult:
    """Stage landing ``days`` as one batch into ``out_dir/events`` and ``out_dir/quarantine``.

    ``out_dir`` is replaced. ``threads`` caps DuckDB's threads (default: all cores), so the
    benchmark can give it exactly the cores Spark's ``local[N]`` gets.
    """
    if not days:
        raise EmptyInputError("no days to stage with DuckDB: pass at least one landing day.")
    started = time.perf_counter()
    files = event_files_for_days(settings, sorted(days))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    con = duckdb.connect()
    try:
        if threads:
            con.execute(f"set threads = {int(threads)}")
        con.execute("set preserve_insertion_order = false")
        con.execute(f"create temp table lines as {_lines_sql(files)}")
        con.execute(f"create temp view parsed as {_parsed_sql()}")
        products = _products_sql(settings, max(days))
        if products:
            con.execute(f"create temp table known_products as {products}")
        con.execute(
            "create temp table checked as "
            + _typed_sql(settings.lateness_days, check_products=products is not None)
        )
        con.execute(f"create temp table deduped as {_deduped_sql()}")
        con.execute(f"create temp table events as {_sessions_sql(settings.session_gap_minutes)}")
        con.execute(
            f"copy events to '{out_dir / 'events'}' "
            "(format parquet, compression zstd, partition_by (event_date))"
        )
        con.execute(
            "copy (select arrival_date, source_file, line_number, reason, "
            "case when reason <> 'malformed' then event_id end as event_id, raw_line "
            f"from checked where reason is not null) to '{out_dir / 'quarantine'}' "
            "(format parquet, compression zstd, partition_by (arrival_date))"
        )
        result = _counts(con, time.perf_counter() - started)
    finally:
        con.close()
    logger.info(
        "duckdb staged %d days: %d rows in, %d accepted, %d sessions, %.1f s",
        len(days),
        result.input_rows,
        result.accepted,
        result.sessions,
        result.seconds,
    )
    return result


def _counts(con: duckdb.DuckDBPyConnection, seconds: float) -> DuckDBStageResult:
    quarantined = dict(
        con.execute(
            "select reason, count(*) from checked where reason is not null group by reason"
        ).fetchall()
    )
    row = con.execute(
        """
        select
            (select count(*) from checked),
            (select count(*) from events),
            (select count(*) from deduped where duplicate = 'exact'),
            (select count(*) from deduped where duplicate = 'payload'),
            (select count(distinct session_id) from events),
            (select count(*) from events where is_bot)
        """
    ).fetchone()
    assert row is not None
    return DuckDBStageResult(
        input_rows=int(row[0]),
        accepted=int(row[1]),
        quarantined={r: int(quarantined.get(r, 0)) for r in QUARANTINE_REASONS},
        duplicates_exact=int(row[2]),
        duplicates_payload=int(row[3]),
        sessions=int(row[4]),
        bots=int(row[5]),
        seconds=seconds,
    )
