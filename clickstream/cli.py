"""The ``clickstream`` command: one subcommand per stage, plus ``run`` for all of them.

Users' mistakes (bad values, unreachable server, missing input) print one clear line and exit
non-zero; ``--debug`` shows the traceback for anything else.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from clickstream.config import Settings, parse_date
from clickstream.errors import ClickstreamError, ConfigError

# pgserver asks platformdirs for a runtime folder; its fallback warning is noise for users.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

app = typer.Typer(
    name="clickstream",
    help="E-commerce clickstream warehouse: generate → Spark stage → COPY load → dbt → analyses.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
warehouse_app = typer.Typer(
    help="Manage the embedded PostgreSQL (used when CLICKSTREAM_PG_DSN is unset)."
)
app.add_typer(warehouse_app, name="warehouse")

console = Console(stderr=True)
out = Console()
logger = logging.getLogger("clickstream")

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_START = "2024-03-01"


def _settings(ctx: typer.Context) -> Settings:
    settings = ctx.obj
    if not isinstance(settings, Settings):  # invoked without the callback (tests)
        settings = Settings.from_env()
    return settings


def friendly_errors(func: F) -> F:
    """Turn ClickstreamError, and an OSError on a path the user gave, into one red line and an
    exit code instead of a traceback (``--debug`` keeps the traceback)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = kwargs.get("ctx")
        debug = isinstance(ctx, typer.Context) and isinstance(ctx.obj, Settings) and ctx.obj.debug
        try:
            return func(*args, **kwargs)
        except ClickstreamError as exc:
            if debug:
                raise
            console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(exc.exit_code) from None
        except OSError as exc:  # a path given that cannot be used: a file for a folder, no rights
            if debug:
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            console.print(f"[bold red]error:[/] {where}{exc.strerror or exc}", highlight=False)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def _hide_py4j_root_records(record: logging.LogRecord) -> bool:
    """Drop what py4j logs through the root logger: a lost gateway call with its traceback.

    py4j calls ``logging.info(...)`` itself, so its own logger's level does not apply; the
    stage that lost the JVM reports it once, as a clear error (--debug keeps the records).
    """
    return "py4j" not in Path(record.pathname).parts


