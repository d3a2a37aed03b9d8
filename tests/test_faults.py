"""Faults: a restarted database, re-runs of processed days, a full disk, an unusable lake path.

A killed load and concurrent loads are covered in tests/test_load_atomicity.py.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from clickstream.cli import app
from clickstream.config import Settings
from clickstream.errors import StageFailedError
from clickstream.warehouse import resolve_dsn, stop_embedded
from spark_staging.lake import read_partitions, replace_partitions
from spark_staging.load import load_days
from spark_staging.schema import LAKE_EVENT_SCHEMA
from spark_staging.stage import stage_days
from tests.conftest import settings_under
from tests.pg import query
from tests.test_stage_support import csv_line, event, write_landing

DAY = dt.date(2024, 7, 1)
runner = CliRunner()


def cli(*args: str, **env: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "2000", **env}, catch_exceptions=False)


def land_small_day(settings: Settings) -> None:
    """Two devices, a few events each, one malformed line and one duplicate."""
    rows: list[str] = []
    for device in ("a", "b"):
        for minute in range(4):
            rows.append(
                csv_line(
                    event(f"2024-07-01T10:{minute:02d}", anon=device, event_id=f"{device}{minute}")
                )
            )
    rows += [rows[0], "broken,line"]
    write_landing(settings, DAY, rows)


@pytest.fixture(scope="module")
def staged(spark, tmp_path_factory: pytest.TempPathFactory) -> Settings:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("faults")
    settings = settings_under(root)
    land_small_day(settings)
    (stats,) = stage_days(spark, settings, [DAY])
    assert (stats.accepted, stats.quarantined_total, stats.duplicates) == (8, 1, 1)
    return settings


def raw_state(dsn: str) -> list[tuple[Any, ...]]:
    return query(
        dsn,
        "select (select count(*) from raw.events), (select count(distinct event_id) "
        "from raw.events), (select count(*) from raw.events_quarantine), arrival_date, "
        "input_rows, accepted, loaded_rows, events_checksum from raw.load_audit order by 4",
    )


# --------------------------------------------------------------------------- database restart


def test_load_after_the_embedded_server_stopped_fails_clearly_then_recovers(
    staged: Settings,
) -> None:
    paths = ("--landing-dir", str(staged.landing_dir), "--lake-dir", str(staged.lake_dir))
    dsn = resolve_dsn(staged)
    try:
        load_days(dsn, staged, [DAY])
        before = raw_state(dsn)
        assert before[0][:3] == (8, 8, 1)

        assert stop_embedded(staged)  # the database goes away between stages
        result = cli("--pg-dsn", dsn, *paths, "load", "--date", DAY.isoformat())
        assert result.exit_code == 2, result.output
        errors = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and "Traceback" not in result.output
        assert "Cannot connect to PostgreSQL at postgresql://postgres:***@/clickstream" in errors[0]

        # Without an explicit DSN the next command starts the embedded server again.
        warehouse = str(staged.warehouse_dir)
        result = cli(*paths, "load", "--date", DAY.isoformat(), CLICKSTREAM_WAREHOUSE_DIR=warehouse)
        assert result.exit_code == 0, result.output
        assert resolve_dsn(staged, start=False) == dsn
        assert raw_state(dsn) == before, "the re-run ends exactly where the first load did"
    finally:
        stop_embedded(staged)


# --------------------------------------------------------------------------- re-runs


def warehouse_state(dsn: str) -> dict[str, Any]:
    marts = query(
        dsn,
        """
        select
            (select count(*) from marts.fct_events),
            (select count(distinct event_id) from marts.fct_events),
            (select count(*) from marts.fct_sessions),
            (select count(*) from marts.fct_orders),
            (select sum(revenue) from marts.fct_orders),
            (select sum(revenue) from marts.fct_sessions),
            (select sum(revenue) from marts.fct_daily_metrics),
            (select count(*) from marts.dim_users),
            (select count(*) from marts.dim_products)
        """,
    )
    return {"raw": raw_state(dsn), "marts": marts}


def lake_stats(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every ``_stats`` file's figures, without the wall-clock seconds."""
    figures = {}
    for path in sorted((settings.lake_dir / "_stats").glob("*.json")):
        body = json.loads(path.read_text())
        body.pop("seconds", None)
        figures[path.name] = body
    return figures


