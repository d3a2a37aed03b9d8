"""Synthetic e-commerce clickstream landing data: realistic, deterministic, fast, dirty on purpose.

    from generator import GeneratorConfig, generate, generate_day
    generate(GeneratorConfig(seed=7), date(2024, 3, 1), days=3, out_dir=Path("data/landing"))

See docs/contracts.md section 1 for the files written.
"""

from __future__ import annotations

__version__ = "1.0.0"

from clickstream.contract import QUARANTINE_REASONS
from generator.config import DEFECT_KINDS, GeneratorConfig
from generator.day import generate, generate_day
from generator.manifest import DayManifest
from generator.rows import EVENT_COLUMNS

__all__ = [
    "DEFECT_KINDS",
    "EVENT_COLUMNS",
    "QUARANTINE_REASONS",
    "DayManifest",
    "GeneratorConfig",
    "__version__",
    "generate",
    "generate_day",
]