@app.callback()
def main(
    ctx: typer.Context,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings and errors.")] = False,
    pg_dsn: Annotated[
        str | None,
        typer.Option(
            "--pg-dsn", help="libpq URL of an external PostgreSQL (env CLICKSTREAM_PG_DSN)."
        ),
    ] = None,
    landing_dir: Annotated[Path | None, typer.Option(help="Landing folder (data/landing).")] = None,
    lake_dir: Annotated[Path | None, typer.Option(help="Parquet lake folder (data/lake).")] = None,
    spark_master: Annotated[
        str | None, typer.Option("--spark-master", help="Spark master URL, e.g. spark://host:7077.")
    ] = None,
) -> None:
    """Global options; every subcommand shares them."""
    level = logging.DEBUG if debug else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(
        level=level,
        format="%(message)s",
        datefmt="[%X]",
        handlers=[RichHandler(console=console, show_path=debug, rich_tracebacks=debug)],
        force=True,
    )
    for noisy in ("py4j", "pyspark", "urllib3", "matplotlib", "PIL", "pgserver"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if not debug:
        for handler in logging.getLogger().handlers:
            handler.addFilter(_hide_py4j_root_records)
    try:
        ctx.obj = Settings.from_env(
            pg_dsn=pg_dsn,
            landing_dir=landing_dir.resolve() if landing_dir else None,
            lake_dir=lake_dir.resolve() if lake_dir else None,
            spark_master=spark_master,
            debug=debug,
        )
    except ClickstreamError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(exc.exit_code) from None


def _date_window(
    date: str | None, date_from: str | None, date_to: str | None, default: list[dt.date]
) -> list[dt.date]:
    """Resolve --date / --from/--to into a list of days (default: ``default``)."""
    if date and (date_from or date_to):
        raise ConfigError("Use either --date or --from/--to, not both.")
    from clickstream.dbt import check_in_calendar

    if date:
        day = parse_date(date, "--date")
        check_in_calendar(day, day, "--date")
        return [day]
    if date_from or date_to:
        start = parse_date(date_from or date_to or "", "--from")
        end = parse_date(date_to or date_from or "", "--to")
        if end < start:
            raise ConfigError(f"--to {end} is before --from {start}.")
        check_in_calendar(start, end, "--from/--to")
        return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    return default


DateOpt = Annotated[str | None, typer.Option("--date", help="One arrival day, YYYY-MM-DD.")]
FromOpt = Annotated[str | None, typer.Option("--from", help="First arrival day of a range.")]
ToOpt = Annotated[str | None, typer.Option("--to", help="Last arrival day of a range.")]


@app.command()
@friendly_errors
def generate(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(help="Number of days to generate.")] = 7,
    events_per_day: Annotated[int, typer.Option(help="Events per day (before defects).")] = 15_000,
    start_date: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")] = DEFAULT_START,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")] = 42,
    out_dir: Annotated[Path | None, typer.Option("--out", help="Landing folder.")] = None,
    defect_rate: Annotated[
        float | None, typer.Option(help="Share of defective rows (0–1).")
    ] = None,
    bot_share: Annotated[float | None, typer.Option(help="Share of bot traffic (0–1).")] = None,
) -> None:
    """Generate D days of deterministic, deliberately dirty clickstream landing files."""
    from clickstream.pipeline import day_range

    settings = _settings(ctx)
    start = parse_date(start_date, "--start-date")
    day_range(start, days)
    config = _generator_config(seed, events_per_day, defect_rate, bot_share, start)
    from generator import generate as generate_days

    target = (out_dir or settings.landing_dir).resolve()
    manifests = generate_days(config, start, days, target, progress=True)
    total = sum(m.rows["events"] for m in manifests)
    logger.info("generated %d event rows over %d days into %s", total, len(manifests), target)


def _generator_config(
    seed: int,
    events_per_day: int,
    defect_rate: float | None,
    bot_share: float | None,
    start_date: dt.date,
) -> Any:
    if events_per_day <= 0:
        raise ConfigError(f"--events-per-day must be positive, got {events_per_day}.")
    from generator import GeneratorConfig

    overrides: dict[str, Any] = {
        "seed": seed,
        "events_per_day": events_per_day,
        "start_date": start_date,
    }
    if defect_rate is not None:
        overrides["defect_rate"] = defect_rate
    if bot_share is not None:
        overrides["bot_share"] = bot_share
    return GeneratorConfig(**overrides)


@app.command()
@friendly_errors
def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Export files (CSV or CSV.gz).")],
    source_format: Annotated[str, typer.Option("--format", help="Input format.")] = "rees46",
    landing: Annotated[Path | None, typer.Option("--landing", help="Landing folder.")] = None,
) -> None:
    """Convert real exports (REES46 format) into the landing layout."""
    settings = _settings(ctx)
    summary = _ingest(
        source_format,
        paths,
        (landing or settings.landing_dir).resolve(),
        settings.session_gap_minutes,
    )
    logger.info("ingested %s", summary)


def _ingest(source_format: str, paths: list[Path], landing: Path, session_gap_minutes: int) -> Any:
    if source_format != "rees46":
        raise ConfigError(f"Unknown --format {source_format!r}; supported: rees46.")
    from clickstream.ingest.rees46 import ingest_rees46

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise ConfigError(f"Input file(s) not found: {', '.join(missing)}")
    return ingest_rees46(paths, landing, progress=True, session_gap_minutes=session_gap_minutes)


