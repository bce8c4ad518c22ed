"""Fair queues for a public app: scoring admission, checked before a job enters Gradio's queue.

Why: Gradio's `max_size` counts every waiting event of every endpoint together, so a flood of
`/score` calls used to turn arena and leaderboard visitors away with "Queue is full". The app
now runs its queue without a global size (app.py) and bounds scoring here instead, in a Gradio
validator (run at submit time, before the event is queued, for the page and the API alike):

- at most JOBS_PER_SESSION scoring job waiting or running per browser session (Gradio's session
  hash: one page load); a second says so;
- at most JOBS_PER_ADDRESS per client address (ui/guards/visitors.py), so that the people behind one
  school, office or mobile-carrier address all get in line, while one person with many tabs or a
  script still cannot hold more than a quarter of the line;
- at most SCORING_QUEUE_MAX scoring jobs waiting or running in all;
- every single-file upload of the event (one Analyze or `/score` file, each take of the arena's
  bring-your-own pair) is checked from its header (`audio.probe`: length, rate, channels); one
  that cannot be scored is refused there in the visitor's words, never converted or queued;
- a multi-file job (Compare, `/compare`) is refused when its files' total length, from their
  headers, is over `Settings.compare_max_seconds`. Files that cannot be scored are left out of
  that total: the job reports each of them as its own error, as before.

Jobs are counted from Gradio's own queue, so a job that finishes, fails, or is dropped because
its visitor left is never counted again (Gradio removes a disconnected visitor's waiting events;
a running job stops at its next segment: ui/abandoned.py). The seconds of audio an admitted job
holds are kept on its request (`job_seconds`), for the wait estimate (ui/waiting.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import gradio as gr

from apex_demo.engine import audio
from apex_demo.config import Settings
from apex_demo.errors import ApexError, ErrorCode
from apex_demo.ui.common import MODEL_CONCURRENCY_ID, model_events
from apex_demo.ui.messages import minutes_text, visitor_message
from apex_demo.ui.guards.visitors import visitor_of

JOBS_PER_SESSION = 1
JOBS_PER_ADDRESS = 4    # a quarter of the line: several people behind one address queue, one of them cannot fill it
SCORING_QUEUE_MAX = 16  # scoring jobs waiting or running, all visitors together (~16 songs of 10 min at most)
JOB_SECONDS = "apex_job_seconds"  # the request-state field holding an admitted job's seconds of audio
ONE_JOB = ("You already have a song being scored or waiting in line in this window. Wait for it to finish, "
           "then try again.")
ADDRESS_FULL = ("{count} songs from your network (the same internet address) are already being scored or waiting "
                "in line, the most one address may have at a time so that everyone gets a turn. Try again when one "
                "of them is done.")
QUEUE_FULL = ("The scoring line is full ({count} songs are waiting or being scored). Please try again in a few "
              "minutes; the Arena and Leaderboard keep working meanwhile.")
TOO_MUCH_AUDIO = ("These {count} files last {total} together; one comparison takes at most {limit} of audio. "
                  "Compare fewer takes at a time, or trim them to the part you want compared.")


def scoring_events(demo: gr.Blocks) -> list[Any]:
    """The model slot's events running or waiting in Gradio's queue, in the order they will be served.

    Reads `Blocks._queue` (Gradio 6.31, pinned in requirements.txt): Gradio has no public view of
    its queue, and only the queue knows about jobs dropped when their visitor left.
    """
    queue = demo._queue
    waiting = queue.event_queue_per_concurrency_id.get(MODEL_CONCURRENCY_ID)
    events = [e for job in list(queue.active_jobs) for e in job or () if e.concurrency_id == MODEL_CONCURRENCY_ID]
    return events + (list(waiting.queue) if waiting is not None else [])


def running_since(demo: gr.Blocks) -> dict[str, float]:
    """When each running model-slot job started (`time.time()`), by Gradio event id. Gradio keeps start
    times per function, not per job; the slot runs one job at a time (MODEL_CONCURRENCY_LIMIT), so the
    running jobs and the start times pair up in order."""
    queue = demo._queue
    slot = queue.event_queue_per_concurrency_id.get(MODEL_CONCURRENCY_ID)
    starts = sorted(t for times in (slot.start_times_per_fn.values() if slot is not None else ()) for t in times)
    running = [e for job in list(queue.active_jobs) for e in job or () if e.concurrency_id == MODEL_CONCURRENCY_ID]
    return {event._id: start for event, start in zip(running, starts)}


def admission_refusal(events: Iterable[Any], visitor: str, session: str | None,
                      trusted_hops: int = 0) -> ApexError | None:
    """Why a new scoring job from `session` (None: a client without one, e.g. a plain API call) at the
    address `visitor` may not join the queue now, or None."""
    events = list(events)
    if session is not None and sum(e.session_hash == session for e in events) >= JOBS_PER_SESSION:
        return ApexError(ONE_JOB, ErrorCode.BUSY)
    same_address = sum(visitor_of(e.request, trusted_hops) == visitor for e in events)
    if same_address >= JOBS_PER_ADDRESS:
        return ApexError(ADDRESS_FULL.format(count=same_address), ErrorCode.BUSY)
    if len(events) >= SCORING_QUEUE_MAX:
        return ApexError(QUEUE_FULL.format(count=len(events)), ErrorCode.BUSY)
    return None


def _upload_path(value: Any) -> Path | None:
    """The uploaded file's path, or None when the input holds no file (nothing uploaded, not a path)."""
    return Path(value) if isinstance(value, (str, Path)) and value else None


