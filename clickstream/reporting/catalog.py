"""The documented analyses: ``analyses/_analyses.yml`` is the contract each query must meet.

The runner checks every executed analysis against its documented columns (names and order), so
the yml can't silently drift from the SQL, and a new ``.sql`` file without documentation is an
error rather than an unexplained CSV.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import yaml

from clickstream.errors import ConfigError, InputFormatError

logger = logging.getLogger(__name__)

CATALOG_FILE = "_analyses.yml"


@dataclass(frozen=True)
class AnalysisSpec:
    """One documented analysis: its dbt name, what it answers and the columns it returns."""

    name: str
    description: str
    columns: tuple[str, ...]
    column_descriptions: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        """Human title from the file name: ``05_product_affinity`` -> ``Product affinity``."""
        stem = self.name.split("_", 1)[1] if self.name[:2].isdigit() else self.name
        return stem.replace("_", " ").capitalize()


def load_catalog(analyses_dir: Path) -> list[AnalysisSpec]:
    """Read the catalogue and check it covers exactly the ``.sql`` files present, in name order."""
    path = analyses_dir / CATALOG_FILE
    if not path.is_file():
        raise ConfigError(f"{path} is missing: document every analysis there (name, columns).")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InputFormatError(f"{path} is not valid YAML: {exc}") from None
    specs = [_spec(entry, path) for entry in document.get("analyses") or []]
    documented = {spec.name for spec in specs}
    present = {sql.stem for sql in analyses_dir.glob("*.sql")}
    if undocumented := sorted(present - documented):
        raise ConfigError(
            f"Analyses without documentation in {path}: {', '.join(undocumented)}. "
            "Add each with a description and its result columns."
        )
    if orphans := sorted(documented - present):
        raise ConfigError(
            f"{path} documents analyses with no .sql file: {', '.join(orphans)}. "
            "Remove the entries or add the queries."
        )
    return sorted(specs, key=lambda spec: spec.name)


def _spec(entry: object, path: Path) -> AnalysisSpec:
    if not isinstance(entry, dict) or not entry.get("name"):
        raise InputFormatError(f"{path}: every analysis entry needs a name, got {entry!r}.")
    name = str(entry["name"])
    columns = entry.get("columns") or []
    if not columns or not all(isinstance(c, dict) and c.get("name") for c in columns):
        raise InputFormatError(f"{path}: analysis {name} must list its result columns by name.")
    return AnalysisSpec(
        name=name,
        description=" ".join(str(entry.get("description") or "").split()),
        columns=tuple(str(c["name"]) for c in columns),
        column_descriptions=tuple(" ".join(str(c.get("description", "")).split()) for c in columns),
    )
