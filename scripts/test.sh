#!/usr/bin/env bash
# Set up (scripts/setup.sh --dev), then lint (ruff), types (mypy on apex_demo/) and the tests, offline.
#   bash scripts/test.sh              every tier (unit, engine, app, browser, bench, gpu): what CI runs
#   bash scripts/test.sh --fast       lint, types, and the unit and engine tiers without the tests marked slow
#   bash scripts/test.sh -k head -x   extra arguments go to pytest (a tier folder, a file, -k, -m ...)
# mypy runs in the background while pytest runs (it is single-threaded; the machine has a second core);
# its report is printed after the tests and either failing fails the run. Settings: pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
tiers=()
if [ "${1:-}" = "--fast" ]; then
  shift
  tiers=(tests/unit tests/engine -m "not slow")
fi
bash scripts/setup.sh --dev
export HF_HUB_OFFLINE=1
.venv/bin/ruff check .
types_report=$(mktemp)
.venv/bin/mypy >"$types_report" 2>&1 &
types_pid=$!
set +e
.venv/bin/python -m pytest "${tiers[@]}" "$@"
code=$?
wait "$types_pid"
types=$?
set -e
cat "$types_report"
rm -f "$types_report"
if [ "$code" = 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
if [ "$types" != 0 ]; then
  echo "test.sh: mypy found type errors (above)" >&2
  exit 1
fi
exit "$code"
