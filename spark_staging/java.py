"""The Java runtime Spark's launcher starts: found once here for the session and the archive."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from clickstream.errors import JavaMissingError


def java_binary() -> Path | None:
    """``$JAVA_HOME/bin/java`` when it exists, else the ``java`` on PATH (None: neither)."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").is_file():
        return (Path(java_home) / "bin" / "java").resolve()
    found = shutil.which("java")
    return Path(found).resolve() if found else None


def ensure_java() -> Path:
    """The Java runtime, or a clear error when there is none on JAVA_HOME or PATH."""
    java = java_binary()
    if java is None:
        raise JavaMissingError(
            "Java 17+ is required by Spark but was not found. Install it with "
            "'apt-get install -y openjdk-17-jre-headless' (or set JAVA_HOME)."
        )
    return java
