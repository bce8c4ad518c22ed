"""Temporary folders that name their owner, so a restarted app removes what a killed one left behind.

A SIGKILL (or an out-of-memory kill) skips every cleanup, so the app's temp folders carry the
owning process id in their name (`apex_downloads_<pid>_xxxx`); at start the app removes those
whose process is gone, and older unnamed ones (`apex_downloads_xxxx`, `apex_ffmpeg_xxxx` from
earlier versions) once they are a day old. Folders of live processes, this one's included, are
never touched, so apps and test runs sharing a machine keep their files.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

DOWNLOADS_PREFIX = "apex_downloads_"
BLIND_PREFIX = "apex_arena_blind_"  # the arena's private blind copies (apex_demo/blind.py)
FFMPEG_PREFIX = "apex_ffmpeg_"  # earlier versions decoded through temp WAV files
STALE_PREFIXES = (DOWNLOADS_PREFIX, BLIND_PREFIX, FFMPEG_PREFIX)
LEGACY_MAX_AGE_S = 24 * 3600.0
_OWNED = re.compile(r"^(?P<prefix>[a-z_]+?_)(?P<pid>\d+)_")


def owned_prefix(prefix: str) -> str:
    """`prefix` plus this process's id, for `tempfile.mkdtemp(prefix=...)`."""
    return f"{prefix}{os.getpid()}_"


def remove_stale(root: Path | None = None, now: float | None = None) -> list[Path]:
    """Remove the app's temp folders under `root` (the system temp folder) whose owner has exited."""
    root = Path(root or tempfile.gettempdir())
    now = time.time() if now is None else now
    removed = []
    for entry in _candidates(root):
        if _is_stale(entry, now):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _candidates(root: Path) -> list[Path]:
    try:
        return [p for p in root.iterdir() if p.name.startswith(STALE_PREFIXES) and p.is_dir() and not p.is_symlink()]
    except OSError:
        return []


def _is_stale(entry: Path, now: float) -> bool:
    match = _OWNED.match(entry.name)
    if match is not None and match["prefix"] in STALE_PREFIXES:
        return not _alive(int(match["pid"]))
    try:
        return now - entry.stat().st_mtime > LEGACY_MAX_AGE_S
    except OSError:
        return False


def _alive(pid: int) -> bool:
    """Whether a process with this id exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_own(root: Path | None = None) -> list[Path]:
    """Remove this process's temp folders (at exit, SIGTERM included: see app.py)."""
    root = Path(root or tempfile.gettempdir())
    mine = tuple(owned_prefix(prefix) for prefix in STALE_PREFIXES)
    removed = []
    for entry in _candidates(root):
        if entry.name.startswith(mine):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed
