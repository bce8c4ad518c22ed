"""The public API endpoints `/score` and `/compare` for gradio_client.

They return the same JSON records as `python -m apex_demo score --format json`
(`ScoreResult.to_record()`, with `file` set to the upload's original name), so scripts can
switch between the CLI and a running app or Space. The hidden components only
exist to type the endpoints; nothing of this shows on the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from apex_demo.errors import ApexError
from apex_demo.result import error_record
from apex_demo.ui.common import (MODEL_CONCURRENCY_ID, MODEL_CONCURRENCY_LIMIT, NO_AUDIO_MESSAGE, display_name,
                                 engine_errors, get_scorer, user_message)
from apex_demo.ui.compare_tab import check_count, score_each
from apex_demo.ui.context import AppContext

SCORE_DESCRIPTION = ("Score one audio file. Returns one JSON record, the same as one record of the CLI's "
                     "`score --format json`: file, duration_s, sample_rate, channels, scores, segments, model, "
                     "warnings.")
COMPARE_DESCRIPTION = ("Score 2-10 audio files. Returns a list of records in upload order; a file that cannot "
                       "be scored becomes {\"file\", \"error\": {\"code\", \"message\"}} as in the CLI.")


def make_score(ctx: AppContext):
    """`/score`: one file -> its record; engine errors are raised as gr.Error."""

    def score(audio_path: str | None) -> dict[str, Any]:
        if not audio_path:
            raise gr.Error(NO_AUDIO_MESSAGE, print_exception=False)
        scorer = get_scorer(ctx)
        with engine_errors(audio_path):
            result = scorer.score_file(Path(audio_path), display_name(audio_path))
        return result.to_record()

    return score


def make_compare(ctx: AppContext):
    """`/compare`: several files -> list of records (error records for files that failed)."""

    def compare(paths: list[str] | None) -> list[dict[str, Any]]:
        paths = check_count(paths)
        records = []
        for path, (name, outcome) in zip(paths, score_each(ctx, paths)):
            if isinstance(outcome, ApexError):
                records.append(error_record(name, ApexError(user_message(outcome, path), outcome.code)))
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
