"""Compare takes tab: 2-10 versions of a song -> overlaid radar, ranking table, CSV.

Takes are scored one after another on the shared model (the table fills in as
each finishes); re-sorting uses the kept results and never re-scores.
A take that cannot be scored is reported as a warning and left out.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Iterator, Sequence

import gradio as gr
import pandas as pd

from apex_demo import plots
from apex_demo.errors import ApexError, ErrorCode
from apex_demo.ranking import OVERALL_DEFINITION, OVERALL_KEY, OVERALL_LABEL, SORT_KEYS, rank_takes, sort_value
from apex_demo.result import ScoreResult
from apex_demo.scores import OUTPUT_BY_KEY, OUTPUTS
from apex_demo.ui.common import (ERROR_TITLE, LOG, MODEL_CONCURRENCY_ID, MODEL_CONCURRENCY_LIMIT, UNEXPECTED_ERROR,
                                 display_name, engine_errors, get_scorer, show_warnings, user_message)
from apex_demo.ui.context import AppContext
from apex_demo.votes import escape_cell

MIN_TAKES = 2
MAX_TAKES = 10
INTRO = (f"Upload {MIN_TAKES}-{MAX_TAKES} takes of the same song and press **Compare**. "
         "Each take is scored in turn; the ranking fills in as they finish.")
TOO_FEW = f"Upload at least {MIN_TAKES} takes to compare (you can select several files at once)."
TOO_MANY = f"Compare at most {MAX_TAKES} takes at a time; you uploaded {{count}}."
NONE_SCORED = "None of the uploaded takes could be scored; see the warnings for each file."
CSV_NAME = "apex_compare.csv"

Scored = tuple[str, ScoreResult]


def sort_choices() -> list[tuple[str, str]]:
    """Dropdown (label, key) pairs: the overall score, then every output."""
    return [(OVERALL_LABEL, OVERALL_KEY)] + [(OUTPUT_BY_KEY[k].label, k) for k in SORT_KEYS[1:]]


def check_count(paths: Sequence[str] | None) -> list[str]:
    """The uploaded paths, or a raised gr.Error when there are too few or too many."""
    paths = list(paths or [])
    if len(paths) < MIN_TAKES:
        raise gr.Error(TOO_FEW, print_exception=False)
    if len(paths) > MAX_TAKES:
        raise gr.Error(TOO_MANY.format(count=len(paths)), print_exception=False)
    return paths


def score_each(ctx: AppContext, paths: Sequence[str],
               progress: gr.Progress | None = None) -> Iterator[tuple[str, ScoreResult | ApexError]]:
    """Score uploads one by one, yielding (name, result) or (name, the ApexError it raised)."""
    scorer = get_scorer(ctx, progress)
    for i, path in enumerate(paths):
        name = display_name(path)
        if progress is not None:
            progress((i, len(paths)), desc=f"Scoring {name}", unit="takes")
        try:
            yield name, scorer.score_file(Path(path), name)
        except ApexError as exc:
            yield name, exc
        except Exception as exc:  # noqa: BLE001 - a bug or out-of-memory on one take must not lose the others
            LOG.exception("unexpected error while scoring %s", name)
            yield name, ApexError(UNEXPECTED_ERROR.format(kind=type(exc).__name__), ErrorCode.INTERNAL)


def ranking_table(scored: Sequence[Scored], by: str) -> pd.DataFrame:
    """One row per take, best first by `by`, with the overall score and every output."""
    by_name = dict(scored)
    rows = []
    for ranked in rank_takes([(name, result.scores) for name, result in scored], by):
        row: dict[str, Any] = {"Rank": ranked.rank, "Take": ranked.label, OVERALL_LABEL: round(ranked.overall, 1)}
        for spec in OUTPUTS:
            value = ranked.scores.as_dict().get(spec.key)
            if value is not None:
                row[spec.label] = round(value, 1 if spec.high > 5 else 2)
        row["Length"] = plots.format_time(by_name[ranked.label].duration_s)
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
    """Ranking figure, table and CSV download for the kept results, sorted by `by`."""
    with engine_errors():
        table = ranking_table(scored, by)
        ordered = [(row.Take, sort_value(dict(scored)[row.Take].scores, by)) for row in table.itertuples()]
    figure = plots.ranking_figure([n for n, _ in ordered], [v for _, v in ordered], by)
    csv_path = ctx.downloads.write_text(CSV_NAME, ranking_csv(table))
    return figure, table, gr.update(value=str(csv_path), visible=True)


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


def make_handlers(ctx: AppContext):
    """The streaming Compare handler and the re-sort handler, bound to this app's context."""

    def compare(paths: list[str] | None, by: str, progress: gr.Progress = gr.Progress()) -> Iterator[tuple[Any, ...]]:
        # Every toast is followed by a yield: in Gradio 6.31 a gr.Warning after a generator's
        # last yield turns all its outputs into "Error".
        paths = check_count(paths)
        raw: list[Scored] = []
        for path, (name, outcome) in zip(paths, score_each(ctx, paths, progress)):
            if isinstance(outcome, ApexError):
                gr.Warning(user_message(outcome, path), title=ERROR_TITLE)
            else:
                show_warnings(outcome, name)
                raw.append((name, outcome))
            if raw:
                scored = unique_names(raw)
                takes = [(n, r.scores) for n, r in scored]
                yield (plots.radar_figure(takes, title="Aesthetic profiles (1-5)"), plots.popularity_figure(takes),
                       *render(ctx, scored, by), scored)
        if not raw:
            raise gr.Error(NONE_SCORED, title=ERROR_TITLE, print_exception=False)

    def resort(scored: list[Scored] | None, by: str) -> tuple[Any, ...]:
        if not scored:
            return plots.ranking_figure([], [], by), None, gr.update(value=None, visible=False)
        return render(ctx, scored, by)

    return compare, resort


def build(ctx: AppContext) -> None:
    """Lay out the Compare takes tab (call inside a gr.Tab)."""
    gr.Markdown(INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            files = gr.File(file_count="multiple", file_types=["audio"], type="filepath", label="Takes",
                            elem_id="compare-files")
            sort_by = gr.Dropdown(choices=sort_choices(), value=OVERALL_KEY, label="Rank by")
            run = gr.Button("Compare", variant="primary", elem_id="compare-button")
            gr.Markdown(f"<small>{OVERALL_DEFINITION}</small>")
        with gr.Column(scale=3, min_width=300):
            radar = gr.Plot(show_label=False, elem_id="compare-radar")
    ranking = gr.Plot(show_label=False, elem_id="compare-ranking")
    table = gr.Dataframe(label="Ranking (click a column header to sort)", interactive=False, wrap=True)
    with gr.Row():
        csv_file = gr.File(label="CSV", visible=False)
    popularity = gr.Plot(show_label=False)
    state = gr.State([])
    compare, resort = make_handlers(ctx)
    run.click(compare, inputs=[files, sort_by], outputs=[radar, popularity, ranking, table, csv_file, state],
              api_name="ui_compare", api_visibility="private", concurrency_id=MODEL_CONCURRENCY_ID,
              concurrency_limit=MODEL_CONCURRENCY_LIMIT)
    sort_by.change(resort, inputs=[state, sort_by], outputs=[ranking, table, csv_file],
                   api_name="ui_resort", api_visibility="private")
