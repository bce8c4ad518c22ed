"""What a musician reads about a song or a set of takes, computed once: one report, many views.

The Analyze and Compare tabs, the API, the command line and the MCP tools render a `SongReport`
(from one ScoreResult) or a `TakesReport` (from several); none of them works out a verdict of its
own, so they cannot disagree about what the numbers say: whether the audio can be judged at all,
the overall score, each popularity score in plain words, the strongest and weakest aesthetic
dimension, what to try for a low one (fitting what is known about vocals), which part of the song
(if any) is clearly the weakest, and which takes lead or are about the same.

Audio that cannot be judged (digital silence, a clip under SHORT_TAIL_S) keeps its numbers, but no
verdict is drawn from them: the views show them greyed with the reason, and Compare leaves such a
take out of the ranking. The reason is the engine's own warning (engine/audio.py), so the CLI's
and the API's `warnings` say the same words.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from apex_demo.engine.caveats import SCORE_CAVEAT
from apex_demo.engine.ranking import OVERALL_KEY, RankedTake, gap_points, overall_score, rank_takes
from apex_demo.engine.result import ScoreResult, SegmentScore
from apex_demo.engine.segments import WeakestPart, weakest_part
from apex_demo.scores import AESTHETICS, POPULARITY, OutputSpec, Scores

# Plain words for the 0-100 popularity scale; these are bands of the model's scale, not percentiles.
POPULARITY_WORDS = ((80.0, "very high"), (60.0, "high"), (40.0, "in the middle"), (20.0, "low"), (0.0, "very low"))
LOW_AESTHETIC = 3.0  # the middle of SongEval's 1-5 scale: below it, a "what to try" line is given
# The audio warnings (engine/audio.py) after which the numbers are no judgement of the song, first the stronger.
NOT_JUDGED_CODES = ("silence", "short_clip")
FITS_VOCALS, FITS_ANY = "vocals", "any"  # which songs a tip was written for


@dataclass(frozen=True)
class NotJudged:
    """Why a result's numbers are no judgement of the song: the engine warning that says so, in its words."""

    code: str
    reason: str

    def to_record(self) -> dict[str, str]:
        return {"code": self.code, "reason": self.reason}


def not_judged(result: ScoreResult) -> NotJudged | None:
    """Whether `result` can be judged: None, or the reason it cannot (silence before a short clip)."""
    for code in NOT_JUDGED_CODES:
        for warning in result.warnings:
            if warning.code == code:
                return NotJudged(warning.code, warning.message)
    return None


@dataclass(frozen=True)
class Advice:
    """What to try for the weakest dimension; `fits` says for which songs the tip was written."""

    spec: OutputSpec
    value: float
    to_try: str
    fits: str

    def to_record(self) -> dict[str, Any]:
        return {"key": self.spec.key, "to_try": self.to_try, "fits": self.fits}


def advice_for(reading: "Reading", vocals: bool | None) -> Advice:
    """The tip for a low dimension: the one for songs with vocals only when the song is known to have
    them (the arena pool's manifest or the musician says so), else the one that fits any song."""
    spec = reading.spec
    if vocals and spec.to_try_vocals:
        return Advice(spec, reading.value, spec.to_try_vocals, FITS_VOCALS)
    return Advice(spec, reading.value, spec.to_try, FITS_ANY)


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
    """The verdicts on one song (`parts` only once every segment is scored). When `not_judged` says why the
    audio cannot be judged, there are no verdicts: no words, strongest, weakest, advice or weakest part."""

    overall: float
    popularity: tuple[Reading, ...]
    strongest: Reading | None
    weakest: Reading | None
    advice: Advice | None  # for the weakest dimension when it is below the middle of the scale
    parts: WeakestPart | None
    caveat: str = SCORE_CAVEAT
    not_judged: NotJudged | None = None
    vocals: bool | None = None  # None: nobody said; the advice then fits any song

    @property
    def judged(self) -> bool:
        return self.not_judged is None

    def to_record(self) -> dict[str, Any]:
        """The report as JSON-ready data (the API's and the MCP tools' words for the same verdicts)."""
        return {"judged": self.judged, "not_judged": _optional(self.not_judged), "overall": round(self.overall, 2),
                "popularity": [r.to_record() for r in self.popularity],
                "strongest": _optional(self.strongest), "weakest": _optional(self.weakest),
                "vocals": self.vocals, "advice": _optional(self.advice),
                "weakest_part": None if self.parts is None else _parts_record(self.parts), "caveat": self.caveat}


