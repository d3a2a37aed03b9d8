"""Render benchmark results as Markdown, and judge them against the project's targets.

Pure functions over the JSON-able dict ``clickstream.bench`` collects, so the report can be
re-rendered from ``docs/benchmarks.json`` and tested without running anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

E2E_TARGETS = {1_000_000: 90.0, 10_000_000: 720.0}
GENERATOR_RATE_TARGET = 300_000
GENERATOR_RATE_EVENTS = 1_000_000
GENERATOR_MEMORY_TARGET_MIB = 1024
GENERATOR_MEMORY_EVENTS = 10_000_000
LOAD_SPEEDUP_TARGET = 5.0
STAGING_TARGET = (1_000_000, 60.0)
"""Events of one day and the seconds ``clickstream stage`` may take, JVM start included."""
PARQUET_SMALLER_TARGET = 0.85
INCREMENTAL_SHARE_TARGET = 0.25
INCREMENTAL_TARGET_DAYS = 30

STAGE_NOTES = {
    "generate": (
        "numpy draws, then CSV text built with Arrow and written in 50K-row slices; one thread "
        "simulates the next chunk while another renders the current one. Linear in events."
    ),
    "spark_start": (
        "the wait for the SparkSession once generation is done: the JVM starts in the "
        "background while the generator writes (a fixed cost, independent of size)."
    ),
    "stage": (
        "one Spark job on local[2]. The local driver's JIT follows the input: C1 only below "
        "≈170 MB of landing CSV, where C2's ≈40 s of compile CPU does not pay, tiered C2 above "
        "(1M-event day on a 2-core Xeon: 81-85 s with C2 against 98-115 s with C1). A sampled "
        "profile of that day (thread dumps twice a second, C2): the two executor threads run "
        "tasks 82% of the wall time; of their samples 47% are shuffle-map tasks (read, split, "
        "parse and validate the lines, classify them, shuffle by key), 26% the zstd Parquet "
        "lake write straight from the session sort, 18% building the cached classified rows; "
        "LZ4 (de)compression of shuffle blocks is 11% (switching it off measured within noise)."
    ),
    "load": (
        "binary COPY (Arrow → pgpq) in 2 sessions into unattached loading tables, then one "
        "transaction builds each primary key (PostgreSQL's parallel build), swaps the "
        "partitions in, counts and fingerprints the day's rows in one scan and audits; the "
        "quarantine and extracts are COPYed meanwhile on the transaction's own connection."
    ),
    "transform": (
        "one in-process `dbt build` (dbtRunner: partial parse, compile, models and tests on "
        "4 threads); the slowest nodes are listed below."
    ),
    "analyze": (
        "one dbt compile of the analyses, then their SQL on one connection per core while "
        "the main thread draws the chart of each result as it arrives, then the dashboard."
    ),
}


LOAD_PROFILE = (
    "**Where the loader's time goes** (measured 2026-11-28 on a 2-core AMD EPYC, PostgreSQL "
    "15, a staged 1M-event day: 989,703 events plus 137K quarantine and extract rows; `perf` "
    "over three loads, then interleaved variants, 8 rounds each). A load keeps both cores "
    "80-85% busy for ≈7 CPU-s, so only less work makes it faster, not more overlap. The "
    "server's COPY takes ≈3.8 CPU-s: decoding the binary fields ≈1.5 (text ≈0.4, timestamps "
    "≈0.2), inserting the tuples ≈1.4, of which ≈0.7 is PostgreSQL 15 extending the table one "
    "8 KB page at a time (each written as zeroes through the kernel, and again when evicted: "
    "0.25) and ≈0.3 its WAL. The primary key build takes ≈0.75 CPU-s, the reconciliation "
    "scan ≈0.3. The client ≈1.8: Parquet decoding ≈0.6 and pgpq's encoding ≈0.5-0.7 per 1M "
    "events, the extracts' share and the copies between them. Of that, ≈0.4 CPU-s went to "
    "page faults: a 64K-row batch encodes into ≈35 MB, which the allocator mapped and "
    "unmapped afresh for every batch; pgpq now encodes 8K-row slices (30K page faults "
    "instead of 160K; a later session's 5 interleaved rounds on a slower machine: "
    "`load_days` 3.97 → 3.80 s, the tuned JDBC writer ≈12.5 s there). Without "
    "`raw.events`' primary key the load takes 15% less time (4.39 → 3.75 s, medians): on "
    "its own that would bring a 4.0-4.1× ratio to ≈4.7-4.8×, still short of 5×, at the "
    "price of a raw layer that no longer refuses a duplicate event id, so the key stays. "
    "The quarantine rows and extracts (135K rows, COPYed beside the events) are 8% of a "
    "reload (skipping them: 4.91 → 4.50 s); Arrow decoding the Parquet without its thread "
    "pool gained nothing (4.77 against 4.28 s)."
)
"""The load's profile: facts measured once, printed under section 2 (the numbers above it are
this run's)."""


