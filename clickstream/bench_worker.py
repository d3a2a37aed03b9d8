"""Benchmark work that needs a process of its own: ``python -m clickstream.bench_worker REQ``.

A process has one SparkContext, and its JVM start and memory belong in some measurements and
not in others, so the end-to-end runs, the project's loader and the Spark JDBC writer (whose
session needs the PostgreSQL JDBC jar) each run here, in a fresh interpreter. The parent
(:func:`clickstream.bench_env.run_worker`) writes a JSON request, samples this process tree's
memory and reads the JSON result back.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import resource
import sys
from pathlib import Path
from typing import Any

from clickstream.bench_env import settings_from_json, timed, timed_build
from clickstream.config import Settings
from clickstream.errors import StageFailedError

logger = logging.getLogger(__name__)

TOP_DBT_NODES = 5


def _dbt_profile(result: Any) -> list[dict[str, Any]]:
    """The slowest dbt nodes of one invocation: where the transform time goes."""
    nodes = sorted(getattr(result, "nodes", ()), key=lambda n: n.seconds, reverse=True)
    return [
        {"name": n.name, "type": n.resource_type, "seconds": round(n.seconds, 2)}
        for n in nodes[:TOP_DBT_NODES]
    ]


def _analyses(dsn: str, settings: Settings) -> str | None:
    """Run the analyses; a failing analysis is returned as text so the timing survives."""
    from clickstream.analyze import run_analyses

    try:
        run_analyses(dsn, settings, out_dir=settings.reports_dir, progress=False)
    except StageFailedError as exc:
        logger.warning("analyses failed: %s", exc)
        return f"analyses: {exc}"
    return None


def end_to_end(args: dict[str, Any]) -> dict[str, Any]:
    """generate → stage → load → dbt build → analyses for one day of ``events`` events."""
    from generator import GeneratorConfig, generate_day
    from spark_staging.load import load_days
    from spark_staging.session import LANDING_BYTES_PER_EVENT, spark_in_background
    from spark_staging.stage import stage_days

    settings = settings_from_json(args["settings"])
    dsn = args["dsn"]
    day = dt.date.fromisoformat(args["day"])
    target = Path(args["dbt_target"])
    seconds: dict[str, float] = {}

    config = GeneratorConfig(seed=args["seed"], events_per_day=args["events"])
    # as `clickstream run` does: the JVM starts while the generator writes the landing files
    spark_session = spark_in_background(
        settings, "clickstream-bench", input_bytes=args["events"] * LANDING_BYTES_PER_EVENT
    )
    seconds["generate"], manifest = timed(lambda: generate_day(config, day, settings.landing_dir))
    seconds["spark_start"], spark = timed(spark_session)
    seconds["stage"], (stats,) = timed(lambda: stage_days(spark, settings, [day]))
    seconds["load"], (loaded,) = timed(lambda: load_days(dsn, settings, [day]))
    seconds["transform"], dbt_result, dbt_failures = timed_build(
        dsn, day, settings.lateness_days, target
    )
    seconds["analyze"], analyze_error = timed(lambda: _analyses(dsn, settings))
    spark.stop()
    return {
        "landed_rows": int(manifest.rows["events"]),
        "input_rows": stats.input_rows,
        "accepted": stats.accepted,
        "loaded_rows": loaded.loaded_rows,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
        "dbt_slowest": _dbt_profile(dbt_result),
        "dbt_failures": dbt_failures + ([analyze_error] if analyze_error else []),
    }


def _batchsize(args: dict[str, Any]) -> int | None:
    """The JDBC writer's tuned batch size; ``null`` in the request keeps Spark's defaults."""
    value = args.get("batchsize", 10_000)
    return None if value is None else int(value)


def spark_jdbc(args: dict[str, Any]) -> dict[str, Any]:
    """Spark's ``df.write.jdbc`` from the lake into ``table``: rows/s (session start excluded)."""
    from spark_staging.baselines import build_jdbc_spark, load_with_spark_jdbc

    spark = build_jdbc_spark(args.get("master", "local[2]"))
    runs = [
        float(
            load_with_spark_jdbc(
                spark,
                Path(args["lake_dir"]),
                args["dsn"],
                args["table"],
                batchsize=_batchsize(args),
            )
        )
        for _ in range(max(1, int(args.get("repeats", 1))))
    ]
    spark.stop()
    return {"rows_per_second_runs": runs}


def project_load(args: dict[str, Any]) -> dict[str, Any]:
    """One run of the project's loader (``load_days``), then of its bare COPY transport, from
    the lake into ``dsn``: rows/s of each. In a process of its own, as Spark's JDBC writer is,
    so that neither pays for the benchmark process's idle JVM or the staging run before it;
    the benchmark gives every run a fresh database."""
    from spark_staging.baselines import load_with_copy
    from spark_staging.load import load_days

    settings = settings_from_json(args["settings"])
    day = dt.date.fromisoformat(args["day"])
    seconds, (result,) = timed(lambda: load_days(args["dsn"], settings, [day]))
    return {
        "loader_rows_per_second": result.loaded_rows / seconds,
        "loaded_rows": result.loaded_rows,
        "transport_rows_per_second": float(
            load_with_copy(settings.lake_dir, args["dsn"], args["table"])
        ),
    }


def generate_only(args: dict[str, Any]) -> dict[str, Any]:
    """``generator.bench.measure`` in a process of its own, so its peak RSS is the generator's."""
    from generator.bench import measure

    return measure(int(args["events"]), seed=int(args["seed"]), out_dir=Path(args["out_dir"]))


TASKS = {
    "e2e": end_to_end,
    "load": project_load,
    "jdbc": spark_jdbc,
    "generate": generate_only,
}


def main(request_path: str) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    request = json.loads(Path(request_path).read_text())
    result = TASKS[request["task"]](request["args"])
    result["self_maxrss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    Path(request["result"]).write_text(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
