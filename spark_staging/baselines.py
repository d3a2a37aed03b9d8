"""Slower ways to load the lake's events, kept as yardsticks for ``clickstream bench``.

Each loader copies every ``events/event_date=*/`` partition of a lake into one fresh,
unindexed table shaped like ``raw.events`` and returns rows per second, so the numbers compare
the transport alone: Spark's JDBC writer (batched INSERTs), psycopg2 ``executemany`` and — for
the same work on the production path — :func:`load_with_copy` (Arrow → binary COPY, as each of
:mod:`spark_staging.load`'s COPY sessions does).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
from psycopg2 import sql
from psycopg2.extensions import parse_dsn

from clickstream.config import parse_date, validate_identifier
from clickstream.db import connection
from clickstream.errors import ConfigError, EmptyInputError, StageFailedError
from spark_staging import ddl
from spark_staging.load import copy_batches, copy_schema, iter_lake_batches, lake_files

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger(__name__)

POSTGRES_JDBC_JAR = Path("/usr/share/java/postgresql.jar")
"""Debian's ``libpostgresql-jdbc-java``; no Maven download is possible offline."""

EXECUTEMANY_BATCH_ROWS = 10_000


def target_table(table: str) -> sql.Identifier:
    """``name`` or ``schema.name``, each part a validated identifier."""
    parts = table.split(".")
    if len(parts) > 2:
        raise ConfigError(f"Invalid table {table!r}: use 'name' or 'schema.name'.")
    return sql.Identifier(*(validate_identifier(part, "table name") for part in parts))


def prepare_target_table(dsn: str, table: str) -> None:
    """(Re)create ``table`` with raw.events' columns, unpartitioned and without indexes."""
    identifier = target_table(table)
    with connection(dsn) as conn, conn.cursor() as cur:
        if "." in table:
            cur.execute(
                sql.SQL("create schema if not exists {}").format(
                    sql.Identifier(table.split(".", maxsplit=1)[0])
                )
            )
        cur.execute(sql.SQL("drop table if exists {}").format(identifier))
        cur.execute(
            sql.SQL("create table {table} ({columns}, {loaded_at})").format(
                table=identifier,
                columns=sql.SQL(",\n".join(f"{n} {t}" for n, t in ddl.EVENT_COLUMNS)),
                loaded_at=sql.SQL(ddl.LOADED_AT_COLUMN),
            )
        )


def count_rows(dsn: str, table: str) -> int:
    with connection(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("select count(*) from {}").format(target_table(table)))
        row = cur.fetchone()
    return int(row[0]) if row else 0


