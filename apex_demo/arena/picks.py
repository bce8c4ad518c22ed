"""The model's pick between two clips, by the fixed rule: the higher overall score wins.

The one definition the arena's reveal, its running agreement and the leaderboard's statistics
share. A gap within the tolerance (apex_demo.engine.ranking.SAME_TOLERANCE) is a TIE: the model
then names no winner. The learned alternative lives in apex_demo.arena.learned.
"""

from __future__ import annotations

from typing import Mapping, Sequence

from apex_demo.arena.records import Choice
from apex_demo.engine import OVERALL_DEFINITION, SAME_TOLERANCE, TOLERANCE_DEFINITION, overall_score
from apex_demo.scores import SCORE_KEYS, Scores

FIXED_RULE = "fixed"
FIXED_RULE_TEXT = "the fixed rule: the clip with the higher overall score"
MODEL_PICK_DEFINITION = ("The model's pick is the clip with the higher overall score, or TIE when the two are about "
                         "the same. " + OVERALL_DEFINITION + " " + TOLERANCE_DEFINITION)


def model_pick(scores_a: Scores | Mapping[str, float | None], scores_b: Scores | Mapping[str, float | None],
               keys: Sequence[str] = SCORE_KEYS, tolerance: float = SAME_TOLERANCE) -> Choice:
    """A or B by the higher overall score over `keys`; TIE when the two are about the same
    (within `tolerance` points, see SAME_TOLERANCE)."""
    diff = overall_score(scores_a, keys) - overall_score(scores_b, keys)
    if abs(diff) <= tolerance:
        return Choice.TIE
    return Choice.A if diff > 0 else Choice.B
