"""Load arrival days from the Parquet lake into PostgreSQL ``raw`` with COPY.

``load(D)`` mirrors what ``stage(D)`` wrote (docs/contracts.md §2–3): the event partitions
``event_date ∈ [D-L, D+1]``, the quarantine rows of arrival D and the users/products extracts of
D. The window reaches D+1 like staging's: ``derived_ts`` may be up to 5 minutes after
``collector_ts``, so an event received just before midnight belongs to the next date. A window
day without a lake partition loses its raw partition too (staging removes partitions that end
up empty), so ``raw`` always equals the lake for the days it replaced.

How, and why:

- **Binary COPY only, streamed.** Each Parquet file is read in record batches, every column is
  cast to the Arrow type matching its PostgreSQL column (:func:`copy_schema`), and pgpq (Rust,
  no per-row Python) encodes the batch in PostgreSQL's binary COPY format for ``copy_expert``,
  through a file-like object, so memory stays at about one batch whatever the day's size.
  Binary rather than CSV because PostgreSQL's per-byte COPY work on one core was the
  bottleneck: on the 1M-event day the server's COPY took 4.6 s instead of 8.2 s (no CSV
  parsing, no text input functions for timestamps and numerics), encoding 1.1 s of CPU
  instead of 3.7 s.
- **Parallel COPY sessions, one atomic swap.** Each window partition is COPYed into a loading
  table ``raw.events_pYYYYMMDD_loading`` (no index, a CHECK matching the partition bounds) by
  ``copy_sessions`` connections at once (default 2, one per core: a COPY runs on one backend),
  each pulling the next record batch from a shared reader. Sessions cannot share a
  transaction, so the loading tables are created and filled in committed autocommit
  statements; they are invisible to readers because nothing attaches them yet. Meanwhile the
  day's transaction, on its own connection, replaces the quarantine rows and extracts; once the
  sessions are done it builds each loading table's primary key (one sort instead of per-row
  index maintenance, 2.5x faster per PERFORMANCE_NOTES), drops the old partitions and ATTACHes
  the new ones (the CHECK lets ATTACH skip its validation scan), reconciles, writes the audit
  and commits. DDL is transactional in PostgreSQL, so a reader sees the old day or the new
  day; a load killed at any point leaves the old day attached, at worst with loading tables
  beside it, which the next load of the window drops first (a failed load drops its own). The
  parent's ACCESS EXCLUSIVE lock is only taken by the swap at the end, so dbt can read
  ``raw.events`` meanwhile. The price is COPY ``FREEZE`` (it needs the table created in the
  COPY's own transaction): the primary key build's scan sets the hint bits instead.
- **Serialised.** Before touching anything (even the schema), a load takes a session-level
  ``pg_advisory_lock`` for every event_date of its window, in ascending order, and holds them
  until its transaction ended and any leftovers were dropped: two loads of the same day, or of
  overlapping windows (D and D+1 share partitions), wait for each other instead of
  interleaving, and cannot deadlock. A killed load's connection ends, which releases them.
  The lake is read under a shared ``flock`` (:func:`clickstream.locks.lake_lock`), so a
  staging of the same lake waits until the load has read it.
- **Reconciled before COMMIT.** ``_stats/arrival_date=D.json`` from staging must balance
  (input = accepted + quarantined + duplicates), the rows of ``raw.events`` with arrival D must
  equal ``accepted`` and the quarantine rows loaded must equal the quarantined total; otherwise
  the transaction rolls back and :class:`StageFailedError` says which figure disagrees.
  ``raw.load_audit`` gets one row per arrival day (replaced on reload) with those figures and
  :func:`events_checksum`, a sum of the day's event_id hashes that the counting scan computes
  on the way (an md5 of the sorted ids needed a sort of every id and a 36 MB string).

Measured on the 2-core dev box while other jobs kept it busy (load average 5–7, so ±30%), on
a staged 1M-event day (989,703 events + 137K quarantine and extract rows), ``load_days`` wall
time, variants interleaved, medians: the previous single-session CSV + FREEZE loader 25.1 s
(39K events/s), binary COPY in 2 sessions 15.3 s (64K/s), in 1 session 15.6 s (5 rounds; CSV in
2 sessions had been 19.7 s against 24.3 s). With no idle core the second session adds little:
binary COPY is most of the gain. Against Spark's JDBC writer in the same interleaved rounds
(3): before 51K events/s = 1.6x the tuned writer's 32K, now 94K = 2.9x (1 session 85K), the
bare binary COPY transport 140K = 4.3x. The hash-sum checksum then replaced the md5 of the
sorted ids (the same box, now also running another engineer's Spark jobs, load average 6–8,
so ±30% or worse; 6 interleaved rounds of old loader, new loader, tuned JDBC writer, bare COPY,
medians, on a 989,703-event day): the arrival figures phase went from 1.40 s to 0.37 s, the
other phases did not change (quarantine and extracts 2.5–3.4 s overlapped with the events COPY
3.8–3.9 s, primary key 2.8–2.9 s in PostgreSQL's parallel build, commit 0.25 s); ``load_days``
89K -> 92K events/s against the writer's 29K (3.1x -> 3.2x; the bare COPY 88K in that noise),
and 77K -> 107K in a 5-round run without the JDBC writer. The machine, not the loader's
design, sets those figures: every phase is CPU-bound on two shared cores. Tried without gain
then (interleaved, medians): building the keys in the COPY sessions (``create unique index``,
promoted with ``add primary key using index`` in the swap) while the day's transaction
counted the loading tables under SHARE locks, 107K vs 107K events/s (one partition holds the
whole day, whose key already gets two parallel workers; the figures scan it overlapped costs
0.3 s); 3 COPY sessions 95K vs 107K; batches of 16K rows 92K and of 256K rows 77K vs 107K;
one session with ``create`` + ``copy ... freeze`` in one transaction (the key build then
finds the hint bits set) 3.8–4.4 s COPY against 3.0 s for two sessions, key build no faster;
``synchronous_commit = off`` for the COPY sessions (safe: the day's COMMIT flushes their WAL)
no difference. Since then the key puts the id first (:data:`~spark_staging.ddl.EVENTS_PRIMARY_KEY`):
4 interleaved rounds on the 1M-event day, ``load_days`` 4.82 -> 4.19 s (key build 1.0-1.6 ->
0.7-0.9 s). Earlier: ``maintenance_work_mem`` up to 1 GB for the key build (re-checked: a
serial build is 2.3 s against 1.2 s for the default parallel one, 256 MB no faster),
``work_mem`` for the old checksum's sort, ``collate "C"`` on the key. pgpq holds the GIL while
encoding (0.9–1.1 s of CPU per 1M events, Parquet decoding another 0.7 s): fine on two
cores, while more would want processes. Earlier single-session findings that still hold:
DELETE + COPY into the indexed live partition took 6.2–7.7 s against 4.9–5.4 s for a fresh
table + key after + ATTACH (200K events) and left dead tuples; a prefetch thread encoding ahead
of COPY gained nothing, the server being the bottleneck.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor
from concurrent.futures import wait as futures_wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pgpq
import psycopg2
import pyarrow as pa
import pyarrow.parquet as pq
from psycopg2 import extensions as pg
from psycopg2 import sql
from psycopg2.extras import Json

from clickstream.config import Settings, parse_date
from clickstream.db import connect, redact_dsn
from clickstream.errors import ConfigError, EmptyInputError, StageFailedError
from clickstream.locks import LOCK_NAMESPACE, SCHEMA_LOCK_KEY, lake_lock
from clickstream.roles import ensure_roles
from spark_staging import ddl

logger = logging.getLogger(__name__)

BATCH_ROWS = 65_536
"""Rows per Arrow record batch: big enough to amortise Python overhead, small enough for RAM."""

ENCODE_ROWS = 8_192
"""Rows pgpq encodes at a time: a slice of a record batch (no copy), whose few MB of COPY
data the allocator reuses from one slice to the next. A whole 64K-row batch encodes into
≈35 MB, which glibc maps and unmaps afresh each time (above its 32 MB mmap ceiling): on the
1M-event day that was 160K page faults and 0.76 s of encoding against 30K and 0.32 s, and
``load_days`` took 3.80 s instead of 3.97 s (5 interleaved rounds, medians)."""

COPY_READ_SIZE = 32 * 1024 * 1024
"""Bytes psycopg2 asks the COPY stream for at a time: more than an encoded slice, so that
each slice's bytes go to libpq as they are, without a copy."""

