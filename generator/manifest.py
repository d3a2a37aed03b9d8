"""The per-folder manifest: what the generator wrote and what staging must make of it.

``defects`` counts rows per defect kind in the folder; ``expected`` turns them into the numbers
staging must reproduce exactly (quarantine count per reason, duplicates), so tests reconcile
generator and staging row for row.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from clickstream.contract import QUARANTINE_REASONS
from generator.config import DEFECT_KINDS, DUPLICATE_KINDS

MANIFEST_NAME = "_manifest.json"


@dataclass(frozen=True)
class DayManifest:
    """Manifest of one arrival day (``events/event_date=DAY/_manifest.json``)."""

    generator_version: str
    seed: int
    day: str
    params: dict[str, Any]
    rows: dict[str, int]
    defects: dict[str, int]
    expected: dict[str, Any]
    truth: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)

    @property
    def date(self) -> dt.date:
        return dt.date.fromisoformat(self.day)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False) + "\n"

    @classmethod
    def read(cls, path: Path) -> DayManifest:
        return cls(**json.loads(Path(path).read_text(encoding="utf-8")))


def kind_tally(kind_codes: np.ndarray) -> np.ndarray:
    """Rows per defect code (index 0 = clean), to add up over the parts of a folder."""
    return np.bincount(kind_codes.astype(np.int64), minlength=len(DEFECT_KINDS) + 1)


def defects_of_tally(tally: np.ndarray) -> dict[str, int]:
    """Rows per defect kind from a :func:`kind_tally`."""
    return {kind: int(tally[i + 1]) for i, kind in enumerate(DEFECT_KINDS)}


def expected_outcome(defects: dict[str, int], rows: int) -> dict[str, Any]:
    """What staging must report for the folder: quarantine per reason, duplicates, accepted."""
    quarantined = {reason: defects.get(reason, 0) for reason in QUARANTINE_REASONS}
    duplicates = sum(defects[k] for k in DUPLICATE_KINDS)
    return {
        "quarantined": quarantined,
        "duplicates": duplicates,
        "duplicates_by_kind": {
            "exact": defects["exact_duplicate"],
            "payload": defects["payload_duplicate"],
        },
        "accepted": rows - sum(quarantined.values()) - duplicates,
        "units_fixed": defects["seconds_ts"],
    }
