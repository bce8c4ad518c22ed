"""A bad setting stops `python app.py` with a message naming the variable, never a traceback; so does the
arena's sign-in where Gradio could only mock it (off a Space with OAuth)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO


ROOT = REPO


@pytest.mark.parametrize(("variable", "value", "said"), [("APEX_MIN_LISTEN_S", "-10", "APEX_MIN_LISTEN_S=-10"),
                                                          ("APEX_ARENA_LOGIN", "1", "hf_oauth: true")])
def test_app_says_which_variable_without_a_traceback(tmp_path: Path, variable: str, value: str, said: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SPACE_ID", "SYSTEM") and not k.startswith("OAUTH_")}
    env.update({variable: value, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)})
    proc = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert said in proc.stderr and "Traceback" not in proc.stderr


