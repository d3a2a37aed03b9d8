"""The dbt project on the hand-built raw fixture: five arrival days built one by one.

One module-scoped warehouse is loaded and built day by day with exactly the invocation the daily
pipeline runs (``build_day``: seeds, models, snapshots and every data and unit test — any failing
test fails the fixture), then many assertions read it. A second database gets the same raw data
and the first one's snapshots (state a full refresh never rebuilds) and is built with
``--full-refresh``: the incremental marts must equal it row for row.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import time
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from clickstream.dbt import (
    DbtResult,
    build_day,
    docs_generate,
    project_fingerprint,
    record_static_build,
    run_dbt,
    static_build_fingerprint,
)
from tests.conftest import copy_database, create_database, drop_database
from tests.fixtures.raw.build_raw import DAYS, LATENESS_DAYS, load_arrival_day, load_days
from tests.pg import MARTS, query

pytestmark = pytest.mark.postgres


def table_rows(dsn: str, table: str) -> list[tuple[Any, ...]]:
    """All rows of a table, sorted, for row-for-row comparison."""
    rows = query(dsn, f"select * from {table}")
    return sorted(rows, key=lambda row: tuple("" if v is None else str(v) for v in row))


def copy_schema_tables(source_dsn: str, target_dsn: str, schema: str) -> None:
    """Copy every table of ``schema`` (columns, types and rows) into another database."""
    tables = [
        r[0]
        for r in query(
            source_dsn, "select tablename from pg_tables where schemaname = %s", (schema,)
        )
    ]
    src = psycopg2.connect(source_dsn)
    dst = psycopg2.connect(target_dsn)
    try:
        with src.cursor() as scur, dst, dst.cursor() as dcur:
            dcur.execute(f"create schema if not exists {schema}")
            for table in tables:
                scur.execute(
                    "select attname, format_type(atttypid, atttypmod) from pg_attribute "
                    "where attrelid = %s::regclass and attnum > 0 and not attisdropped "
                    "order by attnum",
                    (f"{schema}.{table}",),
                )
                columns = ", ".join(f'"{name}" {sql_type}' for name, sql_type in scur.fetchall())
                dcur.execute(f"create table {schema}.{table} ({columns})")
                buffer = io.StringIO()
                scur.copy_expert(f"copy {schema}.{table} to stdout", buffer)
                buffer.seek(0)
                dcur.copy_expert(f"copy {schema}.{table} from stdin", buffer)
    finally:
        src.close()
        dst.close()


@pytest.fixture(scope="module")
def dbt_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This module's own dbt target folder (manifest, catalog, logs)."""
    return tmp_path_factory.mktemp("dbt_target")


@pytest.fixture(scope="module")
def warehouse(dbt_target: Path) -> Iterator[dict[str, Any]]:
    """Five arrival days loaded and built one at a time, then day 5 rebuilt to test idempotence."""
    name = f"clickstream_dbt_{uuid.uuid4().hex[:10]}"
    dsn = create_database(name)
    results: list[DbtResult] = []
    try:
        for day in DAYS:
            load_arrival_day(dsn, day)
            results.append(build_day(dsn, day, LATENESS_DAYS, target_path=dbt_target))
        before_rerun = {table: table_rows(dsn, f"marts.{table}") for table in MARTS}
        load_arrival_day(dsn, DAYS[-1])
        results.append(build_day(dsn, DAYS[-1], LATENESS_DAYS, target_path=dbt_target))
        run_results = json.loads((dbt_target / "run_results.json").read_text())
        yield {
            "dsn": dsn,
            "results": results,
            "before_rerun": before_rerun,
            "last_run_results": run_results,
        }
    finally:
        drop_database(name)


@pytest.fixture(scope="module")
def full_refresh_dsn(warehouse: dict[str, Any], dbt_target: Path) -> Iterator[str]:
    """A second database: same raw data and snapshot history, marts built with --full-refresh."""
    name = f"clickstream_dbt_fr_{uuid.uuid4().hex[:10]}"
    dsn = create_database(name)
    try:
        load_days(dsn, DAYS, LATENESS_DAYS)
        copy_schema_tables(warehouse["dsn"], dsn, "snapshots")
        build_day(dsn, DAYS[-1], LATENESS_DAYS, full_refresh=True, target_path=dbt_target)
        yield dsn
    finally:
        drop_database(name)


# --- the daily builds ---------------------------------------------------------------------


STATIC_NODES = ("channel_definitions", "stg_raw__events", "dim_date", "dim_channel", "dim_device")


def test_every_daily_build_ran_models_snapshots_and_data_tests(
    warehouse: dict[str, Any],
) -> None:
    for result in warehouse["results"]:
        kinds = {node.resource_type for node in result.nodes}
        assert {"model", "snapshot", "test"} <= kinds
        assert "unit_test" not in kinds  # CI's job (below), not the daily build's
        assert not [n for n in result.nodes if n.status in ("error", "fail", "warn")]


