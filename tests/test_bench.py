"""Smoke run of the whole benchmark at tiny sizes: every section renders with numbers.

No timing thresholds here: the numbers belong in docs/benchmarks.md, not in assertions.
"""

from __future__ import annotations

import json
import re

import pytest

from clickstream.bench import run_benchmarks
from clickstream.bench_report import SECTIONS
from clickstream.bench_scenarios import Plan
from tests.conftest import ADMIN_DSN, settings_under

pytestmark = [pytest.mark.spark, pytest.mark.postgres, pytest.mark.e2e]


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    settings = settings_under(root, pg_dsn=ADMIN_DSN)
    out = run_benchmarks(settings, [20_000], repeats=1, out_file=root / "bench.md", quick=True)
    return out, out.read_text(), json.loads(out.with_suffix(".json").read_text())


def test_quick_benchmark_runs_every_scenario_without_errors(quick_report):
    _, _, data = quick_report
    errors = {k: v["error"] for k, v in data["scenarios"].items() if "error" in v}
    assert not errors, errors
    assert set(data["scenarios"]) == {key for key, _, _ in SECTIONS}


def test_quick_report_has_every_section_with_numbers(quick_report):
    _, markdown, _ = quick_report
    sections = re.split(r"^## ", markdown, flags=re.MULTILINE)
    by_title = {s.splitlines()[0]: s for s in sections[1:]}
    for _, title, _ in SECTIONS:
        body = by_title[title]
        assert "**Failed**" not in body, title
        assert re.search(r"\|\s*[0-9][0-9,.]*\s*\|", body), f"no numbers in section {title}"
    assert "## Machine" in markdown and "cpu_cores" in markdown
    assert "## Targets" in markdown


def test_quick_report_json_records_machine_command_and_targets(quick_report):
    _, markdown, data = quick_report
    assert data["machine"]["cpu_cores"] >= 1
    for moment in ("start", "end"):  # how fast the shared cores ran, to compare reports by
        probe = data["machine"][f"speed_probe_at_{moment}"]
        assert re.fullmatch(r"\d+\.\d+ M loop iterations/s", probe) and float(probe.split()[0]) > 0
    assert data["command"]
    assert len(data["targets"]) == 8
    generated = data["scenarios"]["generator"]["sizes"][0]
    assert generated["events"] == 20_000
    assert generated["rows_written"] > 0 and generated["events_per_second"] > 0
    assert generated["cpu_seconds"] > 0 and generated["peak_rss_mib"] > 0
    load = data["scenarios"]["load"]
    assert load["spark_jdbc"]["rows_per_second"] > 0  # the target's yardstick always runs
    # the project's loader, in its worker process: every accepted event loaded
    assert load["copy"]["loaded_rows"] == load["rows"] > 0
    assert load["copy"]["rows_per_second"] > 0 and load["copy_transport"]["rows_per_second"] > 0
    assert load["spark_jdbc_default"]["what"].startswith("not run (--quick)")
    # a smoke run times each contender once; a real one at least Plan.load_rounds times
    assert load["rounds"] == 1
    assert len(load["copy"]["runs"]) == len(load["spark_jdbc"]["runs"]) == 1
    assert Plan.build([1_000_000], quick=False).load_rounds == 3
    assert "One run each; every run is in the JSON" in markdown
    e2e = data["scenarios"]["end_to_end"]["sizes"][0]
    assert set(e2e["stages"]) >= {"generate", "stage", "load", "transform", "analyze"}
    assert e2e["peak_rss_mib"] > 0


def test_quick_report_times_a_daily_build_that_meets_the_days_arrivals(quick_report):
    # the day is staged and loaded after the build of the day before: every event it loads is
    # new to the warehouse (a backfill staged ahead had loaded them with the day before)
    _, _, data = quick_report
    (point,) = data["scenarios"]["dbt"]["points"]
    assert point["new_day_loaded_rows"] > 0
    assert point["new_day_added_rows"] == point["new_day_loaded_rows"]


def test_a_stopped_benchmark_stops_its_worker_process(tmp_path, monkeypatch):
    # SIGTERM reaches the bench as SystemExit while it waits for a worker: without stopping
    # it, the worker (and its JVM) ran on, orphaned
    import subprocess

    from clickstream import bench_env

    class StoppedWhileWaiting:
        pid = 0

        def __init__(self, *args, **kwargs):
            self.calls: list[str] = []
            processes.append(self)

        def wait(self, timeout=None):
            self.calls.append("wait")
            if len(self.calls) == 1:
                raise SystemExit("stopped by signal 15")
            return -15

        def terminate(self):
            self.calls.append("terminate")

        def kill(self):
            self.calls.append("kill")

    processes: list[StoppedWhileWaiting] = []
    monkeypatch.setattr(subprocess, "Popen", StoppedWhileWaiting)
    with pytest.raises(SystemExit):
        bench_env.run_worker("generate", {}, tmp_path)
    assert processes[0].calls == ["wait", "terminate", "wait"]


def test_quick_report_queries_compare_pruned_with_unpruned_plans(quick_report):
    _, _, data = quick_report
    postgres = data["scenarios"]["queries"]["postgres"]
    raw = postgres["raw.events (partitioned by event_date)"]
    assert raw["without"]["relations_scanned"] > raw["with"]["relations_scanned"]
    for query in postgres.values():  # the same answer either way
        assert query["with"]["result"] == query["without"]["result"]
