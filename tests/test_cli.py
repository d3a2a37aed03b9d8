"""The CLI turns users' mistakes into one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clickstream.cli import app
from clickstream.config import Settings, parse_date, validate_identifier
from clickstream.docs_server import make_server
from clickstream.errors import ConfigError, JavaMissingError, PortInUseError

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
        (("run", "--days", "2", "--start-date", "2024-13-01"), "expected YYYY-MM-DD"),
        (("generate", "--start-date", "yesterday"), "expected YYYY-MM-DD"),
        (("generate", "--events-per-day", "0"), "--events-per-day must be positive"),
        (("run", "--source", "kafka"), "Unknown --source"),
        (("run", "--source", "rees46"), "needs at least one --input"),
        (("stage", "--date", "2024-03-01", "--from", "2024-03-01"), "either --date or --from"),
        (("load", "--from", "2024-03-05", "--to", "2024-03-01"), "is before --from"),
        (("bench", "--only", "end_to_end,nope"), "unknown scenario(s) ['nope']"),
    ],
)
def test_bad_cli_values_give_one_clear_error(args: tuple[str, ...], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_stage_on_empty_landing_folder_says_to_generate_first(tmp_path: Path) -> None:
    result = invoke("--landing-dir", str(tmp_path / "nothing"), "stage")
    assert result.exit_code == 2
    assert "No landed data" in result.output
    assert "clickstream generate" in result.output


def test_unreachable_postgres_names_the_dsn() -> None:
    dsn = "postgresql://postgres:secret@127.0.0.1:1/nowhere"
    result = invoke("--pg-dsn", dsn, "warehouse", "status")
    assert result.exit_code == 2
    assert "127.0.0.1:1/nowhere" in result.output
    assert "secret" not in result.output, "the password must be redacted"
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


@pytest.mark.parametrize("bad", ["2024-02-30", "2024/03/01", "'; drop table raw.events; --"])
def test_malformed_dates_are_rejected(bad: str) -> None:
    with pytest.raises(ConfigError, match="expected YYYY-MM-DD"):
        parse_date(bad)


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
    with pytest.raises(ConfigError, match="lateness_days must be >= 0"):
        Settings.from_env({"CLICKSTREAM_LATENESS_DAYS": "-1"})


def test_py4j_records_logged_through_the_root_logger_are_hidden() -> None:
    """py4j logs a lost JVM with logging.info(..., exc_info=True) on the root logger."""
    import logging

    from clickstream.cli import _hide_py4j_root_records

    def record(path: str) -> logging.LogRecord:
        return logging.LogRecord("root", logging.INFO, path, 1, "msg", None, None)

    assert not _hide_py4j_root_records(record("/venv/site-packages/py4j/java_gateway.py"))
    assert _hide_py4j_root_records(record("/work/main/spark_staging/stage.py"))