def test_static_nodes_are_built_once_then_skipped_while_the_project_is_unchanged(
    warehouse: dict[str, Any],
) -> None:
    first, *later = warehouse["results"]
    assert all(first.status_of(name) == "success" for name in STATIC_NODES)
    for result in later:
        assert all(result.status_of(name) is None for name in STATIC_NODES)
        # the views are not rebuilt, but the tests reading the day's data through them run
        agents = "relationships_stg_raw__events_useragent__useragent__ref_int_user_agents__parsed_"
        assert result.status_of(agents) == "pass"
        # those whose rule the daily build enforces another way do not (daily_skip): a
        # repeated event id is refused by fct_events' primary key, and the device type and
        # channel are case expressions yielding only the accepted values
        for enforced in (
            "unique_stg_raw__events_event_id",
            "accepted_values_stg_raw__events_device_type__desktop__mobile__tablet__unknown",
            "relationships_stg_raw__events_channel__channel__ref_channel_definitions_",
        ):
            assert result.status_of(enforced) is None, enforced
        # the seed is not reloaded, so its own tests are not run again (daily_skip)
        assert result.status_of("not_null_channel_definitions_channel") is None
        # no daily build replaces a relation a view reads, so no view is rebuilt either
        assert result.status_of("int_events__stitched") is None
        assert result.status_of("rpt_session_funnel") is None


def test_a_daily_build_runs_each_node_after_its_ancestors_through_the_skipped_views(
    warehouse: dict[str, Any], dbt_target: Path
) -> None:
    """dbt orders the selected nodes by the whole graph: rpt_funnel_by_segment, whose only
    parent is the skipped view rpt_session_funnel, still waits for fct_sessions."""
    from datetime import datetime

    parents = json.loads((dbt_target / "manifest.json").read_text())["parent_map"]
    spans = {}
    for result in warehouse["last_run_results"]["results"]:
        timing = {step["name"]: step for step in result["timing"]}
        if result["unique_id"].startswith(("model.", "snapshot.")) and "execute" in timing:
            started = timing.get("compile", timing["execute"])["started_at"]
            ended = timing["execute"]["completed_at"]
            spans[result["unique_id"]] = (
                datetime.fromisoformat(started.replace("Z", "+00:00")),
                datetime.fromisoformat(ended.replace("Z", "+00:00")),
            )

    def ancestors(node: str) -> set[str]:
        found: set[str] = set()
        pending = list(parents.get(node, []))
        while pending:
            parent = pending.pop()
            if parent not in found:
                found.add(parent)
                pending += parents.get(parent, [])
        return found

    assert "model.clickstream.rpt_session_funnel" not in spans  # a skipped view
    too_early = [
        f"{node} started before {ancestor} ended"
        for node, (started, _) in spans.items()
        for ancestor in ancestors(node)
        if ancestor in spans and started < spans[ancestor][1]
    ]
    assert too_early == []
    funnel, sessions = "model.clickstream.rpt_funnel_by_segment", "model.clickstream.fct_sessions"
    assert sessions in ancestors(funnel) and spans[funnel][0] >= spans[sessions][1]


def test_a_changed_project_rebuilds_the_static_nodes(
    warehouse: dict[str, Any], dbt_target: Path
) -> None:
    dsn = warehouse["dsn"]
    assert static_build_fingerprint(dsn) == project_fingerprint()
    record_static_build(dsn, "0" * 64)  # as if built by another version of the project
    result = build_day(dsn, DAYS[-1], LATENESS_DAYS, target_path=dbt_target)
    assert all(result.status_of(name) == "success" for name in STATIC_NODES)
    assert static_build_fingerprint(dsn) == project_fingerprint()
    for table in MARTS:  # rebuilding the same day (static nodes included) changes nothing
        assert table_rows(dsn, f"marts.{table}") == warehouse["before_rerun"][table], table


def test_unit_tests_pass(warehouse: dict[str, Any], dbt_target: Path) -> None:
    result = run_dbt(
        warehouse["dsn"], ["test", "--select", "resource_type:unit_test"], target_path=dbt_target
    )
    unit_tests = [n for n in result.nodes if n.resource_type == "unit_test"]
    assert len(unit_tests) >= 12
    assert all(n.status == "pass" for n in unit_tests)


def test_every_data_test_passes_on_the_whole_incrementally_built_warehouse(
    warehouse: dict[str, Any], dbt_target: Path
) -> None:
    """The daily builds test only the rows they rewrote; without a window, tests read it all."""
    result = run_dbt(
        warehouse["dsn"], ["test", "--select", "test_type:data"], target_path=dbt_target
    )
    tests = [n for n in result.nodes if n.resource_type == "test"]
    assert len(tests) >= 100
    assert not [n for n in tests if n.status != "pass"]


def test_daily_build_scopes_heavy_tests_to_the_rewritten_window(
    warehouse: dict[str, Any], dbt_target: Path
) -> None:
    """Compiled with a window, a scoped test reads only the window; without one, everything."""
    name = (
        "relationships_where_fct_events_session_id__session_id__ref_fct_sessions___"
        "session_end_ts___window_start__"
    )

    def compiled(*window_args: str) -> str:
        run_dbt(
            warehouse["dsn"], ["compile", "--select", name, *window_args], target_path=dbt_target
        )
        manifest = json.loads((dbt_target / "manifest.json").read_text())
        (node,) = (n for n in manifest["nodes"].values() if n["name"] == name)
        return str(node["compiled_code"])

    window_start = (DAYS[-1] - dt.timedelta(days=LATENESS_DAYS)).isoformat()
    window = json.dumps({"window_start": window_start, "window_end": "2099-01-01"})
    daily = compiled("--vars", window)
    assert f"event_date >= cast('{window_start}' as date)" in daily
    # the parent side too: the sessions every event of the window belongs to
    assert f"session_end_ts >= cast('{window_start}' as date)" in daily
    complete = compiled()
    assert "event_date >=" not in complete
    assert "session_end_ts >= date '-infinity'" in complete


def test_rebuilding_the_same_day_changes_nothing(warehouse: dict[str, Any]) -> None:
    for table in MARTS:
        assert table_rows(warehouse["dsn"], f"marts.{table}") == warehouse["before_rerun"][table], (
            table
        )