def _optional(item: Reading | Advice | NotJudged | None) -> dict[str, Any] | None:
    return None if item is None else item.to_record()


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


def song_report(result: ScoreResult, vocals: bool | None = None) -> SongReport:
    """Every verdict on `result`, in the order a musician reads them. `vocals`: whether the song has
    vocals, when someone said so (True, False) or None; an instrumental gets no verdict on a sung
    dimension (OutputSpec.sung), and a tip written for vocals only goes to a song known to have them."""
    scores = result.scores
    reason = not_judged(result)
    if reason is not None:
        popularity = tuple(Reading(spec, getattr(scores, spec.key)) for spec in POPULARITY)
        return SongReport(overall_score(scores), popularity, None, None, None, None, not_judged=reason, vocals=vocals)
    popularity = tuple(Reading(spec, getattr(scores, spec.key), popularity_words(getattr(scores, spec.key)))
                       for spec in POPULARITY)
    strongest = weakest = advice = None
    if scores.has_aesthetics:
        dimensions = [Reading(spec, getattr(scores, spec.key)) for spec in AESTHETICS
                      if not (spec.sung and vocals is False)]
        strongest = max(dimensions, key=lambda r: (r.value, r.spec.label))
        weakest = min(dimensions, key=lambda r: (r.value, r.spec.label))
        advice = advice_for(weakest, vocals) if weakest.value < LOW_AESTHETIC else None
    parts = weakest_part(result.segments) if result.complete else None
    return SongReport(overall_score(scores), popularity, strongest, weakest, advice, parts, vocals=vocals)


@dataclass(frozen=True)
class TakesReport:
    """Takes ranked by one score (`by`: a score key or "overall"); takes about the same share a rank.

    `leaders` are the takes at rank 1 (several when they are about the same); `gap` is how far apart,
    in points on 0-100, the leaders are (several) or the leader is from the runner-up (one). Takes
    that cannot be judged are not ranked: `not_judged` lists them with the reason.
    """

    by: str
    ranked: tuple[RankedTake, ...]
    leaders: tuple[RankedTake, ...]
    runner_up: RankedTake | None
    gap: float
    caveat: str = SCORE_CAVEAT
    not_judged: tuple[tuple[str, NotJudged], ...] = ()

    @property
    def all_tied(self) -> bool:
        """Every take is about the same as the best: the model cannot tell them apart."""
        return len(self.leaders) == len(self.ranked)

    def to_record(self) -> dict[str, Any]:
        """The ranking as JSON-ready data: rank (shared by takes about the same), label, value, overall;
        the takes left out because they cannot be judged, with the reason."""
        return {"by": self.by, "all_tied": self.all_tied, "leaders": [t.label for t in self.leaders],
                "gap_points": round(self.gap, 2), "caveat": self.caveat,
                "ranking": [{"rank": t.rank, "label": t.label, "value": round(t.value, 4),
                             "overall": round(t.overall, 2), "tied": t.tied} for t in self.ranked],
                "not_judged": [{"label": label} | reason.to_record() for label, reason in self.not_judged]}


def takes_report(takes: Sequence[tuple[str, Scores]], by: str = OVERALL_KEY,
                 not_judged: Mapping[str, NotJudged] | None = None) -> TakesReport:
    """The ranking of `takes` (label, scores) and who leads; raises ApexError when the model lacks `by`.
    Takes named in `not_judged` (label -> reason, from `not_judged(result)`) are left out of the ranking."""
    left_out = not_judged or {}
    ranked = tuple(rank_takes([take for take in takes if take[0] not in left_out], by))
    skipped = tuple((label, left_out[label]) for label, _ in takes if label in left_out)
    leaders = tuple(r for r in ranked if r.rank == 1)
    runner_up = ranked[len(leaders)] if len(leaders) < len(ranked) else None
    if len(leaders) > 1:
        gap = gap_points(by, leaders[0].value, (ranked[-1] if runner_up is None else leaders[-1]).value)
    else:
        gap = gap_points(by, leaders[0].value, runner_up.value) if runner_up is not None and leaders else 0.0
    return TakesReport(by, ranked, leaders, runner_up, gap, not_judged=skipped)
