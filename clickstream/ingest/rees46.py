"""Import REES46 / Open CDP e-commerce exports into the landing layout (docs/contracts.md §1).

Input: CSV or CSV.gz files with the columns
``event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session``
(found by name: re-saved exports with other orders or extra columns work; CRLF or LF, optional
UTF-8 BOM), streamed line by line — any size works.

Mapping (one landing event per source row; docs/rees46.md has the full table):

* ``view`` → ``product_viewed``; ``cart`` → ``product_added``; ``remove_from_cart`` →
  ``product_removed``; ``purchase`` → ``order_completed``. An order is the purchase rows of
  one (``user_id``, ``user_session``) that follow each other within staging's session gap, so
  it never spans two warehouse sessions (:mod:`.orders`); quantity 1, revenue = price. Cart
  and remove rows carry quantity 1, views none.
* ``user_id`` is both the known user and ``anonymous_id``: the export has no device cookie, so
  staging sessionizes per user. ``user_session`` is kept as ``source_session_id``.
* ``event_time`` (``2019-10-01 00:00:00 UTC``) → ``dvce_created_ts = dvce_sent_ts =
  collector_ts`` in epoch ms; the arrival day is the event's UTC date (the export has no
  separate collector clock, so nothing arrives late and no clock skew exists).
* ``event_id`` = UUID5 of the row's nine field values, so genuine exact-duplicate rows share an
  event_id and staging counts them as exact duplicates (kept once) instead of this importer
  silently merging them. Different rows never share an id.
* ``page_path`` = ``/product/<product_id>`` so page-based analyses work; currency ``USD``;
  page_url, referrer, UTM, user agent, device type, geo and IP are unknown (empty).
* ``category_code`` ``a.b.c`` → category_l1..l3 (deeper levels stay joined in l3) and ``brand``
  go to the products extract only; missing ones are written as ``unknown``. ``category_id`` is
  not carried (the landing contract has no column for it).
* Products and users extracts are rebuilt from the events (see :mod:`.catalog`): per arrival day,
  every product seen so far with its latest observed price/category/brand, ``updated_at`` =
  when those values were first observed, ``created_at`` = first seen; every user seen so far
  with ``created_at = updated_at`` = first seen. ``product_name`` is synthetic
  (``<brand> <leaf category> <product_id>``): the export has none.

Rows that don't fit are never dropped: they are written so that staging quarantines them with
the reason it would give any input (first failing rule wins, like staging's own order):

* ``malformed`` — not 9 fields, or bytes that aren't UTF-8: written as a deliberately
  malformed landing line (the source fields re-joined, never 26 of them).
* ``missing_field`` — empty event_time, event_type or user_id leave the corresponding required
  landing field empty. Empty user_session, product_id or price are required by this format
  but not by the landing contract, so such rows get an empty ``event_id``.
* ``bad_type`` — an unparseable event_time (or one before 2000) is kept as raw text in the
  three timestamps; an unparseable, negative or absurd (> 100000) price is kept as given.
* ``unknown_event`` — any other event_type keeps its name (prefixed ``rees46:`` if it happens
  to be a landing event name, so it can't pass as one).
* ``future_ts`` — event_time after 2100-01-01 00:00 UTC (staging's limit).

Landing day of a row without a usable event_time (malformed, empty, unparseable, out of
range): the day of the previous row of the same file that had one; rows before a file's first
usable row take that row's day; a file with none takes the previous file's last day.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import logging
import re
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from clickstream import __version__
from clickstream.config import Settings
from clickstream.contract import EVENT_NAMES as CONTRACT_EVENT_NAMES
from clickstream.errors import EmptyInputError, InputFormatError
from clickstream.ingest.catalog import ObservedCatalog, ProductAttrs, format_ts
from clickstream.ingest.landing_writer import (
    EVENT_COLUMNS,
    PRODUCT_COLUMNS,
    USER_COLUMNS,
    LandingWriter,
)
from clickstream.ingest.orders import OrderGrouper, order_id_for
from clickstream.ingest.previous import IMPORTER_NAME, seed_from_earlier_import
from clickstream.ingest.source import ExportFile, expand_inputs, split_line

logger = logging.getLogger(__name__)

FORMAT_NAME = "REES46"

REES46_COLUMNS: tuple[str, ...] = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
)

EVENT_NAMES: dict[str, str] = {
    "view": "product_viewed",
    "cart": "product_added",
    "remove_from_cart": "product_removed",
    "purchase": "order_completed",
}
"""REES46 event_type → landing event_name."""

LANDING_EVENT_NAMES = frozenset(CONTRACT_EVENT_NAMES)

BAD_KINDS: tuple[str, ...] = (
    "malformed",
    "missing_field",
    "bad_type",
    "unknown_event",
    "future_ts",
)
"""Kinds of rows passed through for staging to quarantine, named as staging's reasons."""