EVENT_ID_HASH_SUM_SQL = "coalesce(sum(hashtextextended(event_id, 0)), 0)"
"""The exact (numeric) sum of the rows' 64-bit event_id hashes: :func:`events_checksum`."""

CHECKSUM_PREFIX = "hsum64:"
"""Marks ``raw.load_audit.events_checksum`` values of this definition (older rows hold an md5)."""

ProgressHook = Callable[[str, int], None]
"""Called as each slice of a batch is encoded for COPY with (table, rows in it): progress bars,
tests. The COPY sessions call it from their threads, so it must be thread-safe."""


@dataclass(frozen=True)
class LoadResult:
    """What one arrival day's load did (the CLI prints it; the audit table stores more)."""

    arrival_date: dt.date
    loaded_rows: int
    """Rows of ``raw.events`` with this arrival_date after the load (= staging's accepted)."""
    quarantined: int
    partitions_replaced: int
    """Event partitions of the window swapped in (a window day without lake data is dropped)."""
    seconds: float
    rows_per_second: float
    """All rows COPYed (window partitions, quarantine, extracts) per second."""
    rows_copied: int = 0


@dataclass(frozen=True)
class LakeStats:
    """Staging's figures for one arrival day (``_stats/arrival_date=D.json``)."""

    input_rows: int
    accepted: int
    quarantined_by_reason: dict[str, int]
    duplicates_exact: int
    duplicates_payload: int

    @property
    def quarantined(self) -> int:
        return sum(self.quarantined_by_reason.values())

    def unbalanced_message(self) -> str | None:
        """Why the figures don't reconcile, or None when input = accepted + rejected + dups."""
        explained = (
            self.accepted + self.quarantined + self.duplicates_exact + self.duplicates_payload
        )
        if explained == self.input_rows:
            return None
        return (
            f"input_rows {self.input_rows} != accepted {self.accepted} + quarantined "
            f"{self.quarantined} + duplicates {self.duplicates_exact} exact + "
            f"{self.duplicates_payload} payload (= {explained})"
        )


