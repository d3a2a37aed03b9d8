"""Where the warehouse lives: an external PostgreSQL (``CLICKSTREAM_PG_DSN``) or an embedded one.

The embedded server is pgserver's bundled PostgreSQL 16, data under ``Settings.warehouse_dir``,
listening on a unix socket only (so it never fights another server for a TCP port). It is left
running between commands so ``stage``, ``load``, ``transform`` and ``analyze`` can run separately;
``clickstream warehouse stop`` stops it.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from clickstream.config import Settings
from clickstream.db import connect, redact_dsn
from clickstream.errors import EmptyInputError, StageFailedError

logger = logging.getLogger(__name__)

WAREHOUSE_DATABASE = "clickstream"


@dataclass(frozen=True)
class WarehouseStatus:
    """What ``clickstream warehouse status`` reports."""

    mode: str
    running: bool
    dsn: str | None
    detail: str


def _pgdata(settings: Settings) -> Path:
    return settings.warehouse_dir / "pgdata"


def _pg_ctl(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run pgserver's bundled pg_ctl as the owner of the data folder."""
    from pgserver._commands import POSTGRES_BIN_PATH

    command = [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(_pgdata(settings)), *args]
    pgdata = _pgdata(settings)
    owner = pgdata.owner() if pgdata.exists() else None
    if owner and owner != _current_user():
        command = ["su", owner, "-s", "/bin/sh", "-c", shlex.join(command)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def _current_user() -> str:
    import getpass

    return getpass.getuser()


def start_embedded(settings: Settings) -> str:
    """Start (or reuse) the embedded server and return a DSN for the warehouse database."""
    import pgserver

    settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
    if not embedded_status(settings).running:
        _forget_stopped_server(settings)
    try:
        server = pgserver.get_server(_pgdata(settings), cleanup_mode=None)
    except Exception as exc:
        raise StageFailedError(
            f"Could not start the embedded PostgreSQL in {_pgdata(settings)}: {exc}. "
            "Delete that folder to start afresh, or set CLICKSTREAM_PG_DSN to use another server."
        ) from exc
    admin_uri = server.get_uri()
    conn = connect(admin_uri)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("select 1 from pg_database where datname = %s", (WAREHOUSE_DATABASE,))
        if cur.fetchone() is None:
            cur.execute(f'create database "{WAREHOUSE_DATABASE}"')
    conn.close()
    dsn = server.get_uri(WAREHOUSE_DATABASE)
    logger.info("Embedded PostgreSQL ready at %s", dsn)
    return dsn


def _forget_stopped_server(settings: Settings) -> None:
    """Drop pgserver's in-process handle of a server that has since stopped.

    pgserver caches one handle per data folder and hands it back without checking that the
    server still runs, so after ``stop_embedded`` (or ``clickstream warehouse stop`` from
    another shell) a long-lived process would get the URI of a dead server instead of a
    restarted one.
    """
    from pgserver.postgres_server import PostgresServer

    for key in {_pgdata(settings), _pgdata(settings).expanduser().resolve()}:
        PostgresServer._instances.pop(key, None)


def embedded_status(settings: Settings) -> WarehouseStatus:
    """Is the embedded server running? Reads its postmaster.pid rather than starting it."""
    pid_file = _pgdata(settings) / "postmaster.pid"
    if not pid_file.exists():
        return WarehouseStatus("embedded", False, None, f"not running (data: {_pgdata(settings)})")
    result = _pg_ctl(settings, "status")
    running = result.returncode == 0
    dsn = None
    if running:
        lines = pid_file.read_text().splitlines()
        socket_dir = lines[4] if len(lines) > 4 else str(_pgdata(settings))
        dsn = f"postgresql://postgres:@/{WAREHOUSE_DATABASE}?host={socket_dir}"
    detail = "running" if running else "stopped (stale pid file)"
    return WarehouseStatus("embedded", running, dsn, f"{detail} (data: {_pgdata(settings)})")


def stop_embedded(settings: Settings) -> bool:
    """Stop the embedded server; returns False when it was not running."""
    if not embedded_status(settings).running:
        return False
    result = _pg_ctl(settings, "-w", "-m", "fast", "stop")
    if result.returncode != 0:
        raise StageFailedError(f"pg_ctl stop failed: {result.stderr.strip()}")
    return True


def resolve_dsn(settings: Settings, start: bool = True) -> str:
    """The DSN every stage uses: the external one when configured, else the embedded one."""
    if settings.pg_dsn:
        return settings.pg_dsn
    if not start:
        status = embedded_status(settings)
        if status.dsn:
            return status.dsn
    return start_embedded(settings)


def _query_value(dsn: str, statement: str) -> Any:
    """The first column of the first row of ``statement`` on a connection of its own (None when
    there is no row); an unreachable server raises WarehouseUnavailableError."""
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            row = cur.fetchone()
        return row[0] if row else None
    finally:
        conn.close()


def check_connection(dsn: str) -> str:
    """Connect once and return the server version; raises WarehouseUnavailableError."""
    return str(_query_value(dsn, "show server_version") or "unknown")


def check_raw_loaded(dsn: str) -> None:
    """Raise EmptyInputError when nothing was ever loaded into the warehouse.

    dbt would build the seed and the calendar, then fail every model over ``raw`` with a page of
    "relation does not exist" errors; one line saying what to run first helps more.
    """
    if not _query_value(dsn, "select to_regclass('raw.events') is not null"):
        raise EmptyInputError(
            f"{redact_dsn(dsn)} holds no raw.events: nothing was loaded yet. "
            "Run 'clickstream load' (or 'clickstream run') first."
        )


def shell_env(dsn: str) -> str:
    """``export`` lines that point a hand-run ``dbt`` at the same warehouse."""
    from clickstream.dbt import dbt_env

    lines = [f"export {key}={shlex.quote(value)}" for key, value in sorted(dbt_env(dsn).items())]
    lines.append(f"export CLICKSTREAM_PG_DSN={shlex.quote(dsn)}")
    return "\n".join(lines)


def describe(dsn: str) -> str:
    """A printable DSN (password hidden) with the socket folder spelled out."""
    parts = urlsplit(dsn)
    host = parse_qs(parts.query).get("host", [parts.hostname or "localhost"])[0]
    return f"{redact_dsn(dsn)} (host {host})"
