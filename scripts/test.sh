#!/usr/bin/env bash
# The README's test command: static checks and pytest against the real PostgreSQL, side by side.
# pytest runs in PYTEST_WORKERS processes (pytest-xdist, default 2: one per core here), a whole
# module per worker (--dist loadfile) so each module-scoped warehouse is built once; the checks
# (~1.5 min of mostly single-core work) fill the gaps of JVM starts and dbt parses. Their output
# follows pytest's, and either failing fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
lint_log=$(mktemp)
scripts/lint.sh >"$lint_log" 2>&1 &
lint_pid=$!
trap 'kill "$lint_pid" 2>/dev/null; rm -f "$lint_log"' EXIT
.venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" --dist loadfile "$@"
pytest_status=$?
wait "$lint_pid"
lint_status=$?
printf '\n\033[1;34m==>\033[0m static checks (scripts/lint.sh)\n'
cat "$lint_log"
if [ "$lint_status" -ne 0 ]; then
    echo "static checks failed (exit $lint_status)" >&2
fi
[ "$pytest_status" -eq 0 ] && [ "$lint_status" -eq 0 ]
