"""Analyze tab: one song -> radar, popularity bars, per-segment timeline, table and JSON.

Scoring streams: the handler is a generator over `scorer.iter_score`, so the
figures appear after the first 30 s segment and fill in as MERT works through
the rest, with a progress bar per segment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import gradio as gr
import pandas as pd

from apex_demo import plots
from apex_demo.ranking import overall_score
from apex_demo.result import ScoreResult
from apex_demo.scores import AESTHETICS, OUTPUTS, POPULARITY, Scores
from apex_demo.ui.common import (MODEL_CONCURRENCY_ID, MODEL_CONCURRENCY_LIMIT, NO_AUDIO_MESSAGE,
                                 display_name, engine_errors, get_scorer, show_warnings)
from apex_demo.ui.context import AppContext

INTRO = ("Upload a song (or record one, or pick an example), then press **Score this song**. "
         "Results appear after the first 30-second segment and fill in as the rest is analysed.")
BUTTON_TEXT = "Score this song"
EXAMPLES_LABEL = "Examples (openly licensed clips)"
# Plain words for the 0-100 popularity scale; these are bands of the model's scale, not percentiles.
POPULARITY_WORDS = ((80.0, "very high"), (60.0, "high"), (40.0, "in the middle"), (20.0, "low"), (0.0, "very low"))
POPULARITY_NOTE = ("Streams and Likes are predicted engagement on a 0-100 scale (the model learned them from "
                   "Suno/Udio play and like counts mapped to percentiles); they are not a rank against a "
                   "reference set of songs.")
TABLE_SONG_COLUMN = "Whole song"
SEGMENT_PROGRESS_UNIT = "segments"
MARKDOWN_SPECIAL = frozenset("\\`*_{}[]()<>#+-.!|")


FAST_MODE = "fast"
FAST_MODE_NOTE = ("**Fast mode is on** (APEX_FAST): MERT ran in reduced precision, so these numbers differ "
                  "slightly from the reference (measured up to about 0.004 on the 1-5 scale and 0.2 on 0-100).")


def popularity_words(value: float) -> str:
    """A plain reading of a 0-100 popularity score (no invented percentiles)."""
    return next(word for floor, word in POPULARITY_WORDS if value >= floor)


def _aesthetic_extremes(scores: Scores) -> str:
    values = [(getattr(scores, s.key), s.label) for s in AESTHETICS]
    (low, low_label), (high, high_label) = min(values), max(values)
    return f"**Strongest:** {high_label} {high:.2f} / 5 · **weakest:** {low_label} {low:.2f} / 5"


def _weakest_part(result: ScoreResult) -> str | None:
    """Name the segment with the lowest overall score, against the best one."""
    if len(result.segments) < 2:
        return None
    ranked = sorted(result.segments, key=lambda s: overall_score(s.scores))
    weakest, best = ranked[0], ranked[-1]
    return (f"**Weakest part:** {_span(weakest.start_s, weakest.end_s)}, overall {overall_score(weakest.scores):.0f} "
            f"(best: {_span(best.start_s, best.end_s)}, {overall_score(best.scores):.0f}; see the timeline)")


def _span(start_s: float, end_s: float) -> str:
    return f"{plots.format_time(start_s)}-{plots.format_time(end_s)}"


def _escape_markdown(text: str) -> str:
    """File names often hold _ and * that Markdown would turn into italics."""
    return "".join("\\" + ch if ch in MARKDOWN_SPECIAL else ch for ch in text)


def summary_markdown(result: ScoreResult, name: str) -> str:
    """The plain-words reading shown next to the figures."""
    done, total = len(result.segments), max(result.total_segments, len(result.segments))
    head = f"### {_escape_markdown(name)} · {plots.format_time(result.duration_s)}"
    if not result.complete:
        head += f" · scored {done} of {total} segments…"
    elif result.cached:
        head += " · from cache"
    lines = [head]
    for spec in POPULARITY:
        value = getattr(result.scores, spec.key)
        lines.append(f"**{spec.label} {value:.0f} / 100**: {popularity_words(value)} on the model's scale")
    if result.scores.has_aesthetics:
        lines.append(_aesthetic_extremes(result.scores))
    weakest = _weakest_part(result) if result.complete else None
    if weakest:
        lines.append(weakest)
    if result.model.mode == FAST_MODE:
        lines.append(FAST_MODE_NOTE)
    lines.append(f"<small>{POPULARITY_NOTE}</small>")
    return "\n\n".join(lines)


def scores_table(result: ScoreResult) -> pd.DataFrame:
    """Outputs as rows; the whole song, then each segment, as columns."""
    columns: dict[str, list[Any]] = {"Output": [], TABLE_SONG_COLUMN: []}
    segment_names = [_span(s.start_s, s.end_s) for s in result.segments]
    for column in segment_names:
        columns[column] = []
    for spec in OUTPUTS:
        song_value = result.scores.as_dict().get(spec.key)
        if song_value is None:
            continue
        digits = 1 if spec.high > 5 else 2
        columns["Output"].append(f"{spec.label} ({spec.low:g}-{spec.high:g})")
        columns[TABLE_SONG_COLUMN].append(round(song_value, digits))
        for column, segment in zip(segment_names, result.segments):
            columns[column].append(round(getattr(segment.scores, spec.key), digits))
    return pd.DataFrame(columns)


def render(ctx: AppContext, result: ScoreResult, name: str) -> tuple[Any, ...]:
    """All Analyze outputs for one (partial or complete) result."""
    takes = [(name, result.scores)]
    json_path = None
    if result.complete:
        json_path = ctx.downloads.write_text(f"{Path(name).stem}.apex.json",
                                             json.dumps(result.to_record(), indent=2))
    return (summary_markdown(result, name), plots.radar_figure(takes), plots.popularity_figure(takes),
            plots.timeline_figure(result.segments, result.duration_s), scores_table(result),
            gr.update(value=str(json_path) if json_path else None, visible=json_path is not None))


def make_handler(ctx: AppContext):
    """The streaming Analyze handler bound to this app's context."""

    def analyze(audio_path: str | None, progress: gr.Progress = gr.Progress()) -> Iterator[tuple[Any, ...]]:
        if not audio_path:
            raise gr.Error(NO_AUDIO_MESSAGE, print_exception=False)
        scorer = get_scorer(ctx, progress)
        name = display_name(audio_path)
        progress(0.0, desc="Reading audio…")
        with engine_errors(audio_path):
            for result in scorer.iter_score(Path(audio_path), name):
                total = max(result.total_segments, len(result.segments), 1)
                progress((len(result.segments), total), desc="Scoring 30 s segments", unit=SEGMENT_PROGRESS_UNIT)
                if result.complete:
                    show_warnings(result)  # before the yield: a toast after a generator's last yield breaks its outputs
                yield render(ctx, result, name)

    return analyze


