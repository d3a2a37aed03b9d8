"""``clickstream doctor``: is everything the pipeline needs here, and what does it guarantee?"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
from dataclasses import dataclass

from clickstream.config import Settings
from clickstream.errors import ClickstreamError


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


GUARANTEES = (
    "at-least-once ingestion, exactly-once in the warehouse: duplicates removed by event_id",
    "late data accepted up to the lateness window (default 3 days); "
    "later rows quarantined 'too_late'",
    "every input row is accepted, quarantined with a reason, or counted as a duplicate",
    "each arrival day is loaded atomically and idempotently (one transaction, advisory lock)",
    "incremental dbt runs equal a full refresh (tested row for row)",
    "concurrent runs wait for each other: one dbt build of a warehouse at a time, analyses "
    "read a finished build, one staging of a lake at a time and no load during it",
)


def _java_version() -> Check:
    java = shutil.which("java")
    if not java:
        return Check("java", False, "not found: apt-get install -y openjdk-17-jre-headless")
    result = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    first = (
        (result.stderr or result.stdout).splitlines()[0] if (result.stderr or result.stdout) else ""
    )
    major = _java_major(first)
    ok = major is not None and major >= 17
    return Check("java", ok, first + ("" if ok else " (need 17+)"))


def _java_major(version_line: str) -> int | None:
    import re

    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_line)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def _package(name: str) -> Check:
    try:
        return Check(name, True, importlib.metadata.version(name))
    except importlib.metadata.PackageNotFoundError:
        return Check(name, False, "not installed: pip install -e '.[dev]'")


def _class_data_archive() -> Check:
    """Informational: without the archive Spark works, it only starts ~3 s slower."""
    from spark_staging import cds

    if not cds.enabled():
        return Check("spark class-data archive", True, f"off ({cds.ENABLED_ENV}=0)")
    path = cds.archive_path()
    if path is not None and path.is_file():
        return Check("spark class-data archive", True, str(path))
    return Check(
        "spark class-data archive",
        True,
        "not built: 'clickstream warm-up' makes every Spark start ~3 s faster",
    )


def run_checks(settings: Settings) -> list[Check]:
    """All checks; never raises for a failed check, it reports it."""
    from clickstream.warehouse import check_connection, describe, resolve_dsn

    checks = [_java_version()]
    checks += [_package(name) for name in ("pyspark", "dbt-core", "dbt-postgres", "pgserver")]
    try:
        dsn = resolve_dsn(settings)
        version = check_connection(dsn)
        mode = "external" if settings.pg_dsn else "embedded"
        checks.append(Check("postgresql", True, f"{mode} {version} at {describe(dsn)}"))
    except ClickstreamError as exc:
        checks.append(Check("postgresql", False, str(exc)))
    checks.append(Check("spark master", True, settings.spark_master))
    checks.append(_class_data_archive())
    checks += [Check("guarantee", True, text) for text in GUARANTEES]
    return checks
