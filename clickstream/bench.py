"""``clickstream bench``: run every scenario side by side and write the Markdown + JSON report.

The scenarios live in ``bench_scenarios`` (what is measured), the machine/timing/memory helpers
in ``bench_env`` and the rendering in ``bench_report``; this module only orchestrates: one
context, every scenario in turn, a failure in one recorded in the report instead of aborting
the others, then ``docs/benchmarks.md`` and ``docs/benchmarks.json`` side by side.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from clickstream.bench_env import command_line, machine_info, speed_probe_reading
from clickstream.bench_report import evaluate_targets, render_markdown
from clickstream.bench_scenarios import SCENARIOS, BenchContext, Plan
from clickstream.config import Settings
from clickstream.errors import ClickstreamError, ConfigError

logger = logging.getLogger(__name__)


def _validate(sizes: list[int], repeats: int, quick: bool) -> None:
    if repeats < 1:
        raise ConfigError(f"--repeats must be at least 1, got {repeats}.")
    if not quick and not sizes:
        raise ConfigError("--sizes needs at least one event count, e.g. --sizes 100000,1000000.")
    bad = [s for s in sizes if s <= 0]
    if bad:
        raise ConfigError(f"--sizes must be positive event counts, got {bad}.")


def _server_dsn(settings: Settings) -> str:
    """The server the throwaway databases go on: CLICKSTREAM_PG_DSN's, or the embedded one."""
    if settings.pg_dsn:
        return settings.pg_dsn
    from clickstream.warehouse import resolve_dsn

    return resolve_dsn(settings)


def _stop_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so throwaway databases and temp folders are removed."""
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(f"clickstream bench stopped by signal {signum}")

    signal.signal(signal.SIGTERM, stop)


def run_scenario(name: str, ctx: BenchContext) -> dict[str, Any]:
    """One scenario's dict plus its seconds; an exception becomes ``{"error": ...}``."""
    logger.info("bench: %s ...", name)
    started = time.perf_counter()
    try:
        result: dict[str, Any] = SCENARIOS[name](ctx)
    except Exception as exc:
        logger.exception("bench: scenario %s failed", name)
        where = traceback.extract_tb(exc.__traceback__)[-1]
        result = {
            "error": f"{type(exc).__name__}: {exc}",
            "where": f"{where.filename}:{where.lineno} in {where.name}",
        }
    result["seconds"] = time.perf_counter() - started
    logger.info("bench: %s done in %.1f s", name, result["seconds"])
    return result


def _write(report: dict[str, Any], out_file: Path, started: float) -> None:
    """Judge the targets and write ``out_file`` and its ``.json`` twin."""
    report["targets"] = evaluate_targets(report["scenarios"])
    report["total_seconds"] = time.perf_counter() - started
    # Other work on the machine skews every number: record how busy it was.
    report["machine"]["load_average_at_end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    report["machine"]["speed_probe_at_end"] = speed_probe_reading()
    json_file = out_file.with_suffix(".json")
    report["json_name"] = json_file.name
    out_file.parent.mkdir(parents=True, exist_ok=True)
    json_file.write_text(json.dumps(report, indent=2, default=str) + "\n")
    out_file.write_text(render_markdown(report))


def _class_data_archive() -> str:
    """Measure Spark as installed: with the driver's class-data archive (built if missing,
    as ``scripts/bootstrap.sh`` would), unless it is turned off."""
    from spark_staging import cds

    if not cds.enabled():
        return f"off ({cds.ENABLED_ENV}=0)"
    try:
        path, built = cds.build_archive()
    except ClickstreamError as exc:
        return f"unavailable ({exc})"
    return f"{'built for this run' if built else 'present'} ({path.name})"


def run_benchmarks(
    settings: Settings,
    sizes: list[int],
    repeats: int,
    out_file: Path,
    quick: bool,
    only: list[str] | None = None,
) -> Path:
    """Run the scenarios (``only`` a subset), write ``out_file`` and its ``.json``; return it."""
    _validate(sizes, repeats, quick)
    unknown = sorted(set(only or []) - set(SCENARIOS))
    if unknown:
        raise ConfigError(f"unknown scenario(s) {unknown}; choose from {sorted(SCENARIOS)}.")
    started = time.perf_counter()
    server = _server_dsn(settings)
    plan = Plan.build(sizes, quick)
    report: dict[str, Any] = {
        "command": command_line(),
        "machine": {**machine_info(server), "spark_class_data_archive": _class_data_archive()},
        "parameters": {
            "sizes": list(plan.e2e_sizes),
            "repeats": repeats,
            "quick": quick,
            "spark_master": settings.spark_master,
            "shuffle_partitions": settings.spark_shuffle_partitions,
            "lateness_days": settings.lateness_days,
            "plan": plan.__dict__,
        },
        "scenarios": {},
    }
    ctx = BenchContext(settings=settings, server_dsn=server, repeats=repeats, plan=plan)
    _stop_cleanly_on_sigterm()
    out_file = Path(out_file)
    try:
        for name in SCENARIOS:
            if only is None or name in only:
                report["scenarios"][name] = run_scenario(name, ctx)
                # Written after every scenario: a long run stopped halfway keeps its numbers.
                _write(report, out_file, started)
    finally:
        ctx.close()
    _write(report, out_file, started)
    logger.info("bench: wrote %s in %.0f s", out_file, report["total_seconds"])
    return out_file
