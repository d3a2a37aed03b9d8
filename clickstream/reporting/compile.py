"""Compile every analysis with ONE dbt invocation and collect the compiled SQL per analysis.

dbt costs seconds per invocation (PERFORMANCE_NOTES), so all analyses compile together. The
compiled SQL is read from the files dbt writes under ``target/compiled/`` (located through the
manifest, since ``analysis-paths`` points outside the project), falling back to the manifest's
``compiled_code``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from clickstream.dbt import default_target_path, run_dbt
from clickstream.errors import StageFailedError

logger = logging.getLogger(__name__)

COMPILE_ARGS = ["compile", "--select", "resource_type:analysis"]


def compile_analyses(
    dsn: str, project_dir: Path, target_path: Path | None = None
) -> dict[str, str]:
    """Return ``{analysis name: compiled SQL}`` for every analysis in the dbt project."""
    run_dbt(dsn, COMPILE_ARGS, project_dir=project_dir, target_path=target_path)
    target = target_path or default_target_path(project_dir)
    return compiled_sql_from_manifest(target / "manifest.json", project_dir)


def compiled_sql_from_manifest(manifest_path: Path, project_dir: Path) -> dict[str, str]:
    """Compiled SQL of each analysis node named in a dbt manifest."""
    if not manifest_path.is_file():
        raise StageFailedError(
            f"dbt compile wrote no manifest at {manifest_path}; rerun with --debug for dbt's log."
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    compiled: dict[str, str] = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "analysis":
            continue
        sql = _read_compiled(node, project_dir)
        if sql is None:
            raise StageFailedError(
                f"dbt did not compile analysis {node['name']} "
                f"({node.get('original_file_path')}); check it with `dbt compile`."
            )
        compiled[node["name"]] = sql
    logger.debug("compiled %d analyses from %s", len(compiled), manifest_path)
    return compiled


def _read_compiled(node: dict[str, object], project_dir: Path) -> str | None:
    compiled_path = node.get("compiled_path")
    if isinstance(compiled_path, str):
        path = Path(compiled_path)
        path = path if path.is_absolute() else project_dir / path
        if path.is_file():
            return path.read_text(encoding="utf-8")
    code = node.get("compiled_code")
    return code if isinstance(code, str) and code.strip() else None
