"""Compare takes tab: 2-10 versions of a song -> verdict, overlaid radar, ranking table, CSV, a player per take.

Takes are scored one after another on the shared model (the table fills in as
each finishes, under a progress line); re-sorting uses the kept results and never
re-scores. Takes about the same (apex_demo.engine.ranking.SAME_TOLERANCE) share a rank and
the verdict says so instead of naming a winner, with the caveat beside it. A take that
cannot be scored is named in the message panel and left out; a take that cannot be judged
(silence, too short: engine/report.py) keeps its numbers, greyed, with the reason, and is not
ranked. The same file chosen twice is compared once. Players follow the ranking.
"""

from __future__ import annotations

import csv
import html
import io
from typing import Any, Iterator, Mapping, Sequence

import gradio as gr
import pandas as pd

from apex_demo import figures
from apex_demo.csvsafe import escape_cell
from apex_demo.engine import (OVERALL_DEFINITION, OVERALL_KEY, OVERALL_LABEL, SORT_KEYS, TOLERANCE_DEFINITION,
                              RankedTake, ScoreResult, TakesReport, format_time, not_judged, overall_score,
                              takes_report)
from apex_demo.errors import ApexError, ScoringStopped
from apex_demo.scores import OUTPUT_BY_KEY, OUTPUTS
from apex_demo.ui import waiting
from apex_demo.ui.common import (MODEL_CONCURRENCY_ID, MODEL_CONCURRENCY_LIMIT, display_name,
                                 escape_markdown, tab_scorer, table_view)
from apex_demo.ui.context import AppContext
from apex_demo.ui.guards.abandoned import visitor_still_here
from apex_demo.ui.messages import limits_line, minutes_text, panel, visitor_message
from apex_demo.ui.progress import ScoreProgress
from apex_demo.ui.takes import MAX_TAKES, MIN_TAKES, count_problem, distinct_takes, score_one

INTRO = (f"Upload {MIN_TAKES}-{MAX_TAKES} takes of the same song and press **Compare**. "
         "Each take is scored in turn; the ranking fills in as they finish.")
NONE_SCORED = "None of the uploaded takes could be scored; see the messages above for each file."
LEFT_OUT = "{message} This take is left out of the comparison."
TOTAL_LIMIT = "Up to {total} of audio per comparison, all takes together."
WARNED = "“{name}”: {message}"
CSV_NAME = "apex_compare.csv"
PLAYER_MIN_WIDTH = 320  # px: a player's title (rank and file name) fits; players wrap rather than shrink
TIED_RANK = "={rank}"  # competition ranking: takes about the same share a rank
VERDICT_TIE = ("**{names} are about the same** by {metric} (within {gap:.1f} points of each other). "
               "The model cannot tell them apart; listen and choose.")
VERDICT_AHEAD = "**{leader}** is ahead by {metric}: {gap:.1f} points above **{runner}**."
VERDICT_TIE_TOP = ("**{names} are about the same** by {metric} (within {gap:.1f} points), ahead of the rest. "
                   "The model cannot tell them apart; listen and choose.")
VERDICT_TOO_FEW = "Fewer than two takes can be judged, so there is no ranking; the reason is given for each below."
NOT_JUDGED_LINE = "**{name}** is not ranked. {reason}"
CAVEAT = '<p class="apex-caveat">{caveat}</p>'
NOT_RANKED = "–"   # the Rank cell of a take that cannot be judged
REPEATED = "“{name}” was chosen more than once; it is compared once."
PLAYER_LABEL = "{rank} · {name}"

Scored = tuple[str, ScoreResult]


def sort_choices() -> list[tuple[str, str]]:
    """Dropdown (label, key) pairs: the overall score, then every output."""
    return [(OVERALL_LABEL, OVERALL_KEY)] + [(OUTPUT_BY_KEY[k].label, k) for k in SORT_KEYS[1:]]


def _metric_name(by: str) -> str:
    return OVERALL_LABEL.lower() + " score" if by == OVERALL_KEY else OUTPUT_BY_KEY[by].label

def verdict_markdown(report: TakesReport) -> str:
    """The one-line verdict: who leads, or that the top takes are about the same (or that fewer than two
    takes can be judged)."""
    if len(report.ranked) < 2:
        return VERDICT_TOO_FEW if report.not_judged else ""
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


def report_of(scored: Sequence[Scored], by: str) -> TakesReport:
    """The engine's ranking of the kept results; takes that cannot be judged are left out of it, with why."""
    reasons = {name: reason for name, result in scored if (reason := not_judged(result)) is not None}
    return takes_report([(name, result.scores) for name, result in scored], by, not_judged=reasons)


def _rows(scored: Sequence[Scored], report: TakesReport) -> list[tuple[RankedTake | None, str, ScoreResult]]:
    """(ranked take or None when not judged, name, result): the ranked takes best first, then the others."""
    by_name = dict(scored)
    return ([(r, r.label, by_name[r.label]) for r in report.ranked]
            + [(None, name, by_name[name]) for name, _ in report.not_judged])


