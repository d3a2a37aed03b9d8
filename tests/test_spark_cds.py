"""The Spark driver's class-data archive: which flags a driver gets, and a real build and use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spark_staging import cds

# A child interpreter starts its own driver JVM (the test session's is already running) with
# the given class-data flags, runs a job and prints its result.
_DRIVER = """
import sys
from spark_staging.session import build_spark
spark = build_spark(app_name="cds-test", shuffle_partitions=1, driver_options=sys.argv[1] or None)
print("rows", spark.range(7).count())
spark.stop()
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder of this test's own (never the user's archive)."""
    monkeypatch.setenv(cds.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(cds.ENABLED_ENV, raising=False)
    return tmp_path / "cache"


def _driver(options: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _DRIVER, options],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
        check=False,
    )


def test_a_driver_maps_the_archive_only_when_it_exists_and_is_on(cache, monkeypatch):
    assert cds.driver_options() == ""  # nothing built yet

    path = cds.archive_path()
    assert path is not None and path.parent == cache
    cache.mkdir()
    path.write_bytes(b"archive")
    options = cds.driver_options()
    assert f"-XX:SharedArchiveFile={path}" in options
    assert "-Xlog:cds=off" in options  # a rejected archive is not the user's business

    monkeypatch.setenv(cds.ENABLED_ENV, "0")
    assert cds.driver_options() == ""


def test_the_archive_lives_in_the_virtual_environment_unless_told_otherwise(monkeypatch):
    monkeypatch.delenv(cds.CACHE_DIR_ENV, raising=False)
    monkeypatch.setattr(cds.sys, "prefix", "/opt/venv")
    monkeypatch.setattr(cds.sys, "base_prefix", "/usr")
    assert cds.cache_dir() == Path("/opt/venv/share/clickstream")
    monkeypatch.setattr(cds.sys, "prefix", "/usr")  # no venv: the user's cache
    monkeypatch.setenv("XDG_CACHE_HOME", "/home/ann/.cache")
    assert cds.cache_dir() == Path("/home/ann/.cache/clickstream")
    monkeypatch.setenv(cds.CACHE_DIR_ENV, "/srv/cache")
    assert cds.cache_dir() == Path("/srv/cache")


def test_another_java_runtime_looks_for_an_archive_of_its_own(cache, tmp_path, monkeypatch):
    mine = cds.archive_path()
    other_home = tmp_path / "jdk"
    (other_home / "bin").mkdir(parents=True)
    (other_home / "bin" / "java").write_text("#!/bin/sh\n")
    monkeypatch.setenv("JAVA_HOME", str(other_home))
    theirs = cds.archive_path()
    assert theirs is not None and mine is not None
    assert theirs != mine and theirs.parent == mine.parent

    monkeypatch.delenv("JAVA_HOME")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert cds.archive_path() is None
    assert cds.driver_options() == ""


def test_warm_up_leaves_an_archive_that_is_there_alone_and_says_where(cache):
    from typer.testing import CliRunner

    from clickstream.cli import app

    path = cds.archive_path()
    assert path is not None
    cache.mkdir()
    path.write_bytes(b"archive")
    result = CliRunner().invoke(app, ["warm-up"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"Spark class-data archive present: {path}" in result.output
    assert path.read_bytes() == b"archive"  # not rebuilt


@pytest.mark.spark
def test_warm_up_builds_an_archive_that_a_driver_maps(cache):
    path, built = cds.build_archive()
    assert built and path.is_file() and path.stat().st_size > 10 * 2**20
    assert list(cache.iterdir()) == [path]  # no partial file left beside it
    assert cds.build_archive() == (path, False)  # present: not rebuilt

    # -Xshare:on makes the JVM refuse to start unless it can map the archive
    done = _driver(f"-XX:SharedArchiveFile={path} -Xshare:on", {cds.CACHE_DIR_ENV: str(cache)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "rows 7" in done.stdout


@pytest.mark.spark
def test_a_damaged_archive_only_costs_the_speed(cache):
    path = cds.archive_path()
    assert path is not None
    cache.mkdir()
    path.write_bytes(b"\x00not a class-data archive" * 1000)

    done = _driver("", {cds.CACHE_DIR_ENV: str(cache)})  # default flags: map the archive
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "rows 7"  # and no JVM warning on stdout