def _rounds_text(rounds: int) -> str:
    """How many runs each row of the load table is the median of."""
    if rounds <= 1:
        return "One run each"
    return (
        f"Medians of {rounds} runs each (a JDBC writer's in one JVM; executemany: of the "
        "run's repeats)"
    )


def _n(value: Any, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, int) or (isinstance(value, float) and abs(value) >= 1000):
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return [*lines, ""]


# --------------------------------------------------------------------------- targets


def _verdict(
    measured: float | None, target: float, higher_is_better: bool
) -> tuple[str, bool | None]:
    if measured is None:
        return "not measured", None
    ok = measured >= target if higher_is_better else measured <= target
    gap = abs(measured - target) / target
    # a gap under 1% keeps a decimal: "missed by 0%" reads as a contradiction
    shown = f"{gap:.1%}" if gap < 0.01 else f"{gap:.0%}"
    if ok:
        return f"met ({shown} margin)", True
    return f"**missed by {shown}**", False


def _generator_targets(data: dict[str, Any]) -> list[dict[str, Any]]:
    by_size = {row["events"]: row for row in data.get("sizes", [])}
    rate_row = by_size.get(GENERATOR_RATE_EVENTS)
    rate = rate_row["events_per_second"] if rate_row else None
    memory_row = by_size.get(GENERATOR_MEMORY_EVENTS)
    memory = memory_row["peak_rss_mib"] if memory_row else None
    rows = []
    for target, measured, shown, limit, higher in (
        (
            f"generator ≥ {GENERATOR_RATE_TARGET:,} events/s at {GENERATOR_RATE_EVENTS:,}",
            rate,
            None if rate is None else f"{rate:,.0f} events/s",
            GENERATOR_RATE_TARGET,
            True,
        ),
        (
            f"generator memory < {GENERATOR_MEMORY_TARGET_MIB:,} MiB at "
            f"{GENERATOR_MEMORY_EVENTS:,} events",
            memory,
            None if memory is None else f"{memory:,.0f} MiB",
            GENERATOR_MEMORY_TARGET_MIB,
            False,
        ),
    ):
        verdict, ok = _verdict(measured, limit, higher_is_better=higher)
        rows.append(
            {"target": target, "measured": shown, "verdict": verdict, "met": ok, "note": ""}
        )
    return rows