@pytest.mark.parametrize("table", MARTS)
def test_incremental_marts_equal_a_full_refresh_row_for_row(
    warehouse: dict[str, Any], full_refresh_dsn: str, table: str
) -> None:
    incremental = table_rows(warehouse["dsn"], f"marts.{table}")
    assert incremental, f"{table} is empty: the comparison would prove nothing"
    assert incremental == table_rows(full_refresh_dsn, f"marts.{table}")


def _loops_over(plan: dict[str, Any], cte: str) -> list[str]:
    """Nested loops in ``plan`` with a side that scans the CTE ``cte``: a loop over it, or
    probes of it per outer row.

    Subplans (``x [not] in (select ... from cte)``) don't count: PostgreSQL hashes one or
    re-scans it per row on the estimated row count of the *outer* table, which comes from
    that table's real size, so a misestimated CTE cannot turn one into a loop over a big table.
    """

    def scans(node: dict[str, Any]) -> bool:
        if node.get("Node Type") == "CTE Scan" and node.get("CTE Name") == cte:
            return True
        return any(scans(child) for child in node.get("Plans", []) if "Subplan Name" not in child)

    found = []
    stack = [plan]
    while stack:
        node = stack.pop()
        children = node.get("Plans", [])
        if node.get("Node Type") == "Nested Loop" and any(scans(child) for child in children):
            found.append(f"{node.get('Join Type')} nested loop")
        stack.extend(children)
    return found


def test_the_daily_session_rebuild_cannot_become_a_nested_loop_over_its_scope(
    warehouse: dict[str, Any], tmp_path: Path
) -> None:
    # Planned on default estimates (raw partitions and fct_sessions without fresh statistics),
    # an anti join against the window's session ids became a nested loop over the unindexed
    # CTE: 12 s for 16K sessions on day 7 of `clickstream run`; a join with them probed the
    # table's key once per id (0.4 s of 3.5 s on day 30 of a 30-day history). With hash and
    # merge joins off, a join has no other plan, so this finds any left in the query.
    day = DAYS[-1]
    window = {
        "window_start": (day - dt.timedelta(days=LATENESS_DAYS)).isoformat(),
        "window_end": (day + dt.timedelta(days=2)).isoformat(),
        "lateness_days": LATENESS_DAYS,
    }
    run_dbt(
        warehouse["dsn"],
        ["compile", "--select", "fct_sessions", "--vars", json.dumps(window)],
        target_path=tmp_path,
    )
    compiled = (tmp_path / "compiled/clickstream/models/marts/fct_sessions.sql").read_text()
    assert "scoped_session_ids" in compiled, "not the incremental branch"
    conn = psycopg2.connect(warehouse["dsn"])
    try:
        with conn.cursor() as cur:
            cur.execute("set local enable_hashjoin = off")
            cur.execute("set local enable_mergejoin = off")
            cur.execute("explain (format json) " + compiled)
            plan = cur.fetchone()[0][0]["Plan"]
    finally:
        conn.rollback()
        conn.close()
    assert _loops_over(plan, "scoped_session_ids") == []
    assert _loops_over(plan, "boundary_sessions") == []


def test_parsed_user_agents_equal_parsing_every_agent_of_the_history(
    warehouse: dict[str, Any], full_refresh_dsn: str
) -> None:
    """Built a window at a time, the agent lookup holds every agent, parsed as a full refresh."""
    table = "intermediate.int_user_agents__parsed"
    incremental = table_rows(warehouse["dsn"], table)
    assert incremental, "no agents: the comparison would prove nothing"
    assert incremental == table_rows(full_refresh_dsn, table)
    agents = query(
        warehouse["dsn"], "select distinct useragent from raw.events where useragent != ''"
    )
    assert sorted(row[0] for row in incremental) == sorted(row[0] for row in agents)


def test_agents_parsed_by_other_macros_are_parsed_again(
    warehouse: dict[str, Any], dbt_target: Path
) -> None:
    """A stored parse from other parsing macros (another parser_version) never survives a build."""
    dsn = warehouse["dsn"]
    table = "intermediate.int_user_agents__parsed"
    expected = table_rows(dsn, table)
    query(
        dsn,
        f"update {table} set browser = 'Stale', parser_version = 'old' where useragent in "
        f"(select useragent from {table} order by useragent limit 2)",
    )
    build_day(dsn, DAYS[-1], LATENESS_DAYS, target_path=dbt_target)
    assert table_rows(dsn, table) == expected


# --- point in time and SCD2 ---------------------------------------------------------------


def test_order_lines_join_the_product_version_valid_when_ordered(warehouse: dict[str, Any]) -> None:
    rows = query(
        warehouse["dsn"],
        """
        select e.order_id, p.price, p.is_current
        from marts.fct_events as e
        inner join marts.dim_products as p on e.product_sk = p.product_sk
        where e.event_name = 'order_completed' and e.product_id = 'p1'
        order by e.event_ts
        """,
    )
    # o1 before the 03-03 repricing pays 10.00 (old version); o3 and o4 after it pay 12.00
    assert rows == [
        ("o1", Decimal("10.00"), False),
        ("o3", Decimal("12.00"), True),
        ("o4", Decimal("12.00"), True),
    ]


def test_every_product_event_price_matches_its_point_in_time_version(
    warehouse: dict[str, Any],
) -> None:
    mismatches = query(
        warehouse["dsn"],
        """
        select e.event_id from marts.fct_events as e
        left join marts.dim_products as p on e.product_sk = p.product_sk
        where e.product_id is not null and (p.price is null or p.price != e.price)
        """,
    )
    assert mismatches == []


