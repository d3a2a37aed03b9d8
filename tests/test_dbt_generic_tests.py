"""Each in-project generic test fails on bad data and passes on good data.

A throwaway dbt project in a temp folder reuses the real ``macros/generic_tests`` and points
each test at tiny tables built here; one ``dbt test`` runs all of them.
"""

from __future__ import annotations

import json
import shutil

import psycopg2
import pytest

from clickstream.dbt import DBT_PROJECT_DIR, DbtResult, run_dbt

pytestmark = pytest.mark.postgres

TABLES = """
create schema if not exists fixtures;
create table fixtures.grain_good as select * from (values (1, 1), (1, 2)) as t (a, b);
create table fixtures.grain_bad as select * from (values (1, 1), (1, 1)) as t (a, b);
create table fixtures.numbers_good as select * from (values (0), (5), (10)) as t (x);
create table fixtures.numbers_bad as select * from (values (1), (11), (-1)) as t (x);
create table fixtures.fresh as select now() - interval '1 hour' as ts;
create table fixtures.stale as select now() - interval '10 days' as ts;
create table fixtures.stale_and_future as
    select * from (values (now() - interval '10 days'), (now() + interval '10 days')) as t (ts);
create table fixtures.parents as select * from (values (1), (2)) as t (id);
create table fixtures.children_good as
    select * from (values (1, 'a'), (3, 'ignored')) as t (pid, kind);
create table fixtures.children_bad as select * from (values (1, 'a'), (3, 'a')) as t (pid, kind);
create table fixtures.ranges_good as
    select * from (values (1, 0, 5), (1, 5, 9), (2, 0, 3)) as t (k, lo, hi);
create table fixtures.ranges_overlap as
    select * from (values (1, 0, 5), (1, 4, 9)) as t (k, lo, hi);
create table fixtures.ranges_gap as select * from (values (1, 0, 5), (1, 6, 9)) as t (k, lo, hi);
create table fixtures.mostly_filled as select * from (values (1), (2), (3), (null)) as t (v);
create table fixtures.mostly_empty as select * from (values (1), (null), (null), (null)) as t (v);
create table fixtures.dated_history as
    select * from (values (date '2024-01-01'), (date '2024-01-05')) as t (d);
create table fixtures.dated_window as select * from (values (date '2024-01-05')) as t (d);
"""

WINDOW = {"window_start": "2024-01-03", "window_end": "2024-01-07"}
"""The daily window of the second, windowed run (what build_day passes)."""

WINDOWED_CASES = {"rowcount_window_scoped": "pass"}
"""Cases run again inside WINDOW, and their status there: __window_start__ scopes them."""

CONFIG = "config"
"""An arguments key whose value becomes the test's ``config:`` block instead."""

# (test name, table, generic test, arguments, expected status); column-level tests name a column
CASES: list[tuple[str, str, str, dict[str, object], str]] = [
    (
        "ucc_good",
        "grain_good",
        "unique_combination_of_columns",
        {"combination_of_columns": ["a", "b"]},
        "pass",
    ),
    (
        "ucc_bad",
        "grain_bad",
        "unique_combination_of_columns",
        {"combination_of_columns": ["a", "b"]},
        "fail",
    ),
    (
        "expr_good",
        "numbers_good",
        "expression_is_true",
        {"expression": "x between 0 and 10"},
        "pass",
    ),
    ("expr_bad", "numbers_bad", "expression_is_true", {"expression": "x between 0 and 10"}, "fail"),
    (
        "range_good",
        "numbers_good",
        "accepted_range",
        {"column_name": "x", "min_value": 0, "max_value": 10},
        "pass",
    ),
    (
        "range_bad",
        "numbers_bad",
        "accepted_range",
        {"column_name": "x", "min_value": 0, "max_value": 10},
        "fail",
    ),
    (
        "range_exclusive_bad",
        "numbers_good",
        "accepted_range",
        {"column_name": "x", "min_value": 0, "max_value": 10, "inclusive": False},
        "fail",
    ),
    ("recency_good", "fresh", "recency", {"field": "ts", "datepart": "day", "interval": 1}, "pass"),
    ("recency_bad", "stale", "recency", {"field": "ts", "datepart": "day", "interval": 1}, "fail"),
    (
        "recency_caught_up",
        "fresh",
        "recency",
        {
            "field": "ts",
            "datepart": "day",
            "interval": 0,
            "compare_model": "source('fixtures', 'stale')",
        },
        "pass",
    ),
    (
        "recency_behind",
        "stale",
        "recency",
        {
            "field": "ts",
            "datepart": "day",
            "interval": 1,
            "compare_model": "source('fixtures', 'fresh')",
        },
        "fail",
    ),
    (
        # the `where` config scopes the reference too: unfiltered, the future row would fail it
        "recency_where_scopes_the_reference",
        "fresh",
        "recency",
        {
            "field": "ts",
            "datepart": "day",
            "interval": 0,
            "compare_model": "source('fixtures', 'stale_and_future')",
            CONFIG: {"where": "ts < now()"},
        },
        "pass",
    ),
    (
        "relwhere_good",
        "children_good",
        "relationships_where",
        {
            "column_name": "pid",
            "to": "source('fixtures', 'parents')",
            "field": "id",
            "from_condition": "kind = 'a'",
        },
        "pass",
    ),
    (
        "relwhere_bad",
        "children_bad",
        "relationships_where",
        {
            "column_name": "pid",
            "to": "source('fixtures', 'parents')",
            "field": "id",
            "from_condition": "kind = 'a'",
        },
        "fail",
    ),
    (
        "mer_good",
        "ranges_good",
        "mutually_exclusive_ranges",
        {
            "lower_bound_column": "lo",
            "upper_bound_column": "hi",
            "partition_by": "k",
            "gaps": "not_allowed",
        },
        "pass",
    ),
    (
        "mer_overlap_bad",
        "ranges_overlap",
        "mutually_exclusive_ranges",
        {"lower_bound_column": "lo", "upper_bound_column": "hi", "partition_by": "k"},
        "fail",
    ),
    (
        "mer_gap_allowed",
        "ranges_gap",
        "mutually_exclusive_ranges",
        {
            "lower_bound_column": "lo",
            "upper_bound_column": "hi",
            "partition_by": "k",
            "gaps": "allowed",
        },
        "pass",
    ),
    (
        "mer_gap_bad",
        "ranges_gap",
        "mutually_exclusive_ranges",
        {
            "lower_bound_column": "lo",
            "upper_bound_column": "hi",
            "partition_by": "k",
            "gaps": "not_allowed",
        },
        "fail",
    ),
    (
        "rowcount_good",
        "grain_good",
        "equal_rowcount",
        {"compare_model": "source('fixtures', 'grain_bad')"},
        "pass",
    ),
    (
        "rowcount_bad",
        "grain_good",
        "equal_rowcount",
        {"compare_model": "source('fixtures', 'numbers_good')"},
        "fail",
    ),
    (
        # outside a daily window __window_start__ keeps every row: 2 rows against 1
        "rowcount_window_scoped",
        "dated_history",
        "equal_rowcount",
        {
            "compare_model": "source('fixtures', 'dated_window')",
            "where_model": "d >= __window_start__",
            "where_compare": "d >= __window_start__",
        },
        "fail",
    ),
    (
        "nnp_good",
        "mostly_filled",
        "not_null_proportion",
        {"column_name": "v", "at_least": 0.7},
        "pass",
    ),
    (
        "nnp_bad",
        "mostly_empty",
        "not_null_proportion",
        {"column_name": "v", "at_least": 0.7},
        "fail",
    ),
]