def _scores_row(result: ScoreResult) -> dict[str, Any]:
    row: dict[str, Any] = {OVERALL_LABEL: round(overall_score(result.scores), 1)}
    for spec in OUTPUTS:
        value = result.scores.as_dict().get(spec.key)
        if value is not None:
            row[spec.label] = round(value, 1 if spec.high > 5 else 2)
    return row | {"Length": format_time(result.duration_s)}


def ranking_table(scored: Sequence[Scored], by: str) -> pd.DataFrame:
    """One row per take, best first by `by`, with the overall score and every output; takes about the same
    share a rank, shown as "=1"; takes that cannot be judged come last, unranked ("–")."""
    report = report_of(scored, by)
    return pd.DataFrame([{"Rank": _rank_text(ranked), "Take": name, **_scores_row(result)}
                         for ranked, name, result in _rows(scored, report)])


def _rank_text(ranked: RankedTake | None) -> str:
    if ranked is None:
        return NOT_RANKED
    return TIED_RANK.format(rank=ranked.rank) if ranked.tied else str(ranked.rank)


def ranking_csv(scored: Sequence[Scored], by: str) -> str:
    """The ranking as CSV: numbers as numbers (the rank a number, "tied" and "judged" columns beside it);
    only text cells are escaped against spreadsheet formula injection."""
    report = report_of(scored, by)
    reasons = dict(report.not_judged)
    out = io.StringIO()
    writer = csv.writer(out)
    rows = [{"Rank": "" if ranked is None else ranked.rank, "Tied": "" if ranked is None else
             ("yes" if ranked.tied else "no"), "Take": name, **_scores_row(result),
             "Judged": "yes" if ranked is not None else reasons[name].reason}
            for ranked, name, result in _rows(scored, report)]
    writer.writerow(rows[0].keys() if rows else ["Rank", "Take"])
    for row in rows:
        writer.writerow([escape_cell(v) for v in row.values()])
    return out.getvalue()


def render(ctx: AppContext, scored: Sequence[Scored], by: str) -> tuple[Any, ...]:
    """Verdict (with the caveat and the takes not judged), ranking figure, table and CSV download for the
    kept results, sorted by `by`. Raises ApexError when this model does not predict `by`."""
    report = report_of(scored, by)
    ranked = report.ranked
    figure = figures.ranking_figure([r.label for r in ranked], [r.value for r in ranked], by)
    csv_path = ctx.downloads.write_text(CSV_NAME, ranking_csv(scored, by))
    figure_text = figures.ranking_summary([r.label for r in ranked], [r.value for r in ranked], by)
    lines = [verdict_markdown(report)] + [NOT_JUDGED_LINE.format(name=escape_markdown(name), reason=reason.reason)
                                          for name, reason in report.not_judged]
    lines += [CAVEAT.format(caveat=html.escape(report.caveat, quote=False)),
              f'<span class="apex-sr-only">{html.escape(figure_text)}</span>']
    return ("\n\n".join(line for line in lines if line), gr.update(value=figure, visible=bool(ranked)),
            gr.update(value=_table_view(ranking_table(scored, by)), visible=True),
            gr.update(value=str(csv_path), visible=True))


def _table_view(table: pd.DataFrame) -> Any:
    """The ranking on the page: the rows of takes that cannot be judged (unranked) greyed."""
    return table_view(table, [rank == NOT_RANKED for rank in table["Rank"]])


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
    """One player per take (label, audio path) in the order given, labelled; the rest hidden."""
    shown = [gr.update(value=path, label=label, visible=True) for label, path in scored[:MAX_TAKES]]
    return shown + [gr.update(value=None, visible=False)] * (MAX_TAKES - len(shown))


def ranked_players(scored: Sequence[Scored], sources: Mapping[str, str], by: str) -> list[Any]:
    """The players in the ranking's order, each labelled with its rank and name (unjudged takes last)."""
    report = report_of(scored, by)
    return players([(PLAYER_LABEL.format(rank=_rank_text(ranked), name=name), sources[name])
                    for ranked, name, _ in _rows(scored, report)])


def cleared() -> tuple[Any, ...]:
    """Empty results with chart boxes and players hidden: verdict, radar, popularity, ranking, table,
    CSV, players, kept results, their audio files by name, the charts as text."""
    hidden = gr.update(value=None, visible=False)
    return ("", hidden, hidden, hidden, hidden, hidden, *players([]), [], {}, "")


