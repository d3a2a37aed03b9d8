"""Staging accepts what the REES46 importer lands, unchanged: counts reconcile end to end.

The importer's promise is that staging needs no REES46 knowledge: exact duplicates in the
export are counted as staging duplicates, and every bad source row is quarantined for the
reason the importer intended.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from clickstream.ingest import IngestSummary, ingest_rees46, rees46
from tests.conftest import settings_under
from tests.test_ingest_rees46 import FIXTURE


def test_importer_limits_match_stagings() -> None:
    from spark_staging.schema import EVENT_NAMES
    from spark_staging.skew import MAX_EPOCH_MS

    assert rees46._FUTURE_MS == MAX_EPOCH_MS
    assert set(EVENT_NAMES) == rees46.LANDING_EVENT_NAMES
    assert set(rees46.EVENT_NAMES.values()) <= set(EVENT_NAMES)


@pytest.fixture(scope="module")
def staged_fixture(
    spark: Any, tmp_path_factory: pytest.TempPathFactory
) -> tuple[IngestSummary, list[Any]]:
    from spark_staging.stage import stage_days

    root = tmp_path_factory.mktemp("rees46-staging")
    settings = settings_under(root)
    summary = ingest_rees46([FIXTURE], settings.landing_dir)
    return summary, stage_days(spark, settings, summary.days)


@pytest.mark.spark
def test_staged_fixture_reconciles_and_counts_the_exports_exact_duplicates(
    staged_fixture: tuple[IngestSummary, list[Any]],
) -> None:
    summary, stats = staged_fixture
    by_day = {s.arrival_date: s for s in stats}
    assert sorted(by_day) == [dt.date(2019, 11, 1), dt.date(2019, 11, 2)]
    for day, day_stats in by_day.items():
        assert day_stats.input_rows == summary.rows_written[day]
        assert day_stats.input_rows == (
            day_stats.accepted + day_stats.quarantined_total + day_stats.duplicates
        )
    assert sum(s.duplicates_exact for s in stats) == 4  # the fixture's exact duplicate rows
    assert sum(s.duplicates_payload for s in stats) == 0
    assert sum(s.quarantined_total for s in stats) == sum(summary.passed_through_bad.values())
    assert all(s.quarantined.get("orphan_product", 0) == 0 for s in stats)
    assert all(s.quarantined.get("too_late", 0) == 0 for s in stats)


@pytest.mark.spark
def test_staging_quarantines_each_passed_through_row_for_the_intended_reason(
    staged_fixture: tuple[IngestSummary, list[Any]],
) -> None:
    summary, stats = staged_fixture
    landed: dict[str, int] = {}
    for day_stats in stats:
        for reason, count in day_stats.quarantined.items():
            if count:
                landed[reason] = landed.get(reason, 0) + count
    assert landed == summary.passed_through_bad