def test_events_before_and_after_a_user_change_get_different_versions(
    warehouse: dict[str, Any],
) -> None:
    rows = query(
        warehouse["dsn"],
        """
        select e.event_ts::time, u.loyalty_tier
        from marts.fct_events as e
        inner join marts.dim_users as u on e.user_sk = u.user_sk
        where e.anonymous_id = 'a1' and e.event_date = '2024-03-04'
        order by e.event_ts
        """,
    )
    assert rows == [(dt.time(9, 0), "bronze"), (dt.time(11, 0), "gold"), (dt.time(11, 1), "gold")]


def test_scd2_dimensions_have_one_open_version_and_contiguous_windows(
    warehouse: dict[str, Any],
) -> None:
    rows = query(
        warehouse["dsn"],
        """
        select user_id, valid_from, valid_to, is_current, loyalty_tier
        from marts.dim_users where user_id = 'u1' order by valid_from
        """,
    )
    assert rows == [
        ("u1", dt.datetime(1900, 1, 1), dt.datetime(2024, 3, 4, 10), False, "bronze"),
        ("u1", dt.datetime(2024, 3, 4, 10), dt.datetime(9999, 12, 31), True, "gold"),
    ]


# --- identity, sessions, orders -----------------------------------------------------------


def test_login_is_stitched_back_to_the_devices_earlier_anonymous_events(
    warehouse: dict[str, Any],
) -> None:
    rows = query(
        warehouse["dsn"],
        "select distinct user_id from marts.fct_events "
        "where anonymous_id = 'a1' and event_date = '2024-03-01'",
    )
    assert rows == [("u1",)]


def test_late_login_restitches_sessions_outside_the_window(warehouse: dict[str, Any]) -> None:
    # a4 visited anonymously on 03-01 and logged in as u2 on 03-05 (window starts 03-02)
    rows = query(
        warehouse["dsn"],
        "select user_id, is_first_session from marts.fct_sessions "
        "where anonymous_id = 'a4' and session_date = '2024-03-01'",
    )
    assert rows == [("u2", False)]  # u2's first session was on a2 at 12:00


def test_restitching_a_users_first_session_away_makes_their_next_session_first(
    warehouse: dict[str, Any],
) -> None:
    # a7's anonymous 06:00 visit was u4's first session until a7 logged in as u5 on 03-05; u4's
    # 08:00 session on a8 lies outside that day's window and is not rebuilt, yet takes the flag
    # (as in the full refresh: test_incremental_marts_equal_a_full_refresh_row_for_row)
    rows = query(
        warehouse["dsn"],
        "select anonymous_id, session_start_ts, user_id, is_first_session "
        "from marts.fct_sessions where anonymous_id in ('a7', 'a8') order by session_start_ts",
    )
    assert rows == [
        ("a7", dt.datetime(2024, 3, 1, 6), "u5", True),
        ("a8", dt.datetime(2024, 3, 1, 8), "u4", True),
        ("a7", dt.datetime(2024, 3, 1, 10), "u4", False),
        ("a7", dt.datetime(2024, 3, 5, 8), "u5", False),
    ]


def test_session_crossing_midnight_is_one_row_dated_by_its_start(warehouse: dict[str, Any]) -> None:
    rows = query(
        warehouse["dsn"],
        "select session_date, duration_seconds, channel, is_converted, revenue "
        "from marts.fct_sessions where anonymous_id = 'a3'",
    )
    assert rows == [(dt.date(2024, 3, 2), 25 * 60, "Email", True, Decimal("12.00"))]


def test_session_crossing_into_the_window_is_rebuilt_with_its_earlier_events(
    warehouse: dict[str, Any],
) -> None:
    # a9's session runs 03-01 23:55 → 03-02 00:05; the last daily build's window starts 03-02
    rows = query(
        warehouse["dsn"],
        "select session_date, event_count, duration_seconds, landing_page_path "
        "from marts.fct_sessions where anonymous_id = 'a9'",
    )
    assert rows == [(dt.date(2024, 3, 1), 2, 10 * 60, "/night")]


def test_late_event_before_session_start_renames_the_session_without_leaving_the_old_one(
    warehouse: dict[str, Any],
) -> None:
    rows = query(
        warehouse["dsn"],
        "select session_start_ts::time, event_count from marts.fct_sessions "
        "where anonymous_id = 'a5'",
    )
    assert rows == [(dt.time(14, 40), 4)]


def test_order_with_several_lines_is_one_order_with_summed_revenue(
    warehouse: dict[str, Any],
) -> None:
    rows = query(
        warehouse["dsn"],
        "select line_count, item_quantity, revenue from marts.fct_orders where order_id = 'o1'",
    )
    assert rows == [(2, 3, Decimal("60.00"))]


def test_daily_metrics_exclude_bots_and_count_new_users(warehouse: dict[str, Any]) -> None:
    rows = query(
        warehouse["dsn"],
        "select sum(sessions), sum(new_users), sum(orders), sum(revenue) "
        "from marts.fct_daily_metrics",
    )
    # 17 sessions minus the bot's; new users: u1 (a1), u2 (a2), a3, a5, u3 (a6), u5 (a7), u4 (a8),
    # a9
    assert rows == [(16, 8, 5, Decimal("125.50"))]


CHANGED_DATES_LOG = "marts.fct_sessions__changed_dates"


