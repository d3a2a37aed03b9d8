"""Bad landing input ends in a clear error or in quarantine rows with a reason, never a crash.

File-level problems (empty file, binary file, wrong or extra header columns, a day missing in
the middle of a range) stop the command before any work with one ``error:`` line and exit
code 2. Row-level problems (truncated lines, wrong encoding, NUL bytes, huge fields, absurd
prices, quantities and timestamps, a file landed twice) are decided per row: every row is
accepted, quarantined with a reason, or counted as a duplicate, and the quarantine loads into
PostgreSQL. Counts always reconcile: input = accepted + quarantined + duplicates.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from clickstream.cli import app
from clickstream.config import Settings
from clickstream.errors import ConfigError, EmptyInputError, InputFormatError
from spark_staging.lake import check_arrival_order, write_stats
from spark_staging.landing import event_files_for_days
from spark_staging.load import load_days
from spark_staging.schema import LANDING_HEADER
from spark_staging.stage import StageStats, stage_days
from tests.conftest import create_database, drop_database, settings_under
from tests.lake_factory import stage_day
from tests.pg import query
from tests.test_stage_support import (
    csv_line,
    event,
    write_landing,
    write_products,
    write_users,
)

DAY = dt.date(2024, 5, 1)
COPY_DAY = DAY + dt.timedelta(days=1)
MB = 1_000_000

runner = CliRunner()


def line_of(event_id: str, **fields: Any) -> str:
    """A valid landing line at 10:00 on DAY with the given id, overridden by ``fields``."""
    return csv_line(event("2024-05-01T10:00", anon=f"anon-{event_id}", event_id=event_id, **fields))


def ms(iso: str) -> int:
    return int(dt.datetime.fromisoformat(iso).replace(tzinfo=dt.UTC).timestamp() * 1000)


# case name -> (line bytes, expected reason or None for accepted, detail fragment)
NOON = ms("2024-05-01T12:00")
CASES: dict[str, tuple[bytes, str | None, str]] = {
    "valid": (line_of("ok-1").encode(), None, ""),
    "valid_with_1mb_search_query": (
        line_of("ok-huge-query", name="search", search_query="q" * MB).encode(),
        None,
        "",
    ),
    "extra_unknown_column": ((line_of("extra") + ",surprise").encode(), "malformed", "found 27"),
    "too_few_fields": (b"just,three,fields", "malformed", "found 3"),
    "truncated_inside_quotes": (
        line_of("cut", useragent='Mozilla "5"').split('"Mozilla')[0].encode() + b'"Mozi',
        "malformed",
        "unbalanced double quotes",
    ),
    "nul_byte": (line_of("nul", search_query="a\x00b").encode(), "malformed", "NUL byte"),
    "latin1_bytes": (
        line_of("latin1", search_query="PLACEHOLDER").encode().replace(b"PLACEHOLDER", b"caf\xe9"),
        "malformed",
        "not valid UTF-8",
    ),
    "huge_event_id": (line_of("x" * MB).encode(), "bad_type", "event_id is 1000000 characters"),
    "negative_price": (line_of("neg-price", price="-1.00").encode(), "bad_type", "is negative"),
    "absurd_price": (line_of("big-price", price="9999999.99").encode(), "bad_type", "above 100000"),
    "price_not_a_number": (
        line_of("nan-price", price="12,5").encode(),
        "bad_type",
        "not a decimal",
    ),
    "negative_quantity": (line_of("neg-qty", quantity="-3").encode(), "bad_type", "is negative"),
    "absurd_quantity": (line_of("big-qty", quantity="5000").encode(), "bad_type", "above 1000"),
    "timestamp_overflows_bigint": (
        line_of("overflow", dvce_created_ts="99999999999999999999999").encode(),
        "bad_type",
        "is not an integer",
    ),
    "negative_timestamp": (line_of("neg-ts", dvce_sent_ts="-5").encode(), "bad_type", "negative"),
    "timestamp_after_2100": (
        line_of(
            "y2128",
            dvce_created_ts=5_000_000_000_000,
            dvce_sent_ts=5_000_000_000_000,
            collector_ts=5_000_000_000_000,
        ).encode(),
        "future_ts",
        "after 2100",
    ),
    "timestamp_decades_ago": (
        line_of(
            "1990",
            dvce_created_ts=ms("1990-01-01T00:00"),
            dvce_sent_ts=NOON,
            collector_ts=NOON,
        ).encode(),
        "too_late",
        "more than 3 day(s) before",
    ),
}
TRUNCATED_LAST_LINE = line_of("last").encode()[:60]
"""The file ends mid-row with no newline (a copy cut short)."""

BOM_ROWS = ("bom-1", "bom-2")
COPIED_ROWS = tuple(f"copy-{i}" for i in range(5))


def write_bad_day(settings: Settings) -> dict[str, int]:
    """Land DAY (every row-level case + a BOM file) and COPY_DAY (one file landed twice).

    Returns ``{case: line_number}`` in ``part-00000.csv`` of DAY.
    """
    folder = settings.landing_events_day(DAY)
    folder.mkdir(parents=True)
    body = [LANDING_HEADER.encode()]
    numbers = {}
    for name, (line, _, _) in CASES.items():
        body.append(line)
        numbers[name] = len(body)
    body.append(TRUNCATED_LAST_LINE)
    numbers["truncated_last_line"] = len(body)
    (folder / "part-00000.csv").write_bytes(b"\n".join(body))  # no final newline
    bom = "\ufeff" + LANDING_HEADER + "\n" + "\n".join(line_of(i) for i in BOM_ROWS) + "\n"
    (folder / "part-00001.csv").write_text(bom, encoding="utf-8")

    original = write_landing(
        settings,
        COPY_DAY,
        [csv_line(event("2024-05-02T09:00", anon=f"anon-{i}", event_id=i)) for i in COPIED_ROWS]
        + ["not,a,valid,line"],
    )
    shutil.copy(original, original.with_name("part-00000 (copy).csv"))
    return numbers


@pytest.fixture(scope="module")
def bad_db() -> Iterator[str]:
    name = f"clickstream_bad_{uuid.uuid4().hex[:10]}"
    yield create_database(name)
    drop_database(name)


@pytest.fixture(scope="module")
def staged(spark, bad_db: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Stage and load both bad days once; the tests below read the outcome."""
    root = tmp_path_factory.mktemp("bad_input")
    settings = settings_under(root)
    numbers = write_bad_day(settings)
    stats = {s.arrival_date: s for s in stage_days(spark, settings, [DAY, COPY_DAY])}
    loads = {r.arrival_date: r for r in load_days(bad_db, settings, [DAY, COPY_DAY])}
    return {"settings": settings, "numbers": numbers, "stats": stats, "loads": loads}


