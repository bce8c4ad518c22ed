"""The tests' stand-in for the engine (light: no model, no gradio), for tests whose load is not on MERT."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator

import numpy as np

from apex_demo.engine import ModelInfo, ScoreResult, SegmentScore
from apex_demo.scores import Scores

FAKE_SECONDS = 8.0  # the length every fake result claims: one 30 s part


def fake_result(name: str, scores: Scores) -> ScoreResult:
    """A complete one-part result with these scores (a real ScoreResult, so records and reports work)."""
    return ScoreResult(file=name, duration_s=FAKE_SECONDS, sample_rate=44_100, channels=1, scores=scores,
                       segments=(SegmentScore(0, 0.0, FAKE_SECONDS, scores),), embedding=np.zeros(1, np.float32),
                       model=ModelInfo("fake", "fake"), total_segments=1)


class FakeScorer:
    """The tests' one stand-in for the engine: deterministic scores per file name, for tests whose
    load is not on MERT (the real engine is tested elsewhere)."""

    max_seconds = 600.0

    def scores_for(self, path: object) -> Scores:
        rnd = random.Random(Path(str(path)).name)
        return Scores(rnd.uniform(0, 100), rnd.uniform(0, 100), *[rnd.uniform(1, 5) for _ in range(5)])

    def score_file(self, path: object, display_name: str | None = None, read_cache: bool = True,
                   proceed: object = None) -> ScoreResult:
        return fake_result(display_name if display_name is not None else str(path), self.scores_for(path))

    def iter_score(self, path: object, display_name: str | None = None, partial: bool = True,
                   read_cache: bool = True, proceed: object = None) -> Iterator[ScoreResult]:
        """As the engine's: results as segments finish (here: one, the complete result)."""
        yield self.score_file(path, display_name)
