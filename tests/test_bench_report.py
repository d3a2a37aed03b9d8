"""The benchmark's arithmetic and verdicts, on hand-made results (no Spark, no database)."""

from __future__ import annotations

import math

import pytest

from clickstream.bench import run_benchmarks
from clickstream.bench_report import evaluate_targets, plan_summary, render_markdown
from clickstream.bench_scenarios import crossover_events, growth_exponent
from clickstream.config import Settings
from clickstream.errors import ConfigError


def _results(e2e_1m: float, jdbc_speedup: float, zstd_smaller: float, share: float) -> dict:
    return {
        "end_to_end": {
            "sizes": [
                {"events": 100_000, "landed_rows": 100_000, "wall_seconds": 20.0},
                {"events": 1_000_000, "landed_rows": 1_000_000, "wall_seconds": e2e_1m},
            ],
            "growth_exponent": growth_exponent([(100_000, 20.0), (1_000_000, e2e_1m)]),
        },
        "load": {"spark_jdbc": {"copy_speedup": jdbc_speedup}},
        "storage": {"formats": {"parquet_zstd": {"smaller_than_csv_per_row": zstd_smaller}}},
        "dbt": {"points": [{"days": 30, "incremental_share": share}]},
    }


def test_growth_exponent_is_one_for_linear_cost_and_below_one_with_fixed_cost():
    assert growth_exponent([(1e5, 10.0), (1e6, 100.0), (1e7, 1000.0)]) == pytest.approx(1.0)
    assert growth_exponent([(1e5, 30.0), (1e6, 48.0)]) < 1.0
    assert growth_exponent([(1e5, 30.0)]) is None


def test_crossover_found_only_when_spark_scales_better_than_duckdb():
    rows = [
        {"landed_rows": 1e5, "spark_seconds": 10.0, "duckdb_seconds": 1.0},
        {"landed_rows": 1e6, "spark_seconds": 20.0, "duckdb_seconds": 5.0},
    ]
    crossing = crossover_events(rows)
    assert crossing is not None and crossing > 1e6
    # at the crossing both power laws give the same time
    b_s = math.log(2) / math.log(10)
    b_d = math.log(5) / math.log(10)
    assert 20.0 * (crossing / 1e6) ** b_s == pytest.approx(5.0 * (crossing / 1e6) ** b_d)
    rows[1]["spark_seconds"] = 1000.0
    assert crossover_events(rows) is None


def test_missed_targets_say_by_how_much():
    targets = evaluate_targets(
        _results(e2e_1m=108.0, jdbc_speedup=2.5, zstd_smaller=0.9, share=0.5)
    )
    by_name = {t["target"].split(" ")[0]: t for t in targets}
    assert by_name["1,000,000"]["met"] is False
    assert "missed by 20%" in by_name["1,000,000"]["verdict"]
    assert by_name["load"]["met"] is False and "missed by 50%" in by_name["load"]["verdict"]
    assert by_name["Parquet"]["met"] is True
    assert (
        by_name["incremental"]["met"] is False
        and "missed by 100%" in by_name["incremental"]["verdict"]
    )


def test_a_near_miss_keeps_a_decimal_instead_of_reading_missed_by_zero():
    targets = evaluate_targets(_results(e2e_1m=90.2, jdbc_speedup=2.5, zstd_smaller=0.9, share=0.5))
    e2e = next(t for t in targets if t["target"].startswith("1,000,000"))
    assert e2e["met"] is False and "missed by 0.2%" in e2e["verdict"]


def test_staging_target_is_judged_on_the_cli_run_of_a_1m_day_only():
    results = _results(e2e_1m=60.0, jdbc_speedup=6.0, zstd_smaller=0.9, share=0.1)

    def staging_target(cli: dict | None) -> dict:
        results["staging"] = {"cli": cli} if cli else {}
        return next(t for t in evaluate_targets(results) if t["target"].startswith("staging"))

    met = staging_target({"events": 1_000_000, "landed_rows": 953_468, "seconds": 51.3})
    assert met["met"] is True and met["measured"] == "51.3 s" and "953,468" in met["note"]
    missed = staging_target({"events": 1_000_000, "landed_rows": 953_468, "seconds": 66.0})
    assert missed["met"] is False and "missed by 10%" in missed["verdict"]
    # a smaller day (a --quick run) says nothing about the 1M target
    small = staging_target({"events": 100_000, "landed_rows": 95_361, "seconds": 12.0})
    assert small["met"] is None and small["verdict"] == "not measured"
    assert staging_target(None)["verdict"] == "not measured"


def test_unmeasured_10m_target_is_extrapolated_not_claimed():
    targets = evaluate_targets(_results(e2e_1m=60.0, jdbc_speedup=6.0, zstd_smaller=0.9, share=0.1))
    ten_m = next(t for t in targets if t["target"].startswith("10,000,000"))
    assert ten_m["met"] is None and ten_m["verdict"] == "not measured"
    assert "extrapolated" in ten_m["note"] and "linear from the largest size" in ten_m["note"]


def test_a_failed_scenario_is_reported_and_the_others_still_render():
    report = {
        "command": "clickstream bench --quick",
        "machine": {"cpu_cores": 2, "date_utc": "now", "git_commit": "abc"},
        "parameters": {
            "sizes": [1],
            "repeats": 1,
            "quick": True,
            "spark_master": "local[2]",
            "shuffle_partitions": 2,
            "lateness_days": 3,
        },
        "scenarios": {
            "load": {"error": "RuntimeError: boom", "seconds": 1.0},
            "dbt": {
                "events_per_day": 10,
                "points": [
                    {
                        "days": 3,
                        "fct_events_rows": 30,
                        "new_day_added_rows": 10,
                        "incremental_seconds": 1.0,
                        "full_refresh_seconds": 4.0,
                        "incremental_share": 0.25,
                    }
                ],
                "seconds": 9.0,
            },
        },
        "targets": [],
        "total_seconds": 10.0,
        "json_name": "b.json",
    }
    markdown = render_markdown(report)
    assert "**Failed**" in markdown and "RuntimeError: boom" in markdown
    assert "| 3 | 30 | 10 | 1.0 | 4.0 | 25.0% |" in markdown


def test_bad_arguments_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="repeats"):
        run_benchmarks(Settings(), [1000], repeats=0, out_file=tmp_path / "b.md", quick=False)
    with pytest.raises(ConfigError, match="positive"):
        run_benchmarks(Settings(), [-5], repeats=1, out_file=tmp_path / "b.md", quick=False)


def test_plan_summary_counts_partition_scans_instead_of_listing_each():
    nodes = ["Aggregate", "Append", "Gather"] + [
        f"Seq Scan on events_p202401{day:02d}" for day in range(1, 31)
    ]
    assert plan_summary(nodes) == "Aggregate, Append, Gather, Seq Scan on 30 events partitions"
    # other relations keep their names
    assert plan_summary(["Bitmap Heap Scan on fct_events", "Bitmap Index Scan"]) == (
        "Bitmap Heap Scan on fct_events, Bitmap Index Scan"
    )
