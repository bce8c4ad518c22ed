#!/usr/bin/env bash
# Set up (scripts/setup.sh --dev), check lint (ruff) and types (mypy on apex_demo/), then run the whole
# test suite offline. Extra arguments go to pytest. Settings for all three: pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export HF_HUB_OFFLINE=1
.venv/bin/ruff check .
.venv/bin/mypy
set +e
.venv/bin/python -m pytest "$@"
code=$?
set -e
if [ "$code" = 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure" >&2
  exit 1
fi
exit "$code"
