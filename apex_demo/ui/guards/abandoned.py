"""Stop scoring that nobody waits for any more: a closed tab, a dropped API connection.

How Gradio 6.31 says that a visitor has gone: every queued call is an `Event` in
`Blocks._queue`. When the client's event stream (`/queue/data` for the page and
gradio_client, `/call/<api>/<event id>` for plain HTTP) disconnects, Starlette cancels the
stream and Gradio calls `Queue.clean_events(session_hash=...)`, which drops the session's
waiting events and sets `alive = False` on its running ones. Gradio then stops a generator at
its next yield (the Analyze tab yields per segment), but it never interrupts a function call
already running in its worker thread: a `/score`, a `/compare` or one take of the Compare tab
would encode the whole song for nobody, holding the model slot. So those calls pass
`visitor_still_here()` to the Scorer as its `proceed` check, asked before every segment.

`POST /cancel` (gradio_client's `job.cancel()`) leaves the event alive: it cancels Gradio's asyncio
task and sends the client a "completed" message, and sending it takes the event's id out of
`Queue.pending_event_ids_session`. A running call whose id has left that set is one its client
gave up on, so the check stops it too (gradio_client's docs say a cancelled call otherwise runs on).
"""

from __future__ import annotations

from typing import Callable


def _always() -> bool:
    return True


def visitor_still_here() -> Callable[[], bool]:
    """For the Gradio event being handled (from Gradio's per-request context): a cheap check that
    is True while its visitor is connected and False once Gradio has seen them go; pass it as the
    Scorer's `proceed`. Outside an event (background work, direct calls in tests) it is always True."""
    from gradio.context import LocalContext

    blocks = LocalContext.blocks.get(None)
    event_id = LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)  # Gradio's queue: no public view of a running event exists
    event = queue.event_ids_to_events.get(event_id) if queue is not None and event_id else None
    if queue is None or event is None:
        return _always
    pending = queue.pending_event_ids_session  # session -> ids not yet answered (cancel answers one)
    return lambda: bool(event.alive) and event._id in pending.get(event.session_hash, ())
