"""The 30 s segments: where they lie in a song, and how a musician reads them (their real length, the
padded tail, which part, if any, is clearly the weakest).

The segment grid (24 kHz, 30 s, from sample 0) is defined here once: apex_demo.engine.audio cuts the
waveform on it and the encoder checks its input rate against it. This module stays free of torch, so the
page can read results without loading the engine.

The reference pipeline pads the last segment with silence up to 30 s and scores it like
any other (the song score keeps that computation). Here we only say so honestly: a
short tail is labelled with its real length, and a tail under SHORT_TAIL_S, which is
mostly silence to the model, is never named the weakest part.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from apex_demo.engine.ranking import OVERALL_KEY, about_same, overall_score
from apex_demo.engine.result import SegmentScore

SAMPLE_RATE = 24_000  # what MERT-v1 was trained on (reference step 2)
SEGMENT_SECONDS = 30  # reference step 3: consecutive, non-overlapping 30 s segments
SEGMENT_SAMPLES = SAMPLE_RATE * SEGMENT_SECONDS  # 720 000
SHORT_TAIL_S = 10.0  # a tail under a third of a segment is two-thirds silence to the model: not judged alone
PADDED_NOTE = "padded with silence"
MAX_WEAKEST_LISTED = 3


def segment_bounds(index: int, duration_s: float) -> tuple[float, float]:
    """Start and end (seconds of real audio, not padding) of segment `index`."""
    start = float(index * SEGMENT_SECONDS)
    return start, min(start + SEGMENT_SECONDS, duration_s)


def format_time(seconds: float) -> str:
    """Seconds as m:ss (axis ticks and segment labels)."""
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}:{secs:02d}"


def length_s(segment: SegmentScore) -> float:
    """The real audio length of a segment (the padded tail is shorter than 30 s)."""
    return segment.end_s - segment.start_s


def is_padded(segment: SegmentScore) -> bool:
    """True for a segment the reference filled up to 30 s with silence."""
    return length_s(segment) < SEGMENT_SECONDS - 0.5


def is_short_tail(segment: SegmentScore) -> bool:
    """A padded segment too short to be judged on its own."""
    return is_padded(segment) and length_s(segment) < SHORT_TAIL_S


def span(segment: SegmentScore) -> str:
    """`0:30-1:00`: where the segment lies in the song."""
    return f"{format_time(segment.start_s)}-{format_time(segment.end_s)}"


def label(segment: SegmentScore) -> str:
    """The span, plus the real length and "padded with silence" for a short last segment."""
    if not is_padded(segment):
        return span(segment)
    return f"{span(segment)} ({length_s(segment):.0f} s, {PADDED_NOTE})"


@dataclass(frozen=True)
class WeakestPart:
    """The verdict on a song's segments.

    `weakest` is empty when no segment is clearly below the others ("no part stands
    out"); otherwise it holds the lowest segment and any that are about the same as it.
    `best` is the highest judged segment; `skipped` is a short tail left out of the verdict.
    `low` and `high` are the overall scores of the lowest and the highest judged segment.
    """

    weakest: tuple[SegmentScore, ...]
    best: SegmentScore
    skipped: SegmentScore | None
    low: float
    high: float


def weakest_part(segments: Sequence[SegmentScore]) -> WeakestPart | None:
    """Which part is clearly weakest by the overall score; None with fewer than two judged segments.

    A segment is "clearly" weakest only when the best one is more than the tolerance
    (apex_demo.engine.ranking.SAME_TOLERANCE) above it; segments about the same as the
    weakest are listed with it.
    """
    judged = [s for s in segments if not is_short_tail(s)]
    skipped = next((s for s in segments if is_short_tail(s)), None)
    if len(judged) < 2:
        return None
    ranked = sorted(judged, key=lambda s: overall_score(s.scores))
    low, best = overall_score(ranked[0].scores), ranked[-1]
    high = overall_score(best.scores)
    if about_same(OVERALL_KEY, high, low):
        return WeakestPart((), best, skipped, low, high)
    weakest = tuple(s for s in ranked if about_same(OVERALL_KEY, overall_score(s.scores), low))
    return WeakestPart(weakest[:MAX_WEAKEST_LISTED], best, skipped, low, high)
