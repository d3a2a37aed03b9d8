"""Build the SparkSession, tuned for small local batches and valid on a cluster too."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from py4j.protocol import Py4JError
from pyspark.errors import PySparkException
from pyspark.sql import SparkSession

from clickstream.config import Settings
from clickstream.errors import ConfigError, headline
from spark_staging import cds
from spark_staging.java import ensure_java

logger = logging.getLogger(__name__)


SMALL_INPUT_JIT_OPTIONS = (
    "-XX:TieredStopAtLevel=1 -XX:-DontCompileHugeMethods -XX:ReservedCodeCacheSize=240m"
)
"""JIT flags of a local[N] driver that stages little data: C1 only.

A small staging job is short and its generated code is large: C2 compiler threads burned ≈38 s
of CPU on a 100K-event day, against ≈20 s of actual task work, and the validation projection's
generated method (≈15 KB of bytecode) is above HotSpot's 8 KB limit, so it ran in the bytecode
interpreter. C1 alone compiles quickly, and compiles that method too.
With C1 alone HotSpot reserves only 48 MB for compiled code, which a long-lived driver fills
with Spark's generated classes (a CI run of the test suite did: "CodeCache is full. Compiler
has been disabled", and the SparkContext stopped soon after); 240 MB is the tiered default.
"""

LARGE_INPUT_JIT_OPTIONS = "-XX:-DontCompileHugeMethods"
"""JIT flags of a local[N] driver that stages a lot: the default tiered C1 + C2 JIT.

C2's compile cost is paid once per JVM (≈40 s of CPU) and its code is faster per row. Measured
on a 2-core Xeon (JVM CPU seconds / staging wall seconds, one day): 100K events C1 48.6-53.8 /
26.4-29.7 s, C2 87.9-89.3 / 38.5-39.5 s; 1M events C1 197-218 / 98-115 s, C2 172-176 /
81-85 s. The two meet near 400K events (≈170 MB of landing CSV). On a 2-core AMD EPYC they
meet above 1M: ``clickstream stage`` of a 945K-event day, JVM start included, took 57.3-58.0 s
with C1 against 59.8-64.3 s with C2 (the parallel collector made no clear difference in those
single runs; five interleaved rounds later did: :data:`LARGE_INPUT_GC_OPTIONS`). The
threshold stays at the Xeon's crossover: C1 at 1M would cost that machine ≈20 %, C2 costs the
EPYC ≈7 %. Three more interleaved rounds there (before the keys-only dedupe) gave C2 56.6 /
66.9 / 64.4 s, C1 60.8 / 62.6 / 59.0 s and C2 with 2-5x higher tier-4 thresholds 63.0 / 59.1 /
67.0 s: the machine's run-to-run noise (±5 s) is as large as the difference.
"""

LARGE_INPUT_BYTES = 170 * 2**20
"""Landing CSV bytes a JVM will stage from which :data:`LARGE_INPUT_JIT_OPTIONS` pays."""

LANDING_BYTES_PER_EVENT = 430
"""Bytes of generated landing CSV per event (404.5 MiB for 995,039 rows): sizes a run's input
before its files exist, as ``clickstream run`` starts Spark while the first day is generated."""


LARGE_INPUT_GC_OPTIONS = "-XX:+UseParallelGC"
"""Garbage collector of a local[N] driver that stages a lot: the throughput collector.

