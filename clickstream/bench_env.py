"""What every benchmark scenario needs: the machine, clocks, memory peaks, a throwaway database.

Kept apart from the scenarios so each scenario reads as "prepare, measure, return a dict".
Peak memory is the summed RSS of a process *tree* (Python + the Spark JVM + any worker),
sampled every few hundred milliseconds: ``getrusage`` alone would miss the JVM while it is
still running and reports only the largest single child, not the sum.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import logging
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from clickstream.config import PROJECT_ROOT, Settings
from clickstream.db import connect, redact_dsn

logger = logging.getLogger(__name__)

T = TypeVar("T")

SAMPLE_SECONDS = 0.25


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def timed(work: Callable[[], T]) -> tuple[float, T]:
    """``(seconds, result)`` of one call, on the monotonic high-resolution clock."""
    started = time.perf_counter()
    result = work()
    return time.perf_counter() - started, result


def settle_io() -> None:
    """Write out the page cache's dirty data before a measurement (``sync``), so that it does not
    pay for the I/O the work before it left behind: PostgreSQL's WAL flushes would otherwise
    wait behind the staging run's lake and shuffle files."""
    started = time.perf_counter()
    os.sync()
    logger.debug("bench: sync took %.2f s", time.perf_counter() - started)


def repeat_median(work: Callable[[], Any], repeats: int) -> dict[str, Any]:
    """Run ``work`` ``repeats`` times; the median and every run's seconds."""
    runs = [timed(work)[0] for _ in range(max(1, repeats))]
    return {"seconds": median(runs), "runs": [round(r, 4) for r in runs]}


# --------------------------------------------------------------------------- memory


def _tree_rss(pid: int) -> int:
    """Summed RSS in bytes of ``pid`` and all its descendants (0 when it is gone)."""
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil ships with the dev environment
        return 0
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.Error:
            continue
    return total


@dataclass
class MemorySampler:
    """Background sampler of a process tree's summed RSS; ``peak_bytes`` after ``stop``."""

    pid: int = field(default_factory=os.getpid)
    peak_bytes: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, _tree_rss(self.pid))
            self._stop.wait(SAMPLE_SECONDS)

    def start(self) -> MemorySampler:
        self.peak_bytes = _tree_rss(self.pid)
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        return self.peak_bytes


@contextmanager
def sampling_memory(pid: int | None = None) -> Iterator[MemorySampler]:
    sampler = MemorySampler(pid=pid or os.getpid()).start()
    try:
        yield sampler
    finally:
        sampler.stop()


def mib(n_bytes: float) -> float:
    return round(n_bytes / 2**20, 1)


def dir_bytes(path: Path, pattern: str = "*") -> int:
    """Total size of the files under ``path`` matching ``pattern`` (recursive)."""
    return sum(p.stat().st_size for p in path.rglob(pattern) if p.is_file())


# --------------------------------------------------------------------------- machine


