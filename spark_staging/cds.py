"""The Spark driver's class-data archive (HotSpot AppCDS): a JVM start without class parsing.

A staging driver loads some 25,000 classes, most from PySpark's jars, parsing and verifying
each one; that is most of the seconds ``clickstream stage`` spends before any data moves. A
dynamic CDS archive (``-XX:ArchiveClassesAtExit``, JDK 13+) keeps them pre-parsed in a file
the JVM maps at start (≈17,000 come from it in a 20K-event staging run). Measured on the
2-core dev box (AMD EPYC, C1 JIT, three interleaved rounds): ``clickstream stage`` of a
20K-event day took 15.6-17.2 s without the archive and 12.2-13.2 s with it; a session's
start and first job 7.2 s and 4.1 s.

The archive is built by :func:`build_archive` (``clickstream warm-up``, which
``scripts/bootstrap.sh`` runs): a child process stages one tiny generated day and its JVM
writes the classes it loaded on exit. Never by a user's own run: the dump adds ~15 s to the
JVM's exit. It lives in :func:`cache_dir` (the virtual environment's ``share/clickstream``),
named after the Java runtime and PySpark's jars, because the JVM only accepts an archive made with
the same runtime and the same jar files: a reinstalled PySpark needs a new one. A missing,
stale or damaged archive costs only the speed: the JVM's default ``-Xshare:auto`` then starts
as if there were none, and :func:`driver_options` silences CDS's own warnings.
``CLICKSTREAM_SPARK_CDS=0`` turns it off.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

from clickstream.errors import ConfigError
from spark_staging.java import ensure_java, java_binary

logger = logging.getLogger(__name__)

ENABLED_ENV = "CLICKSTREAM_SPARK_CDS"
CACHE_DIR_ENV = "CLICKSTREAM_CACHE_DIR"

QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"
"""CDS reports a skipped class or a rejected archive as a JVM warning on stdout; either only
costs speed, so it stays out of the user's terminal."""

BUILD_TIMEOUT_SECONDS = 600


def cache_dir() -> Path:
    """``CLICKSTREAM_CACHE_DIR``; else, in a virtual environment, its ``share/clickstream``
    (the archive belongs to that environment's PySpark and goes with it, and two checkouts
    with venvs of their own never replace each other's); else ``~/.cache/clickstream``."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured).expanduser()
    if sys.prefix != sys.base_prefix:
        return Path(sys.prefix) / "share" / "clickstream"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "clickstream"


def _spark_jars() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent / "jars"


def archive_path() -> Path | None:
    """Where the archive for this Java runtime and these Spark jars lives (None: no Java)."""
    java = java_binary()
    return None if java is None else _archive_for(java)


def _archive_for(java: Path) -> Path:
    """The name hashes what the JVM checks when it maps the archive: the runtime (its path and
    file) and the jar files (their names, sizes and times), so another JDK or a reinstalled
    PySpark looks for an archive of its own instead of offering the JVM one it must reject.
    """
    digest = hashlib.sha256()
    stat = java.stat()
    digest.update(f"{java}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    for jar in sorted(_spark_jars().glob("*.jar")):
        jar_stat = jar.stat()
        digest.update(f"|{jar.name}|{jar_stat.st_size}|{jar_stat.st_mtime_ns}".encode())
    return cache_dir() / f"spark-driver-{digest.hexdigest()[:16]}.jsa"


def enabled() -> bool:
    return os.environ.get(ENABLED_ENV, "1").strip().lower() not in {"0", "false", "no", "off"}


def driver_options() -> str:
    """The driver JVM flags that use the archive, or ``""`` when there is none (or it is off)."""
    if not enabled():
        return ""
    path = archive_path()
    if path is None or not path.is_file():
        return ""
    return f"-XX:SharedArchiveFile={path} {QUIET}"


def dump_options(path: Path) -> str:
    """The driver JVM flags that write the classes it loaded to ``path`` when it exits."""
    return f"-XX:ArchiveClassesAtExit={path} {QUIET}"


def build_archive(force: bool = False) -> tuple[Path, bool]:
    """Build the archive unless it exists (``force``: rebuild); return ``(path, built)``.

    The dump runs in a child interpreter (its JVM writes the archive when the child exits)
    into a temporary file that is renamed into place, so a concurrent build or an interrupted
    one never leaves a half-written archive where a driver would map it. Archives for other
    runtimes or jars are removed: the JVM would reject them anyway.
    """
    path = _archive_for(ensure_java())
    if path.is_file() and not force:
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.{os.getpid()}.partial")
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "spark_staging.cds_job", str(partial)],
            capture_output=True,
            text=True,
            check=False,
            timeout=BUILD_TIMEOUT_SECONDS,
        )
        if done.returncode != 0 or not partial.is_file() or partial.stat().st_size == 0:
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
            raise ConfigError(
                f"Could not build the Spark class-data archive (exit {done.returncode}); "
                f"Spark still works, only its start is slower. Output:\n{tail}"
            )
        partial.replace(path)
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"Building the Spark class-data archive took over {BUILD_TIMEOUT_SECONDS} s; "
            "Spark still works, only its start is slower."
        ) from None
    finally:
        partial.unlink(missing_ok=True)
    for other in path.parent.glob("spark-driver-*.jsa"):
        if other != path:
            other.unlink(missing_ok=True)
    logger.debug(
        "Spark class-data archive %s (%d MB) built in %.1f s",
        path,
        path.stat().st_size >> 20,
        time.perf_counter() - started,
    )
    return path, True