@pytest.fixture
def scratch_warehouse(warehouse: dict[str, Any]) -> Iterator[str]:
    """A copy of the built warehouse for a test to tamper with."""
    name = f"clickstream_dbt_scratch_{uuid.uuid4().hex[:10]}"
    try:
        yield copy_database(warehouse["dsn"], name)
    finally:
        drop_database(name)


ORDER_LINES_INDEX_SQL = """
    select index_class.relname, pg_catalog.pg_get_indexdef(index.indexrelid)
    from pg_catalog.pg_index as index
    inner join pg_catalog.pg_class as index_class on index.indexrelid = index_class.oid
    where index.indrelid = 'marts.fct_events'::regclass and index.indpred is not null
"""


def _order_lines_indexes(dsn: str) -> list[tuple[str, str]]:
    return [(name, definition) for name, definition in query(dsn, ORDER_LINES_INDEX_SQL)]


def test_fct_events_has_its_order_lines_index_after_daily_and_full_builds(
    warehouse: dict[str, Any], full_refresh_dsn: str, scratch_warehouse: str, dbt_target: Path
) -> None:
    for dsn in (warehouse["dsn"], full_refresh_dsn):
        ((name, definition),) = _order_lines_indexes(dsn)
        assert name.startswith("fct_events_pidx_")
        assert definition.endswith("(order_id) WHERE (event_name = 'order_completed'::text)")
    # an index of another definition (an older project's) is replaced, not kept beside it
    ((name, _),) = _order_lines_indexes(scratch_warehouse)
    query(scratch_warehouse, f"alter index marts.{name} rename to fct_events_pidx_00000000_1")
    build_day(scratch_warehouse, DAYS[-1], LATENESS_DAYS, target_path=dbt_target)
    assert [index for index, _ in _order_lines_indexes(scratch_warehouse)] == [name]


def _metrics_of(dsn: str, day: dt.date) -> list[tuple[Any, ...]]:
    return query(
        dsn,
        "select * from marts.fct_daily_metrics where metric_date = %s "
        "order by channel, device_type",
        (day,),
    )


def _changed_dates(dsn: str) -> list[dt.date | None]:
    return [r[0] for r in query(dsn, f"select distinct changed_date from {CHANGED_DATES_LOG}")]


def test_a_sessions_table_from_before_last_arrival_date_is_upgraded_by_a_daily_build(
    scratch_warehouse: str, warehouse: dict[str, Any], dbt_target: Path
) -> None:
    # a warehouse built before fct_sessions had last_arrival_date: the daily build appends the
    # column (on_schema_change) and, unable to tell which arrivals the table has seen, rebuilds
    # every device's late days instead of failing or skipping them
    # (its views over the table go too; the new project's fingerprint rebuilds them)
    query(scratch_warehouse, "alter table marts.fct_sessions drop column last_arrival_date cascade")
    record_static_build(scratch_warehouse, None)
    build_day(scratch_warehouse, DAYS[-1], LATENESS_DAYS, target_path=dbt_target)

    window_start = DAYS[-1] - dt.timedelta(days=LATENESS_DAYS)
    columns = [
        name
        for (name,) in query(
            warehouse["dsn"],
            "select column_name from information_schema.columns "
            "where table_schema = 'marts' and table_name = 'fct_sessions' "
            "and column_name != 'last_arrival_date' order by ordinal_position",
        )
    ]
    every_other_column = f"select {', '.join(columns)} from marts.fct_sessions"
    assert table_rows(scratch_warehouse, f"({every_other_column}) as sessions") == table_rows(
        warehouse["dsn"], f"({every_other_column}) as sessions"
    )
    in_window = (
        "select session_id, last_arrival_date from marts.fct_sessions "
        "where session_end_ts >= %s order by session_id"
    )
    rebuilt = query(scratch_warehouse, in_window, (window_start,))
    assert rebuilt and all(last_arrival is not None for _, last_arrival in rebuilt)
    assert rebuilt == query(warehouse["dsn"], in_window, (window_start,))


def test_every_daily_build_empties_the_session_change_log(warehouse: dict[str, Any]) -> None:
    assert _changed_dates(warehouse["dsn"]) == []


def _window_run(model: str, *extra: str) -> list[str]:
    """``dbt run`` of one model with the daily window of the fixture's last day."""
    window = {
        "window_start": (DAYS[-1] - dt.timedelta(days=LATENESS_DAYS)).isoformat(),
        "window_end": (DAYS[-1] + dt.timedelta(days=2)).isoformat(),
    }
    return ["run", "--select", model, "--vars", json.dumps(window), *extra]


def test_session_builds_log_the_dates_of_the_rows_they_replace_delete_or_insert(
    scratch_warehouse: str, dbt_target: Path
) -> None:
    """fct_sessions logs the date of a session it rewrites, of one it deletes, of one it only
    inserts, and the old date of a re-stitched session outside the window it replaces; nothing
    for the sessions it leaves as they are."""
    changed_day, vanished_day, missing_day = DAYS[-2], DAYS[-3], DAYS[-1]
    window_start = DAYS[-1] - dt.timedelta(days=LATENESS_DAYS)
    with psycopg2.connect(scratch_warehouse) as conn, conn.cursor() as cur:
        cur.execute(
            "update marts.fct_sessions set event_count = event_count + 1 where session_id = "
            "(select min(session_id) from marts.fct_sessions where session_date = %s)",
            (changed_day,),
        )
        # a session no event carries any more (as if renamed by a late event)
        cur.execute(
            "create temp table vanished as select * from marts.fct_sessions "
            "where session_date = %s limit 1",
            (vanished_day,),
        )
        cur.execute(
            "update vanished set session_id = 'vanished-' || session_id, is_first_session = false"
        )
        cur.execute("insert into marts.fct_sessions select * from vanished")
        # a session the table lacks: only the insert can log its date
        cur.execute(
            "delete from marts.fct_sessions where session_id = "
            "(select min(session_id) from marts.fct_sessions where session_date = %s)",
            (missing_day,),
        )
        # a re-stitched device's session ending before the window, with a wrong user: the
        # build replaces it by key (the window's rows are found by their range instead)
        cur.execute(
            "update marts.fct_sessions set user_id = 'someone else' where session_id = ("
            "select min(s.session_id) from marts.fct_sessions as s "
            "join intermediate.int_identity__stitched as i using (anonymous_id) "
            "where i.is_restitched and s.session_end_ts < %s) returning session_date",
            (window_start,),
        )
        restitched = cur.fetchall()
        assert restitched, "the fixture needs a re-stitched session before the window"
        ((restitched_day,),) = restitched
    run_dbt(scratch_warehouse, _window_run("fct_sessions"), target_path=dbt_target)
    logged = set(_changed_dates(scratch_warehouse))
    assert logged == {changed_day, vanished_day, missing_day, restitched_day}


