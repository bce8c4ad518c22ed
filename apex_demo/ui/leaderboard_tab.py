"""Leaderboard tab: model agreement with listeners, Bradley-Terry ratings, raw vote downloads.

Everything comes from `Arena.stats()` (recomputed only when the vote count
changes) and is refreshed on every page load and by the Refresh button.
"""

from __future__ import annotations

import io
from typing import Any, Sequence

import gradio as gr
import pandas as pd

from apex_demo import plots
from apex_demo.analysis import MIN_VOTES_LISTED, MODEL_PICK_DEFINITION, ArenaStats, RatingRow
from apex_demo.arena import Arena
from apex_demo.scores import SCORE_KEYS
from apex_demo.ui.arena_tab import arena_or_notice
from apex_demo.ui.context import AppContext
from apex_demo.votes import export_votes

INTRO = ("How often APEX's pick matches the listener's (decisive A/B votes only; ties and \"both bad\" are "
         "left out), and a Bradley-Terry leaderboard of the pool (ties count half a win each, \"both bad\" "
         "votes are left out of the fit, 95% bootstrap intervals over battles). "
         "Items need {min_votes} votes to be listed.")
EMPTY = "No votes yet: be the first in the Arena tab."
BOARD_COLUMNS = ["rank", "item", "rating", "ci_low", "ci_high", "votes", "wins", "ties", "losses"]
CSV_NAME = "apex_arena_votes.csv"
JSONL_NAME = "apex_arena_votes.jsonl"


def summary_markdown(stats: ArenaStats) -> str:
    """Totals and the headline agreement, in words."""
    if stats.total_votes == 0:
        return EMPTY
    counts = ", ".join(f"{k} {v}" for k, v in stats.choice_counts.items())
    a = stats.agreement
    head = (f"**{stats.total_votes} votes** ({counts}).\n\n"
            if a.rate is None else
            f"**{stats.total_votes} votes** ({counts}). The model agreed with **{100 * a.rate:.0f}%** of "
            f"{a.n} decisive votes (95% Wilson interval {100 * a.low:.0f}-{100 * a.high:.0f}%; chance is 50%).\n\n")  # type: ignore[operator]  # low/high exist when rate does
    return head + f"<small>{MODEL_PICK_DEFINITION}</small>"


def agreement_plot(stats: ArenaStats):
    a = stats.agreement
    per = [(k, p.rate, p.low, p.high, p.n) for k, p in stats.per_score.items() if k in SCORE_KEYS]
    return plots.agreement_figure((a.rate, a.low, a.high, a.n), per)


def board_plot(rows: Sequence[RatingRow], title: str):
    return plots.leaderboard_figure([r.item for r in rows], [r.rating for r in rows], [r.ci_low for r in rows],
                                    [r.ci_high for r in rows], title=title)


def board_table(rows: Sequence[RatingRow]) -> pd.DataFrame:
    return pd.DataFrame([r.to_dict() for r in rows], columns=BOARD_COLUMNS)


def make_refresh(arena: Arena):
    def refresh() -> tuple[Any, ...]:
        stats = arena.stats()
        return (summary_markdown(stats), agreement_plot(stats),
                board_plot(stats.systems, "Systems: Bradley-Terry rating (95% CI)"), board_table(stats.systems),
                board_plot(stats.clips, "Clips: Bradley-Terry rating (95% CI)"), board_table(stats.clips))

    return refresh


def make_download(ctx: AppContext, arena: Arena, fmt: str, name: str):
    def download() -> gr.File:
        out = io.StringIO()
        export_votes(arena.store.votes(), fmt, out)
        return gr.File(value=str(ctx.downloads.write_text(name, out.getvalue())), visible=True)

    return download


def build(ctx: AppContext) -> None:
    """The Leaderboard tab (call inside a gr.Tab)."""
    arena = arena_or_notice(ctx)
    if arena is None:
        return
    gr.Markdown(INTRO.format(min_votes=MIN_VOTES_LISTED))
    refresh_fn = make_refresh(arena)
    summary = gr.Markdown(EMPTY)
    agreement = gr.Plot(show_label=False)
    with gr.Row(equal_height=True):
        systems_plot = gr.Plot(show_label=False)
        clips_plot = gr.Plot(show_label=False)
    with gr.Accordion("Tables", open=False):
        systems_table = gr.Dataframe(label="Systems", interactive=False)
        clips_table = gr.Dataframe(label="Clips", interactive=False)
    with gr.Row():
        refresh = gr.Button("↻ Refresh")
        csv_button = gr.Button("Download votes (CSV)")
        jsonl_button = gr.Button("Download votes (JSONL)")
    file_out = gr.File(label="Raw votes", interactive=False, visible=False)
    outputs = [summary, agreement, systems_plot, systems_table, clips_plot, clips_table]
    private: dict[str, Any] = {"api_visibility": "private"}
    refresh.click(refresh_fn, inputs=None, outputs=outputs, api_name="ui_leaderboard_refresh", **private)
    # triggers=None with no inputs = on every page load, so the figures are never stale when opened
    gr.on(triggers=None, fn=refresh_fn, inputs=None, outputs=outputs, api_name="ui_leaderboard_load", **private)
    csv_button.click(make_download(ctx, arena, "csv", CSV_NAME), outputs=file_out, api_name="ui_votes_csv", **private)
    jsonl_button.click(make_download(ctx, arena, "jsonl", JSONL_NAME), outputs=file_out,
                       api_name="ui_votes_jsonl", **private)
