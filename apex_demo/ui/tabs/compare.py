"""Compare takes tab: 2-10 versions of a song -> verdict, overlaid radar, ranking table, CSV, a player per take.

Takes are scored one after another on the shared model (the table fills in as
each finishes, under a progress line); re-sorting uses the kept results and never
re-scores. Takes about the same (apex_demo.engine.ranking.SAME_TOLERANCE) share a rank and
the verdict says so instead of naming a winner. A take that cannot be scored is
named in the message panel and left out.
"""

from __future__ import annotations

import csv
import html
import io
from typing import Any, Iterator, Sequence

import gradio as gr
import pandas as pd

from apex_demo import figures
from apex_demo.csvsafe import escape_cell
from apex_demo.engine import (OVERALL_DEFINITION, OVERALL_KEY, OVERALL_LABEL, SORT_KEYS, TOLERANCE_DEFINITION,
                              RankedTake, ScoreResult, TakesReport, format_time, takes_report)
from apex_demo.errors import ApexError, ScoringStopped
from apex_demo.scores import OUTPUT_BY_KEY, OUTPUTS
from apex_demo.ui.common import (MODEL_CONCURRENCY_ID, MODEL_CONCURRENCY_LIMIT, display_name, escape_markdown,
                                 tab_scorer)
from apex_demo.ui.context import AppContext
from apex_demo.ui.guards.abandoned import visitor_still_here
from apex_demo.ui.messages import limits_line, minutes_text, panel, visitor_message
from apex_demo.ui.progress import ScoreProgress
from apex_demo.ui.takes import MAX_TAKES, MIN_TAKES, count_problem, score_one

INTRO = (f"Upload {MIN_TAKES}-{MAX_TAKES} takes of the same song and press **Compare**. "
         "Each take is scored in turn; the ranking fills in as they finish.")
NONE_SCORED = "None of the uploaded takes could be scored; see the messages above for each file."
LEFT_OUT = "{message} This take is left out of the comparison."
TOTAL_LIMIT = "Up to {total} of audio per comparison, all takes together."
WARNED = "“{name}”: {message}"
CSV_NAME = "apex_compare.csv"
TIED_RANK = "={rank}"  # competition ranking: takes about the same share a rank
VERDICT_TIE = ("**{names} are about the same** by {metric} (within {gap:.1f} points of each other). "
               "The model cannot tell them apart; listen and choose.")
VERDICT_AHEAD = "**{leader}** is ahead by {metric}: {gap:.1f} points above **{runner}**."
VERDICT_TIE_TOP = ("**{names} are about the same** by {metric} (within {gap:.1f} points), ahead of the rest. "
                   "The model cannot tell them apart; listen and choose.")

Scored = tuple[str, ScoreResult]


def sort_choices() -> list[tuple[str, str]]:
    """Dropdown (label, key) pairs: the overall score, then every output."""
    return [(OVERALL_LABEL, OVERALL_KEY)] + [(OUTPUT_BY_KEY[k].label, k) for k in SORT_KEYS[1:]]


def _metric_name(by: str) -> str:
    return OVERALL_LABEL.lower() + " score" if by == OVERALL_KEY else OUTPUT_BY_KEY[by].label

def verdict_markdown(report: TakesReport) -> str:
    """The one-line verdict: who leads, or that the top takes are about the same."""
    if len(report.ranked) < 2:
        return ""
    metric = _metric_name(report.by)
    if report.all_tied:
        return VERDICT_TIE.format(names=_names(report.leaders), metric=metric, gap=report.gap)
    if len(report.leaders) > 1:
        return VERDICT_TIE_TOP.format(names=_names(report.leaders), metric=metric, gap=report.gap)
    assert report.runner_up is not None
    return VERDICT_AHEAD.format(leader=escape_markdown(report.leaders[0].label), metric=metric,
                                runner=escape_markdown(report.runner_up.label), gap=report.gap)


def _names(takes: Sequence[RankedTake]) -> str:
    labels = [escape_markdown(t.label) for t in takes]
    return ", ".join(labels[:-1]) + " and " + labels[-1]


