"""Stop scoring that nobody waits for any more: a closed tab, a dropped API connection.

How Gradio 6.31 says that a visitor has gone: every queued call is an `Event` in
`Blocks._queue`. When the client's event stream (`/queue/data` for the page and
gradio_client, `/call/<api>/<event id>` for plain HTTP) disconnects, Starlette cancels the
stream and Gradio calls `Queue.clean_events(session_hash=...)`, which drops the session's
waiting events and sets `alive = False` on its running ones. Gradio then stops a generator at
its next yield (the Analyze tab yields per segment), but it never interrupts a function call
already running in its worker thread: a `/score`, a `/compare` or one take of the Compare tab
would encode the whole song for nobody, holding the model slot. So those loops score a song
segment by segment and ask, between segments, whether the visitor is still there.

(`POST /cancel`, gradio_client's `job.cancel()`, cancels Gradio's asyncio task but leaves the
event alive; a running call then still runs to its end. Closing the connection is what stops it.)
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

LOG = logging.getLogger(__name__)
STOPPED_LOG = "stopped scoring %s after %d segment(s): nobody is waiting for it any more"

Check = Callable[[], bool]


class ScoringStopped(Exception):
    """Raised between two segments when the caller's check says stop. Not an ApexError: nobody is
    waiting for a message (the visitor left, or the app is shutting down)."""


def _always() -> bool:
    return True


def visitor_still_here() -> Check:
    """For the Gradio event being handled (from Gradio's per-request context): a cheap check that
    is True while its visitor is connected and False once Gradio has seen them go. Outside an
    event (the CLI, background work, direct calls in tests) it is always True."""
    from gradio.context import LocalContext

    blocks = LocalContext.blocks.get(None)
    event_id = LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)  # Gradio's queue: no public view of a running event exists
    event = queue.event_ids_to_events.get(event_id) if queue is not None and event_id else None
    if event is None:
        return _always
    return lambda: bool(event.alive)


def score_in_steps(scorer: Any, path: Path | str, name: str, proceed: Check) -> Any:
    """Score `path` as `scorer.score_file` would, asking `proceed()` before the first segment and
    after each one; returns the complete result, or raises ScoringStopped when `proceed` says no
    (so at most the segment in work when the visitor left is encoded for nobody)."""
    if not proceed():
        raise ScoringStopped(name)
    result = None
    # a partial result after each segment, the complete one last (which is returned)
    for steps, result in enumerate(scorer.iter_score(Path(path), name), start=1):  # noqa: B007
        if not proceed():
            LOG.info(STOPPED_LOG, name, steps)
            raise ScoringStopped(name)
    return result
