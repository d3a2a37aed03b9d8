"""The CLI turns users' mistakes into one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

import psycopg2
import pytest
from typer.testing import CliRunner

from clickstream.cli import app
from clickstream.config import Settings, parse_date, validate_identifier
from clickstream.docs_server import make_server
from clickstream.errors import ConfigError, JavaMissingError, PortInUseError
from tests.conftest import ADMIN_DSN

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), env=env or {}, catch_exceptions=False)


def test_every_subcommand_has_help() -> None:
    for command in (
        "generate",
        "ingest",
        "stage",
        "load",
        "transform",
        "analyze",
        "docs",
        "run",
        "doctor",
        "bench",
        "warehouse",
        "warm-up",
    ):
        result = invoke(command, "--help")
        assert result.exit_code == 0, (command, result.output)
        assert "Usage" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "--days", "-1"), "--days must be a positive number"),
        (("run", "--days", "2", "--start-date", "2024-13-01"), "'2024-13-01': no such date"),
        (("stage", "--date", "20240301"), "expected YYYY-MM-DD"),
        (("generate", "--start-date", "yesterday"), "expected YYYY-MM-DD"),
        (("generate", "--events-per-day", "0"), "--events-per-day must be positive"),
        (("run", "--source", "kafka"), "Unknown --source"),
        (("run", "--source", "rees46"), "needs at least one --input"),
        (("stage", "--date", "2024-03-01", "--from", "2024-03-01"), "either --date or --from"),
        (("load", "--from", "2024-03-05", "--to", "2024-03-01"), "is before --from"),
        (("bench", "--only", "end_to_end,nope"), "unknown scenario(s) ['nope']"),
        # every event date needs its dim_date row: refused before anything is written
        (("run", "--days", "2", "--start-date", "2035-12-30"), "outside the warehouse calendar"),
        (("generate", "--start-date", "2009-12-31"), "outside the warehouse calendar"),
        (("stage", "--date", "2036-01-01"), "outside the warehouse calendar"),
        (("load", "--from", "2009-12-30", "--to", "2010-01-02"), "outside the warehouse calendar"),
        (("transform", "--date", "2040-01-01"), "outside the warehouse calendar"),
    ],
)
def test_bad_cli_values_give_one_clear_error(args: tuple[str, ...], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_an_output_path_that_is_a_file_is_one_clear_line(tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    result = invoke("generate", "--days", "1", "--events-per-day", "10", "--out", str(blocker))
    assert result.exit_code == 2
    assert "Traceback" not in result.output
    assert f"error: {blocker}" in " ".join(result.output.split())


@pytest.mark.postgres
def test_transform_before_any_load_says_to_load_first(fresh_pg_dsn: str) -> None:
    result = invoke("--pg-dsn", fresh_pg_dsn, "transform")
    assert result.exit_code == 2
    assert "nothing was loaded yet" in result.output and "clickstream load" in result.output
    assert "Traceback" not in result.output


def test_stage_on_empty_landing_folder_says_to_generate_first(tmp_path: Path) -> None:
    result = invoke("--landing-dir", str(tmp_path / "nothing"), "stage")
    assert result.exit_code == 2
    assert "No landed data" in result.output
    assert "clickstream generate" in result.output


def test_load_on_an_empty_lake_says_to_stage_first(tmp_path: Path) -> None:
    result = invoke("--lake-dir", str(tmp_path / "lake"), "load")
    assert result.exit_code == 2
    assert "No staged days in the lake" in result.output and "clickstream stage" in result.output


@pytest.mark.postgres
def test_load_without_days_loads_what_the_lake_staged_once_landing_is_archived(
    tmp_path: Path, fresh_pg_dsn: str
) -> None:
    from tests.lake_factory import make_event, stage_day

    day = dt.date(2024, 3, 10)
    stage_day(tmp_path / "lake", day, [make_event("e-1", day, day), make_event("e-2", day, day)])
    result = invoke(
        "--pg-dsn", fresh_pg_dsn, "--landing-dir", str(tmp_path / "archived"),
        "--lake-dir", str(tmp_path / "lake"), "load",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with psycopg2.connect(fresh_pg_dsn) as conn, conn.cursor() as cur:
        cur.execute("select arrival_date, loaded_rows from raw.load_audit")
        assert cur.fetchall() == [(day, 2)]
    conn.close()


def test_unreachable_postgres_names_the_dsn() -> None:
    dsn = "postgresql://postgres:secret@127.0.0.1:1/nowhere"
    result = invoke("--pg-dsn", dsn, "warehouse", "status")
    assert result.exit_code == 2
    assert "127.0.0.1:1/nowhere" in result.output
    assert "secret" not in result.output, "the password must be redacted"
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("dsn", "message"),
    [
        ("not a dsn", "Unsupported DSN not a dsn"),
        ("host=127.0.0.1 dbname=x", "Unsupported DSN host=127.0.0.1 dbname=x"),
        ("mysql://root@localhost/x", "Unsupported DSN mysql://"),
        ("postgresql://postgres@127.0.0.1:5432", "names no database"),
        ("postgresql://postgres@127.0.0.1:99999/db", "invalid port"),
    ],
)
@pytest.mark.parametrize(
    "command",
    [("load", "--date", "2024-03-01"), ("run", "--days", "1"), ("doctor",), ("transform",)],
)
def test_a_dsn_that_is_not_a_postgresql_url_is_one_clear_error_for_every_command(
    dsn: str, message: str, command: tuple[str, ...]
) -> None:
    result = invoke("--pg-dsn", dsn, *command)
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert "Traceback" not in result.output


@pytest.mark.postgres
def test_doctor_reports_a_missing_database_and_exits_like_every_user_fixable_problem() -> None:
    result = invoke("--pg-dsn", f"{ADMIN_DSN.rsplit('/', 1)[0]}/no_such_database_here", "doctor")
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "FAIL" in text and "no_such_database_here" in text
    assert "Traceback" not in result.output


def test_settings_refuse_a_dsn_that_is_not_a_postgresql_url() -> None:
    with pytest.raises(ConfigError, match="Unsupported DSN"):
        Settings(pg_dsn="dbname=warehouse")
    assert Settings(pg_dsn="postgresql://u@/db?host=/tmp/socket").pg_dsn  # the embedded form


@pytest.mark.parametrize("command", [("analyze",), ("transform",), ("docs",)])
def test_an_unreachable_server_is_one_clear_line_for_every_database_command(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    dsn = "postgresql://postgres@127.0.0.1:1/nowhere"
    result = invoke("--pg-dsn", dsn, "--lake-dir", str(tmp_path), *command)
    assert result.exit_code == 2, result.output
    assert "Cannot connect to PostgreSQL at postgresql://postgres@127.0.0.1:1/nowhere" in " ".join(
        result.output.split()
    )
    assert "Traceback" not in result.output


def test_missing_java_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from spark_staging.java import ensure_java

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(JavaMissingError, match="openjdk-17-jre-headless"):
        ensure_java()


def test_docs_server_reports_a_port_in_use(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<html></html>")
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"Port {port}"):
            make_server(tmp_path, port)


@pytest.mark.parametrize("hostile", ["raw; drop table x", "Robert'); --", "a" * 64, "1abc", ""])
def test_hostile_identifiers_are_rejected(hostile: str) -> None:
    with pytest.raises(ConfigError):
        validate_identifier(hostile, "schema")


@pytest.mark.parametrize(
    "bad", ["2024/03/01", "20240301", "2024-W09-5", "'; drop table raw.events; --", " "]
)
def test_malformed_dates_are_rejected(bad: str) -> None:
    with pytest.raises(ConfigError, match="expected YYYY-MM-DD"):
        parse_date(bad)


@pytest.mark.parametrize("impossible", ["2024-02-30", "2023-02-29", "2024-13-01"])
def test_impossible_dates_are_named_as_such(impossible: str) -> None:
    with pytest.raises(ConfigError, match="no such date"):
        parse_date(impossible)
    assert parse_date(" 2024-02-29 ") == dt.date(2024, 2, 29)


def test_settings_read_environment_once_and_overrides_win(tmp_path: Path) -> None:
    env = {
        "CLICKSTREAM_PG_DSN": "postgresql://u@h/db",
        "CLICKSTREAM_LAKE_DIR": str(tmp_path / "lake"),
        "CLICKSTREAM_LATENESS_DAYS": "2",
    }
    settings = Settings.from_env(env, spark_master="spark://h:7077")
    assert settings.pg_dsn == "postgresql://u@h/db"
    assert settings.lake_dir == (tmp_path / "lake").resolve()
    assert settings.lateness_days == 2
    assert settings.spark_master == "spark://h:7077"
    with pytest.raises(ConfigError, match="not a whole number"):
        Settings.from_env({"CLICKSTREAM_LATENESS_DAYS": "three"})
    with pytest.raises(ConfigError, match="lateness_days must be between 0 and 366, got -1"):
        Settings.from_env({"CLICKSTREAM_LATENESS_DAYS": "-1"})
    # the window's partitions are locked and rewritten by every load: bounded
    with pytest.raises(ConfigError, match="lateness_days must be between 0 and 366, got 100000"):
        Settings.from_env({"CLICKSTREAM_LATENESS_DAYS": "100000"})
    # dbt's thread pool needs a worker: one clear line instead of dbt's traceback
    with pytest.raises(ConfigError, match="dbt_threads must be > 0, got 0"):
        Settings.from_env({"CLICKSTREAM_DBT_THREADS": "0"})


def test_simulated_days_past_the_last_python_date_are_outside_the_calendar() -> None:
    from clickstream.pipeline import day_range

    with pytest.raises(ConfigError, match="outside the warehouse calendar"):
        day_range(dt.date(9999, 12, 31), 1)
    with pytest.raises(ConfigError, match="outside the warehouse calendar"):
        day_range(dt.date(2024, 1, 1), 10**9)


def test_py4j_records_logged_through_the_root_logger_are_hidden() -> None:
    """py4j logs a lost JVM with logging.info(..., exc_info=True) on the root logger."""
    import logging

    from clickstream.cli import _hide_py4j_root_records

    def record(path: str) -> logging.LogRecord:
        return logging.LogRecord("root", logging.INFO, path, 1, "msg", None, None)

    assert not _hide_py4j_root_records(record("/venv/site-packages/py4j/java_gateway.py"))
    assert _hide_py4j_root_records(record("/work/main/spark_staging/stage.py"))