def ranking_table(scored: Sequence[Scored], by: str) -> pd.DataFrame:
    """One row per take, best first by `by`, with the overall score and every output;
    takes about the same share a rank, shown as "=1"."""
    by_name = dict(scored)
    rows = []
    for ranked in takes_report([(name, result.scores) for name, result in scored], by).ranked:
        rank = TIED_RANK.format(rank=ranked.rank) if ranked.tied else str(ranked.rank)
        row: dict[str, Any] = {"Rank": rank, "Take": ranked.label, OVERALL_LABEL: round(ranked.overall, 1)}
        for spec in OUTPUTS:
            value = ranked.scores.as_dict().get(spec.key)
            if value is not None:
                row[spec.label] = round(value, 1 if spec.high > 5 else 2)
        row["Length"] = format_time(by_name[ranked.label].duration_s)
        rows.append(row)
    return pd.DataFrame(rows)


def ranking_csv(table: pd.DataFrame) -> str:
    """The ranking as CSV text, with cells escaped against spreadsheet formula injection."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.columns)
    for row in table.itertuples(index=False):
        writer.writerow([escape_cell(v) for v in row])
    return out.getvalue()


def render(ctx: AppContext, scored: Sequence[Scored], by: str) -> tuple[Any, ...]:
    """Verdict, ranking figure, table and CSV download for the kept results, sorted by `by`.
    Raises ApexError when this model does not predict `by`."""
    report = takes_report([(name, result.scores) for name, result in scored], by)
    ranked = report.ranked
    table = ranking_table(scored, by)
    figure = figures.ranking_figure([r.label for r in ranked], [r.value for r in ranked], by)
    csv_path = ctx.downloads.write_text(CSV_NAME, ranking_csv(table))
    figure_text = figures.ranking_summary([r.label for r in ranked], [r.value for r in ranked], by)
    return (verdict_markdown(report) + f'\n\n<span class="apex-sr-only">{html.escape(figure_text)}</span>',
            gr.update(value=figure, visible=True), table, gr.update(value=str(csv_path), visible=True))


def unique_names(scored: list[Scored]) -> list[Scored]:
    """Make take names unique (two uploads called take.wav become take.wav and take.wav (2)), so
    no two takes merge when looked up by name. A suffix is raised until the name is free: an
    upload may itself be called "take.wav (2)"."""
    used: set[str] = set()
    out = []
    for name, result in scored:
        unique, n = name, 1
        while unique in used:
            n += 1
            unique = f"{name} ({n})"
        used.add(unique)
        out.append((unique, result))
    return out


def players(scored: Sequence[tuple[str, str]]) -> list[Any]:
    """One player per scored take, in upload order, labelled with the take's name; the rest hidden."""
    shown = [gr.update(value=path, label=name, visible=True) for name, path in scored[:MAX_TAKES]]
    return shown + [gr.update(value=None, visible=False)] * (MAX_TAKES - len(shown))


def cleared() -> tuple[Any, ...]:
    """Empty results with chart boxes and players hidden: verdict, radar, popularity, ranking, table,
    CSV, players, kept results, the charts as text."""
    hidden = gr.update(value=None, visible=False)
    return ("", hidden, hidden, hidden, None, hidden, *players([]), [], "")


def make_handlers(ctx: AppContext):
    """The streaming Compare handler and the re-sort handler, bound to this app's context.

    Compare yields (progress line, message panel, *cleared() shape); failures end in the
    message panel, worded for the visitor; nothing is raised. The app runs Compare as a user
    request (ui/common.mark_user_requests), as every scoring event.
    """

    def compare(uploads: list[str] | None, by: str) -> Iterator[tuple[Any, ...]]:
        paths = list(uploads or [])
        problem = count_problem(paths)
        if problem:
            yield ("", panel(problem), *cleared())
            return
        progress = ScoreProgress(ctx.speed)
        raw: list[Scored] = []
        sources: list[tuple[str, str]] = []
        notes: list[str] = []
        still_here = visitor_still_here()
        try:
            scorer = tab_scorer(ctx)
        except ApexError as exc:
            yield ("", panel(visitor_message(exc, None, ctx.loader_busy())), *cleared())
            return
        for i, path in enumerate(paths, start=1):
            name = display_name(path)
            yield (progress.take(i, len(paths), name), "".join(notes), *_partial(ctx, raw, sources, by))
            try:
                result = score_one(scorer, path, name, still_here)
            except ScoringStopped:  # the visitor left: nobody will see the rest
                return
            if isinstance(result, ApexError):
                notes.append(panel(LEFT_OUT.format(message=visitor_message(result, path))))
                continue
            notes += [panel(WARNED.format(name=name, message=w.message), "note") for w in result.warnings]
            raw.append((name, result))
            sources.append((name, path))
        if not raw:
            yield ("", "".join(notes) + panel(NONE_SCORED), *cleared())
            return
        yield (progress.takes_done(len(raw)), "".join(notes), *_partial(ctx, raw, sources, by))

    def resort(scored: list[Scored] | None, by: str) -> tuple[Any, ...]:
        if not scored:
            hidden = gr.update(value=None, visible=False)
            return "", "", hidden, None, hidden
        try:
            return ("", *render(ctx, scored, by))
        except ApexError as exc:
            return (panel(visitor_message(exc)), "", gr.update(), gr.update(), gr.update())

    return compare, resort


