#!/usr/bin/env bash
# Static checks: ruff (lint + format), mypy, sqlfluff over dbt_project and analyses, dbt parse.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
status=0
run() { printf '\033[1;34m==>\033[0m %s\n' "$*"; "$@" || status=1; }

run "$BIN/ruff" check clickstream generator spark_staging tests scripts
run "$BIN/ruff" format --check clickstream generator spark_staging tests scripts

# mypy (one core, ~45 s cold) and sqlfluff (~45 s) run side by side; each one's output is shown
# whole, in this order, once both are done.
logs=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$logs"' EXIT  # stopped early: stop both checks too
mypy=("$BIN/mypy")
sqlfluff=("$BIN/sqlfluff" lint dbt_project analyses --processes 2)
"${mypy[@]}" >"$logs/mypy" 2>&1 &
mypy_pid=$!
# The dbt templater renders models exactly as dbt does; is_incremental() makes it connect, so
# point it at a database that exists (the test server's `postgres` unless told otherwise).
CLICKSTREAM_PG_DBNAME="${CLICKSTREAM_PG_DBNAME:-postgres}" "${sqlfluff[@]}" >"$logs/sqlfluff" 2>&1 &
sqlfluff_pid=$!
report() {  # report NAME PID COMMAND...: its header, then its output once it has ended
    local name=$1 pid=$2
    shift 2
    printf '\033[1;34m==>\033[0m %s\n' "$*"
    wait "$pid" || status=1
    cat "$logs/$name"
}
report mypy "$mypy_pid" "${mypy[@]}"
report sqlfluff "$sqlfluff_pid" "${sqlfluff[@]}"
exit $status
