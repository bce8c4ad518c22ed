"""The tests' stand-in for the engine (light: no model, no gradio), for tests whose load is not on MERT."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Iterator

from apex_demo.scores import Scores


class FakeResult:
    def __init__(self, scores: Scores) -> None:
        self.scores = scores


class FakeScorer:
    """The tests' one stand-in for the engine: deterministic scores per file name, for tests whose
    load is not on MERT (the real engine is tested elsewhere)."""

    def scores_for(self, path: object) -> Scores:
        rnd = random.Random(Path(str(path)).name)
        return Scores(rnd.uniform(0, 100), rnd.uniform(0, 100), *[rnd.uniform(1, 5) for _ in range(5)])

    def score_file(self, path: object, display_name: str | None = None, proceed: object = None) -> FakeResult:
        return FakeResult(self.scores_for(path))

    def iter_score(self, path: object, display_name: str | None = None) -> Iterator[FakeResult]:
        """As the engine's: results as segments finish (here: one, the complete result)."""
        yield self.score_file(path, display_name)
