"""The REES46 importer lands real exports in the contract's layout, losing and inventing nothing.

Expectations for the shipped fixture ``tests/fixtures/rees46/mini.csv`` are computed by hand (its
README lists what each line exercises). A small re-implementation of staging's quarantine rules
(docs/contracts.md §2) checks that every bad source row is passed through in a form staging
rejects for the intended reason, and that every clean row passes.
"""

from __future__ import annotations

import collections
import csv
import datetime as dt
import gzip
import json
import random
import re
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest

from clickstream.contract import EVENT_NAMES
from clickstream.errors import EmptyInputError, InputFormatError
from clickstream.ingest import IngestSummary, ingest_rees46
from clickstream.ingest.orders import OrderGrouper, order_id_for
from clickstream.ingest.rees46 import REES46_COLUMNS, convert_record
from clickstream.ingest.source import split_line

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURE = REPO_ROOT / "tests" / "fixtures" / "rees46" / "mini.csv"
REAL_DIR = REPO_ROOT.parent / "shared" / "data" / "real" / "rees46"
REAL_OCT = REAL_DIR / "2019-Oct-head9k.csv"
REAL_COSMETICS = REAL_DIR / "cosmetics-2019-Dec-sample100.csv"
CONTRACTS = REPO_ROOT / "docs" / "contracts.md"

DAY1, DAY2 = dt.date(2019, 11, 1), dt.date(2019, 11, 2)
LANDING_EVENT_NAMES = set(EVENT_NAMES)


# --- helpers ---------------------------------------------------------------------------------


def contract_event_columns() -> list[str]:
    """The landing event columns as docs/contracts.md lists them (so code and doc can't drift)."""
    text = CONTRACTS.read_text(encoding="utf-8")
    section = text.split("### `events/event_date=YYYY-MM-DD/part-NNNNN.csv`", 1)[1]
    section = section.split("**Orders.**", 1)[0]
    columns: list[str] = []
    for line in section.splitlines():
        if not line.startswith("| ") or line.startswith("| column") or line.startswith("|---"):
            continue
        cell = line.split("|")[1].strip()
        columns.extend(name.strip() for name in cell.split(","))
    return columns


def landing_lines(landing: Path) -> Iterator[tuple[dt.date, list[str]]]:
    """(arrival day, fields) of every event data line under ``landing``, in file order."""
    for folder in sorted((landing / "events").glob("event_date=*")):
        day = dt.date.fromisoformat(folder.name.split("=", 1)[1])
        for part in sorted(folder.glob("part-*.csv")):
            with part.open(encoding="utf-8", newline="") as handle:
                reader = csv.reader(handle)
                next(reader)
                for fields in reader:
                    yield day, fields


def landing_events(landing: Path) -> list[dict[str, str]]:
    """Well-formed (26-field) landing event rows as dicts, with their arrival day."""
    columns = contract_event_columns()
    rows = []
    for day, fields in landing_lines(landing):
        if len(fields) == len(columns):
            rows.append({**dict(zip(columns, fields, strict=True)), "_day": day.isoformat()})
    return rows


def read_extract(landing: Path, kind: str, day: dt.date) -> dict[str, dict[str, str]]:
    path = landing / kind / f"extract_date={day.isoformat()}" / f"{kind}.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        key = "product_id" if kind == "products" else "user_id"
        return {row[key]: row for row in csv.DictReader(handle)}


def _parses_ms(value: str) -> bool:
    return re.fullmatch(r"-?\d+", value) is not None


