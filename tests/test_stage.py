"""Staging whole arrival days: quarantine, dedupe, sessions across days, backfill equivalence.

One hand-written four-day landing (plus seeded random background traffic with late arrivals)
is staged twice, day by day and as one backfill; most tests read those two lakes, so the file
stays fast while each test still checks one promise.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import shutil

import pytest
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

from clickstream.config import Settings
from clickstream.errors import EmptyInputError, InputFormatError
from spark_staging.lake import events_dir, quarantine_dir, read_partitions, stats_path
from spark_staging.schema import (
    LAKE_EVENT_COLUMNS,
    LAKE_EVENT_SCHEMA,
    QUARANTINE_COLUMNS,
    QUARANTINE_REASONS,
    QUARANTINE_SCHEMA,
)
from spark_staging.stage import StageStats, available_landing_days, stage_days
from tests.conftest import settings_under
from tests.test_stage_support import (
    csv_line,
    event,
    ms,
    write_landing,
    write_products,
    write_users,
)

pytestmark = pytest.mark.spark

DAYS = [dt.date(2024, 3, d) for d in (1, 2, 3, 4)]
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def _background(seed: int) -> dict[dt.date, list[dict]]:
    """Random devices over 2024-02-29..03-04 that arrive 0-4 days late (some too late)."""
    rng = random.Random(seed)
    by_day: dict[dt.date, list[dict]] = {d: [] for d in DAYS}
    for device in range(12):
        at = dt.datetime(2024, 2, 29, 20) + dt.timedelta(minutes=rng.randrange(0, 4 * 24 * 60))
        for _ in range(rng.randrange(3, 10)):
            at += dt.timedelta(minutes=rng.choice([1, 5, 20, 29, 31, 45, 200]))
            lag_days = rng.choice([0, 0, 0, 0, 1, 2, 3, 4])
            arrival = at.date() + dt.timedelta(days=lag_days)
            if arrival not in by_day or at.date() < DAYS[0] - dt.timedelta(days=3):
                continue
            collector = None
            if lag_days:
                collector = dt.datetime.combine(arrival, dt.time(rng.randrange(24))).isoformat()
            row = event(at.isoformat(), anon=f"bg-{seed}-{device}", collector=collector)
            by_day[arrival].append(row)
            if rng.random() < 0.15:  # a retry arriving the same or the next day
                retry_day = min(arrival + dt.timedelta(days=rng.randrange(2)), DAYS[-1])
                by_day[retry_day].append(dict(row))
    return by_day


def write_scenario(settings: Settings) -> None:
    """The hand-written landing: every case the tests below look at, on its own device."""
    d1, d2, d3, d4 = (d.isoformat() for d in DAYS)
    original = event(f"{d1}T09:00", anon="dup", event_id="dup-1", page_path="/first")
    seconds = event(f"{d1}T08:00", anon="secs")
    seconds.update(
        {k: seconds[k] // 1000 for k in ("dvce_created_ts", "dvce_sent_ts", "collector_ts")}
    )
    rows = {
        d1: [
            event(f"{d1}T23:50", anon="midnight"),
            event(f"{d1}T10:00", anon="gap"),
            event(f"{d1}T10:50", anon="gap"),
            original,
            dict(original),  # exact duplicate in the same file
            event(f"{d1}T12:00", anon="skew", skew_ms=3 * 3_600_000, send_delay_ms=1500),
            seconds,
            event(f"{d1}T11:00", anon="shop", name="product_viewed", product_id="P1", price="9.99"),
        ],
        d2: [
            event(f"{d2}T00:10", anon="midnight"),
            dict(original),  # exact duplicate one day later
            dict(original, page_path="/retried", collector_ts=original["collector_ts"] + 5000),
            event(f"{d2}T13:00", anon="crawler", useragent=BOT_UA),
            *(
                event(f"{d2}T14:00:{i % 60:02d}", anon="fast", event_id=f"fast-{i}")
                for i in range(121)
            ),
            event(f"{d2}T11:00", anon="shop", name="product_viewed", product_id="P3"),  # P3 not yet
            # received 2 min before midnight, device clock says 4 minutes after: next date
            dict(
                event(f"{d2}T23:58", anon="edge"),
                dvce_created_ts=ms(f"{d3}T00:02") + 999_000,
                dvce_sent_ts=ms(f"{d3}T00:02") + 999_000 - 240_000,
                collector_ts=ms(f"{d2}T23:58"),
            ),
        ],
        d3: [
            event(f"{d1}T10:25", anon="gap", collector=f"{d3}T09:00"),  # fills the 50-min gap
            event(f"{d3}T08:00", anon="edge"),
        ],
        d4: [
            '"unbalanced,quote' + "," * 25,
            "only,three,fields",
            csv_line(event(f"{d4}T10:00", anon="")),
            csv_line(event(f"{d4}T10:01", anon="q", price="abc")),
            csv_line(event(f"{d4}T10:02", anon="q", quantity="-1")),
            csv_line(event(f"{d4}T10:03", anon="q", name="teleport")),
            csv_line(
                dict(
                    event(f"{d4}T10:04", anon="q"),
                    dvce_created_ts=ms(f"{d4}T10:20"),
                    dvce_sent_ts=ms(f"{d4}T10:05"),
                )
            ),
            csv_line(event("2024-02-27T10:00", anon="q", collector=f"{d4}T10:05")),
            csv_line(event(f"{d4}T10:06", anon="q", name="product_added", product_id="P404")),
            csv_line(event(f"{d4}T10:07", anon="shop", name="product_viewed", product_id="P3")),
            csv_line(event(f"{d4}T10:08", anon="shop", name="search", search_query='shoes, "red"')),
            csv_line(event(f"{d1}T10:30", anon="late", collector=f"{d4}T01:00")),
            # line 14: received, by its own clocks, three days after its arrival day
            csv_line(event("2024-03-07T10:00", anon="q")),
        ],
    }
    background = _background(seed=7)
    for day in DAYS:
        write_landing(settings, day, [*rows[day.isoformat()], *background[day]])
    write_products(settings, d1, ["P1", "P2"])
    write_products(settings, d3, ["P1", "P2", "P3"])
    for day in DAYS:
        write_users(settings, day, ["U1", "U2"])


def _lake_rows(spark, settings: Settings) -> dict[str, list[tuple]]:
    events = read_partitions(spark, events_dir(settings), "event_date", LAKE_EVENT_SCHEMA)
    quarantine = read_partitions(
        spark, quarantine_dir(settings), "arrival_date", QUARANTINE_SCHEMA
    ).select(*QUARANTINE_COLUMNS)
    return {
        "events": sorted(tuple(r) for r in events.collect()),
        "quarantine": sorted(tuple(r) for r in quarantine.collect()),
    }


def _stats_files(settings: Settings) -> dict[str, dict]:
    out = {}
    for day in DAYS:
        body = json.loads(stats_path(settings, day).read_text())
        body.pop("seconds")
        out[day.isoformat()] = body
    return out


@pytest.fixture(scope="module")
def staged(spark, tmp_path_factory):
    """The scenario staged day by day (with a snapshot after day 1) and as one backfill."""
    root = tmp_path_factory.mktemp("stage")
    daily, backfill = settings_under(root / "daily"), settings_under(root / "backfill")
    write_scenario(daily)
    shutil.copytree(daily.landing_dir, backfill.landing_dir)
    daily_stats: list[StageStats] = []
    after_day_1 = None
    for day in DAYS:
        daily_stats += stage_days(spark, daily, [day])
        if after_day_1 is None:
            after_day_1 = _lake_rows(spark, daily)
    backfill_stats = stage_days(spark, backfill, DAYS)
    events = spark.read.parquet(str(events_dir(daily)))
    return {
        "daily": daily,
        "backfill": backfill,
        "daily_stats": {s.arrival_date: s for s in daily_stats},
        "backfill_stats": {s.arrival_date: s for s in backfill_stats},
        "after_day_1": after_day_1,
        "events": {r.event_id: r for r in events.collect()},
        "quarantine": spark.read.parquet(str(quarantine_dir(daily))).collect(),
    }


def test_staging_day_by_day_equals_one_backfill_including_late_data(spark, staged):
    assert _lake_rows(spark, staged["daily"]) == _lake_rows(spark, staged["backfill"])
    assert _stats_files(staged["daily"]) == _stats_files(staged["backfill"])


def test_every_arrival_day_reconciles_input_with_accepted_quarantined_and_duplicates(staged):
    for stats in staged["daily_stats"].values():
        assert stats.reconciles, stats
        assert stats.input_rows > 0


def test_stats_file_mirrors_the_returned_stats(staged):
    stats = staged["daily_stats"][DAYS[1]]
    body = json.loads(stats_path(staged["daily"], DAYS[1]).read_text())
    assert body["input_rows"] == stats.input_rows
    assert body["duplicates"] == {
        "exact": stats.duplicates_exact,
        "payload": stats.duplicates_payload,
    }
    assert set(body["quarantined"]) == set(QUARANTINE_REASONS)


def test_session_crossing_midnight_keeps_one_id(staged):
    rows = sorted(
        (r for r in staged["events"].values() if r.anonymous_id == "midnight"),
        key=lambda r: r.derived_ts,
    )
    assert [r.event_date.day for r in rows] == [1, 2]
    assert rows[0].session_id == rows[1].session_id
    assert [r.session_event_seq for r in rows] == [1, 2]


def test_session_split_by_gap_is_rejoined_when_late_event_fills_it(staged):
    def sessions(rows):
        return {
            r[LAKE_EVENT_COLUMNS.index("session_id")]
            for r in rows
            if r[LAKE_EVENT_COLUMNS.index("anonymous_id")] == "gap"
        }

    assert len(sessions(staged["after_day_1"]["events"])) == 2
    final = [r for r in staged["events"].values() if r.anonymous_id == "gap"]
    assert len({r.session_id for r in final}) == 1
    assert sorted(r.session_event_seq for r in final) == [1, 2, 3]
    late = next(r for r in final if r.arrival_date == DAYS[2])
    assert late.session_event_seq == 2


def test_payload_duplicate_is_counted_and_the_earliest_copy_kept(staged):
    day1, day2 = staged["daily_stats"][DAYS[0]], staged["daily_stats"][DAYS[1]]
    assert day1.duplicates_exact >= 1
    assert day2.duplicates_exact >= 1 and day2.duplicates_payload >= 1
    kept = staged["events"]["dup-1"]
    assert kept.page_path == "/first" and kept.arrival_date == DAYS[0]


def test_skewed_device_clock_and_seconds_timestamps_are_corrected(staged):
    skew = next(r for r in staged["events"].values() if r.anonymous_id == "skew")
    assert skew.derived_ts == dt.datetime(2024, 3, 1, 12, 0)
    secs = next(r for r in staged["events"].values() if r.anonymous_id == "secs")
    assert secs.collector_ts == dt.datetime(2024, 3, 1, 8, 0)
    assert staged["daily_stats"][DAYS[0]].units_fixed == 1


def test_each_quarantine_reason_comes_from_the_line_crafted_for_it(staged):
    day4 = [r for r in staged["quarantine"] if r.arrival_date == DAYS[3]]
    by_line = {r.line_number: r.reason for r in day4 if r.line_number <= 13}
    assert by_line == {
        2: "malformed",
        3: "malformed",
        4: "missing_field",
        5: "bad_type",
        6: "bad_type",
        7: "unknown_event",
        8: "future_ts",
        9: "too_late",
        10: "orphan_product",
    }
    misfiled = next(r for r in day4 if r.line_number == 14)
    assert misfiled.reason == "future_ts"
    assert misfiled.detail == "event date 2024-03-07 is after arrival date 2024-03-04 + 1 day"
    assert all(r.detail and r.raw_line is not None for r in day4)
    assert {r.reason for r in day4} - set(by_line.values()) <= {"too_late"}
    assert all(r.source_file == "events/event_date=2024-03-04/part-00000.csv" for r in day4)
    day2 = [r.reason for r in staged["quarantine"] if r.arrival_date == DAYS[1]]
    assert day2 == ["orphan_product"]  # P3 only enters the catalogue on day 3


def test_quoted_fields_and_products_known_later_are_accepted(staged):
    shop = [r for r in staged["events"].values() if r.anonymous_id == "shop"]
    assert {r.product_id for r in shop} >= {"P1", "P3"}
    assert 'shoes, "red"' in {r.search_query for r in shop}


def test_event_received_before_midnight_with_a_later_derived_time_lands_on_next_date(staged):
    edge = sorted(
        (r for r in staged["events"].values() if r.anonymous_id == "edge"),
        key=lambda r: r.derived_ts,
    )
    assert edge[0].arrival_date == DAYS[1] and edge[0].event_date == DAYS[2]


def test_bots_are_flagged_by_user_agent_and_rate(staged):
    events = staged["events"].values()
    assert all(r.is_bot for r in events if r.anonymous_id in {"crawler", "fast"})
    assert not any(r.is_bot for r in events if r.anonymous_id in {"midnight", "gap", "shop"})
    assert staged["daily_stats"][DAYS[1]].bots == 122


def test_users_and_products_extracts_are_typed_in_the_lake(spark, staged):
    users = spark.read.parquet(str(staged["daily"].lake_dir / "users"))
    assert dict(users.dtypes)["updated_at"] == "timestamp"
    assert users.where(F.col("extract_date") == F.lit(DAYS[3])).count() == 2
    assert users.where("first_name = 'Ann, Jr.'").count() == 8
    products = spark.read.parquet(str(staged["daily"].lake_dir / "products"))
    assert dict(products.dtypes)["price"] == "decimal(12,2)"


def test_restaging_a_day_is_idempotent_and_leaves_other_partitions_alone(spark, staged, tmp_path):
    settings = settings_under(tmp_path)
    shutil.copytree(staged["daily"].landing_dir, settings.landing_dir)
    shutil.copytree(staged["daily"].lake_dir, settings.lake_dir)
    untouched = [
        events_dir(settings) / "event_date=2024-03-04",
        quarantine_dir(settings) / "arrival_date=2024-03-04",
    ]
    before = {p: sorted(f.name for f in p.iterdir()) for p in untouched}
    restaged = stage_days(spark, settings, [DAYS[1]])
    assert restaged[0].input_rows == staged["daily_stats"][DAYS[1]].input_rows
    assert {p: sorted(f.name for f in p.iterdir()) for p in untouched} == before
    assert _lake_rows(spark, settings) == _lake_rows(spark, staged["daily"])


def test_a_day_of_mostly_duplicates_joins_its_copies_without_broadcasting_them(
    spark, staged, tmp_path, monkeypatch
):
    # past MAX_BROADCAST_COPIES the copies are joined to the lines by a shuffle: same lake
    monkeypatch.setattr("spark_staging.stage.MAX_BROADCAST_COPIES", 0)
    settings = settings_under(tmp_path)
    shutil.copytree(staged["daily"].landing_dir, settings.landing_dir)
    stats = stage_days(spark, settings, DAYS)
    assert sum(s.duplicates for s in stats) > 0
    assert _lake_rows(spark, settings) == _lake_rows(spark, staged["backfill"])
    assert _stats_files(settings) == _stats_files(staged["backfill"])


def test_missing_or_empty_landing_folder_raises_a_clear_error(spark, tmp_settings):
    with pytest.raises(
        EmptyInputError, match=r"no landing files for 2024-03-02.*clickstream generate"
    ):
        stage_days(spark, tmp_settings, [dt.date(2024, 3, 2)])
    tmp_settings.landing_events_day(dt.date(2024, 3, 2)).mkdir(parents=True)
    with pytest.raises(EmptyInputError, match="2024-03-02"):
        stage_days(spark, tmp_settings, [dt.date(2024, 3, 2)])


def test_file_with_a_wrong_header_is_rejected(spark, tmp_settings):
    path = write_landing(tmp_settings, "2024-03-01", [])
    path.write_text("id,name\n1,x\n")
    with pytest.raises(InputFormatError, match="expected header"):
        stage_days(spark, tmp_settings, [dt.date(2024, 3, 1)])


def test_a_bad_extract_fails_the_run_with_its_file_after_the_events_are_staged(spark, tmp_settings):
    # the extracts are staged beside the events, in a thread of their own: their error must
    # still reach the caller, and only once the events' jobs are done
    day = dt.date(2024, 3, 1)
    write_landing(tmp_settings, day.isoformat(), [event("2024-03-01T09:00")])
    users = write_users(tmp_settings, day, ["u1", "u2"])
    users.write_text(users.read_text().replace("2024-02-01 12:30:00", "yesterday", 1))
    with pytest.raises(InputFormatError, match=r"users\.csv: 1 line\(s\) do not match"):
        stage_days(spark, tmp_settings, [day])
    lake = read_partitions(spark, events_dir(tmp_settings), "event_date", LAKE_EVENT_SCHEMA)
    assert lake.count() == 1


def test_header_only_day_stages_zero_rows(spark, tmp_settings):
    write_landing(tmp_settings, "2024-03-01", [])
    assert available_landing_days(tmp_settings) == [dt.date(2024, 3, 1)]
    (stats,) = stage_days(spark, tmp_settings, [dt.date(2024, 3, 1)])
    assert (stats.input_rows, stats.accepted, stats.quarantined_total) == (0, 0, 0)
    assert stats_path(tmp_settings, dt.date(2024, 3, 1)).is_file()