UNKNOWN = "unknown"
CURRENCY = "USD"
MAX_PRICE = Decimal(100_000)
_CENT = Decimal("0.01")
_MS_PER_DAY = 86_400_000
_MIN_USABLE_MS = 946_684_800_000  # 2000-01-01: earlier than any REES46 export, treated as garbage
_FUTURE_MS = 4_102_444_800_000  # 2100-01-01: staging quarantines anything later as future_ts
_PENDING_LIMIT = 100_000
_EVENT_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://rees46.com/open-cdp/event-row")
_NAMESPACE_BYTES = _EVENT_ID_NAMESPACE.bytes
_EVENT_TIME = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?(?: ?(?:UTC|Z|\+00:?00))?",
    re.ASCII,
)
_LINE_ITEM_TYPES = frozenset({"cart", "remove_from_cart", "purchase"})
_EMPTY_WEB_FIELDS = [""] * 9  # page_referrer .. ip
_PRODUCT_ID = EVENT_COLUMNS.index("product_id")
_USER_ID = EVENT_COLUMNS.index("user_id")
_ORDER_ID = EVENT_COLUMNS.index("order_id")
_SOURCE_SESSION_ID = EVENT_COLUMNS.index("source_session_id")


@functools.lru_cache(maxsize=4_096)
def _day_start_ms(date_text: str) -> int | None:
    """Epoch ms of 00:00 UTC of a ``YYYY-MM-DD`` date, or None when it isn't a real date."""
    try:
        day = dt.date.fromisoformat(date_text)
    except ValueError:
        return None
    return (day - dt.date(1970, 1, 1)).days * _MS_PER_DAY


def _time_of_day_ms(hour: str, minute: str, second: str) -> int | None:
    digits = hour + minute + second
    if not (digits.isascii() and digits.isdigit()):
        return None
    h, m, s = int(hour), int(minute), int(second)
    if h > 23 or m > 59 or s > 59:
        return None
    return ((h * 60 + m) * 60 + s) * 1000