G1 (the JVM's default) runs part of its work concurrently, on the same two cores as the tasks,
and the first wave of the 1M-event day's parse spent 2 s of each task in GC while the heap
grew. ``clickstream stage`` of that day (945K events, JVM start included), 5 interleaved rounds
on a 2-core AMD EPYC: G1 60.9 / 55.6 / 58.7 / 59.4 / 55.5 s, the parallel collector 54.3 /
52.0 / 55.3 / 53.7 / 50.1 s (median 58.7 -> 53.7 s; each pair 3-7 s apart). ``-Xms`` at the
driver's heap size added nothing, alone or with it.
"""


def gc_options(input_bytes: int | None) -> str:
    """The local driver's GC flags for a JVM that will stage ``input_bytes`` of landing CSV.

    ``CLICKSTREAM_SPARK_GC_OPTIONS`` wins (an empty value keeps the JVM's default, G1); small
    and unknown sizes keep G1, measured only where it costs (:data:`LARGE_INPUT_GC_OPTIONS`).
    """
    return _sized_flags("CLICKSTREAM_SPARK_GC_OPTIONS", input_bytes, LARGE_INPUT_GC_OPTIONS, "")


def jit_options(input_bytes: int | None) -> str:
    """The local driver's JIT flags for a JVM that will stage ``input_bytes`` of landing CSV.

    ``CLICKSTREAM_SPARK_JIT_OPTIONS`` wins (an empty value keeps the JVM's defaults); an
    unknown size counts as small: tests, demos and single small days are the common case.
    """
    return _sized_flags(
        "CLICKSTREAM_SPARK_JIT_OPTIONS",
        input_bytes,
        LARGE_INPUT_JIT_OPTIONS,
        SMALL_INPUT_JIT_OPTIONS,
    )


def _sized_flags(variable: str, input_bytes: int | None, large: str, small: str) -> str:
    """JVM flags by input size: ``variable`` when set (empty: the JVM's defaults), else
    ``large`` from :data:`LARGE_INPUT_BYTES` of landing CSV on and ``small`` below or for an
    unknown size."""
    configured = os.environ.get(variable)
    if configured is not None:
        return configured
    return large if input_bytes is not None and input_bytes >= LARGE_INPUT_BYTES else small


def build_spark(
    master: str = "local[2]",
    app_name: str = "clickstream-staging",
    shuffle_partitions: int = 64,
    input_bytes: int | None = None,
    driver_options: str | None = None,
) -> SparkSession:
    """Return a SparkSession configured for this pipeline.

    ``shuffle_partitions`` is the session's default and an upper bound: staging sets each
    run's own count from the size of its landing files (``stage.shuffle_partitions_for``:
    4 for a 1M-event day on 2 cores, 20 for 10M), and AQE still merges tiny ones. UTC
    everywhere so dates never depend on the machine's zone; the executors use this
    interpreter so Python UDF-free code and Arrow conversions agree. ``input_bytes``, the
    landing CSV this JVM is expected to stage, picks a local driver's JIT and GC
    (:func:`jit_options`, :func:`gc_options`); a cluster's long-lived executors keep the
    JVM's defaults. ``driver_options`` are the driver JVM's class-data flags (default: map
    the archive of :mod:`spark_staging.cds` if built).
    """
    ensure_java()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    driver_java = "-Duser.timezone=UTC"
    if master.startswith("local"):
        tuning = f"{jit_options(input_bytes)} {gc_options(input_bytes)}".strip()
        driver_java = f"{driver_java} {tuning}".strip()
    if driver_options is None:
        driver_options = cds.driver_options()
    driver_java = f"{driver_java} {driver_options}".strip()
    builder = (
        SparkSession.builder.master(master)
        .appName(app_name)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.driver.extraJavaOptions", driver_java)
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.adaptive.coalescePartitions.enabled", "true")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.parquet.compression.codec", "zstd")
        # Standard INT64 microseconds instead of Spark's legacy INT96: ~10% smaller lake files,
        # cheaper to encode, and read as zone-aware UTC timestamps by Arrow and DuckDB.
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        # The classified lines are cached once and read three times; compressing that cache
        # (per-column dictionary statistics) cost ≈15% of a staging job's CPU in a profile.
        .config("spark.sql.inMemoryColumnarStorage.compressed", "false")
        # A window buffers each partition group (one device, one event_id) in memory up to
        # this many rows, then spills to disk: bot devices send tens of thousands of events.
        .config("spark.sql.windowExec.buffer.in.memory.threshold", "262144")
        # Lake writes keep one open file per day instead of sorting each task's rows by day
        # (the events are written straight from the session window: see lake.replace_partitions).
        .config("spark.sql.maxConcurrentOutputFileWriters", "16")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", driver_memory())
    )
    _quiet_accumulator_server()
    try:
        spark = builder.getOrCreate()
    except (Py4JError, PySparkException) as exc:  # e.g. a driver memory below Spark's minimum
        raise ConfigError(
            f"Spark could not start: {headline(exc)} (settings: CLICKSTREAM_SPARK_DRIVER_MEMORY, "
            "CLICKSTREAM_SPARK_MASTER; --debug shows the trace)."
        ) from exc
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def driver_memory() -> str:
    """``CLICKSTREAM_SPARK_DRIVER_MEMORY``, else a third of the machine's RAM (2g to 8g).

    In local mode the driver's heap holds the cache and the sorts of every task. 8g staged
    the 1M-event day in 68.8 s against 74.7-78.3 s with 4g (less GC), and a 10M-event day
    runs out of heap in 4g; a third of the RAM leaves the rest to PostgreSQL and Python.
    """
    configured = os.environ.get("CLICKSTREAM_SPARK_DRIVER_MEMORY")
    if configured:
        return configured
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: keep the old default
        return "4g"
    return f"{max(2, min(8, round(ram / 3 / 2**30)))}g"


def _quiet_accumulator_server() -> None:
    """Log at debug level, instead of printing a traceback, when PySpark's accumulator server
    loses the JVM it serves (an OutOfMemoryError exits a local-mode JVM): the stage reports
    that failure itself, as one clear line."""
    from pyspark import accumulators

    def handle_error(_server: object, _request: object, _client_address: object) -> None:
        logger.debug("PySpark accumulator server: connection to the JVM lost", exc_info=True)

    for name in ("AccumulatorTCPServer", "AccumulatorUnixServer"):
        server = getattr(accumulators, name, None)
        if server is not None:
            server.handle_error = handle_error


def spark_for(
    settings: Settings, app_name: str = "clickstream-staging", input_bytes: int | None = None
) -> SparkSession:
    """The SparkSession a run's settings ask for (master URL and shuffle partitions), for
    ``input_bytes`` of landing CSV (None: unknown)."""
    return build_spark(
        settings.spark_master, app_name, settings.spark_shuffle_partitions, input_bytes
    )


def spark_in_background(
    settings: Settings, app_name: str = "clickstream-staging", input_bytes: int | None = None
) -> Callable[[], SparkSession]:
    """Start :func:`spark_for` in a thread; return a function that waits for the session.

    The JVM takes seconds to start and the pipeline has other work first (generating the
    first landing day), so the two overlap. A failure to start (no Java) is raised by the
    returned function, where the session is first needed. PySpark installs its Ctrl-C
    handler only from the main thread; an interrupt still stops the run (the JVM exits with
    the process).
    """
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spark-start")
    future = pool.submit(spark_for, settings, app_name, input_bytes)
    pool.shutdown(wait=False)
    return future.result
