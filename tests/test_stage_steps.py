"""The pure DataFrame steps of staging, on tiny inputs (no files)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

from spark_staging.bots import BOT_USER_AGENT, bot_user_agent, flag_bots
from spark_staging.dedupe import duplicate_copies, mark_duplicates
from spark_staging.schema import LAKE_EVENT_SCHEMA, LANDING_EVENT_COLUMNS
from spark_staging.sessionize import sessionize
from spark_staging.skew import correct_clock_skew
from spark_staging.stage import shuffle_partitions_for
from spark_staging.validate import parse_fields, validate
from tests.test_stage_support import csv_line, event, ms

pytestmark = pytest.mark.spark

UTC = dt.UTC


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).replace(tzinfo=UTC)


def _events(spark, rows: list[tuple[str, str, str]]):
    return spark.createDataFrame(
        [Row(anonymous_id=a, event_id=e, derived_ts=ts(t)) for a, e, t in rows],
        "anonymous_id string, event_id string, derived_ts timestamp",
    )


def test_session_splits_only_when_gap_exceeds_thirty_minutes(spark):
    df = _events(
        spark,
        [
            ("a", "1", "2024-03-01T10:00:00"),
            ("a", "2", "2024-03-01T10:30:00"),  # exactly 30 min: same session
            ("a", "3", "2024-03-01T11:00:00.001"),  # 30 min + 1 ms: new session
            ("b", "4", "2024-03-01T10:10:00"),
        ],
    )
    out = {r.event_id: r for r in sessionize(df, 30).collect()}
    assert out["1"].session_id == out["2"].session_id != out["3"].session_id
    assert [out[e].session_event_seq for e in "123"] == [1, 2, 1]
    assert out["3"].session_start_ts == ts("2024-03-01T11:00:00.001").replace(tzinfo=None)
    assert out["4"].session_id not in {out["1"].session_id, out["3"].session_id}


def test_session_id_is_md5_of_device_and_start_millis(spark):
    df = _events(spark, [("dev", "1", "2024-03-01T10:00:00")])
    row = sessionize(df, 30).select("session_id").first()
    expected = spark.range(1).select(F.md5(F.lit(f"dev|{ms('2024-03-01T10:00:00')}"))).first()[0]
    assert row.session_id == expected


def test_session_continues_from_context_seed(spark):
    context = spark.createDataFrame(
        [
            Row(
                anonymous_id="a",
                event_id="0",
                derived_ts=ts("2024-02-29T23:50:00"),
                session_id="s-prev",
                session_start_ts=ts("2024-02-29T23:00:00"),
                session_event_seq=7,
            )
        ],
        "anonymous_id string, event_id string, derived_ts timestamp, session_id string, "
        "session_start_ts timestamp, session_event_seq int",
    )
    df = _events(spark, [("a", "1", "2024-03-01T00:10:00"), ("a", "2", "2024-03-01T01:00:00")])
    out = {r.event_id: r for r in sessionize(df, 30, context).collect()}
    assert set(out) == {"1", "2"}  # the seed is never returned
    assert out["1"].session_start_ts == dt.datetime(2024, 2, 29, 23, 0)
    assert out["1"].session_event_seq == 8
    assert out["2"].session_event_seq == 1
    assert out["2"].session_start_ts == dt.datetime(2024, 3, 1, 1, 0)


def test_skewed_device_clock_is_corrected_from_collector_time(spark):
    df = spark.createDataFrame(
        [
            Row(
                dvce_created_ts=ts("2024-03-01T15:00:00"),
                dvce_sent_ts=ts("2024-03-01T15:00:02"),
                collector_ts=ts("2024-03-01T12:00:03"),
            )
        ],
        "dvce_created_ts timestamp, dvce_sent_ts timestamp, collector_ts timestamp",
    )
    row = correct_clock_skew(df).first()
    assert row.derived_ts == dt.datetime(2024, 3, 1, 12, 0, 1)
    assert row.event_date == dt.date(2024, 3, 1)


def test_bot_flag_by_user_agent_and_by_more_than_120_events_a_minute(spark):
    rows = [("fast", f"f{i}", "2024-03-01T10:00:00", "Mozilla/5.0") for i in range(121)]
    rows += [("busy", f"b{i}", "2024-03-01T10:00:00", "Mozilla/5.0") for i in range(120)]
    rows += [("crawler", "c", "2024-03-01T10:00:00", "Mozilla/5.0 (compatible; Googlebot/2.1)")]
    rows += [("fast", "later", "2024-03-01T10:01:00", "Mozilla/5.0")]
    df = spark.createDataFrame(
        [Row(anonymous_id=a, event_id=e, derived_ts=ts(t), useragent=u) for a, e, t, u in rows],
        "anonymous_id string, event_id string, derived_ts timestamp, useragent string",
    )
    flagged = {r.event_id: r.is_bot for r in flag_bots(df).collect()}
    assert all(flagged[f"f{i}"] for i in range(121))
    assert not any(flagged[f"b{i}"] for i in range(120))
    assert flagged["c"] is True
    assert flagged["later"] is False  # a quiet minute of the same device is not flagged


def test_bot_user_agent_prefilter_agrees_with_the_regex_alone(spark):
    agents = [
        None,
        "",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36",
        "Mozilla/5.0 (compatible; GOOGLEBOT/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0)",
        "AdsBot-Google (+http://www.google.com/adsbot.html)",
        "Mozilla/5.0 (X11) HeadlessChrome/119.0",
        "python-requests/2.31",
        "PYTHON-REQUESTS/2.31",
        "curl/8.4.0",
        "Wget/1.21",
        "Mozilla/5.0 (compatible; Yahoo! Slurp)",
        "Baiduspider/2.0",
        "some WebCrawler",
        "robotics-lab-browser/1.0",  # 'bot' inside a word, no boundary: not a bot
        "Mozilla/5.0 (Linux; Android 13; CUBOT X30)",  # 'BOT' then ')' is a word boundary
        "Mozilla/5.0 (compatible; K\u212aBot)",  # a non-ASCII agent still decided by the regex
    ]
    df = spark.createDataFrame([(a,) for a in agents], "useragent string")
    got = [r.flag for r in df.select(bot_user_agent(F.col("useragent")).alias("flag")).collect()]
    pattern = re.compile(BOT_USER_AGENT)
    expected = [None if a is None else bool(pattern.search(a)) for a in agents]
    assert got == expected
    assert sum(bool(flag) for flag in got) >= 10


def _typed_events(spark, rows: list[dict]):
    lines = spark.createDataFrame(
        [
            Row(
                arrival_date=dt.date(2024, 3, 1),
                source_file="f.csv",
                line_number=i + 2,
                raw_line=csv_line(r),
            )
            for i, r in enumerate(rows)
        ],
        "arrival_date date, source_file string, line_number int, raw_line string",
    )
    return validate(parse_fields(lines), lateness_days=3)


def deduplicate(df, prior=None):  # type: ignore[no-untyped-def]
    return mark_duplicates(df, duplicate_copies(df, prior))


def test_duplicates_keep_earliest_and_tell_exact_from_payload(spark):
    original = event("2024-03-01T10:00", event_id="e1", page_path="/a")
    retried = dict(original, page_path="/b")
    df = _typed_events(spark, [original, dict(original), retried]).where("reason is null")
    out = sorted((r.line_number, r.duplicate, r.page_path) for r in deduplicate(df).collect())
    assert out == [(2, None, "/a"), (3, "exact", "/a"), (4, "payload", "/b")]


def test_duplicate_of_a_row_accepted_on_an_earlier_day_is_not_kept(spark):
    original = event("2024-03-01T10:00", event_id="e1")
    df = _typed_events(spark, [original]).where("reason is null")
    prior = df.select(*LANDING_EVENT_COLUMNS, F.lit(dt.date(2024, 2, 29)).alias("arrival_date"))
    assert deduplicate(df, prior).first().duplicate == "exact"


def test_quoted_commas_and_doubled_quotes_survive_parsing(spark):
    row = event("2024-03-01T10:00", name="search", search_query='shoes, "red"')
    out = _typed_events(spark, [row]).first()
    assert out.reason is None
    assert out.search_query == 'shoes, "red"'


def test_seconds_timestamps_are_scaled_to_millis_and_flagged(spark):
    row = event("2024-03-01T10:00")
    row["collector_ts"] = row["collector_ts"] // 1000
    out = _typed_events(spark, [row]).first()
    assert out.reason is None and out.units_fixed is True
    assert out.collector_ts == dt.datetime(2024, 3, 1, 10, 0)


def test_lake_schema_keeps_every_landing_column():
    assert LAKE_EVENT_SCHEMA.fieldNames()[: len(LANDING_EVENT_COLUMNS)] == list(
        LANDING_EVENT_COLUMNS
    )


def test_unparseable_timestamp_is_bad_type_not_missing_field(spark):
    row = event("2024-03-01T10:00", dvce_created_ts="yesterday")
    out = _typed_events(spark, [row]).first()
    assert out.reason == "bad_type"
    assert "dvce_created_ts 'yesterday'" in out.detail


def test_a_spark_failure_becomes_one_clear_line_naming_the_memory_knob():
    from pyspark.errors import PySparkException

    from clickstream.errors import StageFailedError
    from spark_staging.stage import _spark_failed

    days = [dt.date(2024, 3, 1), dt.date(2024, 3, 2)]
    oom = _spark_failed(days, PySparkException("java.lang.OutOfMemoryError: Java heap space"))
    assert isinstance(oom, StageFailedError)
    assert "2024-03-01..2024-03-02" in str(oom)
    assert "CLICKSTREAM_SPARK_DRIVER_MEMORY" in str(oom)
    other = _spark_failed(days, PySparkException("Task failed\n\tat org.apache.spark.Foo"))
    assert "Task failed" in str(other) and "org.apache" not in str(other)


def test_a_lost_spark_jvm_is_one_line_naming_the_memory_knob():
    """In local mode a task's OutOfMemoryError exits the JVM: py4j then only sees a lost
    connection, which must still read as a memory problem, not a network traceback."""
    from py4j.protocol import Py4JNetworkError

    from spark_staging.stage import _spark_failed

    days = [dt.date(2024, 3, 1)]
    for lost in (Py4JNetworkError("Answer from Java side is empty"), ConnectionRefusedError()):
        message = str(_spark_failed(days, lost))
        assert "JVM stopped" in message and "CLICKSTREAM_SPARK_DRIVER_MEMORY" in message


def test_headline_skips_py4js_wrapper_line_for_the_java_error():
    from clickstream.errors import headline

    wrapped = Exception(
        "An error occurred while calling None.org.apache.spark.api.java.JavaSparkContext.\n"
        ": org.apache.spark.SparkIllegalArgumentException: Insufficient driver memory\n"
        "\tat org.apache.spark.Foo"
    )
    assert headline(wrapped) == (
        "org.apache.spark.SparkIllegalArgumentException: Insufficient driver memory"
    )
    assert headline(Exception("one line")) == "one line"


def test_shuffle_partitions_follow_the_landing_size_in_whole_waves() -> None:
    mib = 1024 * 1024
    assert shuffle_partitions_for(40 * mib, 2, 64) == 4  # a small day: two waves of 2
    assert shuffle_partitions_for(408 * mib, 2, 64) == 4  # 1M events
    assert shuffle_partitions_for(3_900 * mib, 2, 64) == 20  # 10M events: ~200 MB each
    assert shuffle_partitions_for(3_900 * mib, 8, 64) == 24  # whole waves of 8 cores
    assert shuffle_partitions_for(100_000 * mib, 2, 64) == 64  # the configured upper bound
    assert shuffle_partitions_for(0, 2, 2) == 2


def test_driver_memory_is_the_setting_else_a_third_of_the_ram(monkeypatch) -> None:
    from spark_staging import session

    monkeypatch.setenv("CLICKSTREAM_SPARK_DRIVER_MEMORY", "3g")
    assert session.driver_memory() == "3g"
    monkeypatch.delenv("CLICKSTREAM_SPARK_DRIVER_MEMORY")
    for ram_gib, expected in ((6, "2g"), (16, "5g"), (24, "8g"), (256, "8g")):
        pages = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": ram_gib * 2**30 // 4096}
        monkeypatch.setattr(session.os, "sysconf", pages.__getitem__)
        assert session.driver_memory() == expected


def test_the_local_jit_is_c1_for_small_inputs_and_tiered_c2_for_large_ones(monkeypatch) -> None:
    from spark_staging import session

    monkeypatch.delenv("CLICKSTREAM_SPARK_JIT_OPTIONS", raising=False)
    small, large = session.SMALL_INPUT_JIT_OPTIONS, session.LARGE_INPUT_JIT_OPTIONS
    assert "TieredStopAtLevel=1" in small and "TieredStopAtLevel" not in large
    assert "ReservedCodeCacheSize=240m" in small  # C1's own 48 MB fills in a long-lived driver
    assert session.jit_options(None) == small  # unknown size: the common small case
    assert session.jit_options(100_000 * session.LANDING_BYTES_PER_EVENT) == small
    assert session.jit_options(session.LARGE_INPUT_BYTES - 1) == small
    assert session.jit_options(session.LARGE_INPUT_BYTES) == large
    assert session.jit_options(1_000_000 * session.LANDING_BYTES_PER_EVENT) == large
    monkeypatch.setenv("CLICKSTREAM_SPARK_JIT_OPTIONS", "")  # the JVM's own defaults
    assert session.jit_options(None) == ""
    monkeypatch.setenv("CLICKSTREAM_SPARK_JIT_OPTIONS", "-XX:CICompilerCount=2")
    assert session.jit_options(10**12) == "-XX:CICompilerCount=2"


def test_the_local_gc_is_the_parallel_collector_for_large_inputs_only(monkeypatch) -> None:
    from spark_staging import session

    monkeypatch.delenv("CLICKSTREAM_SPARK_GC_OPTIONS", raising=False)
    assert session.LARGE_INPUT_GC_OPTIONS == "-XX:+UseParallelGC"
    assert session.gc_options(None) == ""  # unknown size: G1, the JVM's default
    assert session.gc_options(session.LARGE_INPUT_BYTES - 1) == ""
    assert session.gc_options(session.LARGE_INPUT_BYTES) == session.LARGE_INPUT_GC_OPTIONS
    monkeypatch.setenv("CLICKSTREAM_SPARK_GC_OPTIONS", "")  # pinned to the JVM's default
    assert session.gc_options(10**12) == ""
    monkeypatch.setenv("CLICKSTREAM_SPARK_GC_OPTIONS", "-XX:+UseSerialGC")
    assert session.gc_options(None) == "-XX:+UseSerialGC"


def test_landing_bytes_sums_the_days_events_files_and_counts_a_missing_day_as_zero(
    tmp_path,
) -> None:
    from clickstream.config import Settings
    from spark_staging.landing import landing_bytes

    settings = Settings(landing_dir=tmp_path / "landing")
    day, other, missing = dt.date(2024, 3, 1), dt.date(2024, 3, 2), dt.date(2024, 3, 3)
    for d, sizes in ((day, (10, 20)), (other, (5,))):
        folder = settings.landing_events_day(d)
        folder.mkdir(parents=True)
        for i, size in enumerate(sizes):
            (folder / f"part-{i}.csv").write_bytes(b"x" * size)
        (folder / "_manifest.json").write_bytes(b"{}" * 100)  # not an events file
    assert landing_bytes(settings, [day]) == 30
    assert landing_bytes(settings, [day, other, missing]) == 35
    assert landing_bytes(settings, [missing]) == 0


def test_an_empty_lake_reads_as_an_empty_jvm_relation_of_the_lake_schema(spark, tmp_path):
    # a Python-backed empty frame made every job that read the first run's empty lake start
    # Python workers; the JVM's own empty relation keeps the schema and costs nothing
    from spark_staging.lake import read_partitions

    empty = read_partitions(spark, tmp_path / "events", "event_date", LAKE_EVENT_SCHEMA)
    assert [(f.name, f.dataType) for f in empty.schema.fields] == [
        (f.name, f.dataType) for f in LAKE_EVENT_SCHEMA.fields
    ]
    assert empty.isEmpty()
    plan = empty._jdf.queryExecution().analyzed().toString()
    assert "LogicalRDD" not in plan and "Range" in plan