def _staging_target(staging: dict[str, Any]) -> dict[str, Any]:
    events, limit = STAGING_TARGET
    cli = staging.get("cli") or {}
    measured = cli.get("seconds") if cli.get("events") == events else None
    verdict, ok = _verdict(measured, limit, higher_is_better=False)
    return {
        "target": f"staging {events:,} events ≤ {limit:.0f} s, JVM start included",
        "measured": None if measured is None else f"{measured:,.1f} s",
        "verdict": verdict,
        "met": ok,
        "note": "`clickstream stage --date D` in a fresh process, "
        f"{cli['landed_rows']:,} landed rows"
        if measured is not None
        else "",
    }


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per target: what was measured, the verdict, and by how much."""
    targets: list[dict[str, Any]] = _generator_targets(results.get("generator", {}))
    e2e = results.get("end_to_end", {})
    measured_rows = [row for row in e2e.get("sizes", []) if "error" not in row]
    by_size = {row["events"]: row for row in measured_rows}
    exponent = e2e.get("growth_exponent")
    for size, limit in E2E_TARGETS.items():
        row = by_size.get(size)
        measured = row["wall_seconds"] if row else None
        note = ""
        if row is None and measured_rows and exponent:
            largest = measured_rows[-1]
            ratio = size / largest["landed_rows"]
            curve = largest["wall_seconds"] * ratio**exponent
            linear = largest["wall_seconds"] * ratio
            # the fitted curve is flattened by fixed costs (JVM start, dbt parse) that small
            # sizes are made of, so it understates a 10x bigger day; linear growth from the
            # largest measured size overstates it (those fixed costs do not grow)
            note = (
                f"extrapolated, not measured: between ≈{curve:,.0f} s (the fitted curve) and "
                f"≈{linear:,.0f} s (linear from the largest size)"
            )
        verdict, ok = _verdict(measured, limit, higher_is_better=False)
        targets.append(
            {
                "target": f"{size:,} events end to end ≤ {limit:,.0f} s",
                "measured": None if measured is None else f"{measured:,.1f} s",
                "verdict": verdict,
                "met": ok,
                "note": note,
            }
        )
    targets.append(_staging_target(results.get("staging", {})))
    load = results.get("load", {})
    speedup = load.get("spark_jdbc", {}).get("copy_speedup")
    verdict, ok = _verdict(speedup, LOAD_SPEEDUP_TARGET, higher_is_better=True)
    targets.append(
        {
            "target": f"load ≥ {LOAD_SPEEDUP_TARGET:.0f}× the Spark JDBC writer (tuned)",
            "measured": None if speedup is None else f"{speedup:.1f}×",
            "verdict": verdict,
            "met": ok,
            "note": "",
        }
    )
    zstd = results.get("storage", {}).get("formats", {}).get("parquet_zstd", {})
    smaller = zstd.get("smaller_than_csv_per_row")
    verdict, ok = _verdict(smaller, PARQUET_SMALLER_TARGET, higher_is_better=True)
    targets.append(
        {
            "target": f"Parquet ≥ {PARQUET_SMALLER_TARGET:.0%} smaller than CSV",
            "measured": _pct(smaller) if smaller is not None else None,
            "verdict": verdict,
            "met": ok,
            "note": "zstd, bytes per event",
        }
    )
    points = results.get("dbt", {}).get("points", [])
    point = next((p for p in points if p["days"] == INCREMENTAL_TARGET_DAYS), None)
    note = ""
    if point is None and points:
        point = points[-1]
        note = f"measured at {point['days']} days (no {INCREMENTAL_TARGET_DAYS}-day point)"
    share = point["incremental_share"] if point else None
    verdict, ok = _verdict(share, INCREMENTAL_SHARE_TARGET, higher_is_better=False)
    targets.append(
        {
            "target": f"incremental daily run ≤ {INCREMENTAL_SHARE_TARGET:.0%} of a full refresh "
            f"at {INCREMENTAL_TARGET_DAYS} days",
            "measured": _pct(share) if share is not None else None,
            "verdict": verdict,
            "met": ok,
            "note": note,
        }
    )
    return targets


# --------------------------------------------------------------------------- sections


def _section_e2e(data: dict[str, Any]) -> list[str]:
    failed = [r for r in data.get("sizes", []) if "error" in r]
    rows = [r for r in data.get("sizes", []) if "error" not in r]
    stages = list(rows[0]["stages"]) if rows else []
    lines = _table(
        ["events (landed)", "wall s", "events/s", "peak RSS MiB", *[f"{s} s" for s in stages]],
        [
            [
                _n(r["landed_rows"]),
                _n(r["wall_seconds"]),
                _n(r["events_per_second"]),
                _n(r["peak_rss_mib"]),
                *[_n(r["stages"][s]) for s in stages],
            ]
            for r in rows
        ],
    )
    for row in failed:
        lines += [f"**Failed at {row['events']:,} events:** {row['error'].splitlines()[0]}", ""]
    exponent = data.get("growth_exponent")
    if exponent is not None:
        lines.append(
            f"**Curve.** Wall time grows as size^{exponent:.2f} over the measured sizes "
            "(1.0 = linear; below 1 the fixed costs — JVM start, dbt parse, analyses — are "
            "still being amortised)."
        )
        lines.append("")
    if rows:
        largest = rows[-1]
        stage, seconds = max(largest["stages"].items(), key=lambda kv: kv[1])
        share = seconds / sum(largest["stages"].values())
        lines.append(
            f"**Profile.** At {largest['landed_rows']:,} events the slowest stage is "
            f"`{stage}` ({seconds:.1f} s, {share:.0%} of the stage time): "
            f"{STAGE_NOTES.get(stage, '')}"
        )
        lines.append("")
        lines += _failures_note(sorted({f for r in rows for f in r.get("dbt_failures", [])}))
        if largest.get("dbt_slowest"):
            lines.append(
                "Slowest dbt nodes in that run: "
                + ", ".join(f"`{n['name']}` {n['seconds']:.1f} s" for n in largest["dbt_slowest"])
                + "."
            )
            lines.append("")
    return lines


def _section_generator(data: dict[str, Any]) -> list[str]:
    rows = data.get("sizes", [])
    lines = _table(
        [
            "events asked",
            "rows written",
            "wall s",
            "events/s",
            "CPU s",
            "threads",
            "peak RSS MiB",
            "MiB of CSV",
        ],
        [
            [
                _n(r["events"]),
                _n(r["rows_written"]),
                _n(r["seconds"], 2),
                _n(r["events_per_second"]),
                _n(r["cpu_seconds"], 2),
                str(r["workers"]),
                _n(r["peak_rss_mib"]),
                _n(r["mib_written"]),
            ]
            for r in rows
        ],
    )
    lines += [
        "One landing day per run, in a fresh process (`python -m generator.bench N`); wall time "
        "includes writing the CSV files. CPU s counts both threads, so CPU s above wall s means "
        "the two cores overlapped.",
        "",
    ]
    return lines


def _section_load(data: dict[str, Any]) -> list[str]:
    labels = {
        "copy": "project loader `load_days` (COPY)",
        "copy_transport": "COPY transport only, bare table",
        "spark_jdbc": "Spark JDBC writer, tuned (the target's yardstick)",
        "spark_jdbc_default": "Spark JDBC writer, default settings",
        "executemany": "psycopg2 executemany",
    }
    rows = []
    for key, label in labels.items():
        item = data.get(key, {})
        if "error" in item:
            rows.append([label, "failed: " + item["error"].splitlines()[0], "–", "–", "–"])
            continue

        def ratio(value: float | None) -> str:
            return f"{value:.1f}×" if value else "–"

        rows.append(
            [
                label,
                _n(item.get("rows_per_second")),
                "1.0×" if key == "copy" else ratio(item.get("copy_speedup")),
                ratio(item.get("transport_speedup")),
                item.get("what", ""),
            ]
        )
    lines = [
        f"{_n(data.get('rows'))} accepted events of one staged day, into a fresh database; "
        "the loader with its transport and each JDBC writer run in a fresh process of their "
        "own, and every contender starts once the page cache was written out (`sync`). "
        f"{_rounds_text(int(data.get('rounds', 1)))}; every run is in the JSON. "
        "The project loader does more than move rows (primary key, partition swap, "
        "reconciliation, audit, atomic per day), so its ratio is the conservative one and is "
        "the one judged against the target, against the tuned JDBC writer; the transport-only "
        "ratio compares like with like.",
        "",
    ]
    table = _table(
        ["method", "rows/s", "project loader is faster by", "COPY transport is faster by", "what"],
        rows,
    )
    return [*lines, *table, LOAD_PROFILE, ""]


def _section_staging(data: dict[str, Any]) -> list[str]:
    rows = data.get("sizes", [])
    started = data.get("spark_session_start_seconds")
    session = (
        f"session already running; its start took {_n(started)} s"
        if started is not None
        else "times of the staging step in the end-to-end runs; JVM start excluded, "
        "see `spark_start` in section 1"
    )
    lines = [
        f"Spark `{data.get('spark_master')}` ({session}) vs DuckDB with "
        f"{data.get('duckdb_threads') or 'all'} threads, same landing files, same rules "
        "(`spark_staging/duckdb_baseline.py`).",
        "",
    ]
    lines += _table(
        [
            "events",
            "Spark s",
            "DuckDB s",
            "Spark ÷ DuckDB",
            "Spark ev/s",
            "DuckDB ev/s",
            "accepted (Spark / DuckDB)",
        ],
        [
            [
                _n(r["landed_rows"]),
                _n(r["spark_seconds"]),
                _n(r["duckdb_seconds"]),
                f"{r['spark_over_duckdb']:.1f}×",
                _n(r["spark_events_per_second"]),
                _n(r["duckdb_events_per_second"]),
                f"{r['spark_accepted']:,} / {r['duckdb_accepted']:,}",
            ]
            for r in rows
        ],
    )
    crossover = data.get("crossover_events")
    if rows:
        ratio = rows[-1]["spark_over_duckdb"]
        lines.append(
            f"**Honest ratio.** On this machine DuckDB is {ratio:.1f}× faster than Spark at "
            f"{rows[-1]['landed_rows']:,} events. "
            + (
                f"Extrapolating the measured curves (power laws through {len(rows)} points; an "
                f"order of magnitude, no more), single-machine Spark would catch up near "
                f"{crossover:,.0f} events per batch."
                if crossover
                else "The measured curves do not cross: on one machine Spark does not catch up "
                "at any size we can extrapolate to."
            )
        )
        cores = data.get("breakeven_cluster_cores")
        if cores:
            lines.append(
                f"Spark's scale-out pays off once a cluster gives the job more than ≈{cores} "
                "cores (assuming linear scaling of this job), or when one day's data no longer "
                "fits one machine's disk and memory; see docs/scaling.md for running on a cluster."
            )
        lines.append("")
    cli = data.get("cli")
    if cli:
        lines += [
            f"**As a user runs it.** `clickstream stage --date D` of the {cli['events']:,}-event "
            f"day in a fresh process, JVM start included: {cli['seconds']:.1f} s.",
            "",
        ]
    cluster = data.get("cluster", {})
    if "skipped" in cluster:
        lines.append(f"Cluster run: skipped — {cluster['skipped']}.")
    elif "error" in cluster:
        lines.append(f"Cluster run failed: {cluster['error'].splitlines()[0]}")
    elif cluster:
        lines.append(
            f"**Cluster option.** `clickstream stage` on {cluster['events']:,} events, JVM start "
            f"included: local[2] {cluster['local_cli_seconds']:.1f} s vs a standalone cluster "
            f"({cluster['cluster']}) {cluster['cluster_cli_seconds']:.1f} s "
            f"({cluster['cluster_over_local']:.2f}×). Same cores, so no gain is expected here; "
            "the point is that the same command runs unchanged on a real cluster."
        )
    lines.append("")
    return lines


def _section_storage(data: dict[str, Any]) -> list[str]:
    labels = {
        "landing_csv": "landing CSV (26 text columns, all rows)",
        "parquet_snappy": "Parquet snappy (the same 26 columns, typed)",
        "parquet_zstd": "Parquet zstd (the same 26 columns, typed)",
        "parquet_snappy_lake_columns": "Parquet snappy (all lake columns)",
        "parquet_zstd_lake_columns": "Parquet zstd (all lake columns)",
        "lake_as_staged": "lake as staged (zstd, sorted by device/time, by date)",
    }
    rows = [
        [
            labels.get(name, name),
            _n(item["rows"]),
            f"{item['bytes'] / 2**20:,.1f}",
            _n(item["bytes_per_row"]),
            _pct(item.get("smaller_than_csv_per_row")),
        ]
        for name, item in data.get("formats", {}).items()
    ]
    lines = [
        "Same events: the Parquet files hold the accepted events (the CSV also has the few "
        "defective lines), so sizes are compared per event. The first two Parquet rows keep "
        "exactly the CSV's 26 columns (the target is judged on zstd there); the lake rows add "
        f"the derived columns ({data.get('lake_columns')} in all: session ids, derived time, "
        "bot flag...).",
        "",
    ]
    return lines + _table(["format", "rows", "MiB", "bytes/event", "smaller than CSV"], rows)


_PARTITION_NODE = re.compile(r"^(?P<node>.+ on )(?P<table>\w+)_p\d{8}$")


def plan_summary(nodes: list[str]) -> str:
    """A plan's node types, one entry per partitioned table's scans ("Seq Scan on 90 events
    partitions") instead of one per partition, which made a 90-day row unreadable."""
    partitions: dict[tuple[str, str], int] = {}
    others: list[str] = []
    for node in nodes:
        if (match := _PARTITION_NODE.match(node)) is not None:
            key = (match["node"], match["table"])
            partitions[key] = partitions.get(key, 0) + 1
        else:
            others.append(node)
    grouped = [f"{node}{count} {table} partitions" for (node, table), count in partitions.items()]
    return ", ".join(sorted(others + grouped))


def _section_queries(data: dict[str, Any]) -> list[str]:
    lines = [
        f"{data.get('days')} days, {_n(data.get('events'))} events; range "
        f"[{data['range'][0]}, {data['range'][1]}) (7 days). Warm cache, median of repeated runs.",
        "",
    ]
    rows = []
    for table, modes in data.get("postgres", {}).items():
        for mode, item in modes.items():
            label = "index + pruning" if mode == "with" else "planner: no index scans, no pruning"
            rows.append(
                [
                    f"PostgreSQL {table}",
                    label,
                    f"{item['ms']:.2f}",
                    str(item["relations_scanned"]),
                    plan_summary(item["plan"]),
                ]
            )
    parquet = data.get("parquet_duckdb", {})
    for mode in ("with", "without"):
        item = parquet.get(mode)
        if item:
            label = "partition filter on event_date" if mode == "with" else "no partition filter"
            files = parquet["files_in_range"] if mode == "with" else parquet["files_total"]
            rows.append(["Parquet lake (DuckDB)", label, f"{item['ms']:.2f}", f"{files} files", ""])
    return lines + _table(["data", "access path", "ms", "relations/files", "plan nodes"], rows)


def _failures_note(failures: list[str]) -> list[str]:
    if not failures:
        return []
    shown = "; ".join(failures[:5]) + (f" (+{len(failures) - 5} more)" if len(failures) > 5 else "")
    return [
        f"**Warning:** dbt reported failing nodes during these runs (timings are still valid, "
        f"every node ran): {shown}.",
        "",
    ]


def _section_dbt(data: dict[str, Any]) -> list[str]:
    rows = [
        [
            str(p["days"]),
            _n(p["fct_events_rows"]),
            _n(p.get("new_day_added_rows")),
            _n(p["incremental_seconds"]),
            _n(p["full_refresh_seconds"]),
            _pct(p["incremental_share"]),
        ]
        for p in data.get("points", [])
    ]
    lines = [
        f"{_n(data.get('events_per_day'))} events/day. Incremental = `dbt build` with the "
        "[D-L, D+2) window after staging and loading day D on a warehouse built for D-1 (the "
        "day's arrivals are new to it, as in production); full refresh = the same with "
        "`--full-refresh`. With repeats, every repeat's daily build starts from a copy of the "
        "database as that load left it.",
        "",
    ]
    overhead = [
        f"- {p['days']} days: {p['incremental_nodes']} nodes; slowest "
        + ", ".join(f"`{n['name']}` {n['seconds']:.1f} s" for n in p["incremental_slowest"])
        for p in data.get("points", [])
        if p.get("incremental_slowest")
    ]
    if overhead:
        overhead = [
            "",
            "Where an incremental build's time goes (dbt's per-node timings):",
            *overhead,
        ]
    return (
        lines
        + _table(
            [
                "days loaded",
                "fct_events rows",
                "new events of day D",
                "incremental s",
                "full refresh s",
                "incremental ÷ full",
            ],
            rows,
        )
        + overhead
        + _failures_note(data.get("dbt_failures", []))
    )


SECTIONS: list[tuple[str, str, Callable[[dict[str, Any]], list[str]]]] = [
    ("generator", "0. Generator: landing files written", _section_generator),
    ("end_to_end", "1. End to end (generate → stage → load → dbt build → analyses)", _section_e2e),
    ("load", "2. Load: COPY vs Spark JDBC vs executemany", _section_load),
    ("staging", "3. Staging engine: Spark vs DuckDB", _section_staging),
    ("storage", "4. Storage: CSV vs Parquet", _section_storage),
    ("queries", "5. Query speed: 7-day range over the history", _section_queries),
    ("dbt", "6. dbt: incremental daily run vs full refresh", _section_dbt),
]


def render_markdown(report: dict[str, Any]) -> str:
    """The whole ``docs/benchmarks.md`` from the collected report dict."""
    machine = report["machine"]
    params = report["parameters"]
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `clickstream bench` on {machine.get('date_utc')} "
        f"(commit `{machine.get('git_commit')}`); raw numbers in `{report['json_name']}`.",
        "",
        "```",
        report["command"],
        "```",
        "",
        f"Parameters: sizes {params['sizes']}, repeats {params['repeats']} (medians reported), "
        f"quick={params['quick']}, Spark `{params['spark_master']}`, "
        "shuffle partitions ~1 per 200 MB of landing CSV "
        f"(at most {params['shuffle_partitions']}), "
        f"lateness {params['lateness_days']} days. "
        f"Total benchmark time {report['total_seconds']:,.0f} s.",
        "",
        "## Machine",
        "",
    ]
    lines += _table(["", ""], [[k, str(v)] for k, v in machine.items()])
    lines += ["## Targets", ""]
    lines += _table(
        ["target", "measured", "verdict", "note"],
        [[t["target"], t["measured"] or "–", t["verdict"], t["note"]] for t in report["targets"]],
    )
    for key, title, render in SECTIONS:
        lines += [f"## {title}", ""]
        data = report["scenarios"].get(key)
        if data is None:
            lines += ["Not run.", ""]
        elif "error" in data and len(data) <= 3:
            lines += [f"`{data.get('where', '')}`", ""] if data.get("where") else []
            lines += [
                f"**Failed** after {data.get('seconds', 0):.0f} s: ",
                "",
                "```",
                data["error"],
                "```",
                "",
            ]
        else:
            lines += render(data)
        if data and "seconds" in data:
            lines += [f"_(scenario time {data['seconds']:,.0f} s)_", ""]
    lines += [
        "## Reproduce",
        "",
        "```",
        "clickstream bench --sizes 100000,1000000 --repeats 3   # writes this file + JSON",
        "clickstream bench --quick --out /tmp/bench.md          # smoke run, ~3 minutes",
        "```",
        "",
        "Spark's JDBC writer (section 2) needs PostgreSQL on TCP: with the embedded, socket-only "
        "warehouse, point `CLICKSTREAM_PG_DSN` at a server first, e.g. "
        "`postgresql://postgres@127.0.0.1:5432/postgres`.",
        "",
        "Peak RSS is the summed resident memory of the process tree (Python, the Spark JVM, "
        "workers), sampled every 0.25 s; the PostgreSQL server's memory is not included. "
        "Each end-to-end run is a fresh process with its own JVM and a throwaway database.",
        "",
    ]
    return "\n".join(lines)