def events_checksum(hash_sum: int) -> str:
    """``raw.load_audit.events_checksum`` from the sum of ``hashtextextended(event_id, 0)``
    (signed 64-bit) over the day's rows, summed exactly (numeric, no overflow).

    A sum is order-independent, so PostgreSQL computes it in the counting scan instead of
    sorting the ids first; it fingerprints the set of ids (any id added, lost or changed
    moves it, barring a 2^-64 coincidence), which is what the audit compares. The hash is
    the one hash partitioning relies on, so it stays stable across PostgreSQL versions, but
    it differs between little- and big-endian servers (docs/contracts.md §3).
    """
    return f"{CHECKSUM_PREFIX}{hash_sum}"


# --------------------------------------------------------------------------- lake paths


def event_window(day: dt.date, lateness_days: int) -> list[dt.date]:
    """The event_dates ``[day - L, day + 1]`` that staging(day) rewrote, ascending."""
    return [day + dt.timedelta(days=offset) for offset in range(-lateness_days, 2)]


def stats_path(lake_dir: Path, day: dt.date) -> Path:
    return lake_dir / "_stats" / f"arrival_date={day.isoformat()}.json"


def partition_dir(lake_dir: Path, dataset: str, key: str, day: dt.date) -> Path:
    """``<lake>/<dataset>/<key>=YYYY-MM-DD``: one hive-style lake partition."""
    return lake_dir / dataset / f"{key}={day.isoformat()}"


def lake_files(directory: Path) -> list[Path]:
    """The Parquet data files of one partition, skipping Spark's ``_SUCCESS``/``.crc`` files."""
    if not directory.is_dir():
        return []
    return sorted(
        path
        for path in directory.glob("*.parquet")
        if path.is_file() and not path.name.startswith((".", "_"))
    )


def _stats_int(raw: Mapping[str, Any], key: str, path: Path) -> int:
    value = raw.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise StageFailedError(
            f"Staging statistics {path} have no valid '{key}' count (got {value!r}); "
            "re-run 'clickstream stage' for that day."
        )
    return value