def quarantine_by_line(dsn: str, day: dt.date, file: str) -> dict[int, tuple[str, str, str]]:
    rows = query(
        dsn,
        "select line_number, reason, detail, raw_line from raw.events_quarantine "
        "where arrival_date = %s and source_file like %s",
        (day, f"%/{file}"),
    )
    return {int(n): (reason, detail, raw) for n, reason, detail, raw in rows}


def assert_reconciles(stats: StageStats, dsn: str) -> None:
    assert stats.reconciles, stats
    ((input_rows, accepted, quarantined, exact, payload, loaded),) = query(
        dsn,
        "select input_rows, accepted, quarantined, duplicates_exact, duplicates_payload, "
        "loaded_rows from raw.load_audit where arrival_date = %s",
        (stats.arrival_date,),
    )
    assert input_rows == accepted + quarantined + exact + payload == stats.input_rows
    assert loaded == accepted == stats.accepted


# --------------------------------------------------------------------------- row level


@pytest.mark.parametrize("case", [c for c, (_, reason, _) in CASES.items() if reason])
def test_bad_row_is_quarantined_with_its_reason_and_loads(
    staged: dict[str, Any], bad_db: str, case: str
) -> None:
    _, reason, fragment = CASES[case]
    quarantine = quarantine_by_line(bad_db, DAY, "part-00000.csv")
    line = staged["numbers"][case]
    assert line in quarantine, f"{case} (line {line}) was not quarantined"
    got_reason, detail, _ = quarantine[line]
    assert got_reason == reason, (case, detail)
    assert fragment in detail


