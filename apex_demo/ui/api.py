"""The public API endpoints `/score` and `/compare` for gradio_client.

They return the same JSON records as `python -m apex_demo score --format json`
(`ScoreResult.to_record()`, with `file` set to the upload's original name), so scripts can
switch between the CLI and a running app or Space; error records carry the CLI's codes, with
messages worded for people (ui/messages.py: no server paths or settings). The hidden components only
exist to type the endpoints; nothing of this shows on the page.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import gradio as gr

from apex_demo.errors import ApexError, ScoringStopped
from apex_demo.engine import error_record
from apex_demo.ui.guards.abandoned import visitor_still_here
from apex_demo.ui.common import (MODEL_CONCURRENCY_ID, MODEL_CONCURRENCY_LIMIT, NO_AUDIO_MESSAGE, display_name,
                                 engine_errors, get_scorer)
from apex_demo.ui.takes import check_count, score_each
from apex_demo.ui.context import AppContext
from apex_demo.ui.messages import visitor_message

SCORE_DESCRIPTION = ("Score one audio file. Returns one JSON record, the same as one record of the CLI's "
                     "`score --format json`: file, duration_s, sample_rate, channels, scores, segments, model, "
                     "warnings.")
COMPARE_DESCRIPTION = ("Score 2-10 audio files. Returns a list of records in upload order; a file that cannot "
                       "be scored becomes {\"file\", \"error\": {\"code\", \"message\"}} as in the CLI.")
NOBODY_WAITING = "Scoring stopped: the client disconnected before the result was ready."


@contextlib.contextmanager
def api_errors(ctx: AppContext, upload: str | Path | None = None) -> Iterator[None]:
    """Errors raised while scoring, as gr.Error in the words of ui/messages.visitor_message: the same
    words (and code) the submit-time refusals use (ui/fairness.py), so a client gets one wording for
    one error whenever it is found. A call whose client left ends quietly (nobody reads it)."""
    try:
        with engine_errors(words=lambda exc: visitor_message(exc, upload, ctx.loader_busy())):
            yield
    except ScoringStopped as exc:
        raise gr.Error(NOBODY_WAITING, print_exception=False) from exc


def make_score(ctx: AppContext):
    """`/score`: one file -> its record, scored segment by segment so that it stops when its client
    leaves (ui/abandoned.py); engine errors are raised as gr.Error."""

    def score(audio_path: str | None) -> dict[str, Any]:
        if not audio_path:
            raise gr.Error(NO_AUDIO_MESSAGE, print_exception=False)
        still_here = visitor_still_here()
        with api_errors(ctx, audio_path):
            result = get_scorer(ctx).score_file(audio_path, display_name(audio_path), proceed=still_here)
        return result.to_record()

    return score


def make_compare(ctx: AppContext):
    """`/compare`: several files -> list of records (error records, in the same words as /score's
    errors, for files that failed)."""

    def compare(paths: list[str] | None) -> list[dict[str, Any]]:
        paths = check_count(paths)
        records = []
        with api_errors(ctx):
            for path, (name, outcome) in zip(paths, score_each(ctx, paths)):
                if isinstance(outcome, ApexError):
                    records.append(error_record(name, ApexError(visitor_message(outcome, path), outcome.code)))
                else:
                    records.append(outcome.to_record())
        return records

    return compare


def build(ctx: AppContext) -> None:
    """Register the endpoints on invisible components (call inside the Blocks)."""
    with gr.Column(visible=False):
        audio_in = gr.Audio(type="filepath", label="audio")
        files_in = gr.File(file_count="multiple", type="filepath", label="files")
        record_out = gr.JSON(label="record")
        records_out = gr.JSON(label="records")
        score_trigger = gr.Button("score")
        compare_trigger = gr.Button("compare")
    model_queue: dict[str, Any] = {"concurrency_id": MODEL_CONCURRENCY_ID, "concurrency_limit": MODEL_CONCURRENCY_LIMIT}
    score_trigger.click(make_score(ctx), inputs=[audio_in], outputs=[record_out], api_name="score",
                        api_description=SCORE_DESCRIPTION, **model_queue)
    compare_trigger.click(make_compare(ctx), inputs=[files_in], outputs=[records_out], api_name="compare",
                          api_description=COMPARE_DESCRIPTION, **model_queue)
