"""What a musician reads about a song or a set of takes, computed once: one report, many views.

The Analyze and Compare tabs, the API, the command line and the MCP tools render a `SongReport`
(from one ScoreResult) or a `TakesReport` (from several); none of them works out a verdict of its
own, so they cannot disagree about what the numbers say: the overall score, each popularity score
in plain words, the strongest and weakest aesthetic dimension, what to try for a low one, which
part of the song (if any) is clearly the weakest, and which takes lead or are about the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from apex_demo.engine.caveats import SCORE_CAVEAT
from apex_demo.engine.ranking import OVERALL_KEY, RankedTake, gap_points, overall_score, rank_takes
from apex_demo.engine.result import ScoreResult, SegmentScore
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

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"key": self.spec.key, "value": round(self.value, 4)}
        return record | ({"words": self.words} if self.words else {})


@dataclass(frozen=True)
class SongReport:
    """The verdicts on one song (`parts` only once every segment is scored)."""

    overall: float
    popularity: tuple[Reading, ...]
    strongest: Reading | None
    weakest: Reading | None
    advice: Reading | None  # the weakest dimension when it is below the middle of the scale; spec.to_try says what
    parts: WeakestPart | None
    caveat: str = SCORE_CAVEAT

    def to_record(self) -> dict[str, Any]:
        """The report as JSON-ready data (the API's and the MCP tools' words for the same verdicts)."""
        return {"overall": round(self.overall, 2), "popularity": [r.to_record() for r in self.popularity],
                "strongest": _optional(self.strongest), "weakest": _optional(self.weakest),
                "advice": None if self.advice is None else {"key": self.advice.spec.key, "to_try": self.advice.spec.to_try},
                "weakest_part": None if self.parts is None else _parts_record(self.parts), "caveat": self.caveat}


def _optional(reading: Reading | None) -> dict[str, Any] | None:
    return None if reading is None else reading.to_record()


def _span(segment: SegmentScore) -> dict[str, Any]:
    return {"index": segment.index, "start_s": round(segment.start_s, 3), "end_s": round(segment.end_s, 3)}


def _parts_record(parts: WeakestPart) -> dict[str, Any]:
    """The weakest parts (none when no part stands out), the best part, and a short tail left unjudged."""
    return {"weakest": [_span(s) for s in parts.weakest], "no_part_stands_out": not parts.weakest,
            "low": round(parts.low, 2), "best": _span(parts.best), "high": round(parts.high, 2),
            "skipped_tail": None if parts.skipped is None else _span(parts.skipped)}


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
    caveat: str = SCORE_CAVEAT

    @property
    def all_tied(self) -> bool:
        """Every take is about the same as the best: the model cannot tell them apart."""
        return len(self.leaders) == len(self.ranked)

    def to_record(self) -> dict[str, Any]:
        """The ranking as JSON-ready data: rank (shared by takes about the same), label, value, overall."""
        return {"by": self.by, "all_tied": self.all_tied, "leaders": [t.label for t in self.leaders],
                "gap_points": round(self.gap, 2), "caveat": self.caveat,
                "ranking": [{"rank": t.rank, "label": t.label, "value": round(t.value, 4),
                             "overall": round(t.overall, 2), "tied": t.tied} for t in self.ranked]}


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