def test_every_landed_line_of_the_bad_day_is_accounted_for(
    staged: dict[str, Any], bad_db: str
) -> None:
    stats = staged["stats"][DAY]
    lines = len(CASES) + 1 + len(BOM_ROWS)  # + the truncated last line
    assert stats.input_rows == lines
    assert stats.accepted == 2 + len(BOM_ROWS)
    assert_reconciles(stats, bad_db)


def test_truncated_last_line_without_newline_is_malformed(
    staged: dict[str, Any], bad_db: str
) -> None:
    quarantine = quarantine_by_line(bad_db, DAY, "part-00000.csv")
    reason, detail, raw = quarantine[staged["numbers"]["truncated_last_line"]]
    assert (reason, raw) == ("malformed", TRUNCATED_LAST_LINE.decode())
    assert detail.startswith("expected 26 fields")


def test_nul_byte_is_kept_visible_in_the_quarantined_raw_line(
    staged: dict[str, Any], bad_db: str
) -> None:
    quarantine = quarantine_by_line(bad_db, DAY, "part-00000.csv")
    _, _, raw = quarantine[staged["numbers"]["nul_byte"]]
    assert "a\u2400b" in raw, "PostgreSQL cannot store NUL; it is shown as U+2400"


def test_latin1_bytes_are_quarantined_not_accepted_garbled(
    staged: dict[str, Any], bad_db: str
) -> None:
    rows = query(bad_db, "select count(*) from raw.events where search_query like 'caf%%'")
    assert rows == [(0,)]


def test_one_megabyte_free_text_field_is_accepted_and_loaded_intact(bad_db: str, staged) -> None:  # type: ignore[no-untyped-def]
    rows = query(
        bad_db, "select length(search_query) from raw.events where event_id = 'ok-huge-query'"
    )
    assert rows == [(MB,)]


def test_utf8_bom_file_is_read_like_any_other(staged: dict[str, Any], bad_db: str) -> None:
    rows = query(
        bad_db,
        "select event_id from raw.events where source_session_id is null "
        "and event_id like 'bom-%%' order by 1",
    )
    assert [r[0] for r in rows] == list(BOM_ROWS)
    assert quarantine_by_line(bad_db, DAY, "part-00001.csv") == {}


def test_file_landed_twice_makes_every_valid_row_an_exact_duplicate(
    staged: dict[str, Any], bad_db: str
) -> None:
    stats = staged["stats"][COPY_DAY]
    assert stats.accepted == len(COPIED_ROWS)
    assert stats.duplicates_exact == len(COPIED_ROWS)
    assert stats.duplicates_payload == 0
    # Lines that fail validation are quarantined once per file, each under its own name.
    assert stats.quarantined_total == 2
    assert_reconciles(stats, bad_db)
    kept = query(
        bad_db,
        "select count(*), count(distinct event_id) from raw.events where arrival_date = %s",
        (COPY_DAY,),
    )
    assert kept == [(len(COPIED_ROWS), len(COPIED_ROWS))]


# --------------------------------------------------------------------------- file level


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": "2000"}, catch_exceptions=False)


def assert_one_clear_error(result: Any, *fragments: str) -> None:
    output = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in output, (fragment, result.output)


def landing_with(tmp_path: Path, content: bytes) -> Settings:
    settings = Settings(landing_dir=tmp_path / "landing", lake_dir=tmp_path / "lake")
    path = write_landing(settings, DAY, [line_of("fine")])
    path.with_name("part-00001.csv").write_bytes(content)
    return settings


BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b"", "(empty file)"),
        (BINARY, "found: \ufffdPNG"),
        (
            LANDING_HEADER.replace("event_id", "id").encode() + b"\n",
            "unknown column(s): id missing column(s): event_id",
        ),
        ((LANDING_HEADER + ",loyalty_points\n").encode(), "unknown column(s): loyalty_points"),
        (b"event_id;event_name;anonymous_id\n", "found: event_id;event_name"),
    ],
    ids=["empty", "binary", "renamed_column", "extra_column", "semicolon_separated"],
)
def test_file_that_is_not_landing_csv_stops_stage_with_one_clear_error(
    tmp_path: Path, content: bytes, found: str
) -> None:
    settings = landing_with(tmp_path, content)
    result = cli(
        "--landing-dir", str(settings.landing_dir), "--lake-dir", str(settings.lake_dir),
        "stage", "--date", DAY.isoformat(),
    )  # fmt: skip
    assert_one_clear_error(result, "part-00001.csv", "does not start with the expected header")
    assert found in " ".join(result.output.split())
    assert not (settings.lake_dir / "events").exists(), "nothing may be staged"


