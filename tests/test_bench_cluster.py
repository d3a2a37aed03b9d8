"""The scale-out path: ``clickstream stage`` against a real standalone Spark cluster.

The cluster (master + worker from the pyspark distribution) runs on this machine; the CLI runs
in a subprocess (this process may already own a local SparkContext). Its lake must hold exactly
the rows a local-mode staging of the same landing data writes.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pyarrow.dataset as pads
import pytest

from clickstream.config import PROJECT_ROOT
from generator import GeneratorConfig, generate_day
from spark_staging.cluster import local_cluster
from spark_staging.stage import stage_days
from tests.conftest import settings_under

pytestmark = [pytest.mark.cluster, pytest.mark.spark]

DAY = dt.date(2024, 3, 5)
COLUMNS = ["event_id", "session_id", "session_event_seq", "is_bot", "derived_ts", "arrival_date"]


def _rows(lake) -> list[tuple]:
    table = pads.dataset(str(lake / "events"), format="parquet", partitioning="hive").to_table(
        columns=[*COLUMNS, "event_date"]
    )
    return sorted(zip(*(table[c].to_pylist() for c in [*COLUMNS, "event_date"]), strict=True))


def _quarantine(lake) -> list[tuple]:
    table = pads.dataset(str(lake / "quarantine"), format="parquet", partitioning="hive").to_table(
        columns=["source_file", "line_number", "reason"]
    )
    return sorted(zip(*(table[c].to_pylist() for c in table.column_names), strict=True))


def test_stage_on_a_standalone_cluster_writes_the_same_lake_as_local_mode(spark, tmp_path):
    settings = settings_under(tmp_path, lake_dir=tmp_path / "lake-local")
    generate_day(GeneratorConfig(seed=5, events_per_day=2000), DAY, settings.landing_dir)
    stage_days(spark, settings, [DAY])
    cluster_lake = tmp_path / "lake-cluster"
    with local_cluster(worker_cores=2, worker_memory="1g") as url:
        assert url.startswith("spark://127.0.0.1:")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "clickstream.cli",
                "--spark-master",
                url,
                "--landing-dir",
                str(settings.landing_dir),
                "--lake-dir",
                str(cluster_lake),
                "stage",
                "--date",
                DAY.isoformat(),
            ],
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
            timeout=600,
            check=False,
        )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    local_rows = _rows(settings.lake_dir)
    assert local_rows, "local staging wrote no events"
    assert _rows(cluster_lake) == local_rows
    assert _quarantine(cluster_lake) == _quarantine(settings.lake_dir)
