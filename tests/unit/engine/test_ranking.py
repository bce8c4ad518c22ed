"""The overall score and ranking takes by any score."""

from __future__ import annotations

import pytest

from apex_demo.engine.ranking import (overall_score, rank_takes, sort_value,
                               to_percent_scale)
from apex_demo.errors import ApexError
from apex_demo.scores import Scores

FULL = Scores(score_streams=60.0, score_likes=40.0, coherence=3.0, musicality=4.0,
              memorability=2.0, clarity=5.0, naturalness=1.0)
OTHER = Scores(score_streams=20.0, score_likes=80.0, coherence=4.0, musicality=4.0,
               memorability=4.0, clarity=4.0, naturalness=4.0)
POP_ONLY = Scores(score_streams=70.0, score_likes=30.0)


def test_overall_score_definition() -> None:
    assert to_percent_scale("coherence", 3.0) == 50.0
    # (60 + 40 + 50 + 75 + 25 + 100 + 0) / 7
    assert overall_score(FULL) == pytest.approx(350.0 / 7)
    assert overall_score(POP_ONLY) == pytest.approx(50.0)


def test_rank_takes_sorts_best_first_by_any_key() -> None:
    ranked = rank_takes([("a", FULL), ("b", OTHER)])
    assert [r.label for r in ranked] == ["b", "a"] and [r.rank for r in ranked] == [1, 2]
    assert [r.label for r in rank_takes([("a", FULL), ("b", OTHER)], by="clarity")] == ["a", "b"]
    assert sort_value(FULL, "score_likes") == 40.0
    with pytest.raises(ApexError):
        sort_value(POP_ONLY, "clarity")
    with pytest.raises(ApexError):
        sort_value(FULL, "loudness")