def _days_to_process(  # type: ignore[no-untyped-def]
    ctx: typer.Context,
    date: str | None,
    start: str | None,
    end: str | None,
    default: Callable[[Settings], list[dt.date]] | None = None,
):
    """Settings and the arrival days a stage or load works on: the --date/--from/--to window,
    else ``default`` (every landed day unless given)."""
    from clickstream.pipeline import require_landed

    settings = _settings(ctx)
    chosen = _date_window(date, start, end, default=[])
    return settings, chosen or (default or require_landed)(settings)


@app.command()
@friendly_errors
def stage(
    ctx: typer.Context,
    date: DateOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
) -> None:
    """Validate, dedupe, sessionize landed days with Spark and write the Parquet lake.

    A range is staged as one backfill job, which gives the same lake as staging day by day.
    """
    settings, days = _days_to_process(ctx, date, date_from, date_to)
    from spark_staging.landing import landing_bytes
    from spark_staging.session import spark_for
    from spark_staging.stage import stage_days

    spark = spark_for(settings, input_bytes=landing_bytes(settings, days))
    with console.status(f"staging {days[0]}..{days[-1]} on {settings.spark_master}"):
        stats_by_day = stage_days(spark, settings, days)
    for stats in stats_by_day:
        logger.info("staged %s", stats)


@app.command()
@friendly_errors
def load(
    ctx: typer.Context,
    date: DateOpt = None,
    date_from: FromOpt = None,
    date_to: ToOpt = None,
) -> None:
    """COPY staged days from the lake into PostgreSQL's raw schema (atomic per day)."""
    from clickstream.pipeline import require_staged

    settings, days = _days_to_process(ctx, date, date_from, date_to, default=require_staged)
    from clickstream.warehouse import resolve_dsn
    from spark_staging.load import load_days

    dsn = resolve_dsn(settings)
    # One call: load_days checks every requested day is staged before touching the database.
    with console.status(f"loading {days[0]}..{days[-1]}"):
        results = load_days(dsn, settings, days)
    for result in results:
        logger.info("loaded %s", result)


@app.command()
@friendly_errors
def transform(
    ctx: typer.Context,
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild incremental models.")
    ] = False,
    date: DateOpt = None,
) -> None:
    """Run ``dbt build`` (seeds, models, snapshots, tests) on the warehouse."""
    from clickstream.dbt import build_day, run_dbt
    from clickstream.pipeline import landed_days
    from clickstream.warehouse import check_raw_loaded, resolve_dsn

    settings = _settings(ctx)
    chosen = _date_window(date, None, None, default=[])  # parsed and calendar-checked
    dsn = resolve_dsn(settings)
    # one clear line, not dbt's trace, for an unreachable server or an empty warehouse
    check_raw_loaded(dsn)
    if chosen:
        build_day(dsn, chosen[0], settings.lateness_days, full_refresh=full_refresh)
        return
    days = landed_days(settings)
    if days and not full_refresh:
        build_day(dsn, days[-1], settings.lateness_days)
    else:
        run_dbt(dsn, ["build", *(["--full-refresh"] if full_refresh else [])])


@app.command()
@friendly_errors
def analyze(
    ctx: typer.Context,
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Reports folder (reports/).")
    ] = None,
) -> None:
    """Compile and run the dbt analyses; write CSVs, charts and reports/dashboard.html."""
    from clickstream.analyze import run_analyses
    from clickstream.warehouse import resolve_dsn

    settings = _settings(ctx)
    report = run_analyses(resolve_dsn(settings), settings, out_dir=out_dir, progress=True)
    out.print(f"dashboard: {report.dashboard_path}")


@app.command()
@friendly_errors
def docs(
    ctx: typer.Context,
    serve: Annotated[
        bool, typer.Option("--serve", help="Serve the docs site on localhost.")
    ] = False,
    static: Annotated[
        bool, typer.Option("--static", help="Also write one shareable HTML file.")
    ] = False,
    port: Annotated[int, typer.Option(help="Port for --serve.")] = 8080,
) -> None:
    """Generate the dbt docs (lineage) site; ``--serve`` serves it on localhost."""
    from clickstream.dbt import docs_generate
    from clickstream.docs_server import serve_docs
    from clickstream.warehouse import check_connection, resolve_dsn

    settings = _settings(ctx)
    dsn = resolve_dsn(settings)
    check_connection(dsn)  # dbt docs generate reads the catalog: fail in one line before it
    path = docs_generate(dsn, static=static)
    out.print(f"docs: {path}")
    if serve:
        serve_docs(path.parent if path.is_file() else path, port)


