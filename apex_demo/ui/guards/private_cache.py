"""The shared scorer as one visitor sees it: cache hits only for songs this visitor scored before.

A cache hit comes back at once (and the Analyze tab says "from cache"), so served to anyone it
would tell a visitor that someone else already analysed that song. For a song this visitor did
not score, the scorer encodes it again (same time, same label as a first scoring) and the
result is remembered for them (`AppContext.seen`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Iterator

from apex_demo.engine import file_sha256
from apex_demo.engine import ScoreResult

SEEN_MAX_ENTRIES = 100_000  # (visitor, song) pairs remembered by a public app; the oldest are forgotten


class SeenBy:
    """Which visitor scored which content (sha256), so a public app serves cache hits only to them.

    A cache hit is instant and labelled; served to anyone, it would tell a visitor that someone
    else already analysed that song. Bounded (least recently used forgotten first), in memory only,
    thread-safe; visitor keys are whatever the app identifies visitors by.
    """

    def __init__(self, max_entries: int = SEEN_MAX_ENTRIES) -> None:
        self._max = max_entries
        self._pairs: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._lock = threading.Lock()

    def knows(self, visitor: str, content_sha256: str) -> bool:
        with self._lock:
            if (visitor, content_sha256) not in self._pairs:
                return False
            self._pairs.move_to_end((visitor, content_sha256))
            return True

    def add(self, visitor: str, content_sha256: str) -> None:
        with self._lock:
            self._pairs[(visitor, content_sha256)] = None
            self._pairs.move_to_end((visitor, content_sha256))
            while len(self._pairs) > self._max:
                self._pairs.popitem(last=False)


class VisitorScorer:
    """Wraps a Scorer; everything but score_file/iter_score passes through."""

    def __init__(self, scorer: Any, visitor: str, seen: SeenBy) -> None:
        self._scorer, self._visitor, self._seen = scorer, visitor, seen

    def score_file(self, path: str | Path, display_name: str | None = None,
                   proceed: Callable[[], bool] | None = None) -> ScoreResult:
        result = self._scorer.score_file(path, display_name, read_cache=self._known(path), proceed=proceed)
        self._seen.add(self._visitor, result.sha256)
        return result

    def iter_score(self, path: str | Path, display_name: str | None = None, partial: bool = True,
                   proceed: Callable[[], bool] | None = None) -> Iterator[ScoreResult]:
        for result in self._scorer.iter_score(path, display_name, partial, read_cache=self._known(path),
                                              proceed=proceed):
            if result.complete:
                self._seen.add(self._visitor, result.sha256)
            yield result

    def _known(self, path: str | Path) -> bool:
        try:
            return self._seen.knows(self._visitor, file_sha256(Path(path)))
        except OSError:  # missing or unreadable: the scorer reports it with its own message
            return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._scorer, name)


def private_view(scorer: Any, seen: SeenBy, visitor: str | None) -> Any:
    """`scorer` for this visitor; unchanged outside a request or for a scorer without a cache."""
    if visitor is None or getattr(scorer, "cache", None) is None:
        return scorer
    return VisitorScorer(scorer, visitor, seen)