def parse_event_time(text: str) -> int | None:
    """Epoch ms of a REES46 ``event_time`` (UTC), or None when it isn't one.

    The export's own shape ``YYYY-MM-DD HH:MM:SS UTC`` takes a fast path (this runs once per
    row); ``T`` separators, fractions of a second and ``Z``/``+00:00`` go through a regex.
    """
    if len(text) == 23 and text[19:] == " UTC" and text[10] == " " and text[4] == "-":
        day_ms = _day_start_ms(text[:10]) if text[7] == "-" else None
        if day_ms is None or text[13] != ":" or text[16] != ":":
            return None
        time_ms = _time_of_day_ms(text[11:13], text[14:16], text[17:19])
        return None if time_ms is None else day_ms + time_ms
    match = _EVENT_TIME.fullmatch(text)
    if match is None:
        return None
    date_text = f"{match[1]}-{match[2]}-{match[3]}"
    day_ms = _day_start_ms(date_text)
    time_ms = _time_of_day_ms(match[4], match[5], match[6])
    if day_ms is None or time_ms is None:
        return None
    fraction = match[7]
    return day_ms + time_ms + (int(fraction.ljust(6, "0")) // 1000 if fraction else 0)


def _row_key(fields: Sequence[str]) -> bytes | None:
    """The row's identity as UTF-8 bytes, or None when it holds bytes that weren't UTF-8."""
    try:
        return "\x1f".join(fields).encode("utf-8")
    except UnicodeEncodeError:  # surrogate-escaped input bytes
        return None


def event_id_for(row_key: bytes) -> str:
    """UUID5 (RFC 4122, SHA-1 name-based) of a :func:`_row_key`, built inline for speed.

    Equal to ``str(uuid.uuid5(_EVENT_ID_NAMESPACE, "\\x1f".join(fields)))``.
    """
    digest = hashlib.sha1(_NAMESPACE_BYTES + row_key).hexdigest()
    variant = "89ab"[int(digest[16], 16) & 0x3]
    return f"{digest[:8]}-{digest[8:12]}-5{digest[13:16]}-{variant}{digest[17:20]}-{digest[20:32]}"


@functools.lru_cache(maxsize=65_536)
def normalize_price(text: str) -> str | None:
    """The price as 2-dp text, or None when staging would reject it (bad_type)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0 or value > MAX_PRICE:
        return None
    return str(value.quantize(_CENT, rounding=ROUND_HALF_UP))


@functools.lru_cache(maxsize=65_536)
def split_category(category_code: str) -> tuple[str, str, str]:
    """``a.b.c`` → (a, b, c); missing levels are ``unknown``; levels past 3 stay in the third."""
    parts = category_code.split(".") if category_code else []
    first = parts[0] if parts else ""
    second = parts[1] if len(parts) > 1 else ""
    rest = ".".join(part for part in parts[2:] if part)
    return (first or UNKNOWN, second or UNKNOWN, rest or UNKNOWN)


@functools.lru_cache(maxsize=16_384)
def _day_of(day_number: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=day_number)


def day_of(epoch_ms: int) -> dt.date:
    """UTC date of an epoch-ms timestamp."""
    return _day_of(epoch_ms // _MS_PER_DAY)


def _is_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _unparseable(text: str) -> str:
    """Raw text for a field that must fail staging's type check even if it looks numeric."""
    return f"invalid:{text}" if _is_numeric(text) else text


def malformed_line(fields: Sequence[str]) -> str:
    """One physical CSV line that can never parse as a 26-column landing record."""
    cells = []
    for value in fields:
        text = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        text = text.replace("\r", " ").replace("\n", " ")
        if any(char in text for char in ',"'):
            text = '"' + text.replace('"', '""') + '"'
        cells.append(text)
    if len(cells) == 26:
        cells.append("")
    return ",".join(cells)


@dataclass(frozen=True, slots=True)
class Converted:
    """One source row turned into landing form.

    ``kind`` is None for a clean row, else the quarantine reason staging will give it.
    ``epoch_ms`` is set when the row's event_time is usable for choosing its landing day.
    Exactly one of ``row`` (26 landing values) and ``raw_line`` (malformed) is set.
    """

    kind: str | None
    epoch_ms: int | None
    row: list[str] | None = None
    raw_line: str | None = None
    product: ProductAttrs | None = None


def _landing_row(
    fields: Sequence[str],
    event_id: str,
    event_name: str,
    ts_text: str,
    price_text: str,
    epoch_ms: int | None,
) -> list[str]:
    event_type, product_id, user_id, session = fields[1], fields[2], fields[7], fields[8]
    purchase = event_type == "purchase"
    return [
        event_id,
        event_name,
        user_id,  # anonymous_id: no device cookie in the export
        user_id,
        ts_text,
        ts_text,
        ts_text,
        "",  # page_url
        f"/product/{product_id}" if product_id else "",
        *_EMPTY_WEB_FIELDS,
        product_id,
        price_text,
        "1" if event_type in _LINE_ITEM_TYPES else "",
        # the row's own order; _Run.emit joins an accepted one to its (user, session)'s order
        order_id_for(session, user_id, epoch_ms) if purchase and session else "",
        price_text if purchase else "",
        CURRENCY,
        "",  # search_query
        session,
    ]


def convert_record(fields: list[str]) -> Converted:
    """Map one source record (already split into fields) to its landing form."""
    row_key = _row_key(fields)
    if len(fields) != len(REES46_COLUMNS) or row_key is None:
        return Converted("malformed", None, raw_line=malformed_line(fields))
    event_time, event_type, product_id, _, category_code, brand, price, user_id, session = fields
    epoch_ms = parse_event_time(event_time) if event_time else None
    usable_ms = (
        epoch_ms if epoch_ms is not None and _MIN_USABLE_MS <= epoch_ms <= _FUTURE_MS else None
    )
    if epoch_ms is not None and epoch_ms >= _MIN_USABLE_MS:
        ts_text = str(epoch_ms)
    else:
        ts_text = _unparseable(event_time)
    price_text = normalize_price(price) if price else ""
    event_name = EVENT_NAMES.get(event_type)
    event_id = event_id_for(row_key)

    kind: str | None = None
    if not (event_time and event_type and user_id):
        kind = "missing_field"  # the matching required landing field is empty
    elif not (session and product_id and price):
        kind, event_id = "missing_field", ""
    elif epoch_ms is None or epoch_ms < _MIN_USABLE_MS or price_text is None:
        kind = "bad_type"
    elif event_name is None:
        kind = "unknown_event"
    elif epoch_ms > _FUTURE_MS:
        kind = "future_ts"

    if price_text is None:
        price_text = _bad_price_text(price)
    if event_name is None:
        event_name = f"rees46:{event_type}" if event_type in LANDING_EVENT_NAMES else event_type
    row = _landing_row(fields, event_id, event_name, ts_text, price_text, usable_ms)
    if kind is not None:
        return Converted(kind, usable_ms, row=row)
    category = split_category(category_code)
    attrs: ProductAttrs = (price_text, *category, brand or UNKNOWN)
    return Converted(None, usable_ms, row=row, product=attrs)


def _bad_price_text(text: str) -> str:
    """A rejected price as landing text: negative/huge numbers as given, garbage unparseable."""
    try:
        finite = Decimal(text).is_finite()
    except InvalidOperation:
        finite = False
    return text if finite else _unparseable(text)


@dataclass
class IngestSummary:
    """What one import read and wrote; ``rows_in == sum(rows_written.values())`` always."""

    files: tuple[Path, ...]
    rows_in: int = 0
    rows_written: dict[dt.date, int] = field(default_factory=dict)
    passed_through_bad: dict[str, int] = field(default_factory=dict)
    blank_lines: int = 0
    products: int = 0
    users: int = 0
    out_of_order: int = 0
    seconds: float = 0.0

    @property
    def days(self) -> list[dt.date]:
        return sorted(self.rows_written)

    @property
    def total_written(self) -> int:
        return sum(self.rows_written.values())

    def __str__(self) -> str:
        days = self.days
        span = f"{days[0]}..{days[-1]}" if days else "no days"
        if days and (days[-1] - days[0]).days + 1 != len(days):
            # a range over the gaps would stop staging at the first missing day
            span += ", with gaps: 'clickstream stage' without dates stages exactly these"
        bad = ", ".join(f"{k} {v:,}" for k, v in self.passed_through_bad.items()) or "none"
        return (
            f"{self.rows_in:,} rows from {len(self.files)} file(s) → {self.total_written:,} "
            f"landing rows over {len(days)} day(s) ({span}); passed through for quarantine: "
            f"{bad}; {self.products:,} products, {self.users:,} users; {self.seconds:.1f} s"
        )


@dataclass
class _DayTally:
    input_rows: Counter[str] = field(default_factory=Counter)
    bad: Counter[str] = field(default_factory=Counter)


class _Run:
    """State of one import: where rows go, what was seen, what was counted."""

    def __init__(
        self, writer: LandingWriter, files: tuple[Path, ...], session_gap_minutes: int
    ) -> None:
        self.writer = writer
        self.catalog = ObservedCatalog()
        self.orders = OrderGrouper(session_gap_minutes)
        self.summary = IngestSummary(files=files)
        self.tallies: defaultdict[dt.date, _DayTally] = defaultdict(_DayTally)
        self.bad: Counter[str] = Counter()
        self.pending: list[tuple[Converted, str]] = []
        self.last_day: dt.date | None = None

    def emit(self, converted: Converted, day: dt.date, source: str) -> None:
        row = converted.row
        if converted.kind is None and row is not None and row[_ORDER_ID]:
            assert converted.epoch_ms is not None  # an accepted row has a usable time
            row[_ORDER_ID] = self.orders.order_of(
                row[_SOURCE_SESSION_ID], row[_USER_ID], converted.epoch_ms
            )
        if row is not None:
            self.writer.write_event(day, row)
        else:
            assert converted.raw_line is not None
            self.writer.write_raw_line(day, converted.raw_line)
        tally = self.tallies[day]
        tally.input_rows[source] += 1
        if converted.kind is not None:
            tally.bad[converted.kind] += 1
            self.bad[converted.kind] += 1
        elif converted.product is not None and converted.epoch_ms is not None:
            assert converted.row is not None
            row = converted.row
            self.catalog.observe_product(row[_PRODUCT_ID], converted.epoch_ms, converted.product)
            self.catalog.observe_user(row[_USER_ID], converted.epoch_ms)

    def flush_pending(self, day: dt.date) -> None:
        for converted, source in self.pending:
            self.emit(converted, day, source)
        self.pending.clear()

    def ingest_file(self, export: ExportFile, tick: Any) -> None:
        source = str(export.path)
        previous_day: dt.date | None = None
        for number, text in export.lines():
            if not text.strip():
                self.summary.blank_lines += 1
                continue
            self.summary.rows_in += 1
            fields = export.fields_of(text)
            converted = (
                convert_record(fields)
                if fields is not None
                else Converted("malformed", None, raw_line=malformed_line(split_line(text)))
            )
            if converted.epoch_ms is not None:
                previous_day = day_of(converted.epoch_ms)
                if self.pending:
                    self.flush_pending(previous_day)
            if previous_day is None:
                self.pending.append((converted, source))
                if len(self.pending) > _PENDING_LIMIT:
                    raise InputFormatError(
                        f"{export.path}: none of the first {_PENDING_LIMIT:,} rows (up to line "
                        f"{number}) has a usable event_time like '2019-10-01 00:00:00 UTC'. "
                        "Is this really a REES46 export?"
                    )
                continue
            self.emit(converted, previous_day, source)
            if number % 20_000 == 0:
                tick(export.bytes_read())
        if previous_day is not None:
            self.last_day = previous_day
        elif self.pending and self.last_day is not None:
            self.flush_pending(self.last_day)
        tick(export.bytes_read())


def _write_extracts(run: _Run) -> None:
    """Per landed day: users and products extracts as of the end of that day, and the manifest."""
    # The manifest's defect keys are the generator's; imported here because importing the
    # generator package pulls in numpy and mimesis, which the importer itself never needs.
    from generator.config import DEFECT_KINDS

    writer = run.writer
    for day in writer.days:
        end_ms = (day - dt.date(1970, 1, 1)).days * _MS_PER_DAY + _MS_PER_DAY
        users = writer.write_extract(
            "users",
            day,
            USER_COLUMNS,
            (
                [user_id, "", "", "", "", "", "", "", format_ts(ms), format_ts(ms)]
                for user_id, ms in run.catalog.users_as_of(end_ms)
            ),
        )
        products = writer.write_extract(
            "products",
            day,
            PRODUCT_COLUMNS,
            (
                [
                    version.product_id,
                    _product_name(version.product_id, version.attrs),
                    *version.attrs[1:4],
                    version.attrs[4],
                    version.attrs[0],
                    CURRENCY,
                    "false",
                    format_ts(version.created_ms),
                    format_ts(version.updated_ms),
                ]
                for version in run.catalog.products_as_of(end_ms)
            ),
        )
        tally = run.tallies[day]
        events = writer.rows_by_day[day]
        writer.write_manifest(
            day,
            {
                "importer": IMPORTER_NAME,
                "importer_version": __version__,
                "day": day.isoformat(),
                "rows": {"events": events, "users": users, "products": products},
                # the generator's injected-defect counters: none are injected into real data
                "defects": dict.fromkeys(DEFECT_KINDS, 0),
                "source": {
                    "format": "rees46",
                    "files": sorted(tally.input_rows),
                    "input_rows": dict(sorted(tally.input_rows.items())),
                    "rows_written": events,
                    "passed_through_bad": {k: tally.bad[k] for k in BAD_KINDS if tally.bad[k]},
                },
            },
        )


def _product_name(product_id: str, attrs: ProductAttrs) -> str:
    """Synthetic display name: the export has none, dashboards want one."""
    _, l1, l2, l3, brand = attrs
    leaf = next((level for level in (l3, l2, l1) if level != UNKNOWN), "product")
    return f"{brand} {leaf} {product_id}" if brand != UNKNOWN else f"{leaf} {product_id}"


@contextmanager
def _progress_bar(enabled: bool, total: int) -> Iterator[Any]:
    """A rich progress bar over input bytes, or a no-op."""
    if not enabled:
        yield lambda _done: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task("ingesting REES46", total=total)

        def tick(position: int) -> None:
            progress.update(task, completed=position)

        yield tick


def ingest_rees46(
    paths: Sequence[Path],
    landing_dir: Path,
    progress: bool = False,
    session_gap_minutes: int = Settings.session_gap_minutes,
) -> IngestSummary:
    """Convert REES46 export files (CSV or CSV.gz; folders are searched for them) into
    ``landing_dir``'s events/users/products layout, one arrival folder per event date.

    ``session_gap_minutes`` must be staging's (``Settings.session_gap_minutes``): no order's
    purchases are further apart than that, so each order lies within one session.
    Days written replace earlier landings of the same days; on any error nothing is written.
    Raises :class:`InputFormatError` for files that aren't REES46 exports and
    :class:`EmptyInputError` for empty ones.
    """
    started = time.perf_counter()
    files = tuple(expand_inputs([Path(p) for p in paths]))
    total_bytes = sum(path.stat().st_size for path in files)
    with LandingWriter(Path(landing_dir)) as writer, _progress_bar(progress, total_bytes) as bar:
        run = _Run(writer, files, session_gap_minutes)
        offset = 0
        for path in files:
            with ExportFile(path, REES46_COLUMNS, FORMAT_NAME) as export:
                base = offset
                run.ingest_file(export, lambda position, base=base: bar(base + position))
                offset += export.size()
        if run.pending:
            raise InputFormatError(
                f"No row of {', '.join(map(str, files))} has a usable event_time like "
                "'2019-10-01 00:00:00 UTC', so there is no day to land them on."
            )
        if run.summary.rows_in == 0:
            raise EmptyInputError(
                f"{', '.join(map(str, files))}: a header but no data rows, nothing to ingest."
            )
        writer.finish_events()
        seed_from_earlier_import(run.catalog, Path(landing_dir), writer.days[0])
        _write_extracts(run)
        writer.publish()

    summary = run.summary
    summary.rows_written = dict(sorted(writer.rows_by_day.items()))
    summary.passed_through_bad = {k: run.bad[k] for k in BAD_KINDS if run.bad[k]}
    summary.products = run.catalog.product_count
    summary.users = run.catalog.user_count
    summary.out_of_order = run.catalog.out_of_order
    summary.seconds = time.perf_counter() - started
    if summary.out_of_order:
        logger.warning(
            "%d product observations were older than ones already read: the input is not in "
            "time order, so product price history is approximate. Pass files oldest first.",
            summary.out_of_order,
        )
    logger.info("ingest rees46: %s into %s", summary, landing_dir)
    return summary
