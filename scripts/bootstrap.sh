#!/usr/bin/env bash
# Prepare a machine for clickstream-warehouse: .venv with the project, Java 17+ for Spark,
# the PostgreSQL JDBC jar the benchmark's Spark JDBC comparison uses (where apt can), and the Spark
# driver's class-data archive (`clickstream warm-up`: every Spark start ~3 s faster).
# Safe to run repeatedly: pip only runs when pyproject.toml changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENV=".venv"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }

ensure_java() {
    if command -v java >/dev/null 2>&1; then
        major=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
        if [ "${major:-0}" -ge 17 ]; then return 0; fi
        log "Java ${major:-?} found; Spark 4 needs 17+."
    fi
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "Installing OpenJDK 17 (apt)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
    else
        echo "error: Java 17+ is required by Spark. Install it, e.g. 'sudo apt-get install -y openjdk-17-jre-headless'," >&2
        echo "       or set JAVA_HOME to a JDK 17+ and re-run." >&2
        exit 2
    fi
}

ensure_jdbc_jar() {
    # Only `clickstream bench` needs it: its load comparison runs Spark's own JDBC writer.
    # Optional, so never fatal: the benchmark reports that comparison as not measured.
    local jar=/usr/share/java/postgresql.jar
    if [ -f "$jar" ]; then return 0; fi
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "Installing the PostgreSQL JDBC driver for the benchmark (apt)"
        { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq libpostgresql-jdbc-java >/dev/null; } \
            || log "Could not install libpostgresql-jdbc-java; 'clickstream bench' will skip the JDBC writer."
    else
        log "No $jar: 'clickstream bench' skips the JDBC writer (apt-get install libpostgresql-jdbc-java)."
    fi
}

ensure_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        log "Creating $VENV"
        "$PYTHON" -m venv "$VENV"
    fi
    stamp="$VENV/.installed-$(sha1sum pyproject.toml | cut -c1-12)"
    if [ ! -f "$stamp" ]; then
        log "Installing the project and its dev tools into $VENV"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -e '.[dev]'
        rm -f "$VENV"/.installed-*
        touch "$stamp"
    fi
}

ensure_spark_archive() {
    # Optional, so never fatal: without it every Spark start only takes ~3 s longer.
    # `clickstream warm-up` returns at once when the archive for this Java and PySpark exists.
    "$VENV/bin/clickstream" --quiet warm-up >/dev/null \
        || log "Could not build the Spark class-data archive; Spark starts ~3 s slower ('clickstream warm-up' retries)."
}

ensure_java
ensure_jdbc_jar
ensure_venv
ensure_spark_archive
