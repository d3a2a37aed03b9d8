"""Staging the generator's output reports exactly the defects the generator planted."""

from __future__ import annotations

import datetime as dt

import pytest

from generator import GeneratorConfig, generate
from spark_staging.stage import stage_days

pytestmark = pytest.mark.spark


def test_stats_of_generated_days_match_the_manifest_expectations(spark, tmp_settings):
    start = dt.date(2024, 3, 1)
    config = GeneratorConfig(seed=11, start_date=start, events_per_day=1500, defect_rate=0.05)
    manifests = generate(config, start, days=2, out_dir=tmp_settings.landing_dir)
    stats = {
        s.arrival_date: s for s in stage_days(spark, tmp_settings, [m.date for m in manifests])
    }
    for manifest in manifests:
        got, expected = stats[manifest.date], manifest.expected
        assert got.input_rows == manifest.rows["events"]
        assert got.quarantined == expected["quarantined"], manifest.date
        assert got.duplicates_exact == expected["duplicates_by_kind"]["exact"]
        assert got.duplicates_payload == expected["duplicates_by_kind"]["payload"]
        assert got.accepted == expected["accepted"]
        assert got.units_fixed == expected["units_fixed"]
