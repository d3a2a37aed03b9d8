"""PostgreSQL connections with errors that name the DSN instead of a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.extensions

from clickstream.config import redact_dsn
from clickstream.errors import ConfigError, WarehouseUnavailableError

__all__ = ["connect", "connection", "redact_dsn"]


def connect(dsn: str, **kwargs: object) -> psycopg2.extensions.connection:
    """Open a connection or raise WarehouseUnavailableError saying which DSN failed."""
    try:
        return psycopg2.connect(dsn, connect_timeout=10, **kwargs)
    except psycopg2.ProgrammingError as exc:  # libpq could not parse the DSN at all
        raise ConfigError(f"Invalid DSN {redact_dsn(dsn)}: {str(exc).strip()}.") from None
    except psycopg2.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "no detail"
        raise WarehouseUnavailableError(
            f"Cannot connect to PostgreSQL at {redact_dsn(dsn)}: {first_line}. "
            "Check CLICKSTREAM_PG_DSN, or unset it to use the embedded server "
            "('clickstream warehouse start')."
        ) from None


@contextmanager
def connection(dsn: str) -> Iterator[psycopg2.extensions.connection]:
    """A connection that commits on success, rolls back on error and always closes."""
    conn = connect(dsn)
    try:
        with conn:
            yield conn
    finally:
        conn.close()