def upload_refusal(value: Any, max_seconds: float) -> ApexError | None:
    """A single uploaded file that cannot be scored within the budget (from its header), or None."""
    path = _upload_path(value)
    if path is None:
        return None
    try:
        audio.probe(path, max_seconds)
    except ApexError as exc:
        return ApexError(visitor_message(exc, value), exc.code)
    return None


def batch_refusal(values: Sequence[Any], max_seconds: float, budget_s: float) -> ApexError | None:
    """Several uploads for one job whose total length, from their headers, is over `budget_s`, or None."""
    total = sum(_scorable_seconds(value, max_seconds) for value in values)
    if total <= budget_s:
        return None
    return ApexError(TOO_MUCH_AUDIO.format(count=len(values), total=minutes_text(total), limit=minutes_text(budget_s)),
                     ErrorCode.TOO_MUCH_AUDIO)


def _scorable_seconds(value: Any, max_seconds: float) -> float:
    """Seconds of audio a file will cost, from its header: none for a file the job will refuse (it becomes
    its own error record), the per-file limit when the header does not give the length."""
    path = _upload_path(value)
    if path is None:
        return 0.0
    try:
        header = audio.probe(path, max_seconds)
    except ApexError:
        return 0.0
    return max_seconds if header.seconds is None else min(header.seconds, max_seconds)


def cost_refusal(value: Any, settings: Settings) -> ApexError | None:
    """A file input of a scoring event that costs more than the budget: a list of files (a multi-file job)
    over the total, or a single file over the per-file budget."""
    if isinstance(value, (list, tuple)):
        return batch_refusal(value, settings.max_seconds, settings.compare_max_seconds)
    return upload_refusal(value, settings.max_seconds)


def job_seconds(files: Iterable[Any], max_seconds: float) -> float:
    """Seconds of audio a job's file inputs hold, from their headers (a list: every file in it)."""
    values = [v for value in files for v in (value if isinstance(value, (list, tuple)) else [value])]
    return sum(_scorable_seconds(value, max_seconds) for value in values)


def make_validator(demo: gr.Blocks, settings: Settings, file_inputs: Sequence[bool]) -> Callable[..., Any]:
    """A Gradio validator for a scoring event whose inputs are files where `file_inputs` says so (Gradio
    calls it with exactly the event's inputs); other inputs (a choice, a checkbox) pass unchecked."""
    hops = settings.trusted_hops

    def check(inputs: tuple[Any, ...], request: gr.Request) -> list[dict[str, Any]]:
        refusal = admission_refusal(scoring_events(demo), visitor_of(request, hops), request.session_hash, hops)
        verdicts = [gr.validate(True, "") for _ in inputs]
        files = [value for value, is_file in zip(inputs, file_inputs) if is_file]
        for index, value in enumerate(inputs):
            problem = refusal or (cost_refusal(value, settings) if file_inputs[index] else None)
            if problem is not None:
                verdicts[index] = gr.validate(False, problem.message)
                return verdicts
        if request.request is not None:  # Gradio's request for the job, kept with it in the queue
            setattr(request.request.state, JOB_SECONDS, job_seconds(files, settings.max_seconds))
        return verdicts

    def one(a: Any, request: gr.Request) -> dict[str, Any]:
        return check((a,), request)[0]  # Gradio wraps a one-output function's value in a list itself

    def two(a: Any, b: Any, request: gr.Request) -> list[dict[str, Any]]:
        return check((a, b), request)

    def three(a: Any, b: Any, c: Any, request: gr.Request) -> list[dict[str, Any]]:
        return check((a, b, c), request)

    validators: dict[int, Callable[..., Any]] = {1: one, 2: two, 3: three}
    return validators[len(file_inputs)]


def install(demo: gr.Blocks, settings: Settings) -> None:
    """Put the admission validator on every event that runs in the model slot (tabs and API alike),
    so the tabs need no wiring of their own; events with no inputs or a validator already are left.
    The inputs that are upload components (Audio, File) are the ones whose cost is checked."""
    for fn in model_events(demo):
        if fn.validator is None and 1 <= len(fn.inputs) <= 3:
            fn.validator = make_validator(demo, settings, [isinstance(b, (gr.Audio, gr.File)) for b in fn.inputs])
