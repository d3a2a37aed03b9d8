"""How Python talks to dbt: DSN → profile environment, and the daily build's arguments."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
from pathlib import Path

import pytest

from clickstream import dbt
from clickstream.built_loads import PendingLoads
from clickstream.dbt import (
    DAILY_BUILD_PG_OPTIONS,
    DAILY_SELECTOR,
    DBT_PROJECT_DIR,
    _environment,
    build_day_args,
    daily_build_env,
    dbt_env,
    default_target_path,
    project_fingerprint,
    run_dbt,
    window_environment,
)
from clickstream.errors import ConfigError, StageFailedError


def test_tcp_dsn_maps_every_part_to_the_profile_variables() -> None:
    env = dbt_env("postgresql://alice:s%3Acret@db.example.com:6543/warehouse")
    assert env == {
        "CLICKSTREAM_PG_HOST": "db.example.com",
        "CLICKSTREAM_PG_PORT": "6543",
        "CLICKSTREAM_PG_USER": "alice",
        "DBT_ENV_SECRET_PG_PASSWORD": "s:cret",
        "CLICKSTREAM_PG_DBNAME": "warehouse",
    }


def test_unix_socket_dsn_uses_the_host_query_parameter() -> None:
    env = dbt_env("postgresql://postgres:@/clickstream?host=/tmp/pg%20sock")
    assert env["CLICKSTREAM_PG_HOST"] == "/tmp/pg sock"
    assert env["CLICKSTREAM_PG_PORT"] == "5432"
    assert env["CLICKSTREAM_PG_USER"] == "postgres"
    assert env["DBT_ENV_SECRET_PG_PASSWORD"] == ""
    assert env["CLICKSTREAM_PG_DBNAME"] == "clickstream"


@pytest.mark.parametrize(
    "dsn", ["mysql://u@h/db", "postgresql://u@h:5432", "postgresql://u@h:notaport/db"]
)
def test_unusable_dsn_raises_a_config_error(dsn: str) -> None:
    with pytest.raises(ConfigError):
        dbt_env(dsn)


def test_dsn_error_message_hides_the_password() -> None:
    with pytest.raises(ConfigError) as info:
        dbt_env("mysql://u:topsecret@h/db")
    assert "topsecret" not in str(info.value)


def test_environment_is_restored_after_the_call() -> None:
    os.environ["CLICKSTREAM_PG_HOST"] = "before"
    os.environ.pop("CLICKSTREAM_PG_DBNAME", None)
    try:
        with _environment({"CLICKSTREAM_PG_HOST": "during", "CLICKSTREAM_PG_DBNAME": "x"}):
            assert os.environ["CLICKSTREAM_PG_HOST"] == "during"
        assert os.environ["CLICKSTREAM_PG_HOST"] == "before"
        assert "CLICKSTREAM_PG_DBNAME" not in os.environ
    finally:
        os.environ.pop("CLICKSTREAM_PG_HOST", None)


def test_daily_build_reprocesses_every_partition_the_load_replaced() -> None:
    # Loading D replaces partitions [D-L, D+1], so the window is [D-L, D+2).
    args = build_day_args(dt.date(2024, 3, 10), lateness_days=3)
    assert args[0] == "build"
    assert json.loads(args[args.index("--vars") + 1]) == {
        "window_start": "2024-03-07",
        "window_end": "2024-03-12",
        "lateness_days": 3,
        "late_days_by_device": True,
    }
    assert "--full-refresh" not in args
    assert "--full-refresh" in build_day_args(dt.date(2024, 3, 10), 3, full_refresh=True)


def test_the_window_stretches_over_every_arrival_day_still_pending() -> None:
    """Days loaded since the last build, before or after D, are rebuilt with it."""
    args = build_day_args(
        dt.date(2024, 3, 10), 3, pending=[dt.date(2024, 3, 5), dt.date(2024, 3, 12)]
    )
    window = json.loads(args[args.index("--vars") + 1])
    assert (window["window_start"], window["window_end"]) == ("2024-03-02", "2024-03-14")
    assert build_day_args(dt.date(2024, 3, 10), 3, pending=[dt.date(2024, 3, 10)]) == (
        build_day_args(dt.date(2024, 3, 10), 3)
    )


def test_daily_build_leaves_unit_tests_to_ci() -> None:
    args = build_day_args(dt.date(2024, 3, 10), lateness_days=3)
    assert args[args.index("--exclude-resource-type") + 1] == "unit_test"


def test_window_travels_in_the_environment_so_dbt_keeps_its_partial_parse() -> None:
    """--vars that change daily would invalidate dbt's parse cache; other vars stay vars."""
    args = ["build", "--vars", json.dumps({"window_start": "2024-03-07", "x": 1}), "-s", "m"]
    rest, env = window_environment(args)
    assert rest == ["build", "--vars", json.dumps({"x": 1}), "-s", "m"]
    assert env["CLICKSTREAM_DBT_WINDOW_START"] == "2024-03-07"
    # unset settings are cleared, so a previous call's window cannot leak into this one
    assert env["CLICKSTREAM_DBT_WINDOW_END"] == ""
    assert env["CLICKSTREAM_DBT_LATENESS_DAYS"] == ""


