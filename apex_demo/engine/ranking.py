"""The one definition of the "overall" score, of the model's pick between two clips,
of ranking several takes by any score, and of when two scores are "about the same".

Defined here, outside the UI, so the Analyze and Compare tabs, the Compare CSV,
the Arena's "model pick" and the Leaderboard's agreement statistics
(apex_demo.arena.stats) all rank songs the same way. APEX itself predicts seven
separate numbers; the overall score is a transparent convenience for sorting,
not a model output, so its definition is shown wherever it is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from apex_demo.errors import ApexError, ErrorCode
from apex_demo.scores import OUTPUT_BY_KEY, SCORE_KEYS, Scores

OVERALL_KEY = "overall"
OVERALL_LABEL = "Overall"
OVERALL_DEFINITION = (
    "Overall = the plain average of every score the model gives, each first put on a 0-100 scale "
    "(Streams and Likes as they are; a 1-5 aesthetic score x as (x - 1) / 4 x 100). "
    "With a popularity-only model it is the average of Streams and Likes. "
    "All outputs weigh the same; it is a convenience for sorting, not something APEX was trained to predict."
)
SORT_KEYS: tuple[str, ...] = (OVERALL_KEY,) + SCORE_KEYS
# Two scores closer than this, in points on the 0-100 scale (see to_percent_scale), are "about the same".
# Why 2 points: it is 0.08 on a 1-5 aesthetic scale, i.e. less than the smallest step a SongEval rater can
# express (whole points, averaged over a handful of raters) and far inside the model's own error (in the
# authors' Music Arena test a fixed "higher score wins" pick agreed with single listeners 45-50 % of the
# time, and only a model fitted to the votes reached AUC 0.60: apex_demo/arena_facts.py); it is also
# 10x the largest numeric drift of fast mode (0.2 on 0-100). A gap this small says nothing a listener
# would hear, so Compare, Analyze's weakest part and the arena's model pick call it a tie instead of
# naming a winner. One value for every verdict, so the tabs can never disagree about what "close" means.
SAME_TOLERANCE = 2.0
TOLERANCE_DEFINITION = (f"Scores within {SAME_TOLERANCE:g} points of each other (on 0-100; "
                        f"{SAME_TOLERANCE / 25:.2f} on a 1-5 score) count as about the same: "
                        "a gap that small is noise, not a difference you would hear.")


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


def gap_points(by: str, better: float, worse: float) -> float:
    """How far apart two values of `by` (a score key or "overall") are, in points on 0-100."""
    if by == OVERALL_KEY:
        return better - worse
    return to_percent_scale(by, better) - to_percent_scale(by, worse)


def about_same(by: str, a: float, b: float, tolerance: float = SAME_TOLERANCE) -> bool:
    """True when two values of `by` are within the tolerance (see SAME_TOLERANCE for why)."""
    return abs(gap_points(by, a, b)) <= tolerance


@dataclass(frozen=True)
class RankedTake:
    """One row of a ranking: 1-based rank, the take's label, its overall score and all its scores.

    `tied` is True when the take is about the same as the best of its rank group (it then
    shares that take's rank, as in "1, 1, 3").
    """

    rank: int
    label: str
    overall: float
    scores: Scores
    value: float = 0.0
    tied: bool = False


def rank_takes(takes: Sequence[tuple[str, Scores]], by: str = OVERALL_KEY) -> list[RankedTake]:
    """Rank takes best first by `by`; equal values keep the upload order (stable sort).

    A take about the same as the first take of the current rank group shares its rank
    (competition ranking: 1, 1, 3), so a 0.1-point gap never makes a "#1" and a "#2".
    """
    ordered = sorted(((label, scores, sort_value(scores, by)) for label, scores in takes), key=lambda t: -t[2])
    ranks: list[int] = []
    leader_rank, leader_value = 0, 0.0
    for i, (_, _, value) in enumerate(ordered):
        if not ranks or not about_same(by, leader_value, value):
            leader_rank, leader_value = i + 1, value
        ranks.append(leader_rank)
    return [RankedTake(rank, label, overall_score(scores), scores, value, tied=ranks.count(rank) > 1)
            for rank, (label, scores, value) in zip(ranks, ordered)]

