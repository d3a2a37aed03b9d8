"""Orchestration for clickstream-warehouse: typed settings, the CLI and the stage runner.

Each stage (``generator``, ``spark_staging``, dbt) stays importable and runnable on its own;
this package only wires them together.
"""

__version__ = "0.1.0"
