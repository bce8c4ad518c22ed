"""One clear progress line while a song is scored: what is happening, segments done of total,
time left estimated from the speed measured so far, and "done" at the end.

Pure text from numbers and a clock, so it is tested without a browser; the tabs put the
line in a component of its own (not Gradio's progress overlay, which disappears after the
first partial result).
"""

from __future__ import annotations

import html
import time
from dataclasses import dataclass, field
from typing import Callable

READING = "Reading the audio and scoring the first 30-second part… (about {per_segment} per part on this server)"
READING_NO_ESTIMATE = "Reading the audio and scoring the first 30-second part…"
SCORING = "Scoring: {done} of {parts} done · about {left} left"
TAKES = "Scoring take {index} of {total}: {name}… {left}"
TAKES_LEFT = "about {left} left"
DONE = "✓ Done: {parts} scored in {elapsed}."
DONE_CACHED = "✓ Done: this file was scored before, so the result came from the cache."
DONE_TAKES = "✓ Done: {count} takes scored in {elapsed}."
LINE = '<div class="apex-progress apex-progress-{state}" role="status" aria-live="polite">{text}</div>'
DEFAULT_SECONDS_PER_SEGMENT = 0.0  # unknown until this server has scored one segment


def duration_words(seconds: float) -> str:
    """'about 40 s', '2 min': rounded the way a person reads a countdown."""
    if seconds < 10:
        return f"{max(1, int(round(seconds)))} s"
    if seconds < 60:
        return f"{int(round(seconds / 5.0)) * 5} s"
    return f"{int(round(seconds / 60))} min"


def parts_text(count: int) -> str:
    """'1 part', '4 parts'."""
    return f"{count} part" if count == 1 else f"{count} parts"


def line(text: str, state: str = "busy") -> str:
    """The progress line's HTML (escaped text, announced politely to screen readers)."""
    return LINE.format(state=state, text=html.escape(text))


@dataclass
class SegmentSpeed:
    """Measured seconds per 30 s segment on this server, shared by all requests (an estimate only)."""

    seconds_per_segment: float = DEFAULT_SECONDS_PER_SEGMENT

    def record(self, seconds: float, segments: int) -> None:
        """Remember the speed of a run so far, after each part and at its end (a cache hit measures nothing
        and is not recorded), for the next run's first estimate and the wait of those in line."""
        if segments > 0 and seconds > 0:
            self.seconds_per_segment = seconds / segments


@dataclass
class ScoreProgress:
    """The progress line of one run; `clock` is injectable so tests control time."""

    speed: SegmentSpeed
    clock: Callable[[], float] = time.monotonic
    started: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def elapsed(self) -> float:
        return self.clock() - self.started

    def reading(self) -> str:
        """Before the first segment is done: what is happening, and the last measured speed if known."""
        if self.speed.seconds_per_segment <= 0:
            return line(READING_NO_ESTIMATE)
        return line(READING.format(per_segment=duration_words(self.speed.seconds_per_segment)))

    def segments(self, done: int, total: int) -> str:
        """After `done` of `total` segments: time left from this run's own measured speed (kept as the
        server's speed too, so visitors waiting in line get an estimate while this run goes on)."""
        per_segment = self.elapsed() / max(done, 1)
        self.speed.record(self.elapsed(), done)
        left = duration_words(per_segment * max(total - done, 0))
        return line(SCORING.format(done=done, parts=parts_text(total), left=left))

    def finished(self, total: int, cached: bool) -> str:
        """The "done" line; a real run also updates the shared speed estimate."""
        if cached:
            return line(DONE_CACHED, "done")
        self.speed.record(self.elapsed(), total)
        return line(DONE.format(parts=parts_text(total), elapsed=duration_words(self.elapsed())), "done")

    def take(self, index: int, total: int, name: str) -> str:
        """Compare: which take is being scored, and time left from the takes done so far."""
        left = TAKES_LEFT.format(left=duration_words(self.elapsed() / index * (total - index + 1))) if index > 1 else ""
        return line(TAKES.format(index=index, total=total, name=name, left=left))

    def takes_done(self, count: int) -> str:
        return line(DONE_TAKES.format(count=count, elapsed=duration_words(self.elapsed())), "done")