def test_a_daily_build_passes_dbt_the_same_arguments_every_day() -> None:
    monday, tuesday = (
        window_environment(build_day_args(dt.date(2024, 3, d), lateness_days=3)) for d in (10, 11)
    )
    assert monday[0] == tuesday[0]
    assert "--vars" not in monday[0]
    assert monday[1]["CLICKSTREAM_DBT_WINDOW_START"] == "2024-03-07"
    assert tuesday[1]["CLICKSTREAM_DBT_WINDOW_START"] == "2024-03-08"
    assert monday[1]["CLICKSTREAM_DBT_LATENESS_DAYS"] == "3"


def test_negative_lateness_is_rejected() -> None:
    with pytest.raises(ConfigError):
        build_day_args(dt.date(2024, 3, 10), lateness_days=-1)


def test_daily_build_skips_static_nodes_only_when_asked_and_never_on_full_refresh() -> None:
    day = dt.date(2024, 3, 10)
    assert "--selector" not in build_day_args(day, 3)
    skipping = build_day_args(day, 3, skip_static=True)
    assert skipping[skipping.index("--selector") + 1] == DAILY_SELECTOR
    assert "--selector" not in build_day_args(day, 3, full_refresh=True, skip_static=True)


def test_project_fingerprint_changes_with_any_project_file_but_not_with_artifacts(
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    shutil.copytree(DBT_PROJECT_DIR / "models", project / "models")
    (project / "dbt_project.yml").write_text("name: x\n")
    before = project_fingerprint(project)
    (project / "target").mkdir()
    (project / "target" / "manifest.json").write_text("{}")
    assert project_fingerprint(project) == before
    view = project / "models" / "staging" / "stg_raw__users.sql"
    view.write_text(view.read_text() + "\n-- changed\n")
    assert project_fingerprint(project) != before


def test_the_default_target_folder_follows_dbt_target_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DBT_TARGET_PATH", raising=False)
    assert default_target_path(tmp_path) == tmp_path / "target"
    # relative to the project, as dbt resolves it
    monkeypatch.setenv("DBT_TARGET_PATH", "build/artifacts")
    assert default_target_path(tmp_path) == tmp_path / "build" / "artifacts"
    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "elsewhere"))
    assert default_target_path(DBT_PROJECT_DIR) == tmp_path / "elsewhere"


def test_dbt_writes_its_artifacts_where_the_default_target_folder_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clickstream.dbt import run_dbt

    monkeypatch.setenv("DBT_TARGET_PATH", str(tmp_path / "target"))
    monkeypatch.setenv("DBT_LOG_PATH", str(tmp_path / "logs"))
    run_dbt("postgresql://u@h/artifacts", ["parse"])  # a parse never connects
    assert (default_target_path() / "manifest.json").is_file()
    assert (tmp_path / "logs" / "dbt.log").is_file()


def test_daily_build_env_turns_parallel_workers_off_and_keeps_the_callers_options() -> None:
    assert daily_build_env({}) == {"PGOPTIONS": DAILY_BUILD_PG_OPTIONS}
    assert daily_build_env({"PGOPTIONS": "-c statement_timeout=0"}) == {
        "PGOPTIONS": f"-c statement_timeout=0 {DAILY_BUILD_PG_OPTIONS}"
    }
    # a caller who chose the workers keeps that choice
    assert daily_build_env({"PGOPTIONS": "-c max_parallel_workers_per_gather=4"}) == {}


def test_only_daily_builds_run_with_the_daily_connection_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict[str, str]] = []

    def fake_run_dbt(*args: object, env: dict[str, str] | None = None, **kwargs: object) -> object:
        calls.append(dict(env or {}))
        return dbt.DbtResult(args=(), seconds=0.0, nodes=())

    monkeypatch.delenv("PGOPTIONS", raising=False)
    monkeypatch.setattr(dbt, "run_dbt", fake_run_dbt)
    monkeypatch.setattr(dbt, "static_build_fingerprint", lambda dsn: None)
    monkeypatch.setattr(dbt, "record_static_build", lambda dsn, fingerprint: None)
    monkeypatch.setattr(dbt, "warehouse_build_lock", lambda dsn: contextlib.nullcontext())
    monkeypatch.setattr(dbt, "pending_loads", lambda dsn: PendingLoads((), ()))
    monkeypatch.setattr(dbt, "record_built", lambda dsn, audited: None)
    day = dt.date(2024, 3, 10)
    dbt.build_day("postgresql://u@h/db", day, 3)
    dbt.build_day("postgresql://u@h/db", day, 3, full_refresh=True)
    assert calls == [{"PGOPTIONS": DAILY_BUILD_PG_OPTIONS}, {}]


def test_the_environment_of_a_dbt_call_reaches_its_connections(
    pg_dsn: str, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    query = "select current_setting('max_parallel_workers_per_gather') as workers"
    show = ["show", "--inline", query, "--output", "json"]
    run_dbt(pg_dsn, show, target_path=tmp_path, env=daily_build_env({}))
    assert '"workers": "0"' in capfd.readouterr().out
    run_dbt(
        pg_dsn,
        show,
        target_path=tmp_path,
        env={"PGOPTIONS": "-c max_parallel_workers_per_gather=3"},
    )
    assert '"workers": "3"' in capfd.readouterr().out


def test_a_dbt_call_without_a_command_fails_with_dbts_own_message(tmp_path: Path) -> None:
    with pytest.raises(StageFailedError, match="dbt failed"):
        run_dbt("postgresql://u@h/db", [], target_path=tmp_path)  # dbt never connects
