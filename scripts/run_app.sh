#!/usr/bin/env bash
# Set up (scripts/setup.sh) and start the web app. Extra arguments go to app.py (--host, --port, --share).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python app.py "$@"
