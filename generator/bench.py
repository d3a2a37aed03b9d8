"""Generator throughput for the project benchmark: events written per second and peak memory.

``measure`` generates one arrival day of ``events`` events into a temporary folder and reports
wall time, events/s, the CPU seconds the process spent (all threads, user + system) and the
process's peak RSS (ru_maxrss, so it includes everything this process allocated before the call
as well). CPU seconds are the steadier figure on a shared machine: wall time depends on what
else runs, and on how many of the ``workers`` threads found a free core.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from generator.config import GeneratorConfig
from generator.day import default_workers, generate


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def measure(
    events: int, seed: int = 42, out_dir: Path | None = None, workers: int | None = None
) -> dict[str, Any]:
    """Generate one day of ``events`` events; return timings, rows written and peak RSS.

    Keys: ``events_requested``, ``rows_written``, ``seconds`` (wall), ``events_per_second``
    (rows written per wall second), ``cpu_seconds`` (process CPU time, all threads),
    ``events_per_cpu_second``, ``workers``, ``peak_rss_mb``, ``bytes_written``.
    """
    config = GeneratorConfig(seed=seed, events_per_day=events)
    workers = workers or default_workers()
    with tempfile.TemporaryDirectory(prefix="clickstream-gen-bench-") as tmp:
        target = Path(out_dir) if out_dir is not None else Path(tmp)
        cpu_started = time.process_time()
        started = time.perf_counter()
        manifests = generate(config, config.start_date, 1, target, workers=workers)
        seconds = time.perf_counter() - started
        cpu_seconds = time.process_time() - cpu_started
        size = sum(p.stat().st_size for p in target.rglob("*.csv"))
    rows = sum(m.rows["events"] for m in manifests)
    return {
        "events_requested": events,
        "rows_written": rows,
        "seconds": round(seconds, 3),
        "events_per_second": round(rows / seconds) if seconds > 0 else None,
        "cpu_seconds": round(cpu_seconds, 3),
        "events_per_cpu_second": round(rows / cpu_seconds) if cpu_seconds > 0 else None,
        "workers": workers,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "bytes_written": size,
    }


if __name__ == "__main__":  # pragma: no cover - python -m generator.bench 1000000 [workers]
    import json

    print(
        json.dumps(
            measure(
                int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000,
                workers=int(sys.argv[2]) if len(sys.argv) > 2 else None,
            ),
            indent=2,
        )
    )