def test_file_with_bare_cr_line_endings_stops_stage_instead_of_staging_nothing(
    tmp_path: Path,
) -> None:
    # to a reader splitting on LF the whole file is its header line: every row would vanish
    content = "\r".join([LANDING_HEADER, line_of("mac1"), line_of("mac2")]) + "\r"
    settings = landing_with(tmp_path, content.encode())
    result = cli(
        "--landing-dir", str(settings.landing_dir), "--lake-dir", str(settings.lake_dir),
        "stage", "--date", DAY.isoformat(),
    )  # fmt: skip
    assert_one_clear_error(result, "part-00001.csv", "bare CR", "LF or CRLF")
    assert not (settings.lake_dir / "events").exists(), "nothing may be staged"


@pytest.mark.parametrize(
    ("kind", "rewrite", "found"),
    [
        ("users", lambda text: "", "(empty file)"),
        (
            "users",
            lambda text: text.replace("email,first_name", "first_name,email", 1),
            "the columns are in the wrong order",
        ),
        (
            "products",
            lambda text: text.split("\n", 1)[1],  # no header: the first product is taken as one
            "found: p1,Name p1",
        ),
    ],
    ids=["empty_users", "reordered_users", "products_without_header"],
)
def test_extract_that_is_not_in_contract_shape_stops_stage_with_one_clear_error(
    tmp_path: Path, kind: str, rewrite: Any, found: str
) -> None:
    # extracts are read by column position: a reordered one would load emails as first names
    settings = Settings(landing_dir=tmp_path / "landing", lake_dir=tmp_path / "lake")
    write_landing(settings, DAY, [line_of("fine")])
    path = (write_users if kind == "users" else write_products)(settings, DAY, ["p1", "p2"])
    path.write_text(rewrite(path.read_text(encoding="utf-8")), encoding="utf-8")
    result = cli(
        "--landing-dir", str(settings.landing_dir), "--lake-dir", str(settings.lake_dir),
        "stage", "--date", DAY.isoformat(),
    )  # fmt: skip
    assert_one_clear_error(result, f"{kind}.csv", "does not start with the expected header")
    assert found in " ".join(result.output.split())
    assert not settings.lake_dir.exists() or not any(settings.lake_dir.iterdir())


@pytest.mark.spark
@pytest.mark.parametrize(
    ("rewrite", "found"),
    [
        (lambda text: text.replace("\nu1,", "\n,", 1), "do not match the extract contract"),
        (
            lambda text: text.replace(",2024-02-01 12:30:00\nu2", ",\nu2", 1),
            "do not match the extract contract",
        ),
        (lambda text: text.replace("\nu2,", "\nu1,", 1), "1 user_id value(s) appear on more"),
    ],
    ids=["user_without_id", "user_without_updated_at", "user_listed_twice"],
)
def test_extract_rows_raw_would_reject_stop_stage_naming_the_file(
    tmp_path: Path, rewrite: Any, found: str
) -> None:
    # raw.users' key and not null columns: staged as they were, every later load of the day
    # would fail on PostgreSQL's constraint without naming the extract
    settings = Settings(landing_dir=tmp_path / "landing", lake_dir=tmp_path / "lake")
    write_landing(settings, DAY, [line_of("fine")])
    path = write_users(settings, DAY, ["u1", "u2", "u3"])
    path.write_text(rewrite(path.read_text(encoding="utf-8")), encoding="utf-8")
    result = cli(
        "--landing-dir", str(settings.landing_dir), "--lake-dir", str(settings.lake_dir),
        "stage", "--date", DAY.isoformat(),
    )  # fmt: skip
    assert_one_clear_error(result, "users.csv", found)


@pytest.mark.parametrize(
    "name", ["_part.csv", ".part.csv", "part-0000[0].csv", "part{1}.csv", "part:1.csv", "p*.csv"]
)
def test_landing_file_spark_would_skip_or_read_as_a_pattern_is_refused(
    tmp_path: Path, name: str
) -> None:
    # Spark skipped the first two without a word and read the others as globs (one read
    # part-00000.csv twice and none of its own rows)
    settings = landing_with(tmp_path, (LANDING_HEADER + "\n" + line_of("x") + "\n").encode())
    (settings.landing_events_day(DAY) / "part-00001.csv").rename(
        settings.landing_events_day(DAY) / name
    )
    with pytest.raises(InputFormatError, match="rename the file") as raised:
        event_files_for_days(settings, [DAY])
    assert name in str(raised.value)


