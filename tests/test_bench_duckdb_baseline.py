"""The DuckDB baseline applies the staging rules the Spark job applies (or the benchmark lies).

Both engines stage the same generated landing days; they must accept the same events, count
the same quarantine reasons and duplicates, and cut the same sessions.
"""

from __future__ import annotations

import datetime as dt

import pyarrow.dataset as pads
import pytest

from generator import GeneratorConfig, generate
from spark_staging.duckdb_baseline import stage_with_duckdb
from spark_staging.stage import stage_days
from tests.conftest import settings_under

pytestmark = [pytest.mark.spark]

DAYS = [dt.date(2024, 3, 4), dt.date(2024, 3, 5)]


SESSION_COLUMNS = ["session_id", "session_event_seq", "is_bot", "event_date"]


def _events(path) -> dict[str, tuple]:
    """``{event_id: (session_id, session_event_seq, is_bot, event_date)}`` of a lake."""
    table = pads.dataset(str(path), format="parquet", partitioning="hive").to_table(
        columns=["event_id", *SESSION_COLUMNS]
    )
    values = zip(*(table[c].to_pylist() for c in SESSION_COLUMNS), strict=True)
    return dict(zip(table["event_id"].to_pylist(), values, strict=True))


@pytest.fixture(scope="module")
def both_engines(spark, tmp_path_factory):

    root = tmp_path_factory.mktemp("duckdb_baseline")
    settings = settings_under(root)
    generate(
        GeneratorConfig(seed=11, events_per_day=1500), DAYS[0], len(DAYS), settings.landing_dir
    )
    spark_stats = stage_days(spark, settings, DAYS)
    duck = stage_with_duckdb(settings, DAYS, root / "duck", threads=2)
    return settings, spark_stats, duck, root


def test_duckdb_accepts_quarantines_and_dedupes_like_spark(both_engines):
    _, spark_stats, duck, _ = both_engines
    assert duck.reconciles
    assert duck.input_rows == sum(s.input_rows for s in spark_stats)
    assert duck.accepted == sum(s.accepted for s in spark_stats)
    for reason, count in duck.quarantined.items():
        assert count == sum(s.quarantined.get(reason, 0) for s in spark_stats), reason
    assert duck.duplicates_exact == sum(s.duplicates_exact for s in spark_stats)
    assert duck.duplicates_payload == sum(s.duplicates_payload for s in spark_stats)


def test_duckdb_cuts_the_same_sessions_and_flags_the_same_bots_as_spark(both_engines):
    settings, _, duck, root = both_engines
    spark_events = _events(settings.lake_dir / "events")
    duck_events = _events(root / "duck" / "events")
    assert duck.sessions == len({v[0] for v in spark_events.values()})
    assert duck_events == spark_events  # same events, same session, position, bot flag, date
