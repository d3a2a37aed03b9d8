"""The zero-config path: an embedded PostgreSQL (pgserver) started, used, reported, stopped."""

from __future__ import annotations

from pathlib import Path

import psycopg2

from clickstream.config import Settings
from clickstream.dbt import dbt_env
from clickstream.warehouse import (
    WAREHOUSE_DATABASE,
    embedded_status,
    resolve_dsn,
    shell_env,
    stop_embedded,
)


def test_embedded_warehouse_starts_serves_sql_and_stops(tmp_path: Path) -> None:
    settings = Settings(warehouse_dir=tmp_path / "wh")
    assert not embedded_status(settings).running
    dsn = resolve_dsn(settings)
    try:
        conn = psycopg2.connect(dsn)
        with conn, conn.cursor() as cur:
            cur.execute("select current_database(), current_setting('server_version_num')::int")
            database, version = cur.fetchone()
        conn.close()
        assert database == WAREHOUSE_DATABASE
        assert version >= 150000, "MERGE-based dbt strategies need PostgreSQL 15+"
        status = embedded_status(settings)
        assert status.running and status.dsn
        assert resolve_dsn(settings, start=False) == status.dsn
        # dbt gets the socket folder as its host, so a hand-run dbt reaches the same server.
        env = dbt_env(dsn)
        assert env["CLICKSTREAM_PG_DBNAME"] == WAREHOUSE_DATABASE
        assert env["CLICKSTREAM_PG_HOST"].startswith("/")
        assert "export CLICKSTREAM_PG_HOST=" in shell_env(dsn)
        # Starting again reuses the running server.
        assert resolve_dsn(settings) == dsn
    finally:
        assert stop_embedded(settings)
    assert not embedded_status(settings).running
    assert not stop_embedded(settings)
