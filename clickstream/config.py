"""One typed settings object, built once from environment variables and CLI flags.

No other module reads the environment: stages receive a :class:`Settings` (or the plain values
they need) from the caller, so tests can build one with ``Settings(...)`` and temporary paths.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from clickstream.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The repository root: defaults for data, reports and the dbt project hang off it."""

SCHEMAS = ("raw", "staging", "intermediate", "snapshots", "marts")
"""PostgreSQL schemas the warehouse owns, in dependency order."""

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def validate_identifier(value: str, what: str = "identifier") -> str:
    """Return ``value`` if it is a safe, lower-case SQL identifier, else raise ConfigError.

    Identifiers from config are interpolated into DDL, so they are validated here (and quoted
    where used) instead of trusting the environment.
    """
    if not _IDENTIFIER.match(value):
        raise ConfigError(
            f"Invalid {what} {value!r}: use lower-case letters, digits and underscores, "
            "starting with a letter or underscore (max 63 characters)."
        )
    return value


def parse_date(value: str | dt.date, what: str = "date") -> dt.date:
    """Parse ``YYYY-MM-DD`` into a date, with a clear error for anything else."""
    if isinstance(value, dt.date):
        return value
    # strictly YYYY-MM-DD: Python's fromisoformat also takes 20240301 and week dates
    text = value.strip() if isinstance(value, str) else ""
    if not _ISO_DATE.fullmatch(text):
        raise ConfigError(f"Invalid {what} {value!r}: expected YYYY-MM-DD, e.g. 2024-03-01.")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"Invalid {what} {value!r}: no such date.") from None


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number.") from None


def redact_dsn(dsn: str) -> str:
    """Hide a password in a libpq URL or key/value DSN so it can be printed."""
    dsn = re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", dsn)
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", dsn)


def check_dsn(dsn: str) -> str:
    """Return ``dsn`` if it is a PostgreSQL URL naming a database, else raise ConfigError.

    Every stage (COPY load, dbt's profile, the analyses) connects with the same URL, so it is
    checked once where the settings are built: a key/value DSN, another scheme or a URL without
    a database fails before any work with the same message from every command.
    """
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(
            f"Unsupported DSN {redact_dsn(dsn)}: use a URL like "
            "postgresql://user:password@host:5432/dbname."
        )
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    if not (unquote(parts.path.lstrip("/")) or query.get("dbname")):
        raise ConfigError(f"The DSN {redact_dsn(dsn)} names no database: add /dbname to it.")
    try:
        port = int(query.get("port") or parts.port or 5432)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise ConfigError(f"The DSN {redact_dsn(dsn)} has an invalid port.")
    return dsn


MAX_LATENESS_DAYS = 366
"""Each load rewrites (and locks) lateness_days + 2 partitions, and each daily build reprocesses
them: a longer window is a backfill, which ``--from/--to`` does day by day instead."""


@dataclass(frozen=True)
class Settings:
    """Everything a run needs to know, with defaults that work on a laptop.

    ``pg_dsn`` of ``None`` means "use the embedded PostgreSQL under ``warehouse_dir``".
    """

    pg_dsn: str | None = None
    landing_dir: Path = PROJECT_ROOT / "data" / "landing"
    lake_dir: Path = PROJECT_ROOT / "data" / "lake"
    reports_dir: Path = PROJECT_ROOT / "reports"
    warehouse_dir: Path = PROJECT_ROOT / ".warehouse"
    dbt_project_dir: Path = PROJECT_ROOT / "dbt_project"
    analyses_dir: Path = PROJECT_ROOT / "analyses"
    spark_master: str = "local[2]"
    spark_shuffle_partitions: int = 64
    """Upper bound per shuffle: staging uses ~1 per 200 MB of landing CSV (see
    spark_staging.stage.shuffle_partitions_for)."""
    copy_sessions: int = 2
    """Connections COPYing events side by side in a load (one server core each)."""
    lateness_days: int = 3
    session_gap_minutes: int = 30
    dbt_target: str = "dev"
    dbt_threads: int = 4
    debug: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.pg_dsn is not None:
            check_dsn(self.pg_dsn)
        if not 0 <= self.lateness_days <= MAX_LATENESS_DAYS:
            raise ConfigError(
                f"lateness_days must be between 0 and {MAX_LATENESS_DAYS}, "
                f"got {self.lateness_days}."
            )
        if self.dbt_threads <= 0:
            raise ConfigError(f"dbt_threads must be > 0, got {self.dbt_threads}.")
        if self.session_gap_minutes <= 0:
            raise ConfigError(f"session_gap_minutes must be > 0, got {self.session_gap_minutes}.")
        if self.spark_shuffle_partitions <= 0:
            raise ConfigError("spark_shuffle_partitions must be > 0.")
        if self.copy_sessions <= 0:
            raise ConfigError(f"copy_sessions must be > 0, got {self.copy_sessions}.")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``CLICKSTREAM_*`` variables, then apply non-None overrides."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if env.get("CLICKSTREAM_PG_DSN"):
            values["pg_dsn"] = env["CLICKSTREAM_PG_DSN"]
        for key, name in (
            ("landing_dir", "CLICKSTREAM_LANDING_DIR"),
            ("lake_dir", "CLICKSTREAM_LAKE_DIR"),
            ("reports_dir", "CLICKSTREAM_REPORTS_DIR"),
            ("warehouse_dir", "CLICKSTREAM_WAREHOUSE_DIR"),
        ):
            if env.get(name):
                values[key] = Path(env[name]).expanduser().resolve()
        if env.get("CLICKSTREAM_SPARK_MASTER"):
            values["spark_master"] = env["CLICKSTREAM_SPARK_MASTER"]
        values["lateness_days"] = _env_int(env, "CLICKSTREAM_LATENESS_DAYS", 3)
        values["spark_shuffle_partitions"] = _env_int(env, "CLICKSTREAM_SHUFFLE_PARTITIONS", 64)
        values["dbt_threads"] = _env_int(env, "CLICKSTREAM_DBT_THREADS", 4)
        values["copy_sessions"] = _env_int(env, "CLICKSTREAM_COPY_SESSIONS", 2)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        """Return a copy with some fields changed (settings are immutable)."""
        return replace(self, **changes)

    @property
    def events_landing_dir(self) -> Path:
        return self.landing_dir / "events"

    def landing_events_day(self, day: dt.date) -> Path:
        """Folder of one arrival day's event files."""
        return self.events_landing_dir / f"event_date={day.isoformat()}"