def staging_reason(fields: list[str]) -> str | None:
    """Staging's first failing quarantine rule for one landing line (contracts §2), or None."""
    columns = contract_event_columns()
    if len(fields) != len(columns):
        return "malformed"
    row = dict(zip(columns, fields, strict=True))
    required = ("event_id", "event_name", "anonymous_id")
    timestamps = ("dvce_created_ts", "dvce_sent_ts", "collector_ts")
    if any(not row[name] for name in (*required, *timestamps)):
        return "missing_field"
    if not all(_parses_ms(row[name]) for name in timestamps):
        return "bad_type"
    for name in ("price", "revenue"):
        if row[name]:
            try:
                value = Decimal(row[name])
            except InvalidOperation:
                return "bad_type"
            if not value.is_finite() or value < 0 or value > 100_000:
                return "bad_type"
    if row["quantity"] and not (row["quantity"].isdigit() and int(row["quantity"]) <= 1000):
        return "bad_type"
    if row["event_name"] not in LANDING_EVENT_NAMES:
        return "unknown_event"
    limit_ms = int(dt.datetime(2100, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
    if any(int(row[name]) > limit_ms for name in timestamps):
        return "future_ts"
    return None


def source_rows(path: Path) -> list[list[str]]:
    """Data rows of a REES46 CSV read independently with the csv module (blank lines skipped)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        next(reader)
        return [row for row in reader if row]


@pytest.fixture()
def mini_landing(tmp_path: Path) -> tuple[IngestSummary, Path]:
    landing = tmp_path / "landing"
    return ingest_rees46([FIXTURE], landing), landing


# --- the fixture, by hand --------------------------------------------------------------------


def test_every_fixture_row_lands_once_on_its_day_and_bad_rows_on_the_previous_good_day(
    mini_landing: tuple[IngestSummary, Path],
) -> None:
    summary, landing = mini_landing
    # line 2 (bad time, before any good row) joins day 1; the bad-time, malformed and
    # empty-time rows take the previous good row's day.
    assert summary.rows_written == {DAY1: 21, DAY2: 13}
    assert summary.rows_in == 34 == summary.total_written
    assert summary.blank_lines == 1
    assert summary.passed_through_bad == {
        "malformed": 1,
        "missing_field": 3,
        "bad_type": 3,
        "unknown_event": 1,
        "future_ts": 1,
    }
    per_day = collections.Counter(day for day, _ in landing_lines(landing))
    assert per_day == {DAY1: 21, DAY2: 13}


def test_landing_files_have_the_contract_columns_in_order(
    mini_landing: tuple[IngestSummary, Path],
) -> None:
    _, landing = mini_landing
    columns = contract_event_columns()
    assert len(columns) == 26
    for part in (landing / "events").glob("event_date=*/part-*.csv"):
        assert part.read_bytes().split(b"\n", 1)[0].decode() == ",".join(columns)
        assert b"\r" not in part.read_bytes()


def test_exact_duplicate_rows_share_one_event_id_and_different_rows_never_do(
    mini_landing: tuple[IngestSummary, Path],
) -> None:
    _, landing = mini_landing
    rows = source_rows(FIXTURE)
    ids_by_content: dict[tuple[str, ...], set[str]] = collections.defaultdict(set)
    for fields in rows:
        converted = convert_record(list(fields))
        if converted.row is not None and converted.row[0]:
            ids_by_content[tuple(fields)].add(converted.row[0])
    assert all(len(ids) == 1 for ids in ids_by_content.values())
    all_ids = [next(iter(ids)) for ids in ids_by_content.values()]
    assert len(all_ids) == len(set(all_ids))

    landed = collections.Counter(row["event_id"] for row in landing_events(landing))
    landed.pop("", None)  # the missing-user_session row
    repeats = sum(count - 1 for count in landed.values())
    assert repeats == 4  # line 3 = 2, line 12 = 11, lines 27-28 = 26


def test_purchases_of_one_session_form_one_order_with_line_revenue(
    mini_landing: tuple[IngestSummary, Path],
) -> None:
    _, landing = mini_landing
    orders: dict[str, list[dict[str, str]]] = collections.defaultdict(list)
    for row in landing_events(landing):
        if row["event_name"] == "order_completed":
            orders[row["order_id"]].append(row)
    by_session = {
        lines[0]["source_session_id"]: (len(lines), sum(Decimal(r["revenue"]) for r in lines))
        for lines in orders.values()
    }
    assert by_session == {
        "sess-a": (2, Decimal("150.50")),
        "sess-c": (1, Decimal("60.00")),
        "sess-d": (2, Decimal("989.99")),  # the session crosses midnight
        "sess-e": (2, Decimal("30.00")),  # "15" is normalised to 15.00
    }
    for order_id, lines in orders.items():
        assert order_id.startswith("rees46-")
        assert {line["source_session_id"] for line in lines} == {lines[0]["source_session_id"]}
        assert all(line["quantity"] == "1" and line["revenue"] == line["price"] for line in lines)


MINUTE_MS = 60_000


def test_order_grouper_starts_a_new_order_after_a_pause_longer_than_the_session_gap() -> None:
    grouper = OrderGrouper(gap_minutes=30)
    first = grouper.order_of("s", "u1", 0)
    assert grouper.order_of("s", "u1", 30 * MINUTE_MS) == first  # the gap itself: one session
    assert grouper.order_of("s", "u1", 55 * MINUTE_MS) == first  # chained to the 30th minute
    later = grouper.order_of("s", "u1", 86 * MINUTE_MS)  # 31 minutes after the last line
    assert later != first
    assert grouper.order_of("s", "u2", 86 * MINUTE_MS) not in {first, later}  # another user
    assert grouper.order_of("t", "u1", 86 * MINUTE_MS) not in {first, later}  # another session
    assert grouper.open_orders == 3


def test_order_grouper_joins_rows_out_of_time_order_only_within_the_gap() -> None:
    grouper = OrderGrouper(gap_minutes=30)
    order = grouper.order_of("s", "u", 100 * MINUTE_MS)
    assert grouper.order_of("s", "u", 80 * MINUTE_MS) == order
    assert grouper.order_of("s", "u", 55 * MINUTE_MS) == order  # within the gap of the earliest
    assert grouper.order_of("s", "u", 20 * MINUTE_MS) != order  # 35 minutes before it


def test_order_ids_are_deterministic_and_differ_by_session_user_and_start() -> None:
    assert order_id_for("s", "u", 1) == order_id_for("s", "u", 1)
    ids = {order_id_for("s", "u", 1), order_id_for("s", "v", 1), order_id_for("t", "u", 1)}
    assert len(ids | {order_id_for("s", "u", 2)}) == 4
    with pytest.raises(ValueError, match="gap_minutes"):
        OrderGrouper(gap_minutes=0)


SPLIT_ORDERS = f"""{",".join(REES46_COLUMNS)}
2019-11-01 10:00:00 UTC,purchase,1,7,,b,10.00,1,s1
2019-11-01 10:20:00 UTC,view,2,7,,b,20.00,1,s1
2019-11-01 10:21:00 UTC,purchase,2,7,,b,20.00,1,s1
2019-11-01 11:00:00 UTC,purchase,3,7,,b,30.00,1,s1
2019-11-01 12:00:00 UTC,purchase,1,7,,b,10.00,2,s2
2019-11-01 12:00:30 UTC,purchase,2,7,,b,20.00,3,s2
2019-11-01 13:00:00 UTC,purchase,1,7,,b,10.00,4,s3
2019-11-01 13:25:00 UTC,purchase,2,7,,b,-1,4,s3
2019-11-01 13:50:00 UTC,purchase,3,7,,b,30.00,4,s3
"""


def test_purchases_split_into_orders_that_each_fit_in_one_staging_session(
    tmp_path: Path,
) -> None:
    # a user_session is REES46's, not staging's: a pause over 30 minutes, a second user or a
    # quarantined purchase in between must not leave one order across two staging sessions
    source = tmp_path / "orders.csv"
    source.write_text(SPLIT_ORDERS, encoding="utf-8")
    ingest_rees46([source], tmp_path / "landing")
    lines = [r for r in landing_events(tmp_path / "landing") if r["order_id"]]
    by_order: dict[str, list[str]] = collections.defaultdict(list)
    for line in lines:
        if line["price"] != "-1":  # the quarantined line keeps an order id of its own
            by_order[line["order_id"]].append(f"{line['user_id']}:{line['product_id']}")
    assert sorted(by_order.values()) == [
        ["1:1", "1:2"],  # 10:00 and 10:21
        ["1:3"],  # 39 minutes later
        ["2:1"],  # s2 is shared by users 2 and 3
        ["3:2"],
        ["4:1"],  # 13:50 is 50 minutes after 13:00; the bad 13:25 line bridges nothing
        ["4:3"],
    ]
    assert all(order_id.startswith("rees46-") for order_id in by_order)


def test_events_map_names_users_timestamps_and_synthetic_page_path(
    mini_landing: tuple[IngestSummary, Path],
) -> None:
    _, landing = mini_landing
    rows = [r for r in landing_events(landing) if r["source_session_id"] == "sess-b"]
    assert [r["event_name"] for r in rows] == [
        "product_viewed",
        "product_added",
        "product_removed",
        "product_removed",
    ]
    first = rows[0]
    expected_ms = str(int(dt.datetime(2019, 11, 1, 9, tzinfo=dt.UTC).timestamp() * 1000))
    assert first["dvce_created_ts"] == first["dvce_sent_ts"] == first["collector_ts"] == expected_ms
    assert first["anonymous_id"] == first["user_id"] == "102"
    assert first["page_path"] == "/product/1003"
    assert first["currency"] == "USD"
    assert first["quantity"] == "" and rows[1]["quantity"] == "1"
    for name in ("page_url", "useragent", "device_type", "geo_country", "ip", "utm_source"):
        assert first[name] == ""


def test_category_code_is_split_and_missing_brand_or_category_is_unknown(
    mini_landing: tuple[IngestSummary, Path],
) -> None:
    _, landing = mini_landing
    products = read_extract(landing, "products", DAY2)
    levels = {
        pid: (p["category_l1"], p["category_l2"], p["category_l3"], p["brand"])
        for pid, p in products.items()
    }
    assert levels == {
        "1001": ("electronics", "smartphone", "unknown", "samsung"),
        "1002": ("unknown", "unknown", "unknown", "apple"),
        "1003": ("appliances", "kitchen", "refrigerators", "unknown"),
        "1004": ("apparel", "shoes", "unknown", "nike"),
        "1005": ("unknown", "unknown", "unknown", "unknown"),
        "1006": ("apparel", "bag", "unknown", "dolce,gabbana"),
    }
    assert all(p["product_name"] and p["currency"] == "USD" for p in products.values())


def test_products_extract_keeps_latest_price_and_moves_updated_at_when_price_changes(
    mini_landing: tuple[IngestSummary, Path],
) -> None:
    _, landing = mini_landing
    day1 = read_extract(landing, "products", DAY1)
    day2 = read_extract(landing, "products", DAY2)
    assert sorted(day1) == ["1001", "1002", "1003", "1004"]  # bad rows add nothing
    assert (day1["1001"]["price"], day1["1001"]["updated_at"]) == ("100.00", "2019-11-01 08:00:00")
    assert (day2["1001"]["price"], day2["1001"]["updated_at"]) == ("90.00", "2019-11-02 00:00:10")
    assert day1["1001"]["created_at"] == day2["1001"]["created_at"] == "2019-11-01 08:00:00"
    assert day1["1002"]["price"] == "50.50"  # the -5.00 row is passed through, not observed
    assert day2["1002"] == day1["1002"]  # unchanged product: identical row
    assert sorted(day2) == ["1001", "1002", "1003", "1004", "1005", "1006"]


def test_users_extract_lists_every_user_seen_so_far_with_first_seen_times(
    mini_landing: tuple[IngestSummary, Path],
) -> None:
    _, landing = mini_landing
    day1 = read_extract(landing, "users", DAY1)
    day2 = read_extract(landing, "users", DAY2)
    assert {u: r["created_at"] for u, r in day1.items()} == {
        "101": "2019-11-01 08:00:00",
        "102": "2019-11-01 09:00:00",
        "103": "2019-11-01 10:00:00",
    }
    assert sorted(day2) == ["101", "102", "103", "104", "105"]
    assert all(r["updated_at"] == r["created_at"] and r["email"] == "" for r in day2.values())


def test_bad_rows_are_passed_through_for_staging_to_quarantine_with_the_right_reason(
    mini_landing: tuple[IngestSummary, Path],
) -> None:
    summary, landing = mini_landing
    reasons = collections.Counter(staging_reason(fields) for _, fields in landing_lines(landing))
    clean = reasons.pop(None)
    assert dict(reasons) == summary.passed_through_bad
    assert clean == summary.rows_in - sum(summary.passed_through_bad.values())
    events = landing_events(landing)
    assert any(r["event_name"] == "wishlist" for r in events)
    assert any(r["collector_ts"] == "2019-11-01 25:61:00 UTC" for r in events)
    assert any(r["collector_ts"] == "not-a-date" and r["_day"] == "2019-11-01" for r in events)
    assert any(r["price"] == "-5.00" for r in events)


def test_unknown_event_named_like_a_landing_event_cannot_pass_as_one() -> None:
    fields = ["2019-11-01 00:00:00 UTC", "page_view", "1", "", "", "", "1.00", "7", "s"]
    converted = convert_record(fields)
    assert converted.kind == "unknown_event"
    assert converted.row is not None and converted.row[1] == "rees46:page_view"


def test_numeric_looking_bad_values_are_kept_unparseable_for_staging() -> None:
    fields = ["1572566400", "view", "1", "", "", "", "NaN", "7", "s"]
    converted = convert_record(fields)
    assert converted.kind == "bad_type"
    assert converted.row is not None
    assert converted.row[6] == "invalid:1572566400" and converted.row[19] == "invalid:NaN"
    assert staging_reason(converted.row) == "bad_type"


def test_line_with_26_fields_is_still_written_malformed() -> None:
    converted = convert_record([str(i) for i in range(26)])
    assert converted.kind == "malformed" and converted.raw_line is not None
    assert len(next(csv.reader([converted.raw_line]))) != 26


# --- encodings, compression, layout -----------------------------------------------------------


def _all_outputs(landing: Path) -> dict[str, bytes]:
    return {str(p.relative_to(landing)): p.read_bytes() for p in sorted(landing.rglob("*.csv"))}


def _manifests_without_file_names(landing: Path) -> dict[str, dict[str, object]]:
    result = {}
    for path in sorted(landing.rglob("_manifest.json")):
        manifest = json.loads(path.read_text())
        source = manifest["source"]
        source["files"] = len(source["files"])
        source["input_rows"] = sum(source["input_rows"].values())
        result[str(path.relative_to(landing))] = manifest
    return result


def test_crlf_lf_bom_and_gzip_inputs_give_identical_landing_output(tmp_path: Path) -> None:
    data = FIXTURE.read_bytes()
    assert b"\r\n" not in data
    variants = {
        "lf.csv": data,
        "crlf.csv": data.replace(b"\n", b"\r\n"),
        "bom.csv": b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n"),
        "gz.csv.gz": gzip.compress(data.replace(b"\n", b"\r\n")),
        "named-plain.csv": gzip.compress(data),  # compression is detected by content
    }
    outputs, manifests = [], []
    for name, content in variants.items():
        source = tmp_path / name
        source.write_bytes(content)
        landing = tmp_path / f"landing-{name}"
        ingest_rees46([source], landing)
        outputs.append(_all_outputs(landing))
        manifests.append(_manifests_without_file_names(landing))
    assert len(outputs[0]) == 6  # events + users + products for 2 days
    assert all(output == outputs[0] for output in outputs)
    assert all(manifest == manifests[0] for manifest in manifests)


def test_a_resaved_export_with_other_column_order_and_extra_columns_lands_the_same(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # as pandas would re-save it: an unnamed index column first, the columns in another order,
    # one column added; a record whose field count doesn't fit the header stays malformed
    order = list(reversed(REES46_COLUMNS))
    lines = FIXTURE.read_text(encoding="utf-8").splitlines()
    source = tmp_path / "resaved.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["", *order, "category_name"])
        for number, line in enumerate(lines[1:]):
            fields = split_line(line)
            if len(fields) == len(REES46_COLUMNS):
                row = dict(zip(REES46_COLUMNS, fields, strict=True))
                writer.writerow([number, *(row[name] for name in order), "phones"])
            else:
                handle.write(line + "\n")
    original = ingest_rees46([FIXTURE], tmp_path / "original")
    again = ingest_rees46([source], tmp_path / "resaved")
    assert landing_events(tmp_path / "resaved") == landing_events(tmp_path / "original")
    assert again.passed_through_bad == original.passed_through_bad
    assert again.rows_written == original.rows_written
    assert "(unnamed), category_name are not part of the REES46 format" in caplog.text


def test_a_header_missing_or_repeating_a_column_is_refused_naming_it(tmp_path: Path) -> None:
    columns = [name for name in REES46_COLUMNS if name != "price"] + ["user_id"]
    source = tmp_path / "partial.csv"
    source.write_text(",".join(columns) + "\n" + ",".join("x" * len(columns)) + "\n")
    with pytest.raises(InputFormatError, match="missing or repeated: price, user_id"):
        ingest_rees46([source], tmp_path / "landing")
    assert not (tmp_path / "landing" / "events").exists()


def test_manifest_counts_rows_and_describes_the_source(
    mini_landing: tuple[IngestSummary, Path],
) -> None:
    _, landing = mini_landing
    path = landing / "events" / "event_date=2019-11-01" / "_manifest.json"
    manifest = json.loads(path.read_text())
    assert manifest["day"] == "2019-11-01"
    assert manifest["rows"] == {"events": 21, "users": 3, "products": 4}
    assert set(manifest["defects"].values()) == {0}
    assert manifest["source"]["files"] == [str(FIXTURE)]
    assert manifest["source"]["input_rows"] == {str(FIXTURE): 21}
    assert manifest["source"]["rows_written"] == 21
    assert manifest["source"]["passed_through_bad"] == {
        "malformed": 1,
        "missing_field": 2,
        "bad_type": 3,
        "unknown_event": 1,
    }


def test_reingesting_a_day_replaces_it_instead_of_appending(
    mini_landing: tuple[IngestSummary, Path],
) -> None:
    _, landing = mini_landing
    before = _all_outputs(landing)
    ingest_rees46([FIXTURE], landing)
    assert _all_outputs(landing) == before
    assert not [p for p in landing.iterdir() if p.name.startswith(".")]  # no scratch left


def test_folder_input_reads_the_exports_inside(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "mini.csv").write_bytes(FIXTURE.read_bytes())
    (folder / "notes.txt").write_text("not an export")
    summary = ingest_rees46([folder], tmp_path / "landing")
    assert summary.rows_in == 34


def _split_fixture_by_day(tmp_path: Path) -> tuple[Path, Path]:
    header, *lines = FIXTURE.read_text(encoding="utf-8").splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if line.startswith("2019-11-02"))
    first, second = tmp_path / "day1.csv", tmp_path / "day2.csv"
    first.write_text(header + "".join(lines[:cut]), encoding="utf-8")
    second.write_text(header + "".join(lines[cut:]), encoding="utf-8")
    return first, second


def test_importing_days_in_separate_calls_continues_the_product_and_user_history(
    mini_landing: tuple[IngestSummary, Path], tmp_path: Path
) -> None:
    _, one_call = mini_landing
    first, second = _split_fixture_by_day(tmp_path)
    landing = tmp_path / "two-calls"
    ingest_rees46([first], landing)
    summary = ingest_rees46([second], landing)
    assert summary.days == [DAY2]
    assert _all_outputs(landing) == _all_outputs(one_call)


def test_files_out_of_time_order_are_flagged_as_approximate_history(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = _split_fixture_by_day(tmp_path)
    summary = ingest_rees46([second, first], tmp_path / "landing")
    assert summary.out_of_order > 0
    assert "not in time order" in caplog.text
    products = read_extract(tmp_path / "landing", "products", DAY1)
    assert products["1001"]["created_at"] == "2019-11-01 08:00:00"


def test_writer_reopening_an_evicted_day_starts_a_new_part_and_loses_no_row(
    tmp_path: Path,
) -> None:
    from clickstream.ingest.landing_writer import EVENT_COLUMNS, LandingWriter

    with LandingWriter(tmp_path, max_open_days=1) as writer:
        for day in (DAY1, DAY2, DAY1, DAY1):
            writer.write_event(day, [day.isoformat()] * len(EVENT_COLUMNS))
        writer.publish()
    parts = sorted((tmp_path / "events").glob("event_date=*/part-*.csv"))
    assert [p.relative_to(tmp_path / "events").as_posix() for p in parts] == [
        "event_date=2019-11-01/part-00000.csv",
        "event_date=2019-11-01/part-00001.csv",
        "event_date=2019-11-02/part-00000.csv",
    ]
    assert collections.Counter(day for day, _ in landing_lines(tmp_path)) == {DAY1: 3, DAY2: 1}


# --- files that aren't exports ---------------------------------------------------------------


def test_wrong_header_names_the_file_and_the_expected_columns(tmp_path: Path) -> None:
    source = tmp_path / "other.csv"
    source.write_text("timestamp,event,item\n2019-10-01 00:00:00 UTC,view,1\n")
    with pytest.raises(InputFormatError) as error:
        ingest_rees46([source], tmp_path / "landing")
    assert str(source) in str(error.value)
    assert ",".join(REES46_COLUMNS) in str(error.value)
    assert not (tmp_path / "landing" / "events").exists()


@pytest.mark.parametrize("content", [b"", b"\n\n  \r\n"], ids=["zero-bytes", "whitespace"])
def test_empty_file_raises_empty_input_error(tmp_path: Path, content: bytes) -> None:
    source = tmp_path / "empty.csv"
    source.write_bytes(content)
    with pytest.raises(EmptyInputError, match="empty"):
        ingest_rees46([source], tmp_path / "landing")


def test_header_only_file_raises_empty_input_error(tmp_path: Path) -> None:
    source = tmp_path / "header.csv"
    source.write_text(",".join(REES46_COLUMNS) + "\n")
    with pytest.raises(EmptyInputError, match="no data rows"):
        ingest_rees46([source], tmp_path / "landing")


@pytest.mark.parametrize(
    "content",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
        b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)),
        b"\x1f\x8b\x08\x00garbage that is not deflate data",
    ],
    ids=["png", "zip", "corrupt-gzip"],
)
def test_binary_file_raises_input_format_error_not_a_traceback(
    tmp_path: Path, content: bytes
) -> None:
    source = tmp_path / "export.csv"
    source.write_bytes(content)
    with pytest.raises(InputFormatError, match=re.escape(str(source))):
        ingest_rees46([source], tmp_path / "landing")


def test_truncated_gzip_fails_cleanly_and_leaves_landing_untouched(
    mini_landing: tuple[IngestSummary, Path], tmp_path: Path
) -> None:
    _, landing = mini_landing
    before = _all_outputs(landing)
    big = FIXTURE.read_text() + "".join(
        f"2019-11-03 00:{i // 60 % 60:02d}:{i % 60:02d} UTC,view,{i},1,,,1.00,9,s\n"
        for i in range(3000)
    )
    compressed = gzip.compress(big.encode())
    source = tmp_path / "cut.csv.gz"
    source.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(InputFormatError, match="corrupt or truncated"):
        ingest_rees46([source], landing)
    assert _all_outputs(landing) == before
    assert not (landing / "events" / "event_date=2019-11-03").exists()


def test_non_utf8_bytes_make_one_malformed_row_not_a_failed_import(tmp_path: Path) -> None:
    lines = FIXTURE.read_bytes().split(b"\n")
    lines.insert(3, b"2019-11-01 08:00:30 UTC,view,1001,1,,caf\xe9,1.00,101,sess-a")
    source = tmp_path / "latin1.csv"
    source.write_bytes(b"\n".join(lines))
    summary = ingest_rees46([source], tmp_path / "landing")
    assert summary.rows_in == 35
    assert summary.passed_through_bad["malformed"] == 2
    text = tmp_path / "landing" / "events" / "event_date=2019-11-01" / "part-00000.csv"
    assert "caf\ufffd" in text.read_text(encoding="utf-8")


def test_file_without_any_usable_event_time_is_an_error_not_a_guess(tmp_path: Path) -> None:
    source = tmp_path / "no-times.csv"
    source.write_text(",".join(REES46_COLUMNS) + "\nyesterday,view,1,,,,1.00,7,s\n")
    with pytest.raises(InputFormatError, match="usable event_time"):
        ingest_rees46([source], tmp_path / "landing")


# --- streaming --------------------------------------------------------------------------------


def _write_generated_export(path: Path, rows: int) -> int:
    """A gzip REES46 export of ``rows`` rows over 5 days; returns its uncompressed size."""
    rng = random.Random(7)
    types = ["view"] * 90 + ["cart"] * 6 + ["remove_from_cart"] * 2 + ["purchase"] * 2
    products = [
        f"{100000 + p},2053013555631882655,electronics.smartphone.{p % 7},brand{p % 11},{10 + p}"
        for p in range(300)
    ]
    size = 0
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        header = ",".join(REES46_COLUMNS) + "\r\n"
        handle.write(header)
        size += len(header)
        for i in range(rows):
            seconds = i * 2
            day, hour = 1 + seconds // 86_400, seconds // 3600 % 24
            minute, second = seconds // 60 % 60, seconds % 60
            user = rng.randrange(1500)
            line = (
                f"2019-11-{day:02d} {hour:02d}:{minute:02d}:{second:02d} UTC,"
                f"{rng.choice(types)},{rng.choice(products)}.{i // 50_000}9,"
                f"{500000 + user},session-{user}-{i // 5000}\r\n"
            )
            handle.write(line)
            size += len(line)
    return size


def test_large_gzip_export_is_streamed_with_bounded_memory(tmp_path: Path) -> None:
    source = tmp_path / "big.csv.gz"
    uncompressed = _write_generated_export(source, 200_000)
    tracemalloc.start()
    try:
        summary = ingest_rees46([source], tmp_path / "landing")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.rows_in == summary.total_written == 200_000
    assert len(summary.days) == 5
    # Loading the file whole would take several times its size in Python objects; streaming
    # keeps only the open files' buffers, caches and one record per product and user.
    assert peak < uncompressed / 5, (peak, uncompressed)


# --- the real samples --------------------------------------------------------------------------


@pytest.mark.skipif(not REAL_OCT.exists(), reason=f"real REES46 sample absent: {REAL_OCT}")
def test_real_sample_lands_every_row_and_keeps_genuine_duplicates_detectable(
    tmp_path: Path,
) -> None:
    landing = tmp_path / "landing"
    summary = ingest_rees46([REAL_OCT], landing)
    rows = source_rows(REAL_OCT)
    assert summary.rows_in == summary.total_written == len(rows) == 9000
    exact_duplicates = len(rows) - len({tuple(row) for row in rows})
    assert exact_duplicates > 0  # the sample is known to contain some
    ids = collections.Counter(row["event_id"] for row in landing_events(landing))
    assert sum(count - 1 for count in ids.values()) == exact_duplicates
    reasons = collections.Counter(staging_reason(f) for _, f in landing_lines(landing))
    assert reasons.pop(None) + sum(reasons.values()) == 9000
    assert dict(reasons) == summary.passed_through_bad
    purchases = sum(1 for row in rows if row[1] == "purchase")
    landed = landing_events(landing)
    assert sum(1 for r in landed if r["event_name"] == "order_completed") == purchases


@pytest.mark.skipif(
    not REAL_COSMETICS.exists(), reason=f"real REES46 sample absent: {REAL_COSMETICS}"
)
def test_real_cosmetics_sample_maps_remove_from_cart_to_product_removed(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    summary = ingest_rees46([REAL_COSMETICS], landing)
    rows = source_rows(REAL_COSMETICS)
    assert summary.rows_in == summary.total_written == len(rows)
    removed = sum(1 for row in rows if row[1] == "remove_from_cart")
    assert removed > 0
    events = landing_events(landing)
    assert sum(1 for r in events if r["event_name"] == "product_removed") == removed
    products = read_extract(landing, "products", summary.days[-1])
    assert {row[2] for row in rows} == set(products)


def test_the_summary_warns_when_the_days_written_have_gaps() -> None:
    # a --from/--to range over the printed span would stop at the first missing day
    first, third = dt.date(2019, 10, 1), dt.date(2019, 10, 3)
    gapped = IngestSummary(files=(Path("x.csv"),), rows_written={first: 5, third: 7})
    assert "2019-10-01..2019-10-03, with gaps" in str(gapped)
    whole = IngestSummary(files=(Path("x.csv"),), rows_written={first: 5, first.replace(day=2): 7})
    assert "(2019-10-01..2019-10-02);" in str(whole) and "gaps" not in str(whole)
