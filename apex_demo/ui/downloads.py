"""A private temporary folder for the files the app offers for download (JSON, CSV)."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from pathlib import Path

from apex_demo import tempfiles

DOWNLOAD_MAX_AGE_S = 3600.0


class DownloadDir:
    """A private temp folder for files the app offers for download (JSON, CSV).

    Gradio copies returned files into its own cache, so ours are pruned by age on
    every write and the folder is removed by `cleanup()` at shutdown.
    """

    def __init__(self, max_age_s: float = DOWNLOAD_MAX_AGE_S) -> None:
        self._max_age_s = max_age_s
        self._root: Path | None = None
        self._lock = threading.Lock()

    def _folder(self) -> Path:
        """The root folder, made on first use (the caller holds the lock)."""
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix=tempfiles.owned_prefix(tempfiles.DOWNLOADS_PREFIX)))
        return self._root

    def new_folder(self) -> Path:
        """A fresh, randomly named subfolder (so names never collide); old ones are pruned first."""
        with self._lock:
            root = self._folder()
            self._prune(root)
            return Path(tempfile.mkdtemp(dir=root))

    def write_text(self, name: str, text: str) -> Path:
        """Write `text` to a fresh subfolder and return the file path."""
        path = self.new_folder() / name
        path.write_text(text, encoding="utf-8")
        return path

    def prune(self) -> None:
        """Delete download folders older than the maximum age."""
        with self._lock:
            if self._root is not None:
                self._prune(self._root)

    def _prune(self, root: Path) -> None:
        """Under the lock, so two requests never delete the same folder; an entry that vanishes
        anyway (a system temp cleaner) is skipped rather than failing the download."""
        cutoff = time.time() - self._max_age_s
        for child in list(root.iterdir()):
            try:
                expired = child.stat().st_mtime < cutoff
            except FileNotFoundError:
                continue
            if expired:
                shutil.rmtree(child, ignore_errors=True)

    def cleanup(self) -> None:
        with self._lock:
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None
