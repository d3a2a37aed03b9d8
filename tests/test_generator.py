"""The generator's promises: reproducible bytes, honest manifests, realistic behaviour.

A small multi-day landing set is generated once per module; a reference validator written from
docs/contracts.md section 2 (independent of the generator's code) re-derives every quarantine
reason and duplicate from the files on disk and must agree with the manifests exactly.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import re
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest

from clickstream.errors import ConfigError
from generator import (
    EVENT_COLUMNS,
    DayManifest,
    GeneratorConfig,
    formatting,
    generate,
    generate_day,
)
from generator import rows as render_rows
from generator.formatting import cents_strings, datetime_strings, uuid_strings

START = dt.date(2024, 3, 1)
DAYS = 5
LATENESS = 3
CONFIG = GeneratorConfig(
    seed=7,
    start_date=START,
    events_per_day=3000,
    defect_rate=0.05,
    too_late_rate=0.004,
    bot_share=0.1,
)
VALID_EVENTS = {
    "page_view", "product_viewed", "product_list_viewed", "search", "product_added",
    "product_removed", "checkout_started", "order_completed", "identify",
}  # fmt: skip
REQUIRED = (
    "event_id",
    "event_name",
    "anonymous_id",
    "dvce_created_ts",
    "dvce_sent_ts",
    "collector_ts",
)
USER_HEADER = [
    "user_id", "email", "first_name", "last_name", "city", "country", "loyalty_tier",
    "marketing_opt_in", "created_at", "updated_at",
]  # fmt: skip
PRODUCT_HEADER = [
    "product_id", "product_name", "category_l1", "category_l2", "category_l3", "brand", "price",
    "currency", "is_discontinued", "created_at", "updated_at",
]  # fmt: skip
C = {name: i for i, name in enumerate(EVENT_COLUMNS)}
YEAR_2100_MS = 4_102_444_800_000


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[DayManifest]]:
    out = tmp_path_factory.mktemp("landing")
    return out, generate(CONFIG, START, DAYS, out)


def day_of(index: int) -> dt.date:
    return START + dt.timedelta(days=index)


def event_files(out: Path, day: dt.date) -> list[Path]:
    return sorted((out / "events" / f"event_date={day.isoformat()}").glob("part-*.csv"))


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[0], rows[1:]


def read_extract(out: Path, entity: str, day: dt.date) -> list[dict[str, str]]:
    path = out / entity / f"extract_date={day.isoformat()}" / f"{entity}.csv"
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def folder_rows(out: Path, day: dt.date) -> list[list[str]]:
    rows: list[list[str]] = []
    for path in event_files(out, day):
        rows += read_rows(path)[1]
    return rows


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


# --- a reference validator, straight from contracts.md section 2 ------------------------------

_INT = re.compile(r"^-?\d+$")
_DEC = re.compile(r"^-?\d+(\.\d+)?$")


def _typed_ok(row: list[str]) -> bool:
    for name in ("dvce_created_ts", "dvce_sent_ts", "collector_ts"):
        if not _INT.match(row[C[name]]):
            return False
    for name in ("price", "revenue"):
        value = row[C[name]]
        if value and (not _DEC.match(value) or float(value) < 0 or float(value) > 100000):
            return False
    qty = row[C["quantity"]]
    return not qty or (_INT.match(qty) is not None and 0 <= int(qty) <= 1000)


def _ms(value: str) -> int:
    v = int(value)
    return v * 1000 if v < 10**11 else v


def validate_landing(out: Path) -> list[dict]:
    """Per arrival day: quarantine per reason, duplicates, units fixed, skewed clocks."""
    seen: dict[str, list[str]] = {}
    products: set[str] = set()
    results = []
    for index in range(DAYS):
        day = day_of(index)
        products |= {p["product_id"] for p in read_extract(out, "products", day)}
        quarantined: Counter[str] = Counter()
        dup = Counter()
        units = skew = late = 0
        for row in folder_rows(out, day):
            if len(row) != len(EVENT_COLUMNS):
                quarantined["malformed"] += 1
                continue
            if any(row[C[name]] == "" for name in REQUIRED):
                quarantined["missing_field"] += 1
                continue
            if not _typed_ok(row):
                quarantined["bad_type"] += 1
                continue
            if row[C["event_name"]] not in VALID_EVENTS:
                quarantined["unknown_event"] += 1
                continue
            raw = [row[C[n]] for n in ("dvce_created_ts", "dvce_sent_ts", "collector_ts")]
            created, sent, collector = (_ms(v) for v in raw)
            derived = collector - (sent - created)
            if derived > collector + 300_000 or max(created, sent, collector) > YEAR_2100_MS:
                quarantined["future_ts"] += 1
                continue
            derived_day = dt.datetime.fromtimestamp(derived / 1000, dt.UTC).date()
            if derived_day < day - dt.timedelta(days=LATENESS):
                quarantined["too_late"] += 1
                continue
            if row[C["product_id"]] and row[C["product_id"]] not in products:
                quarantined["orphan_product"] += 1
                continue
            units += sum(int(v) < 10**11 for v in raw)
            event_id = row[C["event_id"]]
            if event_id in seen:
                dup["exact" if seen[event_id] == row else "payload"] += 1
                continue
            seen[event_id] = row
            skew += abs(collector - sent) > 1_800_000
            late += derived_day < day - dt.timedelta(days=1)
        results.append(
            {"quarantined": quarantined, "dup": dup, "units": units, "skew": skew, "late": late}
        )
    return results


# --- reproducibility ---------------------------------------------------------------------------


def test_landing_bytes_per_event_estimate_matches_what_the_generator_writes(tmp_path: Path) -> None:
    # `clickstream run` sizes Spark's JIT from events x this estimate before the files exist
    from spark_staging.session import LANDING_BYTES_PER_EVENT

    manifest = generate_day(GeneratorConfig(seed=5, events_per_day=20_000), START, tmp_path)
    written = sum(path.stat().st_size for path in event_files(tmp_path, START))
    per_event = written / manifest.rows["events"]
    assert 0.8 * LANDING_BYTES_PER_EVENT <= per_event <= 1.2 * LANDING_BYTES_PER_EVENT


def test_same_seed_and_params_give_byte_identical_files(tmp_path: Path) -> None:
    config = GeneratorConfig(seed=11, events_per_day=800)
    generate(config, START, 2, tmp_path / "a")
    generate(config, START, 2, tmp_path / "b")
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")


def test_different_seeds_give_different_events(tmp_path: Path) -> None:
    generate(GeneratorConfig(seed=1, events_per_day=500), START, 1, tmp_path / "a")
    generate(GeneratorConfig(seed=2, events_per_day=500), START, 1, tmp_path / "b")
    a, b = (event_files(tmp_path / x, START)[0].read_bytes() for x in ("a", "b"))
    assert a != b


def test_day_generated_alone_equals_same_day_of_multi_day_run(
    landing: tuple[Path, list[DayManifest]], tmp_path: Path
) -> None:
    out, _ = landing
    day = day_of(DAYS - 1)
    manifest = generate_day(CONFIG, day, tmp_path)
    assert manifest.defects["late_arrival"] > 0  # late rows from earlier days are included
    full, alone = tree_digest(out), tree_digest(tmp_path)
    assert alone == {k: v for k, v in full.items() if day.isoformat() in k}


def test_small_chunks_stream_a_day_into_several_part_files(tmp_path: Path) -> None:
    config = GeneratorConfig(seed=3, events_per_day=2500, chunk_events=1000)
    manifest = generate(config, START, 1, tmp_path)[0]
    files = event_files(tmp_path, START)
    assert len(files) == 3 == len(manifest.files)
    assert sum(len(read_rows(p)[1]) for p in files) == manifest.rows["events"]


def test_worker_threads_do_not_change_a_single_byte(tmp_path: Path) -> None:
    config = GeneratorConfig(
        seed=5, events_per_day=4000, chunk_events=1000, defect_rate=0.05, too_late_rate=0.004
    )
    generate(config, START, 3, tmp_path / "one", workers=1)
    generate(config, START, 3, tmp_path / "three", workers=3)
    assert tree_digest(tmp_path / "one") == tree_digest(tmp_path / "three")
    generate_day(config, day_of(2), tmp_path / "alone", workers=3)
    alone = tree_digest(tmp_path / "alone")
    assert alone == {
        k: v for k, v in tree_digest(tmp_path / "one").items() if day_of(2).isoformat() in k
    }


def test_lines_streamed_in_small_slices_equal_lines_rendered_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = GeneratorConfig(seed=6, events_per_day=3000, defect_rate=0.2)
    generate(config, START, 2, tmp_path / "whole")
    monkeypatch.setattr(render_rows, "RENDER_SLICE_ROWS", 7)  # defective lines on slice edges
    generate(config, START, 2, tmp_path / "sliced")
    assert tree_digest(tmp_path / "whole") == tree_digest(tmp_path / "sliced")


# --- manifests reconcile with the files -------------------------------------------------------


def test_manifest_row_counts_equal_rows_on_disk(landing: tuple[Path, list[DayManifest]]) -> None:
    out, manifests = landing
    for index, manifest in enumerate(manifests):
        day = day_of(index)
        assert manifest.day == day.isoformat()
        on_disk = DayManifest.read(out / "events" / f"event_date={day}" / "_manifest.json")
        assert on_disk == manifest
        physical = sum(p.read_bytes().count(b"\n") - 1 for p in event_files(out, day))
        assert len(folder_rows(out, day)) == manifest.rows["events"] == physical
        assert len(read_extract(out, "users", day)) == manifest.rows["users"]
        assert len(read_extract(out, "products", day)) == manifest.rows["products"]


def test_reference_validator_reproduces_expected_quarantine_and_duplicates(
    landing: tuple[Path, list[DayManifest]],
) -> None:
    out, manifests = landing
    for manifest, result in zip(manifests, validate_landing(out), strict=True):
        expected = manifest.expected
        assert dict(result["quarantined"]) == {
            k: v for k, v in expected["quarantined"].items() if v
        }, manifest.day
        assert result["dup"]["exact"] == expected["duplicates_by_kind"]["exact"]
        assert result["dup"]["payload"] == expected["duplicates_by_kind"]["payload"]
        assert expected["duplicates"] == sum(result["dup"].values())
        assert result["units"] == manifest.defects["seconds_ts"] == expected["units_fixed"]
        assert result["skew"] == manifest.defects["clock_skew"]
        assert (
            expected["accepted"]
            == manifest.rows["events"]
            - sum(expected["quarantined"].values())
            - expected["duplicates"]
        )


def test_each_defect_kind_appears_at_its_configured_rate(
    landing: tuple[Path, list[DayManifest]],
) -> None:
    _, manifests = landing
    rows = sum(m.rows["events"] for m in manifests)
    for kind in (
        "exact_duplicate", "payload_duplicate", "malformed", "bad_type", "missing_field",
        "unknown_event", "clock_skew", "seconds_ts", "future_ts", "orphan_product",
    ):  # fmt: skip
        observed = sum(m.defects[kind] for m in manifests)
        expected = CONFIG.rate(kind) * rows
        assert abs(observed - expected) <= 4 * expected**0.5 + 3, (kind, observed, expected)
    # late rows only reach folders inside the generated range, so fewer are observed
    late = sum(m.defects["late_arrival"] for m in manifests[LATENESS:])
    assert late >= 0.5 * CONFIG.rate("late_arrival") * rows * (DAYS - LATENESS) / DAYS
    assert sum(m.defects["too_late"] for m in manifests) > 0


def test_default_defect_total_is_one_to_two_percent() -> None:
    config = GeneratorConfig()
    total = sum(config.rate(k) for k in config.to_params()["defect_rates"])
    assert 0.01 <= total <= 0.02


def test_late_arrivals_land_in_a_later_folder_with_original_event_time(
    landing: tuple[Path, list[DayManifest]],
) -> None:
    out, manifests = landing
    late_counted = validate_landing(out)
    assert sum(r["late"] for r in late_counted) > 0
    assert all(
        r["late"] <= m.defects["late_arrival"] for r, m in zip(late_counted, manifests, strict=True)
    )


def test_malformed_lines_never_span_two_physical_lines(tmp_path: Path) -> None:
    config = GeneratorConfig(
        seed=5, events_per_day=2000, defect_weights=(("malformed", 1.0),), defect_rate=0.05
    )
    manifest = generate(config, START, 1, tmp_path)[0]
    rows = folder_rows(tmp_path, START)
    assert manifest.defects["malformed"] > 50
    assert sum(len(r) != 26 for r in rows) == manifest.defects["malformed"]
    physical = sum(p.read_bytes().count(b"\n") - 1 for p in event_files(tmp_path, START))
    assert physical == len(rows)


# --- behaviour ---------------------------------------------------------------------------------


def clean_rows(out: Path) -> list[list[str]]:
    """Rows a staging run would accept, first copy of each event id."""
    seen: set[str] = set()
    rows = []
    for index in range(DAYS):
        for row in folder_rows(out, day_of(index)):
            if len(row) != 26 or any(row[C[n]] == "" for n in REQUIRED) or not _typed_ok(row):
                continue
            if row[C["event_name"]] not in VALID_EVENTS or row[C["event_id"]] in seen:
                continue
            seen.add(row[C["event_id"]])
            rows.append(row)
    return rows


def derived_ms(row: list[str]) -> int:
    created, sent, collector = (
        _ms(row[C[n]]) for n in ("dvce_created_ts", "dvce_sent_ts", "collector_ts")
    )
    return collector - (sent - created)


def test_funnel_is_monotone_views_adds_checkouts_orders(
    landing: tuple[Path, list[DayManifest]],
) -> None:
    rows = clean_rows(landing[0])
    names = Counter(r[C["event_name"]] for r in rows)
    orders = {r[C["order_id"]] for r in rows if r[C["event_name"]] == "order_completed"}
    assert (
        names["product_viewed"]
        > names["product_added"]
        > names["checkout_started"]
        > len(orders)
        > 0
    )
    lines = sum(r[C["event_name"]] == "order_completed" for r in rows)
    assert lines > len(orders)  # some orders have several lines


def test_visits_form_sessions_with_a_visible_share_of_long_gaps(
    landing: tuple[Path, list[DayManifest]],
) -> None:
    by_device: dict[str, list[int]] = defaultdict(list)
    for row in clean_rows(landing[0]):
        if abs(_ms(row[C["collector_ts"]]) - derived_ms(row)) < 3_600_000:
            by_device[row[C["anonymous_id"]]].append(derived_ms(row))
    gaps = [
        b - a for ts in by_device.values() for a, b in zip(sorted(ts), sorted(ts)[1:], strict=False)
    ]
    long_share = sum(g > 1_800_000 for g in gaps) / len(gaps)
    assert sum(g < 1_800_000 for g in gaps) / len(gaps) > 0.8
    assert 0.01 < long_share < 0.2


def test_some_sessions_cross_midnight(landing: tuple[Path, list[DayManifest]]) -> None:
    out, _ = landing
    crossing = 0
    for index in range(1, DAYS):
        day_start = dt.datetime.combine(day_of(index), dt.time(), dt.UTC).timestamp() * 1000
        first_rows = read_rows(event_files(out, day_of(index))[0])[1]
        crossing += sum(1 for r in first_rows if len(r) == 26 and r[C["collector_ts"]].isdigit()
                        and 0 <= int(r[C["collector_ts"]]) - day_start < 3_600_000)  # fmt: skip
    assert crossing > 0


def test_order_line_revenue_is_price_times_quantity_at_that_days_extract_price(
    landing: tuple[Path, list[DayManifest]],
) -> None:
    out, _ = landing
    prices = {
        index: {p["product_id"]: p["price"] for p in read_extract(out, "products", day_of(index))}
        for index in range(DAYS + 1)
        if (out / "products" / f"extract_date={day_of(index)}").exists()
    }
    checked = 0
    for row in clean_rows(out):
        if (
            row[C["event_name"]] != "order_completed"
            or row[C["product_id"]] not in prices[0] | prices[DAYS - 1]
        ):
            continue
        index = (dt.datetime.fromtimestamp(derived_ms(row) / 1000, dt.UTC).date() - START).days
        if index not in prices:
            continue
        assert row[C["price"]] == prices[index][row[C["product_id"]]]
        cents = round(float(row[C["price"]]) * 100) * int(row[C["quantity"]])
        assert round(float(row[C["revenue"]]) * 100) == cents
        checked += 1
    assert checked > 20


def test_lines_of_one_order_share_session_timestamps(
    landing: tuple[Path, list[DayManifest]],
) -> None:
    stamps: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for row in clean_rows(landing[0]):
        if row[C["event_name"]] == "order_completed":
            stamps[row[C["order_id"]]].add((row[C["anonymous_id"]], derived_ms(row)))
    assert stamps and all(len(s) == 1 for s in stamps.values())


def test_bots_are_fast_identifiable_and_never_buy(landing: tuple[Path, list[DayManifest]]) -> None:
    out, manifests = landing
    per_device: dict[str, list[list[str]]] = defaultdict(list)
    for row in clean_rows(out):
        per_device[row[C["anonymous_id"]]].append(row)
    fast = {
        device
        for device, rows in per_device.items()
        if max(Counter(derived_ms(r) // 60_000 for r in rows).values()) > 120
    }
    assert fast
    bot_agents = re.compile(r"bot|crawl|spider|headless|python|curl|scrapy", re.I)
    assert any(bot_agents.search(per_device[d][0][C["useragent"]]) for d in fast)
    assert not any(
        r[C["event_name"]] in {"product_added", "order_completed"}
        for d in fast
        for r in per_device[d]
    )
    bot_rows = sum(len(per_device[d]) for d in fast)
    total = sum(len(v) for v in per_device.values())
    assert 0.5 * CONFIG.bot_share < bot_rows / total < 1.5 * CONFIG.bot_share
    assert sum(m.truth["bot_events"] for m in manifests) >= bot_rows * 0.9


def test_devices_identify_then_carry_user_id_and_some_devices_are_shared(
    landing: tuple[Path, list[DayManifest]],
) -> None:
    users_of: dict[str, set[str]] = defaultdict(set)
    identified_then_anonymous = 0
    events: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    for row in clean_rows(landing[0]):
        events[row[C["anonymous_id"]]].append(
            (derived_ms(row), row[C["event_name"]], row[C["user_id"]])
        )
        if row[C["user_id"]]:
            users_of[row[C["anonymous_id"]]].add(row[C["user_id"]])
    identifies = 0
    for rows in events.values():
        rows.sort()
        for i, (_ts, name, user) in enumerate(rows):
            if name == "identify":
                identifies += 1
                assert user
                nxt = rows[i + 1] if i + 1 < len(rows) else None
                if nxt is not None and nxt[0] - rows[i][0] < 60_000 and not nxt[2]:
                    identified_then_anonymous += 1
    assert identifies > 20
    assert identified_then_anonymous <= identifies * 0.05
    assert any(len(u) > 1 for u in users_of.values())  # shared devices need stitching care
    assert sum(1 for v in events.values() if not any(e[2] for e in v)) > 0  # anonymous browsing


def test_landing_events_carry_channels(landing: tuple[Path, list[DayManifest]]) -> None:
    rows = clean_rows(landing[0])
    mediums = Counter(r[C["utm_medium"]] for r in rows if r[C["utm_medium"]])
    refr = Counter(r[C["refr_medium"]] for r in rows)
    assert {"cpc", "email", "social", "affiliate", "display"} <= set(mediums)
    assert {"search", "social", "email", "internal", "unknown", ""} <= set(refr)


# --- slowly changing extracts ------------------------------------------------------------------


def test_users_and_products_change_between_consecutive_extracts(
    landing: tuple[Path, list[DayManifest]],
) -> None:
    out, _ = landing
    for entity, key, attrs in (
        ("users", "user_id", ("email", "city", "loyalty_tier", "marketing_opt_in")),
        ("products", "product_id", ("price", "category_l3", "brand", "is_discontinued")),
    ):
        changed_total = 0
        for index in range(1, DAYS):
            day = day_of(index)
            before = {r[key]: r for r in read_extract(out, entity, day_of(index - 1))}
            after = {r[key]: r for r in read_extract(out, entity, day)}
            assert set(before) <= set(after), f"{entity} never disappear"
            for k in before:
                attr_changed = any(before[k][a] != after[k][a] for a in attrs)
                assert attr_changed == (before[k]["updated_at"] != after[k]["updated_at"]), (
                    entity,
                    k,
                )
                if attr_changed:
                    changed_total += 1
                    assert after[k]["updated_at"].startswith(day.isoformat())
                    if entity == "products":
                        assert after[k]["updated_at"] == f"{day.isoformat()} 00:00:00"
            for k in set(after) - set(before):
                assert after[k]["created_at"].startswith(day.isoformat())
        first = read_extract(out, entity, START)
        last = read_extract(out, entity, day_of(DAYS - 1))
        assert len(last) > len(first), f"new {entity} appear"
        assert changed_total >= DAYS - 1, f"{entity} attributes change"


def test_every_file_has_the_contract_header(landing: tuple[Path, list[DayManifest]]) -> None:
    out, _ = landing
    for index in range(DAYS):
        day = day_of(index)
        for path in event_files(out, day):
            assert read_rows(path)[0] == list(EVENT_COLUMNS)
        assert list(read_extract(out, "users", day)[0]) == USER_HEADER
        assert list(read_extract(out, "products", day)[0]) == PRODUCT_HEADER
        manifest = json.loads((out / "events" / f"event_date={day}" / "_manifest.json").read_text())
        assert {"generator_version", "seed", "day", "params", "rows", "defects", "expected"} <= set(
            manifest
        )


# --- parameters --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"events_per_day": -1},
        {"defect_rate": 1.5},
        {"bot_share": -0.1},
        {"too_late_rate": 2.0},
        {"lateness_days": -1},
        {"seed": -3},
        {"defect_weights": (("no_such_defect", 1.0),)},
    ],
)
def test_invalid_parameters_raise_config_error(kwargs: dict) -> None:
    with pytest.raises(ConfigError):
        GeneratorConfig(**kwargs)


def test_negative_days_and_days_before_start_raise_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="days"):
        generate(GeneratorConfig(), START, -1, tmp_path)
    with pytest.raises(ConfigError, match="start_date"):
        generate_day(GeneratorConfig(start_date=START), START - dt.timedelta(days=1), tmp_path)


def test_zero_events_writes_header_only_files_and_extracts(tmp_path: Path) -> None:
    manifest = generate(
        GeneratorConfig(events_per_day=0, n_users=10, n_products=5), START, 1, tmp_path
    )[0]
    assert manifest.rows["events"] == 0
    assert read_rows(event_files(tmp_path, START)[0]) == (list(EVENT_COLUMNS), [])
    assert len(read_extract(tmp_path, "users", START)) == manifest.rows["users"] >= 10


def test_regenerating_a_day_replaces_its_files(tmp_path: Path) -> None:
    generate(GeneratorConfig(events_per_day=2500, chunk_events=1000, seed=4), START, 1, tmp_path)
    generate(GeneratorConfig(events_per_day=500, seed=4), START, 1, tmp_path)
    assert len(event_files(tmp_path, START)) == 1


# --- vectorised text formatting ---------------------------------------------------------------


def test_uuid_text_matches_the_uuid_module() -> None:
    raw = np.random.default_rng(1).integers(0, 256, (2000, 16), dtype=np.uint8)
    expected = [str(uuid.UUID(bytes=bytes(row), version=4)) for row in raw]
    assert uuid_strings(raw).to_pylist() == expected
    assert uuid_strings(raw[:0]).to_pylist() == []


def test_datetime_text_matches_python_datetime_across_leap_years_and_centuries() -> None:
    rng = np.random.default_rng(2)
    edges = [
        "1969-12-31 23:59:59", "1970-01-01 00:00:00", "2000-02-29 12:00:00", "2023-12-31 23:59:59",
        "2024-02-29 00:00:01", "2100-02-28 23:59:59", "2100-03-01 00:00:00", "2400-02-29 06:07:08",
    ]  # fmt: skip
    epoch = dt.datetime(1970, 1, 1)
    seconds = [int((dt.datetime.fromisoformat(e) - epoch).total_seconds()) for e in edges]
    seconds += rng.integers(-(10**9), 4 * 10**9, 5000).tolist()
    expected = [(epoch + dt.timedelta(seconds=s)).strftime("%Y-%m-%d %H:%M:%S") for s in seconds]
    assert datetime_strings(np.array(seconds)).to_pylist() == expected


def test_cents_text_has_two_decimals_and_nulls_where_invalid() -> None:
    cents = np.array([0, 5, 10, 99, 100, 1234, 10_000_000, 7, 123_456_789])
    valid = np.array([True] * 7 + [False, True])
    expected = [
        f"{c // 100}.{c % 100:02d}" if v else None for c, v in zip(cents, valid, strict=True)
    ]
    assert cents_strings(cents, valid).to_pylist() == expected


def test_vectored_writes_resume_after_short_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    def short_writev(fd: int, buffers: list[memoryview]) -> int:
        calls.append(len(buffers))
        assert len(calls) < 50, "write_segments makes no progress after a short write"
        return os.write(fd, b"".join(buffers)[:7])  # a legal short write: a prefix, 7 bytes

    monkeypatch.setattr(formatting.os, "writev", short_writev)
    segments = [memoryview(s) for s in (b"header\n", b"", b"a,b,c\n" * 5, b"x\n", b"tail,,\n")]
    with open(tmp_path / "out.csv", "wb") as handle:
        handle.write(b"# ")
        formatting.write_segments(handle, segments)
        handle.write(b"end\n")
    assert (tmp_path / "out.csv").read_bytes() == b"# " + b"".join(segments) + b"end\n"
