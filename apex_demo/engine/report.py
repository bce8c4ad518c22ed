"""What a musician reads about a song or a set of takes, computed once: one report, many views.

The Analyze and Compare tabs, the API, the command line and the MCP tools render a `SongReport`
(from one ScoreResult) or a `TakesReport` (from several); none of them works out a verdict of its
own, so they cannot disagree about what the numbers say: the overall score, each popularity score
in plain words, the strongest and weakest aesthetic dimension, what to try for a low one, which
part of the song (if any) is clearly the weakest, and which takes lead or are about the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from apex_demo.engine.ranking import OVERALL_KEY, RankedTake, gap_points, overall_score, rank_takes
from apex_demo.engine.result import ScoreResult
from apex_demo.engine.segments import WeakestPart, weakest_part
from apex_demo.scores import AESTHETICS, POPULARITY, OutputSpec, Scores

# Plain words for the 0-100 popularity scale; these are bands of the model's scale, not percentiles.
POPULARITY_WORDS = ((80.0, "very high"), (60.0, "high"), (40.0, "in the middle"), (20.0, "low"), (0.0, "very low"))
LOW_AESTHETIC = 3.0  # the middle of SongEval's 1-5 scale: below it, a "what to try" line is given


@dataclass(frozen=True)
class Reading:
    """One score as a musician reads it: which output, its value and (popularity) its words."""

    spec: OutputSpec
    value: float
    words: str = ""


@dataclass(frozen=True)
class SongReport:
    """The verdicts on one song (`parts` only once every segment is scored)."""

    overall: float
    popularity: tuple[Reading, ...]
    strongest: Reading | None
    weakest: Reading | None
    advice: Reading | None  # the weakest dimension when it is below the middle of the scale; spec.to_try says what
    parts: WeakestPart | None


def popularity_words(value: float) -> str:
    """A plain reading of a 0-100 popularity score (no invented percentiles)."""
    return next(word for floor, word in POPULARITY_WORDS if value >= floor)


def song_report(result: ScoreResult) -> SongReport:
    """Every verdict on `result`, in the order a musician reads them."""
    scores = result.scores
    popularity = tuple(Reading(spec, getattr(scores, spec.key), popularity_words(getattr(scores, spec.key)))
                       for spec in POPULARITY)
    strongest = weakest = advice = None
    if scores.has_aesthetics:
        dimensions = [Reading(spec, getattr(scores, spec.key)) for spec in AESTHETICS]
        strongest = max(dimensions, key=lambda r: (r.value, r.spec.label))
        weakest = min(dimensions, key=lambda r: (r.value, r.spec.label))
        advice = weakest if weakest.value < LOW_AESTHETIC else None
    parts = weakest_part(result.segments) if result.complete else None
    return SongReport(overall_score(scores), popularity, strongest, weakest, advice, parts)


@dataclass(frozen=True)
class TakesReport:
    """Takes ranked by one score (`by`: a score key or "overall"); takes about the same share a rank.

    `leaders` are the takes at rank 1 (several when they are about the same); `gap` is how far apart,
    in points on 0-100, the leaders are (several) or the leader is from the runner-up (one).
    """

    by: str
    ranked: tuple[RankedTake, ...]
    leaders: tuple[RankedTake, ...]
    runner_up: RankedTake | None
    gap: float

    @property
    def all_tied(self) -> bool:
        """Every take is about the same as the best: the model cannot tell them apart."""
        return len(self.leaders) == len(self.ranked)


def takes_report(takes: Sequence[tuple[str, Scores]], by: str = OVERALL_KEY) -> TakesReport:
    """The ranking of `takes` (label, scores) and who leads; raises ApexError when the model lacks `by`."""
    ranked = tuple(rank_takes(takes, by))
    leaders = tuple(r for r in ranked if r.rank == 1)
    runner_up = ranked[len(leaders)] if len(leaders) < len(ranked) else None
    if len(leaders) > 1:
        gap = gap_points(by, leaders[0].value, (ranked[-1] if runner_up is None else leaders[-1]).value)
    else:
        gap = gap_points(by, leaders[0].value, runner_up.value) if runner_up is not None else 0.0
    return TakesReport(by, ranked, leaders, runner_up, gap)