def test_a_complete_session_build_alone_makes_the_metrics_rebuild_every_date(
    warehouse: dict[str, Any], scratch_warehouse: str, dbt_target: Path
) -> None:
    """--full-refresh of fct_sessions on its own logs every date; the next metrics build then
    equals a complete one, though a date's metrics were wrong and never logged."""
    with psycopg2.connect(scratch_warehouse) as conn, conn.cursor() as cur:
        cur.execute("update marts.fct_daily_metrics set orders = orders + 7")
    run_dbt(
        scratch_warehouse, _window_run("fct_sessions", "--full-refresh"), target_path=dbt_target
    )
    assert _changed_dates(scratch_warehouse) == [None]
    run_dbt(scratch_warehouse, ["run", "--select", "fct_daily_metrics"], target_path=dbt_target)
    assert table_rows(scratch_warehouse, "marts.fct_daily_metrics") == table_rows(
        warehouse["dsn"], "marts.fct_daily_metrics"
    )
    assert _changed_dates(scratch_warehouse) == []


def test_a_log_created_anew_makes_the_metrics_rebuild_every_date(
    warehouse: dict[str, Any], scratch_warehouse: str, dbt_target: Path
) -> None:
    """A warehouse without the log (built before it existed, or restored without it): what
    changed is unknown, so the next metrics build rebuilds every date."""
    with psycopg2.connect(scratch_warehouse) as conn, conn.cursor() as cur:
        cur.execute("update marts.fct_daily_metrics set orders = orders + 7")
        cur.execute(f"drop table {CHANGED_DATES_LOG}")
    run_dbt(scratch_warehouse, ["run", "--select", "fct_daily_metrics"], target_path=dbt_target)
    assert table_rows(scratch_warehouse, "marts.fct_daily_metrics") == table_rows(
        warehouse["dsn"], "marts.fct_daily_metrics"
    )


def test_a_build_that_finds_the_log_being_created_waits_for_it_instead_of_failing(
    scratch_warehouse: str, dbt_target: Path
) -> None:
    """Two first builds at once: while one has created the log but not committed, the other
    finds no log. It must wait on the log's creation lock and then use that log, not create
    a second table and fail on the duplicate name."""
    import threading

    with psycopg2.connect(scratch_warehouse) as conn, conn.cursor() as cur:
        cur.execute(f"drop table {CHANGED_DATES_LOG}")
    log = '"marts"."fct_sessions__changed_dates"'
    first = psycopg2.connect(scratch_warehouse)
    outcome: dict[str, Any] = {}
    try:
        with first.cursor() as cur:  # the other build, its create not yet committed
            cur.execute(
                "select pg_advisory_xact_lock("
                "hashtext('clickstream.changed_dates_log'), hashtext(%s))",
                (log,),
            )
            cur.execute(f"create table {log} (changed_date date)")
            cur.execute(f"insert into {log} values (null)")

        def build() -> None:
            outcome["result"] = run_dbt(
                scratch_warehouse, _window_run("fct_sessions"), target_path=dbt_target, check=False
            )

        builder = threading.Thread(target=build)
        builder.start()
        waiting = 0
        for _ in range(600):  # until the build's pre-hook waits on the creation lock
            waiting = query(
                scratch_warehouse,
                "select count(*) from pg_stat_activity where datname = current_database() "
                "and wait_event_type = 'Lock' and wait_event = 'advisory'",
            )[0][0]
            if waiting or not builder.is_alive():
                break
            time.sleep(0.1)
        assert waiting == 1, "the build did not wait for the log being created"
        first.commit()
    finally:
        first.close()
    builder.join(timeout=300)
    statuses = {node.name: node.status for node in outcome["result"].nodes}
    assert statuses["fct_sessions"] == "success" and set(statuses.values()) == {"success"}
    # the log that build found, with the null row it was created with and the build's dates
    assert None in _changed_dates(scratch_warehouse)


