"""Analyze tab: one song -> progress line, radar, popularity bars, per-segment timeline, table and JSON.

Scoring streams: the handler is a generator over `scorer.iter_score`, so the
figures appear after the first 30 s segment and fill in as MERT works through the
rest, while one progress line says what is happening and how long is left.
Problems go to a message panel that stays on screen (never a toast), and a new
upload clears the previous song's results.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import gradio as gr
import pandas as pd

from apex_demo import figures
from apex_demo.engine import (SAME_TOLERANCE, ScoreResult, SegmentScore, SongReport, format_time, segments,
                              song_record, song_report)
from apex_demo.errors import ApexError
from apex_demo.scores import OUTPUTS, OutputSpec, Scores
from apex_demo.ui.common import (MODEL_CONCURRENCY_ID, MODEL_CONCURRENCY_LIMIT, display_name, escape_markdown,
                                 tab_scorer)
from apex_demo.ui.context import AppContext
from apex_demo.ui.messages import NO_AUDIO, limits_line, notes_panel, panel, unexpected_message, visitor_message
from apex_demo.ui.progress import ScoreProgress

INTRO = ("Upload a song (or record one, or pick an example), then press **Score this song**. "
         "Results appear after the first 30-second part and fill in as the rest is analysed. "
         "Click a point in the timeline to hear that part.")
BUTTON_TEXT = "Score this song"
EXAMPLES_LABEL = "Examples (openly licensed clips)"
POPULARITY_NOTE = ("Streams and Likes are predicted engagement on a 0-100 scale (the model learned them from "
                   "Suno/Udio play and like counts mapped to percentiles); they are not a rank against a "
                   "reference set of songs.")
TABLE_SONG_COLUMN = "Whole song"
EXPLAIN_TITLE = "What these scores mean"
WEAKEST = "**Weakest part:** {parts}, overall {low:.0f} (best: {best}, {high:.0f}); click it to hear it"
SEEK_LINK = '<a href="#analyze-audio" data-apex-seek="{start:g}" title="Play from {time}">▶ {label}</a>'

NO_PART_STANDS_OUT = ("**No part stands out:** every part's overall score is within {tol:g} points of the "
                      "best ({low:.0f}-{high:.0f}), which is noise, not a difference you would hear.")
SKIPPED_TAIL = ("The last {length} ({span}) is too short to judge on its own: the model heard it padded "
                "with {pad:.0f} s of silence, so it is not named the weakest part.")
TRY_LOW = "**What to try for {label}:** {to_try}"
EXTREMES = "**Strongest:** {high.spec.label} {high.value:.2f} / 5 · **weakest:** {low.spec.label} {low.value:.2f} / 5"
POPULARITY_LINE = "**{label} {value:.0f} / 100**: {words} on the model's scale"
FAST_MODE = "fast"
FAST_MODE_NOTE = "**Fast mode is on** (APEX_FAST): {note}"  # the note: why, and its error (engine/modes.py)


def weakest_part_text(report: SongReport) -> list[str]:
    """The weakest-part verdict in words: a part, several about-equal parts, or "no part stands out"."""
    verdict = report.parts
    if verdict is None:
        return []
    lines = []
    if verdict.weakest:
        parts = " and ".join(seek_link(s) for s in verdict.weakest)
        lines.append(WEAKEST.format(parts=parts, low=verdict.low, best=seek_link(verdict.best), high=verdict.high))
    else:
        lines.append(NO_PART_STANDS_OUT.format(tol=SAME_TOLERANCE, low=verdict.low, high=verdict.high))
    if verdict.skipped is not None:
        tail = verdict.skipped
        lines.append(SKIPPED_TAIL.format(length=f"{segments.length_s(tail):.0f} s", span=segments.span(tail),
                                         pad=segments.SEGMENT_SECONDS - segments.length_s(tail)))
    return lines


def seek_link(segment: SegmentScore) -> str:
    """A segment's label as a link that plays it in the page's player (see page.js)."""
    return SEEK_LINK.format(start=segment.start_s, time=format_time(segment.start_s), label=segments.label(segment))


def explain_spec(spec: OutputSpec) -> str:
    """One score explained for a musician: definition, what high and low sound like, what to try."""
    return (f"- **{spec.label}** ({spec.low:g}-{spec.high:g}): {spec.description} "
            f"*High:* {spec.high_means}. *Low:* {spec.low_means}.")


def explanations_markdown(scores: Scores) -> str:
    """A collapsible explanation of every score shown, next to the numbers."""
    items = "\n".join(explain_spec(spec) for spec in OUTPUTS if spec.key in scores.keys())
    return f"<details><summary>{EXPLAIN_TITLE}</summary>\n\n{items}\n\n</details>"


def summary_markdown(result: ScoreResult, name: str) -> str:
    """The plain-words reading shown next to the figures."""
    done, total = len(result.segments), max(result.total_segments, len(result.segments))
    head = f"### {escape_markdown(name)} · {format_time(result.duration_s)}"
    if not result.complete:
        head += f" · scored {done} of {total} parts…"
    elif result.cached:
        head += " · from cache"
    report = song_report(result)
    lines = [head]
    lines += [POPULARITY_LINE.format(label=r.spec.label, value=r.value, words=r.words) for r in report.popularity]
    if report.strongest is not None and report.weakest is not None:
        lines.append(EXTREMES.format(high=report.strongest, low=report.weakest))
    if report.advice is not None:
        lines.append(TRY_LOW.format(label=report.advice.spec.label, to_try=report.advice.spec.to_try))
    lines.extend(weakest_part_text(report))
    if result.model.mode == FAST_MODE:
        lines.append(FAST_MODE_NOTE.format(note=result.model.mode_note))
    lines.append(explanations_markdown(result.scores))
    lines.append(f"<small>{POPULARITY_NOTE}</small>")
    return "\n\n".join(lines)


def scores_table(result: ScoreResult) -> pd.DataFrame:
    """Outputs as rows; the whole song, then each segment (padded tail labelled), as columns."""
    columns: dict[str, list[Any]] = {"Output": [], TABLE_SONG_COLUMN: []}
    segment_names = [segments.label(s) for s in result.segments]
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
    """All Analyze result outputs (summary, radar, popularity, timeline, table, JSON, the charts as text)."""
    takes = [(name, result.scores)]
    json_path = None
    if result.complete:
        json_path = ctx.downloads.write_text(f"{Path(name).stem}.apex.json",
                                             json.dumps(song_record(result), indent=2))
    chart_text = "\n\n".join([figures.radar_summary(takes), figures.popularity_summary(takes),
                               figures.timeline_summary(result.segments)])
    return (summary_markdown(result, name), gr.update(value=figures.radar_figure(takes), visible=True),
            gr.update(value=figures.popularity_figure(takes), visible=True),
            gr.update(value=figures.timeline_figure(result.segments, result.duration_s), visible=True),
            scores_table(result), gr.update(value=str(json_path) if json_path else None, visible=json_path is not None),
            chart_text)


def cleared() -> tuple[Any, ...]:
    """Empty result outputs with the chart boxes hidden (no stale song, no empty 650 px boxes)."""
    hidden = gr.update(value=None, visible=False)
    return ("", hidden, hidden, hidden, None, hidden, "")


def make_handler(ctx: AppContext):
    """The streaming Analyze handler bound to this app's context.

    Yields (progress line, message panel, *result outputs). Every failure ends in the
    message panel, worded for the visitor (apex_demo.ui.messages); nothing is raised.
    The app runs it as a user request (ui/common.mark_user_requests), as every scoring event.
    """

    def analyze(audio_path: str | None) -> Iterator[tuple[Any, ...]]:
        if not audio_path:
            yield ("", panel(NO_AUDIO), *cleared())
            return
        name = display_name(audio_path)
        progress = ScoreProgress(ctx.speed)
        yield (progress.reading(), "", *cleared())
        try:
            scorer = tab_scorer(ctx)
            for result in scorer.iter_score(Path(audio_path), name):
                total = max(result.total_segments, len(result.segments), 1)
                if result.complete:
                    line = progress.finished(total, result.cached)
                    notes = notes_panel([w.message for w in result.warnings])
                else:
                    line, notes = progress.segments(len(result.segments), total), ""
                yield (line, notes, *render(ctx, result, name))
        except ApexError as exc:
            yield ("", panel(visitor_message(exc, audio_path, ctx.loader_busy())), *cleared())
        except Exception as exc:  # a bug must still end in words, not Gradio's bare "Error"
            yield ("", panel(unexpected_message(exc, audio_path)), *cleared())

    return analyze


def build(ctx: AppContext) -> None:
    """Lay out the Analyze tab (call inside a gr.Tab)."""
    gr.Markdown(INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Song",
                             elem_id="analyze-audio")
            gr.HTML(limits_line(ctx.settings.max_seconds, ctx.settings.max_file_mb), elem_id="analyze-limits")
            run = gr.Button(BUTTON_TEXT, variant="primary", elem_id="analyze-button")
            progress = gr.HTML(elem_id="analyze-progress")
            message = gr.HTML(elem_id="analyze-message")
            if ctx.examples:
                gr.Examples(examples=[[str(p)] for p in ctx.examples], inputs=[audio], label=EXAMPLES_LABEL,
                            example_labels=[p.stem.replace("_", " ") for p in ctx.examples])
            summary = gr.Markdown(elem_id="analyze-summary")
        with gr.Column(scale=3, min_width=300):
            radar = gr.Plot(label="Aesthetic profile", show_label=False, elem_id="analyze-radar", visible=False)
            popularity = gr.Plot(label="Popularity", show_label=False, elem_id="analyze-popularity", visible=False)
    timeline = gr.Plot(label="Timeline", show_label=False, elem_id="analyze-timeline", visible=False)
    with gr.Accordion("Numbers and JSON", open=False):
        table = gr.Dataframe(label="Scores (whole song and per 30 s part)", interactive=False, wrap=True,
                             elem_id="analyze-table")
        json_file = gr.File(label="JSON (same record as the CLI's --format json)", visible=False)
    chart_text = gr.Markdown(elem_id="analyze-chart-text", elem_classes=["apex-sr-only"])  # charts for screen readers
    results = [summary, radar, popularity, timeline, table, json_file, chart_text]
    run.click(make_handler(ctx), inputs=[audio], outputs=[progress, message, *results],
              api_name="ui_analyze", api_visibility="private", concurrency_id=MODEL_CONCURRENCY_ID,
              concurrency_limit=MODEL_CONCURRENCY_LIMIT, show_progress_on=[progress])
    audio.change(lambda: ("", "", *cleared()), outputs=[progress, message, *results], queue=False,
                 api_visibility="private", show_progress="hidden")
