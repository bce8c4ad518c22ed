"""The wait of a visitor in the scoring line, in words that count down.

Gradio's own estimate only knows the average run time of an endpoint (none before its first run) and
nothing of how long the songs ahead are. This one adds up the songs ahead: their seconds of audio
(read from their headers when they were admitted, ui/guards/fairness.py), the server's measured time
per 30 s part (ui/progress.SegmentSpeed, updated after every part), and how long the running one has
been at it. A one-second timer on the tab asks for it while the visitor's job waits (`queue=False`:
it never waits for the model itself) and stops once the job runs, was refused, or is gone.

A job refused for the line's sake (this window already has one, the address has its share, the line
is full: ui/guards/fairness.py) is said on the same line, in the tab: Gradio shows a refusal over the
upload, but not always (not over a file list while the same page has another job running).
"""

from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import gradio as gr

from apex_demo.engine import segments
from apex_demo.ui.common import current_blocks
from apex_demo.ui.context import AppContext
from apex_demo.ui.guards.fairness import JOB_SECONDS, admission_refusal, running_since, scoring_events
from apex_demo.ui.guards.visitors import visitor_of
from apex_demo.ui.messages import panel
from apex_demo.ui.progress import duration_words

TICK_S = 1.0
NOT_QUEUED_YET_S = 3.0   # after a click, how long the job may take to appear in the line (upload, validation)
ANY_MOMENT_S = 5.0
WAITING = "Waiting in line: {ahead} ahead of yours{running}. {when}"
RUNNING = " (one is being scored now)"
TURN_IN = "Your turn in about {left}."
ANY_MOMENT = "Your turn comes any moment now."
NO_ESTIMATE = "Your turn comes as soon as the songs ahead are done."
LINE = '<div class="apex-progress apex-queue-words" role="status">{text}</div>'


@dataclass(frozen=True)
class Ahead:
    """A job ahead in the line: its seconds of audio (None: unknown), and how long it has run (None: waiting)."""

    seconds: float | None
    running_for: float | None = None


def wait_seconds(ahead: Sequence[Ahead], seconds_per_part: float) -> float | None:
    """Seconds until the jobs ahead are done, or None before this server has timed a part. A job of
    unknown length counts as one part; a running one counts what it has left, never less than nothing."""
    if seconds_per_part <= 0:
        return None
    total = 0.0
    for job in ahead:
        parts = max(1, math.ceil((job.seconds or 0.0) / segments.SEGMENT_SECONDS))
        total += max(parts * seconds_per_part - (job.running_for or 0.0), 0.0)
    return total


def wait_words(ahead: Sequence[Ahead], seconds_per_part: float) -> str:
    """The waiting line for a visitor with `ahead` before them: how many, and the time left."""
    left = wait_seconds(ahead, seconds_per_part)
    if left is None:
        when = NO_ESTIMATE
    elif left < ANY_MOMENT_S:
        when = ANY_MOMENT
    else:
        when = TURN_IN.format(left=duration_words(left))
    count = "1 song" if len(ahead) == 1 else f"{len(ahead)} songs"
    running = RUNNING if any(job.running_for is not None for job in ahead) else ""
    return WAITING.format(ahead=count, running=running, when=when)


def line(text: str) -> str:
    return LINE.format(text=html.escape(text)) if text else ""


def _seconds(event: Any) -> float | None:
    state = getattr(getattr(event, "request", None), "state", None)
    return getattr(state, JOB_SECONDS, None)


def jobs_ahead(events: Sequence[Any], started: dict[str, float], job: Any) -> list[Ahead]:
    """The jobs ahead of `job` (one of `events`, the line in order), running first, each with its seconds
    of audio and how long it has run; [] when `job` itself runs."""
    if job._id in started:
        return []
    ahead = []
    for event in events[:events.index(job)]:
        since = started.get(event._id)
        ahead.append(Ahead(_seconds(event), None if since is None else max(time.time() - since, 0.0)))
    return ahead


class WaitLine:
    """The waiting line of one scoring button: what its timer shows to the session that asks."""

    def __init__(self, demo: gr.Blocks, button: Any, ctx: AppContext,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.demo, self.button, self.ctx, self.clock = demo, button, ctx, clock

    def own(self, event: Any, session: str | None) -> bool:
        """Whether `event` is this session's job started by this button."""
        return event.session_hash == session and (self.button._id, "click") in event.fn.targets

    def tick(self, clicked_at: float | None, request: gr.Request) -> tuple[Any, Any]:
        """(the line, the timer) for the session that asks."""
        events = scoring_events(self.demo)
        job = next((e for e in events if self.own(e, request.session_hash)), None)
        if job is not None:
            ahead = jobs_ahead(events, running_since(self.demo), job)
            if not ahead:  # its turn has come
                return "", gr.Timer(active=False)
            return line(wait_words(ahead, self.ctx.speed.seconds_per_segment)), gr.Timer(active=True)
        hops = self.ctx.settings.trusted_hops
        refusal = admission_refusal(events, visitor_of(request, hops), request.session_hash, hops)
        if refusal is not None:  # not in line, and the line would not take it: say why, here
            return panel(refusal.message), gr.Timer(active=False)
        if clicked_at is not None and self.clock() - clicked_at < NOT_QUEUED_YET_S:
            return gr.skip(), gr.Timer(active=True)  # still on its way into the line
        return "", gr.Timer(active=False)  # done, or refused for its file (Gradio says so over the upload)


def add(button: Any, ctx: AppContext, elem_id: str) -> Any:
    """A waiting line in `button`'s tab that speaks while the job `button` starts waits in line (or says
    why the line would not take it); returns the line's component, which the scoring handler clears when
    the job starts. Call while the tab is laid out, before `button`'s scoring event is added."""
    wait = gr.HTML(elem_id=elem_id)
    timer = gr.Timer(TICK_S, active=False)
    clicked_at = gr.State(None)
    waiting_line = WaitLine(current_blocks(), button, ctx)
    button.click(lambda: (time.monotonic(), gr.Timer(active=True)), outputs=[clicked_at, timer], queue=False,
                 api_visibility="private", show_progress="hidden")
    timer.tick(waiting_line.tick, inputs=[clicked_at], outputs=[wait, timer], queue=False,
               api_visibility="private", show_progress="hidden")
    return wait
