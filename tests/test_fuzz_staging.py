"""Fuzzing staging with garbage lines: nothing crashes and every line is accounted for.

Hypothesis mixes valid landing lines with random text, random field counts, stray quotes,
commas, unicode and control characters (NUL, CR, LF, BOM...). Each example is one landing
file; a Spark job costs seconds, so all examples are judged together: staging's classification
(parse → validate → dedupe) is checked file by file, then the day is staged and loaded for
real, covering the Parquet write and the COPY of the quarantine into PostgreSQL. A failing file
is named and kept in the test's temporary folder (hypothesis cannot shrink across the batch).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F  # noqa: N812 (the PySpark convention)

from spark_staging.load import load_days
from spark_staging.schema import LANDING_HEADER, QUARANTINE_REASONS
from spark_staging.stage import (
    ACCEPTED,
    DUPLICATE_EXACT,
    DUPLICATE_PAYLOAD,
    check_lines,
    classify,
    stage_days,
)
from tests.conftest import create_database, drop_database, settings_under
from tests.test_stage_support import csv_line, event

DAY = dt.date(2024, 6, 1)
OUTCOMES = {*QUARANTINE_REASONS, ACCEPTED, DUPLICATE_EXACT, DUPLICATE_PAYLOAD}

NASTY = [",", '"', "\x00", "\r", "\n", "\t", "\ufeff", "\u2028", "é", "💥", "\\", "'"]
FIELD_VALUES = [
    "page_view",
    "order_completed",
    "1714557600000",
    "1714557600",
    "-1",
    "99999999999999999999",
    "12.50",
    "-0.01",
    "1e309",
    "NaN",
    "null",
    "2024-06-01",
]


def valid_line(event_id: str) -> str:
    return csv_line(event("2024-06-01T10:00", anon=f"anon-{event_id}", event_id=event_id))


garbage_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",)), st.sampled_from(NASTY)
    ),
    max_size=80,
)
random_fields = st.lists(
    st.one_of(st.sampled_from([*FIELD_VALUES, *NASTY, "", '""']), garbage_text),
    min_size=0,
    max_size=40,
).map(",".join)


@st.composite
def mutated_valid_line(draw: st.DrawFn) -> str:
    """A valid line with a slice replaced by garbage (truncation, injection, stray quotes)."""
    line = valid_line(str(uuid.UUID(int=draw(st.integers(0, 2**128 - 1)))))
    start = draw(st.integers(0, len(line)))
    end = draw(st.integers(start, len(line)))
    return line[:start] + draw(garbage_text) + line[end:]


garbage_line = st.one_of(garbage_text, random_fields, mutated_valid_line())


@st.composite
def landing_file(draw: st.DrawFn) -> tuple[str, list[str]]:
    """(file text, ids of the valid lines in it): valid lines mixed with garbage, shuffled."""
    n_valid = draw(st.integers(0, 8))
    valid_ids = [f"fuzz-{uuid.uuid4()}" for _ in range(n_valid)]
    lines = [valid_line(i) for i in valid_ids] + draw(st.lists(garbage_line, max_size=40))
    lines = draw(st.permutations(lines))
    ending = draw(st.sampled_from(["\n", "", "\r\n"]))
    return LANDING_HEADER + "\n" + "\n".join(lines) + ending, valid_ids


def data_lines(text: str) -> int:
    """Lines staging must account for: all after the header, minus the '' after a final LF."""
    pieces = text.split("\n")[1:]
    return len(pieces) - (1 if pieces and pieces[-1] == "" else 0)


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def fuzz_db() -> Iterator[str]:
    name = f"clickstream_fuzz_{uuid.uuid4().hex[:10]}"
    yield create_database(name)
    drop_database(name)


def test_garbage_lines_are_each_accepted_quarantined_or_counted_as_duplicates(
    spark,  # type: ignore[no-untyped-def]
    fuzz_root: Path,
    fuzz_db: str,
) -> None:
    one = settings_under(fuzz_root)
    folder = one.landing_events_day(DAY)
    folder.mkdir(parents=True)
    expected: dict[str, int] = {}
    valid: dict[str, list[str]] = {}

    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(landing_file())
    def land(example: tuple[str, list[str]]) -> None:
        text, valid_ids = example
        name = f"part-{len(expected):05d}.csv"
        (folder / name).write_text(text, encoding="utf-8", newline="")
        expected[name] = data_lines(text)
        valid[name] = valid_ids

    land()  # each example is one landing file; Spark then judges them all in one job

    rows = (
        classify(check_lines(spark, one, [DAY]), None)
        .select(
            F.regexp_extract("source_file", r"([^/]+)$", 1).alias("file"),
            "outcome",
            "event_id",
            F.col("detail").isNotNull().alias("has_detail"),
        )
        .collect()
    )
    for name, lines in expected.items():
        mine = [row for row in rows if row["file"] == name]
        where = f"{name} (kept in {folder})"
        assert len(mine) == lines, f"{where}: every line is one row, none dropped or invented"
        assert {row["outcome"] for row in mine} <= OUTCOMES, where
        quarantined = [row for row in mine if row["outcome"] in QUARANTINE_REASONS]
        assert all(row["has_detail"] for row in quarantined), where
        accepted = {row["event_id"] for row in mine if row["outcome"] == ACCEPTED}
        assert set(valid[name]) <= accepted, f"{where}: garbage cost a valid line its place"

    (stats,) = stage_days(spark, one, [DAY])
    assert stats.input_rows == sum(expected.values())
    assert stats.reconciles, stats
    (loaded,) = load_days(fuzz_db, one, [DAY])
    assert loaded.loaded_rows == stats.accepted
    assert loaded.quarantined == stats.quarantined_total
