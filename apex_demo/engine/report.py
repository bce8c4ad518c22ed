"""What a musician reads about one song, computed once from its ScoreResult: one report, many views.

The Analyze tab, the API, the command line and the MCP tools render a `SongReport`; none of them
works out a verdict of its own, so they cannot disagree about what the numbers say: the overall
score, each popularity score in plain words, the strongest and weakest aesthetic dimension, what
to try for a low one, and which part of the song (if any) is clearly the weakest.
"""

from __future__ import annotations

from dataclasses import dataclass

from apex_demo.engine.ranking import overall_score
from apex_demo.engine.result import ScoreResult
from apex_demo.engine.segments import WeakestPart, weakest_part
from apex_demo.scores import AESTHETICS, POPULARITY, OutputSpec

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