@app.command()
@friendly_errors
def run(
    ctx: typer.Context,
    days: Annotated[int, typer.Option(help="Days to simulate, one batch each.")] = 7,
    events_per_day: Annotated[int, typer.Option(help="Events per day.")] = 15_000,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    start_date: Annotated[str, typer.Option(help="First day, YYYY-MM-DD.")] = DEFAULT_START,
    source: Annotated[str, typer.Option(help="'generator' or 'rees46'.")] = "generator",
    inputs: Annotated[
        list[Path] | None, typer.Option("--input", help="Export files for --source rees46.")
    ] = None,
    skip_analyze: Annotated[bool, typer.Option("--skip-analyze", help="Stop after dbt.")] = False,
    skip_docs: Annotated[
        bool, typer.Option("--skip-docs", help="Don't generate the docs site.")
    ] = False,
) -> None:
    """Run everything, day by day: generate → stage → load → dbt build → analyses → report."""
    from clickstream.pipeline import day_range
    from clickstream.runner import run_all

    settings = _settings(ctx)
    start = parse_date(start_date, "--start-date")
    day_range(start, days)
    if events_per_day <= 0:
        raise ConfigError(f"--events-per-day must be positive, got {events_per_day}.")
    if source not in {"generator", "rees46"}:
        raise ConfigError(f"Unknown --source {source!r}; use 'generator' or 'rees46'.")
    if source == "rees46" and not inputs:
        raise ConfigError("--source rees46 needs at least one --input FILE.")
    summary = run_all(
        settings,
        days=days,
        events_per_day=events_per_day,
        seed=seed,
        start_date=start,
        source=source,
        inputs=inputs or [],
        analyze=not skip_analyze,
        docs=not skip_docs,
        console=console,
    )
    _print_summary(summary)


def _print_summary(summary: Any) -> None:
    table = Table(title="clickstream run", show_lines=False)
    for column in ("day", "landed", "accepted", "quarantined", "duplicates", "loaded", "seconds"):
        table.add_column(column, justify="right")
    for day in summary.days:
        table.add_row(
            str(day.day),
            f"{day.landed_rows:,}",
            f"{day.accepted:,}",
            f"{day.quarantined:,}",
            f"{day.duplicates:,}",
            f"{day.loaded_rows:,}",
            f"{sum(day.seconds.values()):.1f}",
        )
    out.print(table)
    out.print(
        f"events {summary.events:,.0f} · sessions {summary.sessions:,} · "
        f"orders {summary.orders:,} · conversion {summary.conversion_rate:.2%} · "
        f"revenue {summary.revenue:,.2f}"
    )
    if summary.source_sessions is not None:
        out.print(
            f"source sessions {summary.source_sessions:,} · reproduced exactly by the 30-minute "
            f"sessionization: {summary.source_sessions_reproduced:.1%}"
        )
    if summary.report_path:
        out.print(f"report: {summary.report_path}")
    if summary.docs_path:
        out.print(f"docs:   {summary.docs_path}")


@warehouse_app.command("start")
@friendly_errors
def warehouse_start(ctx: typer.Context) -> None:
    """Start the embedded PostgreSQL (data in .warehouse/)."""
    from clickstream.warehouse import start_embedded

    out.print(start_embedded(_settings(ctx)))


@warehouse_app.command("stop")
@friendly_errors
def warehouse_stop(ctx: typer.Context) -> None:
    """Stop the embedded PostgreSQL."""
    from clickstream.warehouse import stop_embedded

    out.print("stopped" if stop_embedded(_settings(ctx)) else "not running")