def _partial(ctx: AppContext, raw: list[Scored], sources: list[tuple[str, str]], by: str) -> tuple[Any, ...]:
    """The results so far (the cleared shape when nothing is scored yet)."""
    if not raw:
        return cleared()
    scored = unique_names(raw)
    takes = [(n, r.scores) for n, r in scored]
    named_sources = [(n, path) for (n, _), (_, path) in zip(scored, sources)]
    try:
        ranking = render(ctx, scored, by)
    except ApexError:  # ranked by an output this model lacks: rank by the overall score instead
        ranking = render(ctx, scored, OVERALL_KEY)
    chart_text = "\n\n".join([figures.radar_summary(takes), figures.popularity_summary(takes)])
    return (ranking[0], gr.update(value=figures.radar_figure(takes, title="Aesthetic profiles (1-5)"), visible=True),
            gr.update(value=figures.popularity_figure(takes), visible=True), *ranking[1:], *players(named_sources),
            scored, chart_text)


def build(ctx: AppContext) -> None:
    """Lay out the Compare takes tab (call inside a gr.Tab)."""
    gr.Markdown(INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            files = gr.File(file_count="multiple", file_types=["audio"], type="filepath", label="Takes",
                            elem_id="compare-files")
            total = TOTAL_LIMIT.format(total=minutes_text(ctx.settings.compare_max_seconds))
            gr.HTML(limits_line(ctx.settings.max_seconds, ctx.settings.max_file_mb, total), elem_id="compare-limits")
            sort_by = gr.Dropdown(choices=sort_choices(), value=OVERALL_KEY, label="Rank by")
            run = gr.Button("Compare", variant="primary", elem_id="compare-button")
            progress = gr.HTML(elem_id="compare-progress")
            message = gr.HTML(elem_id="compare-message")
            verdict = gr.Markdown(elem_id="compare-verdict")
            gr.Markdown(f"<small>{OVERALL_DEFINITION} {TOLERANCE_DEFINITION}</small>")
        with gr.Column(scale=3, min_width=300):
            radar = gr.Plot(show_label=False, elem_id="compare-radar", visible=False)
    ranking = gr.Plot(show_label=False, elem_id="compare-ranking", visible=False)
    table = gr.Dataframe(label="Ranking (click a column header to sort)", interactive=False, wrap=True,
                         elem_id="compare-table")
    with gr.Row():
        csv_file = gr.File(label="CSV", visible=False)
    with gr.Row(elem_id="compare-players"):
        take_players = [gr.Audio(type="filepath", interactive=False, visible=False, elem_id=f"compare-player-{i}")
                        for i in range(MAX_TAKES)]
    popularity = gr.Plot(show_label=False, visible=False, elem_id="compare-popularity")
    state = gr.State([])
    compare, resort = make_handlers(ctx)
    chart_text = gr.Markdown(elem_id="compare-chart-text", elem_classes=["apex-sr-only"])  # charts for screen readers
    results = [verdict, radar, popularity, ranking, table, csv_file, *take_players, state, chart_text]
    run.click(compare, inputs=[files, sort_by], outputs=[progress, message, *results],
              api_name="ui_compare", api_visibility="private", concurrency_id=MODEL_CONCURRENCY_ID,
              concurrency_limit=MODEL_CONCURRENCY_LIMIT, show_progress_on=[progress])
    sort_by.change(resort, inputs=[state, sort_by], outputs=[message, verdict, ranking, table, csv_file],
                   api_name="ui_resort", api_visibility="private")
    files.change(lambda: ("", "", *cleared()), outputs=[progress, message, *results], queue=False,
                 api_visibility="private", show_progress="hidden")
