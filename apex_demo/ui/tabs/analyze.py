"""Analyze tab: one song -> progress line, radar, popularity bars, per-segment timeline, table and JSON.

Scoring streams: the handler is a generator over `scorer.iter_score`, so the
figures appear after the first 30 s segment and fill in as MERT works through the
rest, while one progress line says what is happening and how long is left (and, while
the job waits in line, a waiting line counts down: ui/waiting.py).
Problems go to a message panel that stays on screen (never a toast), and a new
upload clears the previous song's results. Everything the summary says comes from the
engine's SongReport: the caveat beside the scores, audio that cannot be judged (its
numbers greyed, with the reason, and no charts), and advice that fits what the musician
said about vocals. A finished result can be shared by a link (ui/share.py).
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any, Iterator

import gradio as gr
import pandas as pd

from apex_demo import figures
from apex_demo.engine import (OVERALL_DEFINITION, SAME_TOLERANCE, ScoreResult, SegmentScore, SongReport, format_time,
                              segments, song_report)
from apex_demo.errors import ApexError
from apex_demo.scores import OUTPUTS, OutputSpec, Scores
from apex_demo.ui import waiting
from apex_demo.ui.common import (MODEL_CONCURRENCY_ID, MODEL_CONCURRENCY_LIMIT, display_name,
                                 escape_markdown, public_record, tab_scorer, table_view)
from apex_demo.ui.context import AppContext
from apex_demo.ui.messages import NO_AUDIO, limits_line, notes_panel, panel, unexpected_message, visitor_message
from apex_demo.ui.progress import ScoreProgress, parts_text
from apex_demo.ui.share import QUERY_KEY, SHARE_MAX_AGE_DAYS

INTRO = ("Upload a song (or record one, or pick an example), then press **Score this song**. "
         "Results appear after the first 30-second part and fill in as the rest is analysed. "
         "Click a point in the timeline to hear that part.")
VOCALS_LABEL = "Does it have vocals?"
VOCALS_INFO = "The tips fit what you say here; the scores do not change."
VOCALS_CHOICES = (("Not sure", "unknown"), ("Yes", "yes"), ("No, instrumental", "no"))
VOCALS = {"unknown": None, "yes": True, "no": False}
BUTTON_TEXT = "Score this song"
EXAMPLES_LABEL = "Examples (openly licensed clips)"
POPULARITY_NOTE = ("Streams and Likes are predicted engagement on a 0-100 scale (the model learned them from "
                   "Suno/Udio play and like counts mapped to percentiles); they are not a rank against a "
                   "reference set of songs.")
TABLE_SONG_COLUMN = "Whole song"
EXPLAIN_TITLE = "What these scores mean"
WEAKEST = ("**Weakest part:** {parts}, overall score {low:.0f} (the best part, {best}, has {high:.0f}). "
           "Click a part to hear it.")
# Gradio's Markdown keeps a link's href and title but drops data- attributes: the time to play from travels in
# the href's fragment, which page.js reads (a click or Enter on the link plays the part).
SEEK_LINK = '<a href="#apex-play-{start:g}" title="Play from {time}">▶ {label}</a>'
OVERALL_EXPLAINED = "**Overall score** (0-100), used for the parts: " + OVERALL_DEFINITION
NOT_JUDGED = '<div class="apex-panel apex-panel-note apex-not-judged" role="note">{reason}</div>'
GREYED = '<p class="apex-greyed">{numbers}</p>'
CAVEAT = '<p class="apex-caveat">{caveat}</p>'

NO_PART_STANDS_OUT = ("**No part stands out:** every part's overall score is within {tol:g} points of the "
                      "best ({low:.0f}-{high:.0f}), which is noise, not a difference you would hear.")
SKIPPED_TAIL = ("The last {length} ({span}) is too short to judge on its own: the model heard it padded "
                "with {pad:.0f} s of silence, so it is not named the weakest part.")
TRY_LOW = "**What to try for {label}:** {to_try}"
EXTREMES = "**Strongest:** {high.spec.label} {high.value:.2f} / 5 · **weakest:** {low.spec.label} {low.value:.2f} / 5"
POPULARITY_LINE = "**{label} {value:.0f} / 100**: {words} on the model's scale"
FAST_MODE = "fast"
FAST_MODE_NOTE = "**Fast mode is on** (APEX_FAST): {note}"  # the note: why, and its error (engine/modes.py)
JSON_LABEL = "Download the scores (JSON)"
SHARE_BUTTON = "Get a link to this result"
SHARE_LABEL = "Link to this result"
SHARE_INFO = (f"Anyone with the link sees these scores and the file's name, not the audio. The link works for "
              f"{SHARE_MAX_AGE_DAYS} days.")
SHARED_NOTE = "A shared result: the scores and the file's name only (the audio is not shared)."
SHARE_GONE = ("This shared result is not available: the link is incomplete, or it is older than "
              f"{SHARE_MAX_AGE_DAYS} days. Ask for a new link, or score the song yourself.")
# the share button's second step, in the page: the id the server made -> this page's address with it
SHARE_URL_JS = f"(id) => id ? location.origin + location.pathname + '?{QUERY_KEY}=' + id : ''"


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
    """A collapsible explanation of every score shown, and of the overall score the parts are compared by."""
    items = "\n".join([explain_spec(spec) for spec in OUTPUTS if spec.key in scores.keys()]
                      + [f"- {OVERALL_EXPLAINED}"])
    return f"<details><summary>{EXPLAIN_TITLE}</summary>\n\n{items}\n\n</details>"


def _number(spec: OutputSpec, value: float) -> str:
    """'Streams 16 / 100', 'Clarity 3.67 / 5', never broken across lines inside the number and its scale."""
    return f"{spec.label} {value:.0f}\u00a0/\u00a0100" if spec.high > 5 else f"{spec.label} {value:.2f}\u00a0/\u00a05"


def reading_lines(result: ScoreResult, report: SongReport) -> list[str]:
    """The scores in words with the caveat beside them; for audio that cannot be judged, the reason and
    the numbers greyed instead (no words, no strongest or weakest, no advice)."""
    if not report.judged:
        assert report.not_judged is not None
        numbers = " · ".join(_number(spec, value) for spec, value in
                             ((s, result.scores.as_dict()[s.key]) for s in OUTPUTS if s.key in result.scores.keys()))
        return [NOT_JUDGED.format(reason=html.escape(report.not_judged.reason, quote=False)),
                GREYED.format(numbers=numbers), CAVEAT.format(caveat=html.escape(report.caveat, quote=False))]
    lines = [POPULARITY_LINE.format(label=r.spec.label, value=r.value, words=r.words) for r in report.popularity]
    if report.strongest is not None and report.weakest is not None:
        lines.append(EXTREMES.format(high=report.strongest, low=report.weakest))
    lines.append(CAVEAT.format(caveat=html.escape(report.caveat, quote=False)))
    if report.advice is not None:
        lines.append(TRY_LOW.format(label=report.advice.spec.label, to_try=report.advice.to_try))
    return lines + weakest_part_text(report)


def summary_markdown(result: ScoreResult, name: str, vocals: bool | None = None) -> str:
    """The plain-words reading shown next to the figures (`vocals`: what the musician said, if anything)."""
    done, total = len(result.segments), max(result.total_segments, len(result.segments))
    head = f"### {escape_markdown(name)} · {format_time(result.duration_s)}"
    if not result.complete:
        head += f" · scored {done} of {parts_text(total)}…"
    elif result.cached:
        head += " · from cache"
    lines = [head, *reading_lines(result, song_report(result, vocals))]
    if result.model.mode == FAST_MODE:
        lines.append(FAST_MODE_NOTE.format(note=result.model.mode_note))
    lines.append(explanations_markdown(result.scores))
    lines.append(f"<small>{POPULARITY_NOTE}</small>")
    return "\n\n".join(lines)


def scores_table(result: ScoreResult) -> pd.DataFrame:
    """The whole song, then each part (a padded tail labelled), as rows; one column per output, so every
    column holds one scale (0-100 or 1-5, named in its header)."""
    outputs = [spec for spec in OUTPUTS if spec.key in result.scores.keys()]
    rows = [(TABLE_SONG_COLUMN, result.scores)] + [(segments.label(s), s.scores) for s in result.segments]
    return pd.DataFrame([{"Part": label, **{f"{spec.label} ({spec.low:g}-{spec.high:g})":
                                            round(getattr(scores, spec.key), 1 if spec.high > 5 else 2)
                                            for spec in outputs}} for label, scores in rows])


RESULT_VIEWS = 7  # render's first outputs: what a result looks like (then the kept result, the share button and link)


def render(ctx: AppContext, result: ScoreResult, name: str, vocals: bool | None = None) -> tuple[Any, ...]:
    """All Analyze result outputs (summary, radar, popularity, timeline, table, JSON, the charts as text, the
    kept result, the share button and link). Audio that cannot be judged gets no charts: a shape invites a
    reading that its numbers do not support."""
    takes = [(name, result.scores)]
    json_path = None
    if result.complete:
        json_path = ctx.downloads.write_text(f"{Path(name).stem}.apex.json",
                                             json.dumps(public_record(result, vocals), indent=2))
    judged = song_report(result).judged
    table = scores_table(result)
    chart_text = "\n\n".join([figures.radar_summary(takes), figures.popularity_summary(takes),
                               figures.timeline_summary(result.segments)]) if judged else ""
    hidden = gr.update(value=None, visible=False)
    return (summary_markdown(result, name, vocals),
            gr.update(value=figures.radar_figure(takes), visible=True) if judged else hidden,
            gr.update(value=figures.popularity_figure(takes), visible=True) if judged else hidden,
            gr.update(value=figures.timeline_figure(result.segments, result.duration_s), visible=True)
            if judged else hidden,
            table_view(table, [not judged] * len(table)),
            gr.update(value=str(json_path) if json_path else None, visible=json_path is not None),
            chart_text, result if result.complete else None, gr.update(visible=result.complete),
            gr.update(value="", visible=False))


def cleared() -> tuple[Any, ...]:
    """Empty result outputs with the chart boxes, the share button and link hidden (no stale song, no empty
    650 px boxes)."""
    hidden = gr.update(value=None, visible=False)
    return ("", hidden, hidden, hidden, None, hidden, "", None, gr.update(visible=False),
            gr.update(value="", visible=False))


def make_handler(ctx: AppContext):
    """The streaming Analyze handler bound to this app's context.

    Yields (progress line, message panel, *result outputs). Every failure ends in the
    message panel, worded for the visitor (apex_demo.ui.messages); nothing is raised.
    The app runs it as a user request (ui/common.mark_user_requests), as every scoring event.
    """

    def analyze(audio_path: str | None, vocals: str | None = None) -> Iterator[tuple[Any, ...]]:
        if not audio_path:
            yield ("", "", panel(NO_AUDIO), *cleared())
            return
        name = display_name(audio_path)
        said = VOCALS.get(vocals or "")
        progress = ScoreProgress(ctx.speed)
        yield (progress.reading(), "", "", *cleared())  # its turn has come: the waiting line goes
        try:
            scorer = tab_scorer(ctx)
            for result in scorer.iter_score(Path(audio_path), name):
                total = max(result.total_segments, len(result.segments), 1)
                if result.complete:
                    line = progress.finished(total, result.cached)
                    notes = notes_panel(_notes(result))
                else:
                    line, notes = progress.segments(len(result.segments), total), ""
                yield (line, "", notes, *render(ctx, result, name, said))
        except ApexError as exc:
            yield ("", "", panel(visitor_message(exc, audio_path, ctx.loader_busy())), *cleared())
        except Exception as exc:  # a bug must still end in words, not Gradio's bare "Error"
            yield ("", "", panel(unexpected_message(exc, audio_path)), *cleared())

    return analyze


def _notes(result: ScoreResult) -> list[str]:
    """The result's warnings for the notes panel, less the one the summary already gives as the reason
    the audio is not judged."""
    reason = song_report(result).not_judged
    return [w.message for w in result.warnings if reason is None or w.code != reason.code]


def reread(result: ScoreResult | None, vocals: str | None) -> Any:
    """The summary again for the kept result when the musician says whether it has vocals."""
    return gr.skip() if result is None else summary_markdown(result, result.file, VOCALS.get(vocals or ""))


def make_share(ctx: AppContext):
    """Keep the finished result for a share link; returns its id (ui/share.py)."""

    def share(result: ScoreResult | None, vocals: str | None) -> str:
        if result is None:
            return ""
        said = VOCALS.get(vocals or "")
        return ctx.shared.save(public_record(result, said), said)

    return share


def make_reopen(ctx: AppContext):
    """On page load with ?result=<id>: the shared result, without its audio, or why it is not there."""

    def reopen(request: gr.Request) -> tuple[Any, ...]:
        share_id = request.query_params.get(QUERY_KEY)
        if not share_id:
            return tuple(gr.skip() for _ in range(3 + len(cleared())))
        kept = ctx.shared.load(share_id)
        if kept is None:
            return ("", "", panel(SHARE_GONE), *cleared())
        record, vocals = kept
        result = ScoreResult.from_record(record)
        views = render(ctx, result, result.file, vocals)[:RESULT_VIEWS]
        # no kept result and no share button: the visitor has the numbers, not the song
        return ("", "", panel(SHARED_NOTE, "note"), *views, None, gr.update(visible=False),
                gr.update(value="", visible=False))

    return reopen


def build(ctx: AppContext) -> None:
    """Lay out the Analyze tab (call inside a gr.Tab)."""
    gr.Markdown(INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Song",
                             elem_id="analyze-audio")
            gr.HTML(limits_line(ctx.settings.max_seconds, ctx.settings.max_file_mb), elem_id="analyze-limits")
            vocals = gr.Radio(choices=list(VOCALS_CHOICES), value="unknown", label=VOCALS_LABEL, info=VOCALS_INFO,
                              elem_id="analyze-vocals")
            run = gr.Button(BUTTON_TEXT, variant="primary", elem_id="analyze-button")
            wait = waiting.add(run, ctx, "analyze-wait")
            progress = gr.HTML(elem_id="analyze-progress")
            message = gr.HTML(elem_id="analyze-message")
            if ctx.examples:
                gr.Examples(examples=[[str(p)] for p in ctx.examples], inputs=[audio], label=EXAMPLES_LABEL,
                            example_labels=[p.stem.replace("_", " ") for p in ctx.examples])
            summary = gr.Markdown(elem_id="analyze-summary")
            share_button = gr.Button(SHARE_BUTTON, visible=False, size="sm", elem_id="analyze-share")
            share_link = gr.Textbox(label=SHARE_LABEL, info=SHARE_INFO, visible=False, interactive=False,
                                    buttons=["copy"], elem_id="analyze-share-link")
        with gr.Column(scale=3, min_width=300):
            radar = gr.Plot(label="Aesthetic profile", show_label=False, elem_id="analyze-radar", visible=False)
            popularity = gr.Plot(label="Popularity", show_label=False, elem_id="analyze-popularity", visible=False)
    timeline = gr.Plot(label="Timeline", show_label=False, elem_id="analyze-timeline", visible=False)
    with gr.Accordion("Numbers and JSON", open=False):
        table = gr.Dataframe(label="Scores (whole song and per 30 s part)", interactive=False, wrap=True,
                             elem_id="analyze-table")
        json_file = gr.File(label=JSON_LABEL, visible=False)
    chart_text = gr.Markdown(elem_id="analyze-chart-text", elem_classes=["apex-sr-only"])  # charts for screen readers
    kept = gr.State(None)  # the finished result: for the vocals answer and the share link
    results = [summary, radar, popularity, timeline, table, json_file, chart_text, kept, share_button, share_link]
    run.click(make_handler(ctx), inputs=[audio, vocals], outputs=[progress, wait, message, *results],
              api_name="ui_analyze", api_visibility="private", concurrency_id=MODEL_CONCURRENCY_ID,
              concurrency_limit=MODEL_CONCURRENCY_LIMIT, show_progress_on=[progress])
    audio.change(lambda: ("", "", *cleared()), outputs=[progress, message, *results], queue=False,
                 api_visibility="private", show_progress="hidden")
    vocals.change(reread, inputs=[kept, vocals], outputs=[summary], queue=False, api_visibility="private",
                  show_progress="hidden")
    # the server keeps the result and hands out its id; the page turns the id into this page's own address
    # (a gr.State would not do: its value never reaches the page's JavaScript)
    share_button.click(make_share(ctx), inputs=[kept, vocals], outputs=[share_link], api_visibility="private",
                       queue=False, show_progress="hidden").then(
        None, inputs=[share_link], outputs=[share_link], js=SHARE_URL_JS).then(
        lambda: gr.update(visible=True), outputs=[share_link], queue=False, api_visibility="private",
        show_progress="hidden")
    gr.on(triggers=None, fn=make_reopen(ctx), inputs=None, outputs=[progress, wait, message, *results],
          queue=False, api_visibility="private", show_progress="hidden")