@warehouse_app.command("status")
@friendly_errors
def warehouse_status(ctx: typer.Context) -> None:
    """Say which warehouse is in use and whether it answers."""
    from clickstream.warehouse import check_connection, describe, embedded_status

    settings = _settings(ctx)
    if settings.pg_dsn:
        version = check_connection(settings.pg_dsn)
        out.print(f"external: {describe(settings.pg_dsn)} — PostgreSQL {version}")
        return
    status = embedded_status(settings)
    out.print(f"embedded: {status.detail}")
    if not status.running:
        raise typer.Exit(3)


@warehouse_app.command("url")
@friendly_errors
def warehouse_url(ctx: typer.Context) -> None:
    """Print the DSN of the warehouse in use (starts the embedded one if needed)."""
    from clickstream.warehouse import resolve_dsn

    out.print(resolve_dsn(_settings(ctx)), highlight=False)


@warehouse_app.command("env")
@friendly_errors
def warehouse_env(ctx: typer.Context) -> None:
    """Print ``export`` lines for running dbt by hand: eval "$(clickstream warehouse env)"."""
    from clickstream.warehouse import resolve_dsn, shell_env

    sys.stdout.write(shell_env(resolve_dsn(_settings(ctx))) + "\n")


@app.command()
@friendly_errors
def doctor(ctx: typer.Context) -> None:
    """Check Java, Spark, PostgreSQL and dbt versions and connectivity.

    Exits with 0 when every check passes and with 2, like any other problem the user can fix,
    when one fails (each failed row says what to do).
    """
    from clickstream.doctor import run_checks

    checks = run_checks(_settings(ctx))
    table = Table(title="clickstream doctor")
    for column in ("check", "status", "detail"):
        table.add_column(column)
    for check in checks:
        table.add_row(check.name, "[green]ok[/]" if check.ok else "[red]FAIL[/]", check.detail)
    out.print(table)
    if not all(check.ok for check in checks):
        raise typer.Exit(2)


@app.command("warm-up")
@friendly_errors
def warm_up(
    force: Annotated[bool, typer.Option(help="Rebuild the archive even if it exists.")] = False,
) -> None:
    """Build the Spark driver's class-data archive: every later Spark start is ~3 s faster.

    Once per Java runtime and PySpark install (scripts/bootstrap.sh runs it); takes ~40 s.
    """
    from spark_staging.cds import build_archive

    path, built = build_archive(force=force)
    state = "built" if built else "present"
    out.print(f"Spark class-data archive {state}: {path}", highlight=False, soft_wrap=True)


@app.command()
@friendly_errors
def bench(
    ctx: typer.Context,
    sizes: Annotated[
        str, typer.Option(help="Comma-separated event counts for end to end.")
    ] = "100000,1000000",
    repeats: Annotated[int, typer.Option(help="Repeats per measurement (median reported).")] = 1,
    out_file: Annotated[Path, typer.Option("--out", help="Markdown report.")] = Path(
        "docs/benchmarks.md"
    ),
    quick: Annotated[bool, typer.Option("--quick", help="Small sizes, for a smoke run.")] = False,
    only: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated scenarios to run (e.g. end_to_end for a 10M-event run); "
            "default: all."
        ),
    ] = None,
) -> None:
    """Run the benchmark scenarios side by side and write docs/benchmarks.md (+ JSON)."""
    from clickstream.bench import run_benchmarks

    settings = _settings(ctx)
    try:
        size_list = [int(s.replace("_", "")) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--sizes must be comma-separated integers, got {sizes!r}.") from None
    scenarios = [name.strip() for name in only.split(",") if name.strip()] if only else None
    path = run_benchmarks(
        settings, size_list, repeats=repeats, out_file=out_file, quick=quick, only=scenarios
    )
    out.print(f"benchmarks: {path}")


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
