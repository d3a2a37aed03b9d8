"""How Python runs dbt: in-process via ``dbtRunner``, configured only through environment variables.

The committed ``dbt_project/profiles.yml`` reads its connection from ``CLICKSTREAM_PG_*`` and
``DBT_ENV_SECRET_PG_PASSWORD``; :func:`dbt_env` derives them from a libpq URL so the rest of the
code only ever passes a DSN around. dbt runs in-process (no 3-5 s interpreter start per call) but
``dbtRunner`` is not re-entrant, so calls are serialised with a lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from clickstream.built_loads import pending_loads, record_built
from clickstream.config import PROJECT_ROOT, check_dsn
from clickstream.errors import ConfigError, StageFailedError
from clickstream.locks import warehouse_build_lock

logger = logging.getLogger(__name__)

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
"""The dbt project (and its committed profiles.yml)."""

_FAILED_STATUSES = frozenset({"error", "fail", "runtime error"})
_RUN_LOCK = threading.Lock()

WINDOW_VARS = ("window_start", "window_end", "lateness_days", "late_days_by_device")
"""The settings of the incremental window, passed to dbt as ``CLICKSTREAM_DBT_<NAME>``."""

DAILY_SELECTOR = "daily_build"
"""The selector (``dbt_project/selectors.yml``) of a daily build that skips the static nodes."""

STATIC_MARKER_SCHEMA = "staging"
"""The schema whose comment records the project the static nodes were last built from."""

_STATIC_MARKER_PREFIX = "clickstream static nodes built from project "
_NOT_PROJECT_SOURCE = frozenset({"target", "logs", "dbt_packages"})


@dataclass(frozen=True)
class NodeResult:
    """Outcome of one dbt node (model, test, seed, snapshot, unit test)."""

    name: str
    resource_type: str
    status: str
    seconds: float
    message: str | None = None
    failures: int | None = None


@dataclass(frozen=True)
class DbtResult:
    """What a dbt invocation did: the command, per-node outcomes and wall-clock seconds."""

    args: tuple[str, ...]
    seconds: float
    nodes: tuple[NodeResult, ...] = field(default_factory=tuple)

    def status_of(self, name: str) -> str | None:
        """Status of the first node called ``name`` (e.g. a model or test name)."""
        return next((node.status for node in self.nodes if node.name == name), None)

    @property
    def counts(self) -> dict[str, int]:
        """Node count per status, for the one-line summary."""
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node.status] = counts.get(node.status, 0) + 1
        return counts


def dbt_env(dsn: str) -> dict[str, str]:
    """Environment variables that point ``profiles.yml`` at the database of a libpq URL.

    Accepts ``postgresql://user:pw@host:port/db`` and the socket form
    ``postgresql://user:@/db?host=/socket/dir`` (the embedded pgserver); a ``host`` query
    parameter wins over the netloc, as in libpq.
    """
    parts = urlsplit(check_dsn(dsn))
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    database = unquote(parts.path.lstrip("/")) or query.get("dbname", "")
    port = query.get("port") or str(parts.port or 5432)
    return {
        "CLICKSTREAM_PG_HOST": query.get("host") or unquote(parts.hostname or "") or "127.0.0.1",
        "CLICKSTREAM_PG_PORT": port,
        "CLICKSTREAM_PG_USER": unquote(parts.username or "") or query.get("user", "postgres"),
        "DBT_ENV_SECRET_PG_PASSWORD": unquote(parts.password or "") or query.get("password", ""),
        "CLICKSTREAM_PG_DBNAME": database,
    }


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block, then restore the old ones."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def window_environment(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """Move the window settings out of ``--vars`` into ``CLICKSTREAM_DBT_*`` variables.

    ``--vars`` are part of dbt's partial-parse checksum: a window that changes every day made
    every daily build re-parse the whole project (3.8 s instead of 0.6 s). The project's window
    macros read these variables only while executing, so parsing never depends on them. Every
    window variable is set (empty when absent) so one call's window never leaks into the next.
    """
    env = {f"CLICKSTREAM_DBT_{name.upper()}": "" for name in WINDOW_VARS}
    if "--vars" not in args:
        return list(args), env
    at = args.index("--vars")
    if at + 1 >= len(args):
        raise ConfigError("dbt --vars needs a value.")
    try:
        values = json.loads(args[at + 1])
    except json.JSONDecodeError:
        return list(args), env  # YAML vars from a hand-written call: dbt parses those itself
    if not isinstance(values, dict):
        raise ConfigError(f"dbt --vars must be a mapping, got {args[at + 1]!r}.")
    for name in WINDOW_VARS:
        if values.get(name) is not None:
            env[f"CLICKSTREAM_DBT_{name.upper()}"] = str(values.pop(name))
    rest = [*args[:at], *(["--vars", json.dumps(values)] if values else []), *args[at + 2 :]]
    return rest, env


def _node_results(raw_result: Any) -> tuple[NodeResult, ...]:
    """Per-node outcomes from a dbtRunnerResult.result (absent for parse/docs/ls)."""
    results = getattr(raw_result, "results", None) or []
    nodes = []
    for item in results:
        node = getattr(item, "node", None)
        status = getattr(item, "status", "")
        nodes.append(
            NodeResult(
                name=getattr(node, "name", "?"),
                resource_type=str(getattr(node, "resource_type", "?")),
                status=str(getattr(status, "value", status)),
                seconds=round(float(getattr(item, "execution_time", 0.0) or 0.0), 3),
                message=getattr(item, "message", None),
                failures=getattr(item, "failures", None),
            )
        )
    return tuple(nodes)


def _failure_message(args: list[str], nodes: tuple[NodeResult, ...], exception: Any) -> str:
    failed = [node for node in nodes if node.status in _FAILED_STATUSES]
    command = " ".join(args[:1]) or "dbt"
    if failed:
        shown = "; ".join(f"{node.name}: {node.message or node.status}" for node in failed[:10])
        more = f" (+{len(failed) - 10} more)" if len(failed) > 10 else ""
        return (
            f"dbt {command} failed on {len(failed)} node(s): {shown}{more}. "
            "Details: run_results.json and dbt.log in the dbt target folder."
        )
    detail = str(exception).strip() if exception else "no detail"
    return f"dbt {command} failed: {detail}"


def run_dbt(
    dsn: str,
    args: list[str],
    project_dir: Path = DBT_PROJECT_DIR,
    target_path: Path | None = None,
    check: bool = True,
    env: Mapping[str, str] | None = None,
) -> DbtResult:
    """Run one dbt command in-process against ``dsn``; raise StageFailedError if it fails.

    ``target_path`` keeps the artifacts (manifest, run results, logs) of this call apart from
    the project's own ``target/`` — tests use it so parallel runs don't share a folder.
    ``check=False`` returns the per-node outcomes of a failed run instead of raising (as long
    as dbt got as far as running nodes). Commands that run on the parsed project reuse the
    manifest this process parsed already (:class:`ParsedProjects`). ``env`` adds environment
    variables for this call only (e.g. libpq's ``PGOPTIONS`` for dbt's connections).
    """
    from dbt.artifacts.schemas.run import RunExecutionResult
    from dbt.cli.main import dbtRunner

    dbt_args, window_env = window_environment(args)
    # without a target_path dbt applies its defaults and DBT_TARGET_PATH / DBT_LOG_PATH
    location = ["--project-dir", str(project_dir), "--profiles-dir", str(project_dir)]
    if target_path is not None:
        location += ["--target-path", str(target_path), "--log-path", str(target_path)]
    started = time.perf_counter()
    command = dbt_args[0] if dbt_args else ""
    build_lock: AbstractContextManager[None] = (
        warehouse_build_lock(dsn) if command in WAREHOUSE_WRITING_COMMANDS else nullcontext()
    )
    with build_lock, _RUN_LOCK, _environment({**dbt_env(dsn), **window_env, **(env or {})}):
        manifest = PARSED_PROJECTS.manifest_for(dsn, dbt_args, project_dir, location)
        skip_manifest = command in RESULTS_ONLY_COMMANDS and PARSED_PROJECTS.written_to(
            manifest, location
        )
        write_json = ["--no-write-json"] if skip_manifest else []
        outcome = dbtRunner(manifest=manifest).invoke([*dbt_args, *write_json, *location])
        if skip_manifest and isinstance(outcome.result, RunExecutionResult):
            results_path = (target_path or default_target_path(project_dir)) / "run_results.json"
            outcome.result.write(str(results_path))
    nodes = _node_results(outcome.result)
    seconds = round(time.perf_counter() - started, 3)
    if not outcome.success and (check or not nodes):
        raise StageFailedError(_failure_message(args, nodes, outcome.exception))
    result = DbtResult(args=tuple(args), seconds=seconds, nodes=nodes)
    logger.info("dbt %s: %s in %.1f s", " ".join(args[:1]), result.counts or "ok", seconds)
    return result


WAREHOUSE_WRITING_COMMANDS = frozenset({"build", "run", "seed", "snapshot"})
"""dbt commands that replace warehouse tables: one at a time per warehouse
(:func:`~clickstream.locks.warehouse_build_lock`)."""

REUSABLE_MANIFEST_COMMANDS = frozenset(
    {"build", "compile", "docs", "run", "seed", "snapshot", "test"}
)
"""dbt commands that run on the parsed project, so can be handed a manifest parsed before."""

RESULTS_ONLY_COMMANDS = frozenset({"build", "run", "seed", "snapshot", "test"})
"""Commands whose artifact worth writing is run_results.json, not the manifest again.

