"""Ray is optional: the plain CLI scoring a folder, and every module of the app, run in a fresh
interpreter (where Ray is installed) without importing it; only `--engine ray` does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.support import REPO

pytest.importorskip("ray")

SCRIPT = """
import importlib, json, pkgutil, sys
from apex_demo.cli import main
code = main(sys.argv[1:])
import apex_demo
for module in pkgutil.walk_packages(apex_demo.__path__, "apex_demo."):
    if module.name != "apex_demo.folder.ray_job":  # the one module that is Ray
        importlib.import_module(module.name)
print(json.dumps({"code": code, "ray": sorted(m for m in sys.modules if m.split(".")[0] == "ray")}))
"""


def test_the_plain_cli_and_the_app_never_import_ray(tiny_settings, audio_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "rows.parquet"
    args = ["score", str(audio_dir / "vocadito_10.wav"), str(audio_dir / "loop_garzul.flac"), "--output", str(out),
            "--mert", tiny_settings.mert, "--head", tiny_settings.head, "--device", "cpu", "--no-cache"]
    env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    done = subprocess.run([sys.executable, "-c", SCRIPT, *args], capture_output=True, text=True, cwd=REPO, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"code": 0, "ray": []}
    assert len(pd.read_parquet(out)) == 2  # the folder path ran: two rows
