#!/usr/bin/env bash
# Static checks: ruff (lint + format), mypy, sqlfluff over dbt_project and analyses, dbt parse.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
status=0
run() { printf '\033[1;34m==>\033[0m %s\n' "$*"; "$@" || status=1; }

run "$BIN/ruff" check clickstream generator spark_staging tests scripts
run "$BIN/ruff" format --check clickstream generator spark_staging tests scripts
run "$BIN/mypy"
# The dbt templater renders models exactly as dbt does; is_incremental() makes it connect, so
# point it at a database that exists (the test server's `postgres` unless told otherwise).
CLICKSTREAM_PG_DBNAME="${CLICKSTREAM_PG_DBNAME:-postgres}" run "$BIN/sqlfluff" lint dbt_project analyses --processes 2
exit $status