def test_daily_metrics_rebuild_exactly_the_logged_dates(
    warehouse: dict[str, Any], scratch_warehouse: str, dbt_target: Path
) -> None:
    """A logged date is rebuilt, an unlogged one left as it is (the model is incremental), a
    logged date without human sessions loses its rows, and a null row rebuilds every date."""
    logged, unlogged, emptied = DAYS[0], DAYS[1], DAYS[2]
    assert _metrics_of(scratch_warehouse, emptied), "the emptied date needs rows to lose"
    with psycopg2.connect(scratch_warehouse) as conn, conn.cursor() as cur:
        cur.execute(
            "update marts.fct_daily_metrics set orders = orders + 7 where metric_date in (%s, %s)",
            (logged, unlogged),
        )
        cur.execute(
            "update marts.fct_sessions set is_bot = true where session_date = %s", (emptied,)
        )
        cur.execute(f"insert into {CHANGED_DATES_LOG} values (%s), (%s)", (logged, emptied))
    tampered = _metrics_of(scratch_warehouse, unlogged)
    run_dbt(scratch_warehouse, ["run", "--select", "fct_daily_metrics"], target_path=dbt_target)
    assert _metrics_of(scratch_warehouse, logged) == _metrics_of(warehouse["dsn"], logged)
    assert _metrics_of(scratch_warehouse, unlogged) == tampered
    assert _metrics_of(scratch_warehouse, emptied) == []
    assert _changed_dates(scratch_warehouse) == []

    with psycopg2.connect(scratch_warehouse) as conn, conn.cursor() as cur:
        cur.execute(f"insert into {CHANGED_DATES_LOG} values (null)")
    run_dbt(scratch_warehouse, ["run", "--select", "fct_daily_metrics"], target_path=dbt_target)
    assert _metrics_of(scratch_warehouse, unlogged) == _metrics_of(warehouse["dsn"], unlogged)
    assert _changed_dates(scratch_warehouse) == []


# --- warehouse shape, grants, docs ---------------------------------------------------------


def test_warehouse_has_exactly_the_contract_schemas(warehouse: dict[str, Any]) -> None:
    rows = query(
        warehouse["dsn"],
        "select nspname from pg_namespace where nspname not like 'pg\\_%' "
        "and nspname not in ('information_schema', 'public') order by 1",
    )
    assert [r[0] for r in rows] == sorted(["raw", "staging", "intermediate", "snapshots", "marts"])


def test_analyst_role_reads_marts_but_not_raw(warehouse: dict[str, Any]) -> None:
    rows = query(
        warehouse["dsn"],
        """
        select
            has_schema_privilege('analyst', 'marts', 'usage'),
            has_table_privilege('analyst', 'marts.fct_sessions', 'select'),
            has_table_privilege('analyst', 'marts.dim_users', 'select'),
            has_schema_privilege('analyst', 'raw', 'usage'),
            has_table_privilege('analyst', 'raw.events', 'select')
        """,
    )
    assert rows == [(True, True, True, False, False)]


def test_incremental_facts_have_their_indexes(warehouse: dict[str, Any]) -> None:
    rows = query(
        warehouse["dsn"],
        "select tablename, indexdef from pg_indexes where schemaname = 'marts' "
        "and tablename in ('fct_events', 'fct_sessions')",
    )
    definitions = " ".join(r[1] for r in rows)
    assert "USING btree (event_ts)" in definitions
    assert "USING btree (session_start_ts)" in definitions
    assert "UNIQUE INDEX" in definitions


def test_a_complete_build_stores_the_events_in_time_order(full_refresh_dsn: str) -> None:
    """A time range read through fct_events' event_ts index touches consecutive pages only if
    the table's pages follow time, and only then does the planner choose the index."""
    ((rows, out_of_order),) = query(
        full_refresh_dsn,
        "select count(*), count(*) filter (where event_ts < previous_ts) from ("
        "select event_ts, lag(event_ts) over (order by ctid) as previous_ts "
        "from marts.fct_events) as stored",
    )
    assert rows > 0
    assert out_of_order == 0


def test_every_model_and_column_in_the_warehouse_is_documented(
    warehouse: dict[str, Any], dbt_target: Path
) -> None:
    """Checks the catalog (real columns) against the manifest (documented columns)."""
    import json

    docs_generate(warehouse["dsn"], target_path=dbt_target)
    manifest = json.loads((dbt_target / "manifest.json").read_text())
    catalog = json.loads((dbt_target / "catalog.json").read_text())
    missing = []
    for unique_id, entry in catalog["nodes"].items():
        node = manifest["nodes"].get(unique_id)
        if node is None or node["resource_type"] not in ("model", "snapshot", "seed"):
            continue
        documented = {
            name.lower()
            for name, col in node["columns"].items()
            if col.get("description", "").strip()
        }
        if not node.get("description", "").strip():
            missing.append(unique_id)
        dbt_meta = {"dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to"}
        for column in entry["columns"]:
            if column.lower() not in documented and column.lower() not in dbt_meta:
                missing.append(f"{unique_id}.{column}")
        # the other way round: a documented column the relation lacks (a typo, a dropped
        # column) gets no comment; macros/persist_docs.sql leaves that check to this test
        real = {column.lower() for column in entry["columns"]}
        missing += [f"{unique_id}.{name} (documented only)" for name in documented - real]
    assert missing == []


def test_the_database_comments_are_the_documentation(
    warehouse: dict[str, Any], dbt_target: Path
) -> None:
    """macros/persist_docs.sql (one DO block a relation) leaves every model relation and every
    documented column with its description as the comment, after daily builds too."""
    manifest = json.loads((dbt_target / "manifest.json").read_text())
    expected = {}
    for node in manifest["nodes"].values():
        if node["resource_type"] != "model" or not node["config"]["persist_docs"]:
            continue
        relation = (node["schema"], node["alias"])
        expected[(*relation, None)] = node["description"].strip()
        for name, column in node["columns"].items():
            expected[(*relation, name)] = column["description"].strip()
    rows = query(
        warehouse["dsn"],
        """
        select namespace.nspname, class.relname, null, obj_description(class.oid, 'pg_class')
        from pg_catalog.pg_class as class
        inner join pg_catalog.pg_namespace as namespace on class.relnamespace = namespace.oid
        union all
        select namespace.nspname, class.relname, attribute.attname,
            col_description(class.oid, attribute.attnum)
        from pg_catalog.pg_attribute as attribute
        inner join pg_catalog.pg_class as class on attribute.attrelid = class.oid
        inner join pg_catalog.pg_namespace as namespace on class.relnamespace = namespace.oid
        where attribute.attnum > 0 and not attribute.attisdropped
        """,
    )
    actual = {
        (schema, table, column): (comment or "").strip() for schema, table, column, comment in rows
    }
    assert len(expected) > 300
    assert {key: actual.get(key) for key in expected} == expected


