"""The model's scores of battle clips, computed where the model may run and only read by votes.

A vote never runs the model: the pool warm-up (in the background, giving way to visitors) and the
bring-your-own handler (in the model's queue slot) fill this memo, and a vote reads it, or goes
without a model pick when a clip has no scores yet. A model problem is logged, never raised: it
must not cost a listener's vote.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Mapping, Sequence

from apex_demo.errors import ApexError

LOG = logging.getLogger(__name__)

SCORE_MEMO_MAX = 4096             # clip scores kept for votes (pool clips and recent uploads)

ScoreFn = Callable[[Path], Mapping[str, float]]


class ClipScores:
    """A bounded memo: clip path -> its seven scores (least recently added forgotten first)."""

    def __init__(self, score_fn: ScoreFn | None) -> None:
        self._score_fn = score_fn
        self._memo: OrderedDict[str, dict[str, float]] = OrderedDict()
        self._lock = threading.Lock()

    def known(self, path: str) -> dict[str, float] | None:
        """The clip's scores, when they were computed already."""
        with self._lock:
            scores = self._memo.get(str(path))
        return dict(scores) if scores else None

    def warm(self, paths: Sequence[Path | str], again: bool = False) -> int:
        """Score the clips not known yet (`again`: every one, as for a visitor's own takes, whose scoring
        time must not tell that the same file was scored before); how many of `paths` now have scores."""
        done = 0
        for path in map(str, paths):
            if again or self.known(path) is None:
                scores = self._compute(path)
                if scores is None:
                    continue
                with self._lock:
                    self._memo[path] = scores
                    while len(self._memo) > SCORE_MEMO_MAX:
                        self._memo.popitem(last=False)
            done += 1
        return done

    def _compute(self, path: str) -> dict[str, float] | None:
        if self._score_fn is None:
            return None
        try:
            return {k: float(v) for k, v in dict(self._score_fn(Path(path))).items()}
        except ApexError as exc:
            LOG.warning("cannot score arena clip %s: %s", Path(path).name, exc.message)
        except Exception:
            LOG.exception("unexpected error scoring arena clip %s", Path(path).name)
        return None