def build(ctx: AppContext) -> None:
    """Lay out the Analyze tab (call inside a gr.Tab)."""
    gr.Markdown(INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Song",
                             elem_id="analyze-audio")
            run = gr.Button(BUTTON_TEXT, variant="primary", elem_id="analyze-button")
            if ctx.examples:
                gr.Examples(examples=[[str(p)] for p in ctx.examples], inputs=[audio], label=EXAMPLES_LABEL,
                            example_labels=[p.stem.replace("_", " ") for p in ctx.examples])
            summary = gr.Markdown(elem_id="analyze-summary")
        with gr.Column(scale=3, min_width=300):
            radar = gr.Plot(label="Aesthetic profile", show_label=False, elem_id="analyze-radar")
            popularity = gr.Plot(label="Popularity", show_label=False, elem_id="analyze-popularity")
    timeline = gr.Plot(label="Timeline", show_label=False, elem_id="analyze-timeline")
    with gr.Accordion("Numbers and JSON", open=False):
        table = gr.Dataframe(label="Scores (whole song and per segment)", interactive=False, wrap=True)
        json_file = gr.File(label="JSON (same record as the CLI's --format json)", visible=False)
    run.click(make_handler(ctx), inputs=[audio], outputs=[summary, radar, popularity, timeline, table, json_file],
              api_name="ui_analyze", api_visibility="private", concurrency_id=MODEL_CONCURRENCY_ID,
              concurrency_limit=MODEL_CONCURRENCY_LIMIT)
