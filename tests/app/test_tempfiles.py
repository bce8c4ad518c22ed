"""Temp folders left by killed runs are removed at start; a SIGTERM'd app removes its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from apex_demo import tempfiles
from tests.support.app import free_port
from tests.support import REPO

ROOT = REPO
START_TIMEOUT_S = 180
DAY_S = 24 * 3600


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_only_folders_of_exited_processes_and_old_unowned_ones_go(tmp_path: Path) -> None:
    dead = tmp_path / f"apex_downloads_{_dead_pid()}_abc"
    live = tmp_path / f"apex_downloads_{os.getpid()}_abc"
    old_ffmpeg = tmp_path / "apex_ffmpeg_q8x1"
    fresh_legacy = tmp_path / "apex_downloads_k2j3"
    other = tmp_path / "someone_elses_1_x"
    for folder in (dead, live, old_ffmpeg, fresh_legacy, other):
        folder.mkdir()
        (folder / "big.wav").write_bytes(b"x" * 10)
    two_days_ago = time.time() - 2 * DAY_S
    os.utime(old_ffmpeg, (two_days_ago, two_days_ago))
    tempfiles.remove_stale(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, fresh_legacy.name, other.name])


def _wait_until_serving(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else "app exited"
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"the app did not start within {START_TIMEOUT_S} s")


def test_app_removes_stale_folders_at_start_and_its_own_on_sigterm(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    stale = temp / f"apex_downloads_{_dead_pid()}_left"
    stale.mkdir()
    port = free_port()
    env = {**os.environ, "TMPDIR": str(temp), "HF_HUB_OFFLINE": "1", "APEX_MERT": str(tmp_path / "no-mert"),
           "APEX_HEAD": str(tmp_path / "no-head"), "APEX_DATA_DIR": str(tmp_path / "data"),
           "GRADIO_TEMP_DIR": str(tmp_path / "gradio"), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_until_serving(f"http://127.0.0.1:{port}/", proc)
        assert not stale.exists()
        own = temp / f"apex_downloads_{proc.pid}_live"
        own.mkdir()
        (own / "song.apex.json").write_text("{}")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 128 + signal.SIGTERM
        assert not own.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
