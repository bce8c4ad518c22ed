"""Helpers the test tiers share (not tests): tiny models, a running app, arena stand-ins, HTTP clients."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # the repository's root: app.py, assets/, docs/, bench/