def test_files_that_are_not_csv_are_named_as_not_staged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = landing_with(tmp_path, (LANDING_HEADER + "\n" + line_of("x") + "\n").encode())
    folder = settings.landing_events_day(DAY)
    for extra in ("part-00002.CSV", "part-00003.csv.gz", "_manifest.json", ".DS_Store"):
        (folder / extra).write_text("x")
    with caplog.at_level(logging.WARNING, logger="spark_staging.landing"):
        files = event_files_for_days(settings, [DAY])
    assert [f.name for f in files] == ["part-00000.csv", "part-00001.csv"]
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "part-00002.CSV, part-00003.csv.gz" in warned and "_manifest" not in warned


def test_a_day_staged_after_a_later_staged_day_is_refused(tmp_path: Path) -> None:
    # out of order, a retried event was accepted on both days and the load then failed
    settings = Settings(landing_dir=tmp_path / "landing", lake_dir=tmp_path / "lake")
    days = [DAY + dt.timedelta(days=n) for n in range(4)]
    for day in (days[0], days[2], days[3]):
        write_stats(settings, day, {"input_rows": 0})
    with pytest.raises(ConfigError, match=f"stage --from {days[1]} --to {days[3]}"):
        check_arrival_order(settings, [days[1]])
    check_arrival_order(settings, [days[1], days[2], days[3]])  # with every later day: in order
    check_arrival_order(settings, [days[2]])  # re-staging a staged day
    check_arrival_order(settings, [DAY + dt.timedelta(days=9)])  # the next new day


def test_header_only_file_is_staged_as_no_rows_and_said_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = landing_with(tmp_path, (LANDING_HEADER + "\n").encode())
    with caplog.at_level(logging.WARNING, logger="spark_staging.landing"):
        files = event_files_for_days(settings, [DAY])
    assert [f.name for f in files] == ["part-00000.csv", "part-00001.csv"]
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and "part-00001.csv holds only its header" in warned[0]


def test_missing_day_in_a_staging_range_is_named_before_any_work(tmp_path: Path) -> None:
    settings = Settings(landing_dir=tmp_path / "landing", lake_dir=tmp_path / "lake")
    write_landing(settings, DAY, [line_of("d1")])
    write_landing(settings, DAY + dt.timedelta(days=2), [line_of("d3")])
    result = cli(
        "--landing-dir", str(settings.landing_dir), "--lake-dir", str(settings.lake_dir),
        "stage", "--from", "2024-05-01", "--to", "2024-05-03",
    )  # fmt: skip
    assert_one_clear_error(result, "no landing files for 2024-05-02")
    assert not settings.lake_dir.exists(), "the days around the hole must not be staged"


def test_missing_day_in_a_load_range_is_named_before_anything_is_loaded(
    tmp_path: Path, fresh_pg_dsn: str
) -> None:
    lake = tmp_path / "lake"
    stage_day(lake, DAY, [])
    stage_day(lake, DAY + dt.timedelta(days=2), [])
    settings = Settings(landing_dir=tmp_path / "landing", lake_dir=lake)
    days = [DAY + dt.timedelta(days=n) for n in range(3)]
    # The library checks every day before it even connects.
    with pytest.raises(EmptyInputError, match="No lake data for arrival day 2024-05-02"):
        load_days("postgresql://postgres@127.0.0.1:1/never_contacted", settings, days)
    # The CLI does the same check, so nothing at all is loaded.
    result = cli(
        "--pg-dsn", fresh_pg_dsn, "--landing-dir", str(tmp_path / "landing"),
        "--lake-dir", str(lake), "load", "--from", "2024-05-01", "--to", "2024-05-03",
    )  # fmt: skip
    assert_one_clear_error(result, "No lake data for arrival day 2024-05-02", "clickstream stage")
    assert query(fresh_pg_dsn, "select to_regclass('raw.load_audit') is null") == [(True,)]
