"""One parse per project: dbt calls in one process reuse the manifest until its inputs change."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

from clickstream.dbt import (
    DBT_PROJECT_DIR,
    PARSED_PROJECTS,
    _has_ephemeral_models,
    _parse_options,
    parse_fingerprint,
    run_dbt,
)
from clickstream.reporting.compile import compile_analyses

ANALYSES_DIR = DBT_PROJECT_DIR.parent / "analyses"
FUNNEL = "01_conversion_funnel"


def _copy_project(root: Path) -> Path:
    """The dbt project and its sibling analyses folder, as laid out in the repository."""
    project = root / "dbt_project"
    shutil.copytree(
        DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages")
    )
    shutil.copytree(ANALYSES_DIR, root / "analyses")
    return project


def test_parse_options_keep_what_changes_a_parse_and_drop_the_rest() -> None:
    args = [
        "build",
        "--vars",
        '{"calendar_start": "2020-01-01"}',
        "--select",
        "fct_events",
        "--target=prod",
        "--full-refresh",
    ]
    assert _parse_options(args) == ["--vars", '{"calendar_start": "2020-01-01"}', "--target=prod"]
    assert _parse_options(["build", "--exclude-resource-type", "unit_test"]) == []


def test_commands_without_a_parsed_project_are_never_handed_one() -> None:
    before = PARSED_PROJECTS.parses
    for command in (["parse"], ["debug"], ["deps"], []):
        assert (
            PARSED_PROJECTS.manifest_for("postgresql://u@h/db", command, DBT_PROJECT_DIR, [])
            is None
        )
    assert PARSED_PROJECTS.parses == before


def test_projects_with_ephemeral_models_are_not_reused() -> None:
    def manifest(*materialized: str) -> SimpleNamespace:
        nodes = {
            str(i): SimpleNamespace(config=SimpleNamespace(materialized=m))
            for i, m in enumerate(materialized)
        }
        return SimpleNamespace(nodes=nodes)

    assert _has_ephemeral_models(manifest("view", "ephemeral", "table"))
    assert not _has_ephemeral_models(manifest("view", "incremental", "table"))


def test_the_fingerprint_covers_the_analyses_outside_the_project(tmp_path: Path) -> None:
    project = _copy_project(tmp_path)
    before = parse_fingerprint(project)
    (project / "target").mkdir()
    (project / "target" / "manifest.json").write_text("{}")
    assert parse_fingerprint(project) == before
    analysis = tmp_path / "analyses" / f"{FUNNEL}.sql"
    analysis.write_text(analysis.read_text() + "\n-- edited\n")
    assert parse_fingerprint(project) != before


def test_one_parse_serves_every_call_until_a_parse_input_changes(
    tmp_path: Path, fresh_pg_dsn: str, pg_dsn: str
) -> None:
    project = _copy_project(tmp_path)
    PARSED_PROJECTS.clear()
    parses = PARSED_PROJECTS.parses

    first = compile_analyses(fresh_pg_dsn, project, tmp_path / "target-1")
    # a new target folder would have made dbt parse the whole project again
    second = compile_analyses(fresh_pg_dsn, project, tmp_path / "target-2")
    assert PARSED_PROJECTS.parses == parses + 1
    assert second == first and len(first) >= 20
    assert "Starting full parse" in (tmp_path / "target-1" / "dbt.log").read_text()
    assert "Starting full parse" not in (tmp_path / "target-2" / "dbt.log").read_text()

    analysis = tmp_path / "analyses" / f"{FUNNEL}.sql"
    analysis.write_text(analysis.read_text() + "\n-- edited after the first parse\n")
    edited = compile_analyses(fresh_pg_dsn, project, tmp_path / "target-2")
    assert PARSED_PROJECTS.parses == parses + 2
    assert "-- edited after the first parse" in edited[FUNNEL]
    assert "-- edited after the first parse" not in first[FUNNEL]

    # another database is another parse: its name is in every relation
    other_database = pg_dsn.rsplit("/", 1)[1]
    elsewhere = compile_analyses(pg_dsn, project, tmp_path / "target-2")
    assert PARSED_PROJECTS.parses == parses + 3
    assert f'"{other_database}"' in elsewhere[FUNNEL]
    assert f'"{other_database}"' not in edited[FUNNEL]


def test_runs_on_a_parsed_project_write_their_results_but_leave_the_parsed_manifest(
    tmp_path: Path, fresh_pg_dsn: str
) -> None:
    """A build reusing the manifest parsed into its target folder does not write it again (0.4 s
    a daily build), but run_results.json, which failure messages point to, is still written."""
    target = tmp_path / "target"
    seed = ["seed", "--select", "channel_definitions"]
    run_dbt(fresh_pg_dsn, seed, target_path=target)  # parses, writing manifest.json
    manifest = target / "manifest.json"
    results = target / "run_results.json"
    parsed = manifest.stat().st_mtime_ns
    results.unlink()

    again = run_dbt(fresh_pg_dsn, seed, target_path=target)
    assert again.status_of("channel_definitions") == "success"
    assert manifest.stat().st_mtime_ns == parsed
    written = {r["unique_id"]: r["status"] for r in json.loads(results.read_text())["results"]}
    assert written["seed.clickstream.channel_definitions"] == "success"

    # the same parsed manifest, used for a call into another folder, is written there
    elsewhere = tmp_path / "elsewhere"
    run_dbt(fresh_pg_dsn, seed, target_path=elsewhere)
    assert (elsewhere / "manifest.json").is_file() and (elsewhere / "run_results.json").is_file()
