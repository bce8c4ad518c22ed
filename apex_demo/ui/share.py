"""Share links: a result its visitor chose to share, reopened by an id nobody can guess.

Privacy first. Nothing is kept unless the visitor presses the button. What is kept is what the JSON
download holds (the numbers, the file's name, the models by Hub id or file name), never the audio, so
a link cannot expose anyone's upload. The id is 128 random bits (`secrets.token_urlsafe`), unrelated
to the file's content, so it can neither be guessed nor tell whether someone scored a given song;
only ids of exactly that form are looked up (no path can be smuggled in). Links expire after
SHARE_MAX_AGE_DAYS, and at most SHARE_MAX results are kept (the oldest go first), so the folder stays
small. The folder is `<APEX_DATA_DIR>/shared`, beside the arena's votes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOG = logging.getLogger(__name__)
SHARE_MAX = 5000              # results kept (a record is a few kB: about 20 MB at most)
SHARE_MAX_AGE_DAYS = 30
ID_BYTES = 16                 # 128 random bits
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{22}")  # what token_urlsafe(16) gives
QUERY_KEY = "result"          # the link is the page's address with ?result=<id>
SECONDS_PER_DAY = 86400.0


@dataclass
class SharedResults:
    """Shared results in a folder, one JSON file per id."""

    folder: Path
    max_count: int = SHARE_MAX
    max_age_s: float = SHARE_MAX_AGE_DAYS * SECONDS_PER_DAY
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def save(self, record: dict[str, Any], vocals: bool | None) -> str:
        """Keep `record` (a result's public record) and what the visitor said about vocals; returns the new id."""
        share_id = secrets.token_urlsafe(ID_BYTES)
        text = json.dumps({"record": record, "vocals": vocals, "saved": time.time()})
        with self._lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._prune()
            with tempfile.NamedTemporaryFile("w", dir=self.folder, suffix=".tmp", delete=False,
                                             encoding="utf-8") as handle:
                handle.write(text)
            os.replace(handle.name, self.folder / f"{share_id}.json")  # whole or not at all
        return share_id

    def load(self, share_id: str) -> tuple[dict[str, Any], bool | None] | None:
        """(record, vocals) for a live id; None for anything else (malformed, unknown, expired, damaged)."""
        if not ID_PATTERN.fullmatch(share_id or ""):
            return None
        path = self.folder / f"{share_id}.json"
        try:
            if time.time() - path.stat().st_mtime > self.max_age_s:
                return None
            kept = json.loads(path.read_text(encoding="utf-8"))
            return kept["record"], kept["vocals"]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            LOG.warning("shared result %s could not be read: %s", share_id, exc)
            return None

    def _prune(self) -> None:
        """Under the lock: drop expired results, then the oldest beyond max_count - 1 (room for one more)."""
        cutoff = time.time() - self.max_age_s
        entries = []
        for path in self.folder.glob("*.json"):
            try:
                entries.append((path.stat().st_mtime, path))
            except FileNotFoundError:
                continue
        entries.sort()
        for index, (mtime, path) in enumerate(entries):
            if mtime < cutoff or index < len(entries) - (self.max_count - 1):
                path.unlink(missing_ok=True)
