"""A bad setting stops `python app.py` with a message naming the variable, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from tests.support import REPO


ROOT = REPO


def test_app_says_which_variable_without_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "APEX_MIN_LISTEN_S": "-10", "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "APEX_MIN_LISTEN_S=-10" in proc.stderr and "Traceback" not in proc.stderr