def test_an_event_id_repeated_on_another_day_fails_the_daily_build(
    scratch_warehouse: str, tmp_path: Path
) -> None:
    """The daily build skips stg_raw__events' unique event_id test, which reads only the
    window: fct_events' primary key refuses an id that the table holds from any day."""
    query(
        scratch_warehouse,
        "create temp table repeated as select * from raw.events where event_date = %s limit 1; "
        "update repeated set event_date = %s, arrival_date = %s; "
        "insert into raw.events select * from repeated",
        (DAYS[0], DAYS[-1], DAYS[-1]),
    )
    result = build_day(
        scratch_warehouse, DAYS[-1], LATENESS_DAYS, target_path=tmp_path, check=False
    )
    assert result.status_of("unique_stg_raw__events_event_id") is None
    assert result.status_of("fct_events") == "error"
    failed = next(node for node in result.nodes if node.name == "fct_events")
    assert "fct_events_pkey" in (failed.message or "")


def test_run_dbt_failure_names_the_failing_node(
    warehouse: dict[str, Any], dbt_target: Path
) -> None:
    """A failing data test surfaces as StageFailedError naming the test (row restored after)."""
    from clickstream.errors import StageFailedError

    dsn = warehouse["dsn"]
    # a rule no constraint enforces (row rules such as line_count >= 1 are check constraints)
    ((user_sk,),) = query(dsn, "select user_sk from marts.fct_orders where order_id = 'o2'")
    query(dsn, "update marts.fct_orders set user_sk = 'no-such-version' where order_id = 'o2'")
    try:
        with pytest.raises(StageFailedError, match="relationships_fct_orders_user_sk"):
            run_dbt(dsn, ["test", "--select", "fct_orders,test_type:data"], target_path=dbt_target)
    finally:
        query(dsn, "update marts.fct_orders set user_sk = %s where order_id = 'o2'", (user_sk,))


def test_contracted_marts_have_their_contracts_columns_in_order_with_the_declared_types(
    warehouse: dict[str, Any], dbt_target: Path
) -> None:
    """create_table_as builds them by CREATE TABLE AS, not from the contract's DDL: the table
    must still be what the contract declares (order, types with their precision, keys)."""
    manifest = json.loads((dbt_target / "manifest.json").read_text())
    contracted = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["config"]["contract"]["enforced"]
    ]
    assert len(contracted) >= 8
    catalog_sql = (
        "select attname, format_type(atttypid, atttypmod) from pg_catalog.pg_attribute "
        "where attrelid = %s::regclass and attnum > 0 and not attisdropped order by attnum"
    )
    con = psycopg2.connect(warehouse["dsn"])
    try:
        with con.cursor() as cur:
            for node in contracted:
                relation = f"{node['schema']}.{node['alias']}"
                columns = list(node["columns"].values())
                # PostgreSQL spells the declared types its own way: a table of them to compare
                declared_ddl = ", ".join(f'"{c["name"]}" {c["data_type"]}' for c in columns)
                cur.execute(f"create temp table declared ({declared_ddl})")
                cur.execute(catalog_sql, ("declared",))
                declared = cur.fetchall()
                cur.execute("drop table declared")
                cur.execute(catalog_sql, (relation,))
                assert cur.fetchall() == declared, relation
                keys = [
                    c["name"]
                    for c in columns
                    for constraint in c.get("constraints", [])
                    if constraint["type"] == "primary_key"
                ]
                if keys:
                    cur.execute(
                        "select pg_get_constraintdef(oid) from pg_catalog.pg_constraint "
                        "where conrelid = %s::regclass and contype = 'p'",
                        (relation,),
                    )
                    assert cur.fetchall() == [(f"PRIMARY KEY ({', '.join(keys)})",)], relation
    finally:
        con.close()


def test_marts_enforce_their_row_rules_as_constraints(warehouse: dict[str, Any]) -> None:
    """The daily build skips the tests of rules PostgreSQL enforces: a bad row is refused."""
    dsn = warehouse["dsn"]
    refused = [
        "update marts.fct_orders set line_count = 0 where order_id = 'o2'",
        "update marts.fct_daily_metrics set bounce_rate = 1.5",
        "update marts.fct_daily_metrics set new_users = users + 1",
        "insert into marts.fct_daily_metrics select * from marts.fct_daily_metrics limit 1",
        "update marts.dim_products set price = -1",
        "update marts.dim_users set loyalty_tier = 'diamond'",
        # a second version starting at the same time, under another surrogate key
        "create temp table twin as select * from marts.dim_users limit 1; "
        "update twin set user_sk = user_sk || '-twin'; "
        "insert into marts.dim_users select * from twin",
        "update marts.rpt_customer_rfm set rfm_segment = 'vip'",
    ]
    for statement in refused:
        with pytest.raises(psycopg2.IntegrityError):
            query(dsn, statement)