def lake_event_batches(lake_dir: Path, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Every event of the lake, partition by partition, in raw.events' column order."""
    partitions = sorted((lake_dir / "events").glob("event_date=*"))
    if not partitions:
        raise EmptyInputError(
            f"No event partitions under {lake_dir / 'events'}: run 'clickstream stage' first."
        )
    schema = copy_schema(ddl.EVENT_COLUMNS)
    for directory in partitions:
        day = parse_date(directory.name.split("=", 1)[1], "lake partition date")
        yield from iter_lake_batches(lake_files(directory), schema, "event_date", day, batch_rows)


def _rate(rows: int, seconds: float, how: str) -> float:
    rate = rows / seconds if seconds > 0 else 0.0
    logger.info("baseline %s: %d rows in %.2f s (%.0f rows/s)", how, rows, seconds, rate)
    return rate


def load_with_copy(lake_dir: Path, dsn: str, table: str, batch_rows: int = 65_536) -> float:
    """The production transport (streamed Arrow → binary COPY, one session) on the
    baselines' work."""
    prepare_target_table(dsn, table)
    clock = time.perf_counter()
    with connection(dsn) as conn, conn.cursor() as cur:
        rows = copy_batches(
            cur,
            target_table(table),
            copy_schema(ddl.EVENT_COLUMNS),
            lake_event_batches(lake_dir, batch_rows),
        )
    return _rate(rows, time.perf_counter() - clock, "COPY")


def load_with_executemany(lake_dir: Path, dsn: str, table: str) -> float:
    """psycopg2 ``executemany`` of a parameterised INSERT, one transaction."""
    prepare_target_table(dsn, table)
    columns = ddl.column_names(ddl.EVENT_COLUMNS)
    statement = sql.SQL("insert into {table} ({columns}) values ({values})").format(
        table=target_table(table),
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        values=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
    )
    rows = 0
    clock = time.perf_counter()
    with connection(dsn) as conn, conn.cursor() as cur:
        query = statement.as_string(cur)
        for batch in lake_event_batches(lake_dir, EXECUTEMANY_BATCH_ROWS):
            columns_data = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
            values = list(zip(*columns_data, strict=True))
            cur.executemany(query, values)
            rows += len(values)
    return _rate(rows, time.perf_counter() - clock, "executemany")


def jdbc_connection(dsn: str, batchsize: int | None = 10_000) -> tuple[str, dict[str, str]]:
    """Translate a libpq DSN (URL or key=value) into a JDBC URL and connection properties.

    ``batchsize`` tunes the writer (rows per batch, sent as multi-row INSERTs thanks to the
    driver's ``reWriteBatchedInserts``); ``None`` leaves both at Spark's and the driver's
    defaults (1,000-row batches of single-row INSERTs), the writer as shipped.
    """
    parts = parse_dsn(dsn)
    host = parts.get("host", "127.0.0.1")
    if host.startswith("/"):
        raise ConfigError(
            f"Spark's JDBC driver cannot reach PostgreSQL through the Unix socket {host} (the "
            "embedded warehouse listens on nothing else); set CLICKSTREAM_PG_DSN to a server on "
            "TCP, e.g. postgresql://postgres@127.0.0.1:5432/postgres, to run the JDBC baseline."
        )
    port = parts.get("port", "5432")
    database = parts.get("dbname", parts.get("user", "postgres"))
    url = f"jdbc:postgresql://{host}:{port}/{database}"
    properties = {"driver": "org.postgresql.Driver", "user": parts.get("user", "postgres")}
    if batchsize is not None:
        url += "?reWriteBatchedInserts=true"
        properties["batchsize"] = str(batchsize)
    if "password" in parts:
        properties["password"] = parts["password"]
    return url, properties


def build_jdbc_spark(
    master: str = "local[2]",
    jar: Path = POSTGRES_JDBC_JAR,
    driver_memory: str = "2g",
) -> SparkSession:
    """A SparkSession with the PostgreSQL JDBC driver on the driver's and executors' classpath.

    The jar must be given before the JVM starts, so call this before any other SparkSession
    exists in the process (``getOrCreate`` would otherwise return that one, without the jar).
    """
    from pyspark.sql import SparkSession

    from spark_staging.java import ensure_java

    if not jar.is_file():
        raise ConfigError(
            f"PostgreSQL JDBC driver {jar} not found: install it with "
            "'apt-get install -y libpostgresql-jdbc-java'."
        )
    ensure_java()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return (
        SparkSession.builder.master(master)
        .appName("clickstream-jdbc-baseline")
        .config("spark.jars", str(jar))
        .config("spark.driver.extraClassPath", str(jar))
        .config("spark.executor.extraClassPath", str(jar))
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )


def _require_jdbc_driver(spark: SparkSession) -> None:
    try:
        spark._jvm.java.lang.Class.forName("org.postgresql.Driver")  # type: ignore[union-attr]
    except Exception:
        raise StageFailedError(
            "The PostgreSQL JDBC driver is not on this SparkSession's classpath: build the "
            "session with spark_staging.baselines.build_jdbc_spark() before any other."
        ) from None


def load_with_spark_jdbc(
    spark: SparkSession, lake_dir: Path, dsn: str, table: str, batchsize: int | None = 10_000
) -> float:
    """Spark's ``df.write.jdbc``: tuned batches (see :func:`jdbc_connection`), or with
    ``batchsize=None`` Spark's default settings."""
    _require_jdbc_driver(spark)
    if not any((lake_dir / "events").glob("event_date=*")):
        raise EmptyInputError(
            f"No event partitions under {lake_dir / 'events'}: run 'clickstream stage' first."
        )
    prepare_target_table(dsn, table)
    url, properties = jdbc_connection(dsn, batchsize)
    frame = spark.read.parquet(str(lake_dir / "events")).select(
        *ddl.column_names(ddl.EVENT_COLUMNS)
    )
    clock = time.perf_counter()
    frame.write.jdbc(url, table, mode="append", properties=properties)
    seconds = time.perf_counter() - clock
    return _rate(count_rows(dsn, table), seconds, "Spark JDBC")