def _run_quiet(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unavailable"
    return (done.stdout + done.stderr).strip()


def _package_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return float("nan")
    return round(pages / 2**30, 1)


SPEED_PROBE_ITERATIONS = 2_000_000


def cpu_speed_probe(rounds: int = 7) -> float:
    """Millions of iterations per second of a fixed pure-Python loop on one core, the median
    of ``rounds`` (about a second in all): the machine's speed while the benchmark runs.

    Shared cloud cores run one workload at very different speeds from hour to hour (the same
    1M-event pipeline has measured 93 s and 176 s on the same kind of machine). The report
    records this figure at the start and the end, so two reports are compared through it
    rather than mistaken for a change in the code. The median, not the best round: single
    rounds of one session ranged from 16 to 27 M/s, short bursts that the pipeline's minutes
    of work do not get.
    """
    seconds = []
    for _ in range(max(1, rounds)):
        started = time.perf_counter()
        total = 0
        for value in range(SPEED_PROBE_ITERATIONS):
            total += value
        seconds.append(time.perf_counter() - started)
    return round(SPEED_PROBE_ITERATIONS / statistics.median(seconds) / 1e6, 2)


def speed_probe_reading() -> str:
    """:func:`cpu_speed_probe` as the report's machine table shows it."""
    return f"{cpu_speed_probe()} M loop iterations/s"


def machine_info(dsn: str) -> dict[str, Any]:
    """Cores, memory, OS and the versions that decide the numbers (recorded in the report)."""
    java = _run_quiet(["java", "-version"]).splitlines()
    try:
        conn = connect(dsn)
        with conn.cursor() as cur:
            cur.execute("show server_version")
            row = cur.fetchone()
        conn.close()
        postgres = str(row[0]) if row else "unknown"
    except Exception as exc:  # the report must still be written
        postgres = f"unavailable ({exc})"
    commit = _run_quiet(["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short", "HEAD"])
    return {
        "cpu_cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "java": java[0] if java else "unavailable",
        "postgresql": postgres,
        "pyspark": _package_version("pyspark"),
        "duckdb": _package_version("duckdb"),
        "dbt-core": _package_version("dbt-core"),
        "dbt-postgres": _package_version("dbt-postgres"),
        "pyarrow": _package_version("pyarrow"),
        "psycopg2": _package_version("psycopg2-binary"),
        "git_commit": commit,
        "load_average_at_start": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "speed_probe_at_start": speed_probe_reading(),
        "date_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def command_line() -> str:
    """The command as typed (``clickstream bench ...``), or the Python entry point."""
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in {"clickstream", "cli.py"}:
        argv[0] = "clickstream"
    return shlex.join(argv)


# --------------------------------------------------------------------------- databases


def database_dsn(dsn: str, database: str) -> str:
    """``dsn`` with its database replaced (URL form, including the socket form)."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def _admin_execute(server_dsn: str, *statements: tuple[str, tuple[Any, ...]]) -> None:
    """Run statements in autocommit on the server's maintenance connection (database DDL)."""
    admin = connect(server_dsn)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            for statement, params in statements:
                cur.execute(statement, params)
    finally:
        admin.close()


def _drop_database_sql(name: str) -> tuple[str, tuple[Any, ...]]:
    """Drop database ``name`` if it exists, ending its sessions first (``with (force)``)."""
    return (f'drop database if exists "{name}" with (force)', ())


def _copy_database_sql(name: str, template: str) -> list[tuple[str, tuple[Any, ...]]]:
    """End the template's other sessions (PostgreSQL copies only a database nobody is
    connected to; a finished dbt run or load may leave an idle one behind), then copy it."""
    return [
        (
            "select pg_terminate_backend(pid) from pg_stat_activity "
            "where datname = %s and pid <> pg_backend_pid()",
            (template,),
        ),
        (f'create database "{name}" template "{template}"', ()),
    ]


@contextmanager
def database_snapshot(server_dsn: str, dsn: str) -> Iterator[Callable[[], None]]:
    """Keep a copy of ``dsn``'s database as it is now; yield ``restore()``, which puts the
    database back into that state (dropped, then copied from the snapshot). The snapshot is
    dropped on exit.

    A repeated measurement of work that changes the database (a daily build meeting the day's
    arrivals) then starts each repeat from the same state, as the first one did: a repeat run
    on the state the previous repeat left would time a re-run with nothing new.
    """
    name = urlsplit(dsn).path.lstrip("/")
    snapshot = f"{name}_snapshot"
    _admin_execute(
        server_dsn,
        _drop_database_sql(snapshot),
        *_copy_database_sql(snapshot, name),
    )

    def restore() -> None:
        _admin_execute(
            server_dsn,
            _drop_database_sql(name),
            *_copy_database_sql(name, snapshot),
        )
        logger.debug("bench: database %s restored from its snapshot", name)

    try:
        yield restore
    finally:
        _admin_execute(server_dsn, _drop_database_sql(snapshot))


@contextmanager
def throwaway_database(server_dsn: str, label: str) -> Iterator[str]:
    """Create ``clickstream_bench_<label>_<random>`` on the server, yield its DSN, drop it."""
    name = f"clickstream_bench_{label}_{uuid.uuid4().hex[:8]}"
    _admin_execute(server_dsn, (f'create database "{name}"', ()))
    logger.info("benchmark database %s on %s", name, redact_dsn(server_dsn))
    try:
        yield database_dsn(server_dsn, name)
    finally:
        _admin_execute(server_dsn, _drop_database_sql(name))


@contextmanager
def scratch_dir(root: Path | None, label: str) -> Iterator[Path]:
    """A temp folder for landing/lake data, removed afterwards."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=f"clickstream-bench-{label}-", dir=root))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def scratch_settings(settings: Settings, root: Path) -> Settings:
    """``settings`` with landing, lake and reports folders under ``root``."""
    return settings.with_(
        landing_dir=root / "landing",
        lake_dir=root / "lake",
        reports_dir=root / "reports",
    )


# --------------------------------------------------------------------------- subprocesses


def settings_to_json(settings: Settings) -> dict[str, Any]:
    """Settings as JSON for a worker process (paths as strings)."""
    import dataclasses

    out: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, Path):
            out[f.name] = {"path": str(value)}
        elif isinstance(value, str | int | float | bool) or value is None:
            out[f.name] = value
    return out


def settings_from_json(raw: dict[str, Any]) -> Settings:
    values: dict[str, Any] = {
        k: Path(v["path"]) if isinstance(v, dict) else v for k, v in raw.items()
    }
    return Settings(**values)


def _stop_process(process: subprocess.Popen[bytes], grace_seconds: float = 10) -> None:
    """Ask a worker to stop, then kill it if it has not within ``grace_seconds``."""
    process.terminate()
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_worker(
    task: str, args: dict[str, Any], workdir: Path, timeout: float = 3600
) -> dict[str, Any]:
    """Run ``python -m clickstream.bench_worker`` in a fresh process (its own JVM).

    Returns the worker's JSON result plus ``wall_seconds`` and ``peak_rss_mib`` of the whole
    process tree. A failure raises RuntimeError with the tail of the worker's log.
    """
    import json

    request = workdir / f"{task}-request.json"
    result_path = workdir / f"{task}-result.json"
    log_path = workdir / f"{task}.log"
    request.write_text(json.dumps({"task": task, "args": args, "result": str(result_path)}))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.perf_counter()
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "clickstream.bench_worker", str(request)],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(PROJECT_ROOT),
            env=env,
        )
        sampler = MemorySampler(pid=process.pid).start()
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = -9
        except BaseException:  # the bench was stopped: its worker (and JVM) must not outlive it
            _stop_process(process)
            raise
        finally:
            sampler.stop()
    wall = time.perf_counter() - started
    if code != 0 or not result_path.exists():
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"worker {task!r} exited with {code}:\n{tail}")
    result: dict[str, Any] = json.loads(result_path.read_text())
    result["wall_seconds"] = round(wall, 3)
    # The sampler sees the whole tree while it runs; the worker's own rusage catches a
    # peak between two samples.
    own_peak = float(result.pop("self_maxrss_mib", 0.0))
    result["peak_rss_mib"] = max(mib(sampler.peak_bytes), own_peak)
    return result


# --------------------------------------------------------------------------- dbt


def timed_build(
    dsn: str, day: dt.date, lateness_days: int, target: Path, full_refresh: bool = False
) -> tuple[float, Any, list[str]]:
    """``(seconds, DbtResult, failed nodes)`` of the daily ``dbt build`` for ``day``.

    A failing data test still leaves a valid timing (every node ran), so the benchmark records
    the failures next to the number instead of losing the measurement; the test suite is where
    correctness is enforced.
    """
    from clickstream.dbt import build_day

    # build_day, not bare dbt arguments: the daily build skips the static nodes exactly as
    # `clickstream run` does
    seconds, result = timed(
        lambda: build_day(dsn, day, lateness_days, full_refresh, target_path=target, check=False)
    )
    failed = [
        f"{n.name}: {n.status}"
        for n in result.nodes
        if n.status in {"error", "fail", "runtime error"}
    ]
    if failed:
        logger.warning("dbt build for %s: %d failing node(s): %s", day, len(failed), failed[:5])
    return seconds, result, failed