def _yaml_value(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace('"', '\\"') + '"'
    return str(value)


def _sources_yml() -> str:
    tables = sorted(
        {table for _, table, *_ in CASES}
        | {"parents", "grain_bad", "numbers_good", "stale_and_future", "dated_window"}
    )
    lines = ["version: 2", "sources:", "  - name: fixtures", "    schema: fixtures", "    tables:"]
    for table in tables:
        lines.append(f"      - name: {table}")
        cases = [case for case in CASES if case[1] == table]
        if cases:
            lines.append("        data_tests:")
        for name, _, test, arguments, _ in cases:
            lines += [
                f"          - {test}:",
                f"              name: {name}",
                "              arguments:",
            ]
            lines += [
                f"                {key}: {_yaml_value(value)}"
                for key, value in arguments.items()
                if key != CONFIG
            ]
            config: dict[str, object] = arguments.get(CONFIG, {})  # type: ignore[assignment]
            if config:
                lines.append("              config:")
                lines += [
                    f"                {key}: {_yaml_value(value)}" for key, value in config.items()
                ]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def generic_test_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    from tests.conftest import create_database, drop_database

    project = tmp_path_factory.mktemp("generic_tests_project")
    shutil.copytree(
        DBT_PROJECT_DIR / "macros" / "generic_tests", project / "macros" / "generic_tests"
    )
    # the daily window's test scoping (__window_start__) the generic tests rely on
    shutil.copy(DBT_PROJECT_DIR / "macros" / "incremental_window.sql", project / "macros")
    shutil.copy(DBT_PROJECT_DIR / "profiles.yml", project / "profiles.yml")
    (project / "dbt_project.yml").write_text(
        "name: generic_tests_check\nversion: '1.0.0'\nconfig-version: 2\nprofile: clickstream\n"
        "flags:\n  send_anonymous_usage_stats: false\n"
    )
    (project / "models").mkdir()
    (project / "models" / "_sources.yml").write_text(_sources_yml())
    name = "clickstream_gt_" + project.name.replace("-", "_")[-20:].lower()
    dsn = create_database(name)
    try:
        conn = psycopg2.connect(dsn)
        with conn, conn.cursor() as cur:
            cur.execute(TABLES)
        conn.close()
        result: DbtResult = run_dbt(
            dsn, ["test"], project_dir=project, target_path=project / "target", check=False
        )
        windowed: DbtResult = run_dbt(
            dsn,
            ["test", "--select", *WINDOWED_CASES, "--vars", json.dumps(WINDOW)],
            project_dir=project,
            target_path=project / "target",
            check=False,
        )
    finally:
        drop_database(name)
    statuses = {node.name: node.status for node in result.nodes}
    statuses.update({f"{node.name}@window": node.status for node in windowed.nodes})
    return statuses


@pytest.mark.parametrize(("name", "expected"), [(c[0], c[4]) for c in CASES])
def test_generic_test_passes_on_good_data_and_fails_on_bad(
    generic_test_results: dict[str, str], name: str, expected: str
) -> None:
    assert generic_test_results.get(name) == expected


@pytest.mark.parametrize(("name", "expected"), sorted(WINDOWED_CASES.items()))
def test_window_start_scopes_a_generic_test_inside_a_daily_window(
    generic_test_results: dict[str, str], name: str, expected: str
) -> None:
    assert generic_test_results.get(f"{name}@window") == expected


def test_every_in_project_generic_test_is_exercised() -> None:
    macros = {p.stem for p in (DBT_PROJECT_DIR / "macros" / "generic_tests").glob("*.sql")}
    exercised = {case[2] for case in CASES}
    assert macros == exercised
    bad_cases = {case[2] for case in CASES if case[4] == "fail"}
    assert bad_cases == macros, "each generic test needs a case that must fail"
