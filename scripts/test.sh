#!/usr/bin/env bash
# The README's test command: static checks, then pytest against the real PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/lint.sh
exec .venv/bin/python -m pytest "$@"
