"""The public API endpoints `/score`, `/compare` and `/rank_takes` for gradio_client and MCP clients.

They return the records of `python -m apex_demo score --format json` (apex_demo.engine.song_record:
the numbers and their `report`, with `file` set to the upload's original name), so scripts and AI
agents can switch between the CLI and a running app or Space; error records carry the CLI's codes,
with messages worded for people (ui/messages.py: no server paths or settings). Each endpoint's
docstring (with its `Args:` block) is its description in the API page and its MCP tool description
(Gradio reads both from it). The hidden components only exist to type the endpoints; nothing of
this shows on the page.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import gradio as gr

from apex_demo.errors import ApexError, ScoringStopped
from apex_demo.engine import OVERALL_KEY, error_record, ranking_record, song_record
from apex_demo.ui.guards.abandoned import visitor_still_here
from apex_demo.ui.common import (MODEL_CONCURRENCY_ID, MODEL_CONCURRENCY_LIMIT, NO_AUDIO_MESSAGE, display_name,
                                 engine_errors, get_scorer)
from apex_demo.ui.takes import check_count, score_each
from apex_demo.ui.context import AppContext
from apex_demo.ui.messages import visitor_message

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

    def score(audio: str | None) -> dict[str, Any]:
        """Score one song with APEX: two popularity predictions (Streams, Likes: 0-100) and five aesthetic dimensions (Coherence, Musicality, Memorability, Clarity, Naturalness: 1-5), for the whole song and for every 30-second part.

        The record holds `scores` (the whole song), `segments` (each 30 s part: start_s, end_s, scores), `model` (which models ran and in which mode), `warnings`, and `report`: the overall score (0-100), each popularity score in words, the strongest and weakest dimension, what to try when one is low, `weakest_part` (the clearly weakest 30 s parts, or `no_part_stands_out` when all parts are within 2 points of each other), `judged` (false for digital silence or a clip too short to judge: then `not_judged` gives {"code", "reason"} and there are no verdicts) and `caveat` (how far to trust the numbers: in blind listening tests, "the higher score wins" agreed with listeners no better than chance). Use it to compare takes of one song and find weak parts, not as a verdict on quality.

        Args:
            audio: the song to score (WAV, FLAC, OGG, MP3; up to 10 minutes by default), as an https URL or a base64 data: URL.
        Returns:
            The JSON record of the song, the same as one record of `python -m apex_demo score --format json`.
        """
        if not audio:
            raise gr.Error(NO_AUDIO_MESSAGE, print_exception=False)
        still_here = visitor_still_here()
        with api_errors(ctx, audio):
            result = get_scorer(ctx).score_file(audio, display_name(audio), proceed=still_here)
        return song_record(result)

    return score


def _take_records(ctx: AppContext, paths: list[str]) -> tuple[list[dict[str, Any]], list[Any]]:
    """Every take's record in upload order (an error record, in the visitor's words, for a take that could
    not be scored) and the results of those that were scored."""
    records, results = [], []
    with api_errors(ctx):
        for path, (name, outcome) in zip(paths, score_each(ctx, paths)):
            if isinstance(outcome, ApexError):
                records.append(error_record(name, ApexError(visitor_message(outcome, path), outcome.code)))
            else:
                records.append(song_record(outcome))
                results.append(outcome)
    return records, results


def make_compare(ctx: AppContext):
    """`/compare`: several files -> list of records (error records, in the same words as /score's
    errors, for files that failed)."""

    def compare(files: list[str] | None) -> list[dict[str, Any]]:
        """Score 2-10 takes of the same song with APEX, each as the `score` tool does.

        Args:
            files: the takes (audio files, up to an hour together), each as an https URL or a base64 data: URL.
        Returns:
            One record per take in upload order, as the `score` tool returns them; a take that cannot be scored becomes {"file", "error": {"code", "message"}}, and the others are still scored. To rank the takes, use `rank_takes`.
        """
        return _take_records(ctx, check_count(files))[0]

    return compare


def make_rank_takes(ctx: AppContext):
    """`/rank_takes`: several files -> their ranking (takes about the same share a rank) and their records."""

    def rank_takes(files: list[str] | None, by: str = OVERALL_KEY) -> dict[str, Any]:
        """Rank 2-10 takes of the same song by APEX's overall score or by one score; takes within 2 points of each other (on 0-100; 0.08 on 1-5) are "about the same" and share a rank, because the model cannot tell them apart.

        Args:
            files: the takes (audio files, up to an hour together), each as an https URL or a base64 data: URL.
            by: what to rank by: "overall" (the mean of all scores on 0-100), or one of score_streams, score_likes, coherence, musicality, memorability, clarity, naturalness.
        Returns:
            {"ranking": {"by", "all_tied", "leaders", "gap_points", "caveat", "ranking": [{"rank", "label", "value", "overall", "tied"}], "not_judged": [{"label", "code", "reason"}] (takes too short or silent to judge, left unranked)}, "takes": the takes' records in upload order, as `compare` returns them}. "ranking" is null when fewer than two takes could be scored.
        """
        records, results = _take_records(ctx, check_count(files))
        with api_errors(ctx):
            ranking = ranking_record(results, by) if len(results) >= 2 else None
        return {"ranking": ranking, "takes": records}

    return rank_takes


def build(ctx: AppContext) -> None:
    """Register the endpoints on invisible components (call inside the Blocks)."""
    with gr.Column(visible=False):
        audio_in = gr.Audio(type="filepath", label="audio")
        files_in = gr.File(file_count="multiple", type="filepath", label="files")
        by_in = gr.Textbox(value=OVERALL_KEY, label="by")
        record_out = gr.JSON(label="record")
        records_out = gr.JSON(label="records")
        ranking_out = gr.JSON(label="ranking")
        score_trigger = gr.Button("score")
        compare_trigger = gr.Button("compare")
        rank_trigger = gr.Button("rank_takes")
    model_queue: dict[str, Any] = {"concurrency_id": MODEL_CONCURRENCY_ID, "concurrency_limit": MODEL_CONCURRENCY_LIMIT}
    score_trigger.click(make_score(ctx), inputs=[audio_in], outputs=[record_out], api_name="score", **model_queue)
    compare_trigger.click(make_compare(ctx), inputs=[files_in], outputs=[records_out], api_name="compare",
                          **model_queue)
    rank_trigger.click(make_rank_takes(ctx), inputs=[files_in, by_in], outputs=[ranking_out], api_name="rank_takes",
                       **model_queue)
