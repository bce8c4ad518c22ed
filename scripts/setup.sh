#!/usr/bin/env bash
# Create .venv, install the pinned dependencies and this package (editable, with the `apex-demo`
# command); idempotent: reinstalls only when requirements or pyproject.toml change.
#   bash scripts/setup.sh          runtime dependencies (requirements.txt)
#   bash scripts/setup.sh --dev    + test tools (requirements-dev.txt: pytest, selenium, ruff, mypy, and the
#                                  ray extra of requirements-ray.txt for tests/cluster) and,
#                                  where apt-get works as root, the system programs the tests use:
#                                  ffmpeg, chromium, chromium-driver
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
REQ=requirements.txt
[ "${1:-}" = "--dev" ] && REQ=requirements-dev.txt

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(cat requirements.txt "$REQ" requirements-ray.txt pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$REQ"
  # the dependencies are pinned above; this adds the package itself and its console script
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
  touch "$stamp"
fi

if [ "${1:-}" = "--dev" ]; then
  missing=()
  command -v ffmpeg >/dev/null || missing+=(ffmpeg)
  command -v chromium >/dev/null || missing+=(chromium)
  command -v chromedriver >/dev/null || missing+=(chromium-driver)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "setup: installing ${missing[*]} with apt-get" >&2
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
          "${missing[@]}" >/dev/null; } || echo "setup: apt-get failed; tests that need ${missing[*]} will be skipped" >&2
    else
      echo "setup: ${missing[*]} not installed (needs root + apt-get); tests that need them will be skipped" >&2
    fi
  fi
fi
