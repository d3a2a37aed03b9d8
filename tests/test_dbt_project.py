"""Static checks of the dbt project: it parses with warnings as errors; everything is documented.

``dbt parse`` needs no database, so these run in seconds; the catalog-based check of real columns
lives in test_dbt_warehouse.py.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest

from clickstream.dbt import DBT_PROJECT_DIR, run_dbt

# parse never connects; the DSN only has to be well formed
PARSE_DSN = "postgresql://postgres@127.0.0.1:5432/clickstream_parse_only"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    target = tmp_path_factory.mktemp("dbt_parse")
    run_dbt(PARSE_DSN, ["parse", "--warn-error"], target_path=target)
    return json.loads((target / "manifest.json").read_text())


def _own(items: dict[str, Any]) -> dict[str, Any]:
    return {key: node for key, node in items.items() if node.get("package_name") == "clickstream"}


def test_project_parses_without_deprecation_warnings(manifest: dict[str, Any]) -> None:
    """--warn-error turns any deprecation (old test syntax, snapshot config...) into a failure."""
    assert manifest["metadata"]["dbt_version"].startswith("1.11")


@pytest.mark.parametrize("resource_type", ["model", "seed", "snapshot", "test", "unit_test"])
def test_every_node_has_a_description(manifest: dict[str, Any], resource_type: str) -> None:
    nodes = {**manifest["nodes"], **manifest.get("unit_tests", {})}
    undocumented = [
        key
        for key, node in _own(nodes).items()
        if node["resource_type"] == resource_type
        # generic test instances are documented by their macro (see the macros test)
        and not (resource_type == "test" and node.get("test_metadata"))
        and not node.get("description", "").strip()
    ]
    assert undocumented == []


def test_every_declared_column_has_a_description(manifest: dict[str, Any]) -> None:
    undocumented = [
        f"{key}.{name}"
        for collection in (manifest["nodes"], manifest["sources"])
        for key, node in _own(collection).items()
        for name, column in node.get("columns", {}).items()
        if not column.get("description", "").strip()
    ]
    assert undocumented == []


def test_every_model_declares_its_columns(manifest: dict[str, Any]) -> None:
    bare = [
        key
        for key, node in _own(manifest["nodes"]).items()
        if node["resource_type"] in ("model", "snapshot", "seed") and not node.get("columns")
    ]
    assert bare == []


def test_every_source_and_project_macro_is_documented(manifest: dict[str, Any]) -> None:
    missing = [
        key for key, src in _own(manifest["sources"]).items() if not src["description"].strip()
    ]
    missing += [
        key
        for key, macro in _own(manifest["macros"]).items()
        if not macro["description"].strip()
        or any(not arg.get("description", "").strip() for arg in macro.get("arguments", []))
    ]
    assert missing == []


def test_every_mart_enforces_its_contract_and_grants_the_analyst(manifest: dict[str, Any]) -> None:
    marts = [
        node
        for node in _own(manifest["nodes"]).values()
        if node["resource_type"] == "model" and node["fqn"][1] == "marts"
    ]
    assert {n["name"] for n in marts} >= {"fct_events", "fct_sessions", "dim_users", "dim_date"}
    for node in marts:
        assert node["config"]["contract"]["enforced"], node["name"]
        assert "analyst" in node["config"]["grants"]["select"], node["name"]


def test_exposure_depends_on_every_fact_and_dimension(manifest: dict[str, Any]) -> None:
    (exposure,) = manifest["exposures"].values()
    depends = {key.split(".")[-1] for key in exposure["depends_on"]["nodes"]}
    core_marts = {
        p.stem
        for p in (DBT_PROJECT_DIR / "models" / "marts").glob("*.sql")
        if p.stem.startswith(("fct_", "dim_"))
    }
    assert core_marts <= depends


def test_analyses_folder_is_the_top_level_one() -> None:
    project = (DBT_PROJECT_DIR / "dbt_project.yml").read_text()
    assert 'analysis-paths: ["../analyses"]' in project
    assert Path(DBT_PROJECT_DIR / ".." / "analyses").resolve().is_dir()


def views_over_replaced_tables(manifest: dict[str, Any]) -> list[str]:
    """Views reading a model a daily build replaces (a table, unless tagged static).

    The daily build skips every view (selectors.yml): a view over a relation that dbt's table
    swap drops with cascade would vanish with it, and the models after it would fail.
    """
    nodes = manifest["nodes"]
    offending = []
    for key, node in _own(nodes).items():
        if node["resource_type"] != "model" or node["config"]["materialized"] != "view":
            continue
        for parent_key in node["depends_on"]["nodes"]:
            parent = nodes.get(parent_key)  # sources are never replaced by dbt
            if (
                parent is not None
                and parent["resource_type"] == "model"
                and parent["config"]["materialized"] not in ("view", "incremental")
                and "static" not in parent["tags"]
            ):
                offending.append(f"{key} reads {parent_key}")
    return offending


def test_no_view_reads_a_table_a_daily_build_replaces(manifest: dict[str, Any]) -> None:
    assert views_over_replaced_tables(manifest) == []
    # the check itself: int_identity__stitched as the table it used to be is caught
    as_table = json.loads(json.dumps(manifest))
    as_table["nodes"]["model.clickstream.int_identity__stitched"]["config"]["materialized"] = (
        "table"
    )
    assert views_over_replaced_tables(as_table) == [
        "model.clickstream.int_events__stitched reads model.clickstream.int_identity__stitched"
    ]


def _case_literals(sql: str) -> set[str]:
    """The string literals a SQL case expression can yield (its then and else branches)."""
    return set(re.findall(r"\b(?:then|else)\s+'([^']*)'", sql))


def test_the_channel_macro_yields_only_channels_of_the_seed() -> None:
    """Why a daily build may skip the staging channel test (daily_skip): every channel
    channel_grouping can return is a row of channel_definitions."""
    macro = (DBT_PROJECT_DIR / "macros" / "channel_grouping.sql").read_text()
    with (DBT_PROJECT_DIR / "seeds" / "channel_definitions.csv").open(newline="") as seed:
        channels = {row["channel"] for row in csv.DictReader(seed)}
    literals = _case_literals(macro)
    assert len(literals) >= 5 and literals <= channels


def test_the_staging_device_type_yields_only_its_accepted_values() -> None:
    """Why a daily build may skip the staging device_type test (daily_skip)."""
    view = (DBT_PROJECT_DIR / "models" / "staging" / "stg_raw__events.sql").read_text()
    device_case = view[view.index("case", view.index("-- device")) : view.index("as device_type")]
    assert "then lower(device_type)" in device_case
    assert re.search(r"lower\(device_type\) in \('desktop', 'mobile', 'tablet'\)", device_case)
    assert _case_literals(device_case) == {"unknown"}