def read_lake_stats(lake_dir: Path, day: dt.date) -> LakeStats:
    """Read staging's figures for ``day``; a missing file means the day was never staged."""
    path = stats_path(lake_dir, day)
    if not path.is_file():
        raise EmptyInputError(
            f"No lake data for arrival day {day.isoformat()} (missing {path}): "
            f"run 'clickstream stage --date {day.isoformat()}' first."
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StageFailedError(
            f"Staging statistics {path} are unreadable ({exc}); "
            f"re-run 'clickstream stage --date {day.isoformat()}'."
        ) from None
    if not isinstance(raw, dict):
        raise StageFailedError(f"Staging statistics {path} are not a JSON object; re-stage.")
    reasons = raw.get("quarantined") or {}
    duplicates = raw.get("duplicates") or {}
    if not isinstance(reasons, dict) or not isinstance(duplicates, dict):
        raise StageFailedError(
            f"Staging statistics {path}: 'quarantined' and 'duplicates' must be objects; "
            "re-run 'clickstream stage' for that day."
        )
    return LakeStats(
        input_rows=_stats_int(raw, "input_rows", path),
        accepted=_stats_int(raw, "accepted", path),
        quarantined_by_reason={str(k): _stats_int(reasons, k, path) for k in sorted(reasons)},
        duplicates_exact=_stats_int(duplicates, "exact", path),
        duplicates_payload=_stats_int(duplicates, "payload", path),
    )


# --------------------------------------------------------------------------- Arrow → binary COPY


_ARROW_TYPES: dict[str, pa.DataType] = {
    "text": pa.string(),
    "timestamptz": pa.timestamp("us", tz="UTC"),
    "timestamp": pa.timestamp("us"),
    "date": pa.date32(),
    "boolean": pa.bool_(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
}
_NUMERIC = re.compile(r"numeric\((\d+), *(\d+)\)")
_COLLATION = re.compile(r'\s+collate\s+"[^"]+"', re.IGNORECASE)


def arrow_type(sql_type: str) -> pa.DataType:
    """The Arrow type whose binary COPY encoding is exactly what the PostgreSQL column reads.

    Binary COPY carries no type information, so every lake column is cast to this first: an
    int64 sent to an ``integer`` column, or a number sent to a ``text`` one, would otherwise be
    rejected (or, for text, stored as raw bytes) instead of converted as CSV would have been.
    """
    # a collation changes how PostgreSQL compares the text, not how COPY encodes it
    base = _COLLATION.sub("", sql_type.removesuffix(" not null"))
    if (numeric := _NUMERIC.fullmatch(base)) is not None:
        return pa.decimal128(int(numeric[1]), int(numeric[2]))
    if base not in _ARROW_TYPES:
        raise ConfigError(f"No binary COPY encoding for the column type {sql_type!r}.")
    return _ARROW_TYPES[base]


def copy_schema(columns: tuple[tuple[str, str], ...]) -> pa.Schema:
    """The Arrow schema of the batches COPYed into a table with these columns."""
    return pa.schema([(name, arrow_type(sql_type)) for name, sql_type in columns])


def conform(array: pa.Array, target: pa.DataType, path: Path, name: str) -> pa.Array:
    """``array`` as ``target``. Zone-aware and naive timestamps are both UTC instants to Arrow,
    as they were to the loader's CSV (whose session ran in UTC). The cast is safe: a value it
    would change (sub-microsecond digits, an overflow) fails the load rather than be rounded.
    """
    if array.type == target:
        return array
    try:
        return array.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise StageFailedError(
            f"Lake file {path}: column {name} ({array.type}) does not fit the contract's "
            f"{target} ({exc}); re-run 'clickstream stage' for that day."
        ) from None


def iter_lake_batches(
    files: Iterable[Path],
    schema: pa.Schema,
    partition_column: str,
    partition_value: dt.date,
    batch_rows: int = BATCH_ROWS,
) -> Iterator[pa.RecordBatch]:
    """Record batches of ``files`` with exactly ``schema``'s columns and types, in its order.

    Spark writes the hive partition column into the folder name, not the files, so it is
    filled from ``partition_value`` when a file lacks it. Any other missing column means the
    file does not follow the contract: fail rather than load nulls silently.
    """
    constant = pa.array([partition_value] * batch_rows, pa.date32())
    for path in files:
        parquet = pq.ParquetFile(path)
        present = set(parquet.schema_arrow.names)
        missing = [
            name for name in schema.names if name not in present and name != partition_column
        ]
        if missing:
            raise StageFailedError(
                f"Lake file {path} lacks column(s) {', '.join(missing)} required by "
                "docs/contracts.md; re-run 'clickstream stage' for that day."
            )
        wanted = [name for name in schema.names if name in present]
        for batch in parquet.iter_batches(batch_size=batch_rows, columns=wanted):
            arrays = [
                conform(batch.column(field.name), field.type, path, field.name)
                if field.name in present
                else constant.slice(0, batch.num_rows).cast(field.type)
                for field in schema
            ]
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)


class BinaryCopyStream:
    """A read-only file object whose bytes are PostgreSQL's binary COPY format, encoded from
    record batches on demand by pgpq (Rust, no per-row Python).

    ``copy_expert`` pulls from it, so Parquet decoding, encoding and PostgreSQL's work overlap
    and only about one batch is in memory at a time. Binary rather than CSV because the server
    then skips CSV parsing and the text input functions (timestamps, numerics): on the 1M-event
    day its COPY took 4.6 s instead of 8.2 s, and encoding 1.1 s of CPU instead of 3.7 s.
    Batches are encoded :data:`ENCODE_ROWS` rows at a time, and a read that asks for at least
    the pending bytes gets pgpq's ``bytes`` object itself.
    """

    def __init__(
        self,
        batches: Iterable[pa.RecordBatch],
        schema: pa.Schema,
        on_batch: Callable[[int], None],
        encode_rows: int = ENCODE_ROWS,
    ):
        self._slices = _slices(batches, encode_rows)
        self._on_batch = on_batch
        self._encoder = pgpq.ArrowToPostgresBinaryEncoder(schema)
        self._pending = self._encoder.write_header()
        self._offset = 0
        self._finished = False
        self.rows = 0

    def _refill(self) -> None:
        """Encode slices until some bytes are ready (pgpq buffers small ones), or add the
        trailer once the batches run out."""
        while self._offset == len(self._pending) and not self._finished:
            self._offset = 0
            piece = next(self._slices, None)
            if piece is None:
                self._pending = self._encoder.finish()
                self._finished = True
            else:
                self._pending = self._encoder.write_batch(piece)
                self.rows += piece.num_rows
                self._on_batch(piece.num_rows)

    def read(self, size: int = -1) -> bytes:
        self._refill()
        start, available = self._offset, len(self._pending) - self._offset
        if size is None or size < 0 or size >= available:
            self._offset = len(self._pending)
            return self._pending if start == 0 else self._pending[start:]
        self._offset += size
        return self._pending[start : start + size]

    def readline(self, size: int = -1) -> bytes:  # pragma: no cover - COPY never calls it
        return self.read(size)


def _slices(batches: Iterable[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """The non-empty batches cut into zero-copy slices of at most ``rows`` rows."""
    for batch in batches:
        for start in range(0, batch.num_rows, rows):
            yield batch.slice(start, rows)


def copy_batches(
    cur: pg.cursor,
    table: sql.Composable,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    *,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """COPY record batches of ``schema`` into ``table`` (binary); return the rows copied."""
    stream = BinaryCopyStream(batches, schema, on_batch or (lambda _rows: None))
    statement = sql.SQL("copy {table} ({columns}) from stdin with (format binary)").format(
        table=table, columns=sql.SQL(", ").join(map(sql.Identifier, schema.names))
    )
    cur.copy_expert(statement.as_string(cur), stream, size=COPY_READ_SIZE)
    return stream.rows


# --------------------------------------------------------------------------- parallel COPY


class SharedBatches:
    """One table's record batches, handed out one at a time to several COPY sessions.

    Each session pulls the next batch when it has sent the previous one, so the sessions stay
    equally busy whatever the sizes of the files and row groups; the lock is needed because a
    generator cannot be advanced from two threads (Arrow releases the GIL while it decodes, so
    the other sessions keep encoding and sending meanwhile). ``stop`` ends the stream early when
    a session failed: whatever the others already sent lands in a loading table that the failed
    load drops.
    """

    def __init__(self, batches: Iterable[pa.RecordBatch]):
        self._batches = iter(batches)
        self._lock = threading.Lock()
        self._stopped = False

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return self

    def __next__(self) -> pa.RecordBatch:
        with self._lock:
            if self._stopped:
                raise StopIteration
            return next(self._batches)

    def stop(self) -> None:
        self._stopped = True


@dataclass(frozen=True)
class CopyJob:
    """A loading table and the batches that every COPY session takes its share of."""

    table: str
    schema: pa.Schema
    batches: SharedBatches
    on_batch: Callable[[int], None]


def _run_copy_jobs(conn: pg.connection, jobs: Sequence[CopyJob]) -> None:
    """One session's part of every job, in order (each COPY commits on its own)."""
    with conn.cursor() as cur:
        for job in jobs:
            copy_batches(
                cur, ddl.raw_table(job.table), job.schema, job.batches, on_batch=job.on_batch
            )


def _join(futures: Sequence[Future[None]], jobs: Sequence[CopyJob]) -> None:
    """Wait for every session; on the first failure stop the others and raise it."""
    futures_wait(futures, return_when=FIRST_EXCEPTION)
    if any(future.done() and future.exception() for future in futures):
        for job in jobs:
            job.batches.stop()
    futures_wait(futures)
    for future in futures:
        if (error := future.exception()) is not None:
            raise error


class CopySessions:
    """Autocommit connections that COPY a day's event partitions side by side.

    PostgreSQL parses a COPY on one core, so one session cannot go faster than one backend;
    several sessions cannot share a transaction, so they COPY into loading tables created and
    committed outside the day's transaction. No reader sees those tables (they are not
    partitions of ``raw.events`` until the day's transaction swaps them in), and a load killed
    before its COMMIT only leaves them behind for the next load of the window to drop.
    The first session also runs that DDL, while no COPY is running.
    """

    def __init__(self, dsn: str, sessions: int):
        if sessions < 1:
            raise ConfigError(f"copy_sessions must be >= 1, got {sessions}.")
        self._pool = ThreadPoolExecutor(max_workers=sessions, thread_name_prefix="load-copy")
        self._conns: list[pg.connection] = []
        try:
            for _ in range(sessions):
                conn = connect(dsn)
                conn.autocommit = True
                self._conns.append(conn)
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> CopySessions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for conn in self._conns:
            conn.close()

    def execute(self, statements: Iterable[sql.Composable]) -> None:
        """Run DDL outside the day's transaction, each statement committed at once."""
        with self._conns[0].cursor() as cur:
            for statement in statements:
                cur.execute(statement)

    @contextmanager
    def copying(self, jobs: Sequence[CopyJob]) -> Iterator[Callable[[], None]]:
        """Start every session on ``jobs`` and yield a function that waits for them.

        The caller works on its own connection meanwhile. Leaving the block early (an error)
        stops the sessions and still waits for them, so no COPY outlives the load.
        """
        futures = [self._pool.submit(_run_copy_jobs, conn, jobs) for conn in self._conns]
        try:
            yield lambda: _join(futures, jobs)
        finally:
            for job in jobs:
                job.batches.stop()
            futures_wait(futures)


# --------------------------------------------------------------------------- one arrival day


_EARLIEST_DAY = dt.date(1970, 1, 1)
_LATEST_DAY = dt.date(2100, 1, 1)
"""Staging quarantines timestamps after 2100; the bounds also keep window arithmetic finite."""


def as_day(value: object) -> dt.date:
    """A validated calendar date: a ``date`` (not a datetime) or a ``YYYY-MM-DD`` string."""
    if isinstance(value, dt.datetime):
        raise ConfigError(f"Invalid arrival day {value!r}: pass a date, not a timestamp.")
    if isinstance(value, str):
        value = parse_date(value, "arrival day")
    if not isinstance(value, dt.date):
        raise ConfigError(f"Invalid arrival day {value!r}: expected a date such as 2024-03-01.")
    if not _EARLIEST_DAY <= value <= _LATEST_DAY:
        raise ConfigError(
            f"Invalid arrival day {value.isoformat()}: expected a day between "
            f"{_EARLIEST_DAY} and {_LATEST_DAY}."
        )
    return value


def batch_id(day: dt.date) -> str:
    """Deterministic audit key, so a reload replaces its row instead of adding one."""
    return f"events-{day.isoformat()}"


def _lock_days(cur: pg.cursor, days: Sequence[dt.date]) -> None:
    """Take the session advisory locks of ``days`` in ascending order (no deadlock between
    overlapping windows). Session-level, not transaction-level: the loading tables are created
    before the day's transaction and dropped after a failed one, both under the locks."""
    for day in sorted(days):
        cur.execute("select pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, day.toordinal()))
        row = cur.fetchone()
        if row is not None and row[0]:
            continue
        logger.info("load: another load holds event_date %s; waiting for it", day)
        cur.execute("select pg_advisory_lock(%s, %s)", (LOCK_NAMESPACE, day.toordinal()))


@contextmanager
def _window_locked(conn: pg.connection, days: Sequence[dt.date]) -> Iterator[None]:
    """Hold the window's advisory locks for the block; a lost connection releases them too."""
    with conn, conn.cursor() as cur:
        _lock_days(cur, days)
    try:
        yield
    finally:
        _unlock_days(conn, days)


def _unlock_days(conn: pg.connection, days: Sequence[dt.date]) -> None:
    """Release what :func:`_lock_days` took, unless the connection is gone (which did)."""
    if conn.closed:
        return
    try:
        with conn, conn.cursor() as cur:
            for day in sorted(days, reverse=True):
                cur.execute("select pg_advisory_unlock(%s, %s)", (LOCK_NAMESPACE, day.toordinal()))
    except psycopg2.Error as exc:
        logger.warning("load: could not release the advisory locks (%s); closing", exc)
        conn.close()


def ensure_schema(conn: pg.connection) -> None:
    """Create ``raw`` if missing, serialised so concurrent first loads don't collide, and give
    the least-privilege roles their rights on it (``clickstream.roles``)."""
    with conn, conn.cursor() as cur:
        cur.execute("select pg_advisory_xact_lock(%s, %s)", (LOCK_NAMESPACE, SCHEMA_LOCK_KEY))
        ddl.ensure_raw_schema(cur)
        ensure_roles(cur, ddl.RAW_SCHEMA)


class _DayLoader:
    """The steps of one arrival day's load, in order (see the module docstring)."""

    def __init__(
        self,
        conn: pg.connection,
        sessions: CopySessions,
        settings: Settings,
        day: dt.date,
        batch_rows: int,
        progress: ProgressHook | None,
    ):
        self.conn = conn
        self.sessions = sessions
        self.lake_dir = settings.lake_dir
        self.day = day
        self.window = event_window(day, settings.lateness_days)
        self.batch_rows = batch_rows
        self.progress = progress
        self.rows_copied = 0
        self._count_lock = threading.Lock()

    def _hook(self, table: str) -> Callable[[int], None]:
        """Count COPYed rows (from several threads) and pass them to the progress hook."""

        def report(rows: int) -> None:
            with self._count_lock:
                self.rows_copied += rows
            if self.progress is not None:
                self.progress(table, rows)

        return report

    def _batches(
        self,
        columns: tuple[tuple[str, str], ...],
        directory: Path,
        partition_column: str,
        partition_value: dt.date,
    ) -> Iterator[pa.RecordBatch]:
        return iter_lake_batches(
            lake_files(directory),
            copy_schema(columns),
            partition_column,
            partition_value,
            self.batch_rows,
        )

    def lake_partitions(self) -> list[dt.date]:
        """The window's event_dates that have lake data (the others lose their partition)."""
        return [
            event_date
            for event_date in self.window
            if lake_files(partition_dir(self.lake_dir, "events", "event_date", event_date))
        ]

    def drop_loading_tables(self) -> None:
        """Drop the window's loading tables: leftovers of a killed load, or of a failed one."""
        self.sessions.execute(
            sql.SQL("drop table if exists {table}").format(
                table=ddl.raw_table(ddl.loading_table_name(event_date))
            )
            for event_date in self.window
        )

    def create_loading_tables(self, built: Sequence[dt.date]) -> None:
        """Fresh, empty, committed loading tables for the COPY sessions to fill."""
        self.drop_loading_tables()
        self.sessions.execute(ddl.create_loading_partition_sql(day) for day in built)

    def event_jobs(self, built: Sequence[dt.date]) -> list[CopyJob]:
        """One job per loading table; the sessions share each table's batches."""
        jobs = []
        for event_date in built:
            table = ddl.loading_table_name(event_date)
            directory = partition_dir(self.lake_dir, "events", "event_date", event_date)
            batches = self._batches(ddl.EVENT_COLUMNS, directory, "event_date", event_date)
            jobs.append(
                CopyJob(
                    table,
                    copy_schema(ddl.EVENT_COLUMNS),
                    SharedBatches(batches),
                    self._hook(table),
                )
            )
        return jobs

    def replace_by_day(
        self,
        cur: pg.cursor,
        table: str,
        columns: tuple[tuple[str, str], ...],
        dataset: str,
        key: str,
    ) -> int:
        """Delete the day's rows of a shared table and COPY the lake's in their place."""
        cur.execute(
            sql.SQL("delete from {table} where {key} = %s").format(
                table=ddl.raw_table(table), key=sql.Identifier(key)
            ),
            (self.day,),
        )
        directory = partition_dir(self.lake_dir, dataset, key, self.day)
        return copy_batches(
            cur,
            ddl.raw_table(table),
            copy_schema(columns),
            self._batches(columns, directory, key, self.day),
            on_batch=self._hook(table),
        )

    def add_primary_keys(self, cur: pg.cursor, built: Sequence[dt.date]) -> None:
        """Build each loading table's primary key now that every row is in (one sort), in the
        parent's key order so that ATTACH adopts it."""
        columns = ddl.events_primary_key(cur)
        for event_date in built:
            cur.execute(ddl.add_loading_primary_key_sql(event_date, columns))

    def swap_partitions(self, cur: pg.cursor, built: Sequence[dt.date]) -> None:
        """Replace the window's live partitions with the loading tables (days without lake
        data lose their partition: raw mirrors the lake)."""
        for event_date in self.window:
            statements = (
                ddl.swap_in_partition_sql(event_date)
                if event_date in built
                else [ddl.drop_partition_sql(event_date)]
            )
            for statement in statements:
                cur.execute(statement)

    def arrival_figures(self, cur: pg.cursor) -> tuple[int, str]:
        """Rows of raw.events with this arrival_date and their :func:`events_checksum`, in
        one scan that neither sorts nor builds a string (the md5 of the sorted ids it replaces
        sorted ~1M ids into a 36 MB string: 1.1-1.9 s against ~0.2-0.4 s).

        Events of arrival D have event_date >= D - L (older ones are quarantined ``too_late``),
        so the predicate prunes every older partition. Later partitions are scanned: a row of
        arrival D stranded there would be counted and fail the reconciliation, not hide.
        """
        cur.execute(
            f"select count(*), {EVENT_ID_HASH_SUM_SQL} "
            "from raw.events where arrival_date = %s and event_date >= %s",
            (self.day, self.window[0]),
        )
        row = cur.fetchone()
        assert row is not None
        return int(row[0]), events_checksum(int(row[1]))

    def replace_day_rows(self, cur: pg.cursor) -> tuple[int, int, int]:
        """Replace the day's quarantine rows, users and products; return their row counts."""
        return (
            self.replace_by_day(
                cur, "events_quarantine", ddl.QUARANTINE_COLUMNS, "quarantine", "arrival_date"
            ),
            self.replace_by_day(cur, "users", ddl.USER_COLUMNS, "users", "extract_date"),
            self.replace_by_day(cur, "products", ddl.PRODUCT_COLUMNS, "products", "extract_date"),
        )

    def write_audit(self, cur: pg.cursor, values: Mapping[str, Any]) -> None:
        """Insert or replace the day's ``raw.load_audit`` row (keyed by :func:`batch_id`)."""
        names = ddl.column_names(ddl.LOAD_AUDIT_COLUMNS)
        cur.execute(
            sql.SQL(
                "insert into {table} ({columns}) values ({values}) "
                "on conflict (batch_id) do update set {updates}"
            ).format(
                table=ddl.raw_table("load_audit"),
                columns=sql.SQL(", ").join(map(sql.Identifier, names)),
                values=sql.SQL(", ").join(sql.Placeholder(name) for name in names),
                updates=sql.SQL(", ").join(
                    sql.SQL("{name} = excluded.{name}").format(name=sql.Identifier(name))
                    for name in names
                    if name != "batch_id"
                ),
            ),
            {**values, "batch_id": batch_id(self.day), "arrival_date": self.day},
        )

    def run(self, stats: LakeStats) -> LoadResult:
        """COPY the events in the sessions while this connection's transaction replaces the
        day's quarantine and extracts; then, in that same transaction, build the keys, swap
        the partitions in, reconcile and audit. Nothing is visible before its COMMIT."""
        started_at = dt.datetime.now(dt.UTC)
        clock = _Clock()
        built = self.lake_partitions()
        self.create_loading_tables(built)
        with self.conn, self.conn.cursor() as cur:
            with self.sessions.copying(self.event_jobs(built)) as wait_for_events:
                quarantined, users, products = self.replace_day_rows(cur)
                clock.lap("quarantine and extracts")
                wait_for_events()
            clock.lap("events")
            self.add_primary_keys(cur, built)
            clock.lap("primary keys")
            self.swap_partitions(cur, built)
            clock.lap("swap")
            loaded_rows, checksum = self.arrival_figures(cur)
            clock.lap("arrival figures")
            _check_reconciles(self.day, stats, loaded_rows, quarantined)
            self.write_audit(
                cur,
                {
                    **_audit_figures(stats),
                    "loaded_rows": loaded_rows,
                    "events_checksum": checksum,
                    "started_at": started_at,
                    "finished_at": dt.datetime.now(dt.UTC),
                    "seconds": clock.total(),
                },
            )
        clock.lap("commit")
        seconds = clock.total()
        rate = self.rows_copied / seconds if seconds > 0 else 0.0
        logger.debug("load %s: %s", self.day, clock.summary())
        logger.info(
            "load %s: %d events of this arrival (%d partitions, %d rows copied incl. %d users, "
            "%d products), %d quarantined in %.2f s (%.0f rows/s)",
            *(self.day, loaded_rows, len(built), self.rows_copied, users, products),
            *(quarantined, seconds, rate),
        )
        return LoadResult(
            arrival_date=self.day,
            loaded_rows=loaded_rows,
            quarantined=quarantined,
            partitions_replaced=len(built),
            seconds=seconds,
            rows_per_second=rate,
            rows_copied=self.rows_copied,
        )


def _audit_figures(stats: LakeStats) -> dict[str, Any]:
    """Staging's figures as ``raw.load_audit`` columns."""
    return {
        "input_rows": stats.input_rows,
        "accepted": stats.accepted,
        "quarantined": stats.quarantined,
        "quarantined_by_reason": Json(stats.quarantined_by_reason),
        "duplicates_exact": stats.duplicates_exact,
        "duplicates_payload": stats.duplicates_payload,
    }


class _Clock:
    """Wall time of a load's phases, for the debug log (where the seconds go)."""

    def __init__(self) -> None:
        self._start = self._last = time.perf_counter()
        self._laps: list[tuple[str, float]] = []

    def lap(self, what: str) -> None:
        now = time.perf_counter()
        self._laps.append((what, now - self._last))
        self._last = now

    def total(self) -> float:
        return time.perf_counter() - self._start

    def summary(self) -> str:
        return ", ".join(f"{what} {seconds:.2f} s" for what, seconds in self._laps)


def load_day(
    conn: pg.connection,
    sessions: CopySessions,
    settings: Settings,
    day: dt.date,
    *,
    batch_rows: int = BATCH_ROWS,
    progress: ProgressHook | None = None,
) -> LoadResult:
    """Replace arrival ``day`` in ``raw`` atomically; on any failure the old day stays."""
    day = as_day(day)
    stats = read_lake_stats(settings.lake_dir, day)
    if (problem := stats.unbalanced_message()) is not None:
        raise StageFailedError(
            f"Refusing to load arrival day {day}: staging statistics don't reconcile ({problem}). "
            f"Re-run 'clickstream stage --date {day}'; nothing was loaded."
        )
    loader = _DayLoader(conn, sessions, settings, day, batch_rows, progress)
    try:
        with _window_locked(conn, loader.window):
            ensure_schema(conn)  # under the locks: a waiting load touches nothing yet
            with conn, conn.cursor() as cur:
                check_neighbour_arrivals(cur, settings.lake_dir, day, settings.lateness_days)
            try:
                return loader.run(stats)
            except BaseException:
                _drop_quietly(loader)
                raise
    except psycopg2.Error as exc:
        detail = (exc.pgerror or str(exc)).strip().splitlines()
        raise StageFailedError(
            f"Loading arrival day {day} into PostgreSQL failed and was rolled back "
            f"(the previous state is intact): {detail[0] if detail else type(exc).__name__}. "
            f"Fix the cause, then re-run 'clickstream load --date {day}'."
        ) from exc


def check_neighbour_arrivals(cur: pg.cursor, lake_dir: Path, day: dt.date, lateness: int) -> None:
    """Refuse a load that would change the events of another loaded arrival day.

    Loading D replaces whole partitions, ``[D-L, D+1]``, which also hold the events of the
    arrival days around it ``[D-L-1, D+L+1]``: raw ends up with the lake's version of those.
    That is only the version raw already holds if the lake has each such day's staging, with
    the accepted count its audited load saw: a lake that lacks one (a new lake, another
    machine's) would drop its events from raw without a word, and one re-staged since its load
    would change them behind its audit row.
    """
    cur.execute(
        "select arrival_date, loaded_rows from raw.load_audit "
        "where arrival_date between %s and %s and arrival_date <> %s order by arrival_date",
        (
            day - dt.timedelta(days=lateness + 1),
            day + dt.timedelta(days=lateness + 1),
            day,
        ),
    )
    for arrival, loaded_rows in cur.fetchall():
        if not stats_path(lake_dir, arrival).is_file():
            found = "has no staging of it"
            fix = f"stage {arrival} into this lake first, or load from the lake it came from"
        elif (accepted := read_lake_stats(lake_dir, arrival).accepted) != loaded_rows:
            found = f"counts {accepted} accepted events of it, its load {loaded_rows}"
            fix = (
                f"load {arrival} as well (e.g. --from {min(arrival, day)} --to {max(arrival, day)})"
            )
        else:
            continue
        raise StageFailedError(
            f"Refusing to load arrival day {day}: its event partitions also hold arrival "
            f"{arrival}'s events, which raw holds from an audited load, and the lake {found}. "
            f"Loading would change them without their audit: {fix}. Nothing was loaded."
        )


def _drop_quietly(loader: _DayLoader) -> None:
    """Drop a failed load's loading tables; if even that fails, the next load will."""
    try:
        loader.drop_loading_tables()
    except psycopg2.Error as exc:
        logger.warning("load: loading tables left for the next load to drop (%s)", exc)


def _check_reconciles(day: dt.date, stats: LakeStats, loaded_rows: int, quarantined: int) -> None:
    """Raise (so the transaction rolls back) unless raw holds exactly what staging counted."""
    problems = []
    if loaded_rows != stats.accepted:
        problems.append(
            f"raw.events would hold {loaded_rows} rows of this arrival day but staging "
            f"accepted {stats.accepted}"
        )
    if quarantined != stats.quarantined:
        problems.append(
            f"the lake has {quarantined} quarantine rows but staging counted {stats.quarantined}"
        )
    if problems:
        raise StageFailedError(
            f"Load of arrival day {day} rolled back, nothing changed: {'; '.join(problems)}. "
            f"The lake is inconsistent: re-run 'clickstream stage --date {day}' and load again."
        )


def load_days(
    dsn: str,
    settings: Settings,
    days: Sequence[dt.date],
    *,
    batch_rows: int = BATCH_ROWS,
    progress: ProgressHook | None = None,
    copy_sessions: int | None = None,
) -> list[LoadResult]:
    """Load each arrival day in order, each atomically (see the module docstring).

    Every day is validated, and checked to have been staged, before anything is written.
    ``copy_sessions`` connections (default ``settings.copy_sessions``) COPY the events besides
    the one holding the transaction.
    """
    if copy_sessions is None:
        copy_sessions = settings.copy_sessions
    checked = [as_day(day) for day in days]
    if batch_rows <= 0:
        raise ConfigError(f"batch_rows must be > 0, got {batch_rows}.")
    if copy_sessions < 1:
        raise ConfigError(f"copy_sessions must be >= 1, got {copy_sessions}.")
    # the lake as one staging left it: a staging of it waits until the load has read it
    with lake_lock(settings.lake_dir, exclusive=False):
        for day in checked:
            read_lake_stats(settings.lake_dir, day)
        conn = connect(dsn)
        logger.debug("load: connected to %s", redact_dsn(dsn))
        try:
            with CopySessions(dsn, copy_sessions) as sessions:
                return [
                    load_day(
                        conn, sessions, settings, day, batch_rows=batch_rows, progress=progress
                    )
                    for day in checked
                ]
        finally:
            conn.close()