def test_rerunning_each_stage_and_the_whole_run_for_processed_days_changes_nothing(
    e2e_warehouse: dict[str, Any],
    spark,  # type: ignore[no-untyped-def]
) -> None:
    from clickstream.dbt import build_day
    from clickstream.runner import run_all

    settings, dsn, days = e2e_warehouse["settings"], e2e_warehouse["dsn"], e2e_warehouse["days"]
    before, stats_before = warehouse_state(dsn), lake_stats(settings)
    last = days[-1]

    stage_days(spark, settings, [last])
    assert lake_stats(settings) == stats_before
    load_days(dsn, settings, [last])
    assert warehouse_state(dsn) == before
    build_day(dsn, last, settings.lateness_days)
    assert warehouse_state(dsn) == before

    # The whole `run` again for the first day (regenerates the same bytes, re-processes it).
    run_all(
        settings,
        days=1,
        events_per_day=3000,
        seed=7,
        start_date=days[0],
        analyze=False,
        docs=False,
    )
    assert lake_stats(settings) == stats_before
    assert warehouse_state(dsn) == before


# --------------------------------------------------------------------------- the lake's disk


def lake_snapshot(lake: Path) -> dict[str, str]:
    """Every file under the lake with a hash of its bytes (visible state, byte for byte)."""
    return {
        str(path.relative_to(lake)): hashlib.md5(path.read_bytes()).hexdigest()
        for path in sorted(lake.rglob("*"))
        if path.is_file()
    }


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}); disk-full not testable")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(path: Path, leave_bytes: int) -> Path:
    """Fill the filesystem of ``path`` until only ``leave_bytes`` are free."""
    stats = os.statvfs(path)
    free = stats.f_bavail * stats.f_frsize
    filler = path / "filler.bin"
    with filler.open("wb") as handle:
        handle.write(b"\0" * max(0, free - leave_bytes))
    return filler


def test_disk_full_during_staging_fails_clearly_and_leaves_the_lake_as_it_was(
    spark,  # type: ignore[no-untyped-def]
    staged: Settings,
    tmp_path: Path,
) -> None:
    with tmpfs(tmp_path / "disk", "16m") as disk:
        settings = staged.with_(lake_dir=disk / "lake")
        shutil.copytree(staged.lake_dir, settings.lake_dir)
        before = lake_snapshot(settings.lake_dir)
        filler = fill(disk, leave_bytes=4096)

        with pytest.raises(StageFailedError, match="No space left on device") as failure:
            stage_days(spark, settings, [DAY])
        assert "previous partitions are intact" in str(failure.value)
        assert "\n" not in str(failure.value), "one line, not a Java stack trace"
        assert lake_snapshot(settings.lake_dir) == before, "no partial partition left visible"

        filler.unlink()  # space is freed: the re-run completes with the same figures
        (stats,) = stage_days(spark, settings, [DAY])
        assert (stats.accepted, stats.quarantined_total, stats.duplicates) == (8, 1, 1)


def test_lake_path_under_a_regular_file_is_a_clear_error_before_any_work(
    staged: Settings, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the lake's parent should be")
    result = cli(
        "--landing-dir", str(staged.landing_dir), "--lake-dir", str(blocker / "lake"),
        "stage", "--date", DAY.isoformat(),
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    output = " ".join(result.output.split())
    assert "The lake folder" in output and "is not usable: Not a directory" in output


def test_failed_partition_swap_puts_the_old_partitions_back(
    spark,  # type: ignore[no-untyped-def]
    staged: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = tmp_path / "lake" / "events"
    shutil.copytree(staged.lake_dir / "events", root)
    before = lake_snapshot(root)
    days = [DAY - dt.timedelta(days=1), DAY]
    fresh = read_partitions(spark, root, "event_date", LAKE_EVENT_SCHEMA, days)
    real_rename = Path.rename
    failed: list[Path] = []

    def rename(self: Path, target: Any) -> Path:
        """Refuse the first move of a new partition into the lake (the old one is out)."""
        if not failed and Path(target).parent == root and "_scratch_" in str(self.parent):
            failed.append(self)
            raise OSError(errno.EACCES, "Permission denied", str(target))
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(StageFailedError, match="Permission denied"):
        replace_partitions(fresh, root, "event_date", days)
    monkeypatch.undo()
    assert failed, "the swap was reached"
    assert lake_snapshot(root) == before
    assert sorted(p.name for p in root.parent.iterdir()) == ["events"], "scratch cleaned up"