With ``--write-json`` (dbt's default) every call also rewrites manifest.json, 0.4 s of a 4.7 s
daily build at 30 days, after the last node. When the call reuses a manifest parsed into the
same target folder, the parse wrote that file there already (nodes, configs and checksums,
which is what ``--state`` comparisons read; only the compiled SQL is left out, and that is in
``compiled/`` and ``run/``). Such calls run with ``--no-write-json`` and :func:`run_dbt` writes
run_results.json itself; a call into another target folder writes both, as dbt does.
"""

PARSE_OPTIONS = ("--vars", "--target", "--profile")
"""Options of a dbt call, besides its project and profile variables, that change the parse."""


class ParsedProjects:
    """The dbt projects this process has parsed, each kept by everything its parse read.

    Every dbt invocation starts by parsing the project: 3-4 s from scratch, ≈0.4 s from the
    target folder's partial_parse.msgpack, and a fresh target folder (the analyses' own, a
    benchmark run's) always starts from scratch. ``dbtRunner(manifest=...)`` skips the parse,
    as dbt's programmatic-invocation docs suggest for repeated calls, so one ``clickstream
    run`` parses once and its daily builds, the analyses' compile and the docs reuse that
    manifest. The key holds every input of a parse: the files of the project and of its
    analysis paths (:func:`parse_fingerprint`), the profile variables of the DSN (the
    database name is part of every relation name) and the :data:`PARSE_OPTIONS` given. A
    project with ephemeral models is parsed by every call as before: dbt marks the CTEs of a
    compiled node as injected, and a second compile of the same node would leave them out.
    The few most recent projects are kept (a test session alternates databases).
    """

    def __init__(self, size: int = 4) -> None:
        self._size = size
        # each parsed manifest with the --target-path/--log-path options of the call that parsed
        # it: that call's target folder holds it as manifest.json
        self._manifests: OrderedDict[tuple[Any, ...], tuple[Any, tuple[str, ...]]] = OrderedDict()
        self.parses = 0
        """How many times this cache had dbt parse a project (tests read it)."""

    def clear(self) -> None:
        self._manifests.clear()

    def manifest_for(
        self, dsn: str, dbt_args: list[str], project_dir: Path, location: list[str]
    ) -> Any | None:
        """The parsed manifest for this call (parsing the project first if it is new), or
        None when the command does not take one or the parse failed (the command then
        parses itself and reports the error). Called with the profile variables set."""
        from dbt.cli.main import dbtRunner

        if not dbt_args or dbt_args[0] not in REUSABLE_MANIFEST_COMMANDS:
            return None
        options = _parse_options(dbt_args)
        key = (
            str(project_dir.resolve()),
            parse_fingerprint(project_dir),
            tuple(sorted(dbt_env(dsn).items())),
            tuple(options),
        )
        if key in self._manifests:
            self._manifests.move_to_end(key)
            return self._manifests[key][0]
        self.parses += 1
        outcome = dbtRunner().invoke(["parse", *options, *location])
        manifest = outcome.result if outcome.success else None
        if manifest is None or _has_ephemeral_models(manifest):
            return None
        self._manifests[key] = (manifest, tuple(location))
        while len(self._manifests) > self._size:
            self._manifests.popitem(last=False)
        return manifest

    def written_to(self, manifest: Any | None, location: list[str]) -> bool:
        """Whether ``manifest`` came from a parse that wrote it into the target folder of
        ``location`` (the same --target-path, or both dbt's default), where it still is."""
        return manifest is not None and any(
            parsed is manifest and parsed_location == tuple(location)
            for parsed, parsed_location in self._manifests.values()
        )


PARSED_PROJECTS = ParsedProjects()
"""This process's parsed projects, shared by every :func:`run_dbt` call (under its lock)."""


def default_target_path(project_dir: Path = DBT_PROJECT_DIR) -> Path:
    """Where a dbt call without a ``target_path`` writes its artifacts.

    dbt's own ``DBT_TARGET_PATH`` (relative to the project, as dbt reads it) when set, else the
    project's ``target/``: the code that reads the artifacts back (compiled analyses, the docs
    site) looks where dbt wrote them. Two pipelines, or two test workers, sharing one checkout
    keep their artifacts apart by setting it (and ``DBT_LOG_PATH``).
    """
    configured = os.environ.get("DBT_TARGET_PATH")
    return project_dir / configured if configured else project_dir / "target"


def _parse_options(dbt_args: list[str]) -> list[str]:
    """The :data:`PARSE_OPTIONS` of a call with their values, in the order given."""
    options: list[str] = []
    for at, arg in enumerate(dbt_args):
        name, equals, _ = arg.partition("=")
        if name not in PARSE_OPTIONS:
            continue
        if equals:
            options.append(arg)
        elif at + 1 < len(dbt_args):
            options += [arg, dbt_args[at + 1]]
    return options


def _has_ephemeral_models(manifest: Any) -> bool:
    return any(
        getattr(getattr(node, "config", None), "materialized", None) == "ephemeral"
        for node in manifest.nodes.values()
    )


def build_day_args(
    day: dt.date,
    lateness_days: int,
    full_refresh: bool = False,
    skip_static: bool = False,
    pending: Sequence[dt.date] = (),
) -> list[str]:
    """The ``dbt build`` arguments for arrival day D: the incremental window is [D-L, D+2).

    It ends after D+1 because staging D (and so loading D) also rewrites partition D+1: an
    event received just before midnight can be dated just after it. ``pending`` are other
    arrival days loaded since the last successful build (:mod:`clickstream.built_loads`): the
    window stretches to [first-L, last+2) over them and D. ``skip_static`` selects the
    ``daily_build`` selector: everything but the views, seeds and static dimensions (see
    :func:`build_day` for when that is safe); a full refresh always builds everything.
    """
    if lateness_days < 0:
        raise ConfigError(f"lateness_days must be >= 0, got {lateness_days}.")
    first, last = min([day, *pending]), max([day, *pending])
    window = {
        "window_start": (first - dt.timedelta(days=lateness_days)).isoformat(),
        "window_end": (last + dt.timedelta(days=2)).isoformat(),
        "lateness_days": lateness_days,
        # the window's late days [first-L, first) hold only the late arrivals of the days
        # built: the models that support it rebuild there only the devices those touched
        # (late_days_end macro)
        "late_days_by_device": True,
    }
    # unit tests check SQL logic on fixed fixtures, not the day's data: CI runs them, a daily
    # build would only pay for them (dbt's own advice for production runs)
    args = ["build", "--vars", json.dumps(window), "--exclude-resource-type", "unit_test"]
    if full_refresh:
        args.append("--full-refresh")
    elif skip_static:
        args += ["--selector", DAILY_SELECTOR]
    return args


def project_fingerprint(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """sha256 of every source file of the dbt project (not its target, logs or packages).

    The static nodes (views, seeds, generated dimensions) depend on nothing else, so equal
    fingerprints mean their relations would be rebuilt identically.
    """
    digest = hashlib.sha256()
    _hash_files(digest, project_dir, skip_top=_NOT_PROJECT_SOURCE)
    return digest.hexdigest()


def _hash_files(digest: Any, root: Path, skip_top: frozenset[str] = frozenset()) -> None:
    """Add every file under ``root`` (path and bytes, in path order) to ``digest``; hidden
    files and the top-level folders in ``skip_top`` are left out."""
    files = sorted(
        path
        for path in root.rglob("*")
        if path.is_file()
        and path.relative_to(root).parts[0] not in skip_top
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    )
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")


def project_config(project_dir: Path = DBT_PROJECT_DIR) -> dict[str, Any]:
    """The project's ``dbt_project.yml`` as a mapping (empty when there is none)."""
    config_path = project_dir / "dbt_project.yml"
    config = yaml.safe_load(config_path.read_text()) if config_path.is_file() else None
    return config or {}


def calendar_bounds(project_dir: Path = DBT_PROJECT_DIR) -> tuple[dt.date, dt.date]:
    """First and last day of ``dim_date`` (the project's ``calendar_start``/``calendar_end``)."""
    values = project_config(project_dir).get("vars") or {}
    return (
        dt.date.fromisoformat(str(values["calendar_start"])),
        dt.date.fromisoformat(str(values["calendar_end"])),
    )


def check_in_calendar(first: dt.date, last: dt.date, what: str) -> None:
    """Raise ConfigError unless [first, last] lies within ``dim_date``'s calendar.

    Every event date must have its calendar row (a tested relationship of every fact): a day
    outside it would be loaded, then fail the dbt build. Checked before any work instead.
    """
    start, end = calendar_bounds()
    if first < start or last > end:
        raise ConfigError(
            f"{what} {first}..{last}: outside the warehouse calendar {start}..{end} "
            "(dim_date: vars calendar_start/calendar_end in dbt_project/dbt_project.yml); "
            "choose dates inside it or widen the calendar."
        )


def parse_fingerprint(project_dir: Path = DBT_PROJECT_DIR) -> str:
    """sha256 of every file dbt parses: :func:`project_fingerprint` plus the analysis paths
    that lie outside the project (this project's ``analyses/`` is a sibling of it)."""
    digest = hashlib.sha256(project_fingerprint(project_dir).encode())
    paths = project_config(project_dir).get("analysis-paths") or []
    project = project_dir.resolve()
    for relative in sorted(str(path) for path in paths):
        root = (project_dir / relative).resolve()
        if root == project or project in root.parents or not root.is_dir():
            continue  # inside the project: its files are in the project fingerprint already
        digest.update(f"{relative}\0".encode())
        _hash_files(digest, root)
    return digest.hexdigest()


def static_build_fingerprint(dsn: str) -> str | None:
    """The project fingerprint the database's static nodes were built from, if recorded.

    Kept in the database itself (the comment of the ``staging`` schema), so a dropped or new
    database, or one restored from elsewhere, never inherits another database's record.
    """
    from clickstream.db import connection

    with connection(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "select obj_description(oid, 'pg_namespace') from pg_catalog.pg_namespace "
            "where nspname = %s",
            (STATIC_MARKER_SCHEMA,),
        )
        row = cur.fetchone()
    comment = row[0] if row else None
    if not comment or not comment.startswith(_STATIC_MARKER_PREFIX):
        return None
    return str(comment[len(_STATIC_MARKER_PREFIX) :])


def record_static_build(dsn: str, fingerprint: str | None) -> None:
    """Record (or, with ``None``, forget) the project the static nodes were just built from."""
    from psycopg2 import sql

    from clickstream.db import connection

    comment = None if fingerprint is None else _STATIC_MARKER_PREFIX + fingerprint
    with connection(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "select from pg_catalog.pg_namespace where nspname = %s", (STATIC_MARKER_SCHEMA,)
        )
        if cur.fetchone() is None:  # a new database: nothing built, nothing to record or forget
            return
        cur.execute(
            sql.SQL("comment on schema {} is %s").format(sql.Identifier(STATIC_MARKER_SCHEMA)),
            (comment,),
        )


def build_day(
    dsn: str,
    day: dt.date,
    lateness_days: int,
    full_refresh: bool = False,
    project_dir: Path = DBT_PROJECT_DIR,
    target_path: Path | None = None,
    check: bool = True,
) -> DbtResult:
    """Seeds, models, snapshots and tests after loading arrival day ``day``: one ``dbt build``.

    ``check=False`` returns a result with failing nodes instead of raising (the benchmark).

    The build also covers every other arrival day loaded since the last successful build
    (:mod:`clickstream.built_loads`): days loaded together and built once, or an old day
    reloaded, would otherwise stay in ``raw`` and never reach the facts.

    The views, the seed and the static dimensions depend on the project alone, so rebuilding
    them every day only costs time (≈2 s of a 30-day build). They are skipped when the
    database records that they were built from a project with the same fingerprint; any
    change to the project, a new database or ``full_refresh`` builds everything, and a
    successful complete build records the fingerprint. The record is dropped before a complete
    build, so a failed one is never taken for a success.
    """
    fingerprint = project_fingerprint(project_dir)
    # the records are read and written under the build lock too: another build must not
    # clear or set them between this one's check and its end
    with warehouse_build_lock(dsn):
        loads = pending_loads(dsn)
        # a full refresh rebuilds everything whatever its window; stretched, the window would
        # also date the identity map's settled state back, and make the next build regroup
        # the history since then
        pending = [] if full_refresh else [arrival for arrival in loads.pending if arrival != day]
        if pending:
            logger.info(
                "dbt build for %s also covers %d other arrival day(s) loaded since the last "
                "build: %s",
                *(day, len(pending), ", ".join(map(str, pending))),
            )
        skip_static = not full_refresh and static_build_fingerprint(dsn) == fingerprint
        if not skip_static:
            record_static_build(dsn, None)
        args = build_day_args(day, lateness_days, full_refresh, skip_static, pending)
        env = {} if full_refresh else daily_build_env()
        result = run_dbt(dsn, args, project_dir, target_path, check=check, env=env)
        failed = any(node.status in _FAILED_STATUSES for node in result.nodes)
        if not failed:
            record_built(dsn, loads.audited)
            if not skip_static:
                record_static_build(dsn, fingerprint)
    return result


DAILY_BUILD_PG_OPTIONS = "-c max_parallel_workers_per_gather=0"
"""PostgreSQL settings of a daily build's connections: no parallel workers per query.

A daily build runs many queries of a few days' rows each, ``CLICKSTREAM_DBT_THREADS`` (4) at a
time, so dbt's threads already keep the server's cores busy and a query's parallel workers only
add their start and the leader's gathering. Measured on copies of one database, interleaved, on
2 cores: at 30 days x 20K events 3% faster (5 of 5 rounds, 4.25 -> 4.13 s median), at 90 days
5% (2 of 2). The first build of an empty warehouse is a daily build too: on a 1M-event day it
took the same time either way (21.6 vs 21.2 s). A ``--full-refresh`` is left to the server's
setting: without workers it gained 10% at 30 days but nothing at 90 days.
"""


def daily_build_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """libpq's ``PGOPTIONS`` for a daily build's dbt connections: the caller's own options plus
    :data:`DAILY_BUILD_PG_OPTIONS`, unless the caller already chose the parallel workers."""
    current = (os.environ if environ is None else environ).get("PGOPTIONS", "").strip()
    if "max_parallel_workers_per_gather" in current:
        return {}
    return {"PGOPTIONS": f"{current} {DAILY_BUILD_PG_OPTIONS}".strip()}


def docs_generate(
    dsn: str,
    static: bool = False,
    project_dir: Path = DBT_PROJECT_DIR,
    target_path: Path | None = None,
) -> Path:
    """Write the docs site (manifest, catalog, index.html); return the HTML file to open."""
    args = ["docs", "generate", *(["--static"] if static else [])]
    run_dbt(dsn, args, project_dir, target_path)
    target = target_path or default_target_path(project_dir)
    return target / ("static_index.html" if static else "index.html")


def ensure_roles(dsn: str) -> None:
    """Create the ``analyst`` role if missing.

    dbt's ``on-run-start`` hook already does this on every invocation; this is for callers that
    grant access before dbt has ever run (e.g. provisioning scripts).
    """
    from clickstream.db import connection

    with connection(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            """
            do $$
            begin
                if not exists (select from pg_catalog.pg_roles where rolname = 'analyst') then
                    create role analyst nologin;
                end if;
            exception
                when duplicate_object or unique_violation then null;
            end
            $$
            """
        )