def make_handlers(ctx: AppContext):
    """The streaming Compare handler and the re-sort handler, bound to this app's context.

    Compare yields (progress line, message panel, *cleared() shape); failures end in the
    message panel, worded for the visitor; nothing is raised. The app runs Compare as a user
    request (ui/common.mark_user_requests), as every scoring event.
    """

    def compare(uploads: list[str] | None, by: str) -> Iterator[tuple[Any, ...]]:
        paths, repeated = distinct_takes(list(uploads or []))
        problem = count_problem(paths)
        if problem:
            yield ("", "", panel(problem), *cleared())
            return
        progress = ScoreProgress(ctx.speed)
        raw: list[Scored] = []
        sources: list[tuple[str, str]] = []
        notes: list[str] = [panel(REPEATED.format(name=display_name(p)), "note") for p in repeated]
        still_here = visitor_still_here()
        try:
            scorer = tab_scorer(ctx)
        except ApexError as exc:
            yield ("", "", panel(visitor_message(exc, None, ctx.loader_busy())), *cleared())
            return
        for i, path in enumerate(paths, start=1):
            name = display_name(path)
            yield (progress.take(i, len(paths), name), "", "".join(notes), *_partial(ctx, raw, sources, by))
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
            yield ("", "", "".join(notes) + panel(NONE_SCORED), *cleared())
            return
        yield (progress.takes_done(len(raw)), "", "".join(notes), *_partial(ctx, raw, sources, by))

    def resort(scored: list[Scored] | None, sources: dict[str, str] | None, by: str) -> tuple[Any, ...]:
        if not scored:
            hidden = gr.update(value=None, visible=False)
            return "", "", hidden, hidden, hidden, *players([])
        try:
            return ("", *render(ctx, scored, by), *ranked_players(scored, sources or {}, by))
        except ApexError as exc:
            return (panel(visitor_message(exc)), "", gr.update(), gr.update(), gr.update(),
                    *[gr.update() for _ in range(MAX_TAKES)])

    return compare, resort


def drop_repeats(uploads: list[str] | None) -> tuple[Any, ...]:
    """A new selection: the same file chosen again (Gradio adds a new choice to the files already there)
    is dropped from it, and the previous results and messages go."""
    paths, repeated = distinct_takes(list(uploads or []))
    return (gr.update(value=paths) if repeated else gr.skip(), "", "", *cleared())


def _partial(ctx: AppContext, raw: list[Scored], sources: list[tuple[str, str]], by: str) -> tuple[Any, ...]:
    """The results so far (the cleared shape when nothing is scored yet). The charts show the takes that
    can be judged; the players follow the ranking."""
    if not raw:
        return cleared()
    scored = unique_names(raw)
    named_sources = {n: path for (n, _), (_, path) in zip(scored, sources)}
    try:
        ranking, by = render(ctx, scored, by), by
    except ApexError:  # ranked by an output this model lacks: rank by the overall score instead
        ranking, by = render(ctx, scored, OVERALL_KEY), OVERALL_KEY
    takes = [(n, r.scores) for n, r in scored if not_judged(r) is None]
    chart_text = "\n\n".join([figures.radar_summary(takes), figures.popularity_summary(takes)]) if takes else ""
    hidden = gr.update(value=None, visible=False)
    return (ranking[0],
            gr.update(value=figures.radar_figure(takes, title="Aesthetic profiles (1-5)"), visible=True)
            if takes else hidden,
            gr.update(value=figures.popularity_figure(takes), visible=True) if takes else hidden, *ranking[1:],
            *ranked_players(scored, named_sources, by), scored, named_sources, chart_text)


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
            wait = waiting.add(run, ctx, "compare-wait")
            progress = gr.HTML(elem_id="compare-progress")
            message = gr.HTML(elem_id="compare-message")
            verdict = gr.Markdown(elem_id="compare-verdict")
            gr.Markdown(f"<small>{OVERALL_DEFINITION} {TOLERANCE_DEFINITION}</small>")
        with gr.Column(scale=3, min_width=300):
            radar = gr.Plot(show_label=False, elem_id="compare-radar", visible=False)
    ranking = gr.Plot(show_label=False, elem_id="compare-ranking", visible=False)
    table = gr.Dataframe(label="Ranking (click a column header to sort)", interactive=False, wrap=True,
                         visible=False, elem_id="compare-table")  # shown with a result
    with gr.Row():
        csv_file = gr.File(label="CSV", visible=False)
    with gr.Row(elem_id="compare-players"):  # wide enough for a take's name; they wrap onto more rows
        take_players = [gr.Audio(type="filepath", interactive=False, visible=False, min_width=PLAYER_MIN_WIDTH,
                                 buttons=[], elem_id=f"compare-player-{i}")  # the visitor's own takes: no
                        for i in range(MAX_TAKES)]                                # download or share over the title
    popularity = gr.Plot(show_label=False, visible=False, elem_id="compare-popularity")
    state = gr.State([])
    sources = gr.State({})
    compare, resort = make_handlers(ctx)
    chart_text = gr.Markdown(elem_id="compare-chart-text", elem_classes=["apex-sr-only"])  # charts for screen readers
    results = [verdict, radar, popularity, ranking, table, csv_file, *take_players, state, sources, chart_text]
    run.click(compare, inputs=[files, sort_by], outputs=[progress, wait, message, *results],
              api_name="ui_compare", api_visibility="private", concurrency_id=MODEL_CONCURRENCY_ID,
              concurrency_limit=MODEL_CONCURRENCY_LIMIT, show_progress_on=[progress])
    sort_by.change(resort, inputs=[state, sources, sort_by],
                   outputs=[message, verdict, ranking, table, csv_file, *take_players],
                   api_name="ui_resort", api_visibility="private")
    files.change(drop_repeats, inputs=[files], outputs=[files, progress, message, *results], queue=False,
                 api_visibility="private", show_progress="hidden")
