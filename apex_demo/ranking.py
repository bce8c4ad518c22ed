"""The one definition of the "overall" score, of the model's pick between two clips,
and of ranking several takes by any score.

Defined here, outside the UI, so the Analyze and Compare tabs, the Compare CSV,
the Arena's "model pick" and the Leaderboard's agreement statistics
(apex_demo.analysis) all rank songs the same way. APEX itself predicts seven
separate numbers; the overall score is a transparent convenience for sorting,
not a model output, so its definition is shown wherever it is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from apex_demo.errors import ApexError, ErrorCode
from apex_demo.scores import OUTPUT_BY_KEY, SCORE_KEYS, Scores
from apex_demo.votes import Choice

OVERALL_KEY = "overall"
OVERALL_LABEL = "Overall"
OVERALL_DEFINITION = (
    "Overall = the plain average of every score the model gives, each first put on a 0-100 scale "
    "(Streams and Likes as they are; a 1-5 aesthetic score x as (x - 1) / 4 x 100). "
    "With a popularity-only model it is the average of Streams and Likes. "
    "All outputs weigh the same; it is a convenience for sorting, not something APEX was trained to predict."
)
SORT_KEYS: tuple[str, ...] = (OVERALL_KEY,) + SCORE_KEYS
PICK_EPSILON = 1e-9  # overall scores closer than this are a tie (float noise, not a preference)


def to_percent_scale(key: str, value: float) -> float:
    """Put one output on 0-100 so outputs with different ranges can be averaged."""
    spec = OUTPUT_BY_KEY[key]
    return (value - spec.low) / (spec.high - spec.low) * 100.0


def overall_score(scores: Scores | Mapping[str, float | None], keys: Sequence[str] = SCORE_KEYS) -> float:
    """The overall score (see OVERALL_DEFINITION) of one song or segment, over the outputs it has.

    `scores` may be a Scores or a {key: value} mapping (as votes store them). Restricted
    to some `keys`, it ranks by those outputs alone (one key: that output), as the
    per-score agreement does. Raises ValueError when none of `keys` has a value.
    """
    values = scores.as_dict() if isinstance(scores, Scores) else scores
    scaled = [to_percent_scale(k, v) for k in keys if (v := values.get(k)) is not None]
    if not scaled:
        raise ValueError(f"no scores among {list(keys)} to compare")
    return sum(scaled) / len(scaled)


def sort_value(scores: Scores, by: str) -> float:
    """The number a take is ranked by: the overall score or one output."""
    if by == OVERALL_KEY:
        return overall_score(scores)
    if by not in SCORE_KEYS:
        raise ApexError(f"Cannot sort by {by!r}; use one of {list(SORT_KEYS)}.", ErrorCode.BAD_REQUEST)
    value = scores.as_dict().get(by)
    if value is None:
        raise ApexError(f"This model does not predict {by!r}; sort by one of {list(scores.keys())} "
                        f"or {OVERALL_KEY!r}.", ErrorCode.BAD_REQUEST)
    return value


@dataclass(frozen=True)
class RankedTake:
    """One row of a ranking: 1-based rank, the take's label, its overall score and all its scores."""

    rank: int
    label: str
    overall: float
    scores: Scores


def rank_takes(takes: Sequence[tuple[str, Scores]], by: str = OVERALL_KEY) -> list[RankedTake]:
    """Rank takes best first by `by`; equal values keep the upload order (stable sort)."""
    ordered = sorted(takes, key=lambda take: -sort_value(take[1], by))
    return [RankedTake(rank=i + 1, label=label, overall=overall_score(scores), scores=scores)
            for i, (label, scores) in enumerate(ordered)]


def model_pick(scores_a: Scores | Mapping[str, float | None], scores_b: Scores | Mapping[str, float | None],
               keys: Sequence[str] = SCORE_KEYS) -> Choice:
    """A or B by the higher overall score over `keys` (TIE when equal)."""
    diff = overall_score(scores_a, keys) - overall_score(scores_b, keys)
    if abs(diff) <= PICK_EPSILON:
        return Choice.TIE
    return Choice.A if diff > 0 else Choice.B
