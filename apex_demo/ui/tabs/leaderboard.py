"""Leaderboard tab: what this arena's votes say about APEX, Bradley-Terry ratings, raw vote downloads.

Every number comes from the arena's background board (apex_demo.arena.board:
recomputed off the request path, at most once a minute), so a page load only
formats a ready snapshot, even with 100,000 votes. Figures and tables stay hidden
until there is something to draw; the early state is one line.
"""

from __future__ import annotations

import io
from datetime import datetime, timezone
from typing import Any, Sequence

import gradio as gr
import pandas as pd

from apex_demo import figures
from apex_demo.arena import (CV_FOLDS, CV_SEED, MIN_VOTES_LISTED, Arena, ArenaStats, Board, LearnedPick, Proportion,
                             RatingRow, export_votes, format_auc)
from apex_demo.engine import LEADERBOARD_CONTEXT, OVERALL_DEFINITION
from apex_demo.scores import OUTPUT_BY_KEY, SCORE_KEYS
from apex_demo.ui.arena_host import arena_or_notice
from apex_demo.ui.context import AppContext

INTRO = ("What this arena's votes say about APEX: how often its pick matches the listener (decisive A/B votes "
         "only), a model learned from the votes, and a Bradley-Terry leaderboard of the pool (ties count half a "
         "win each, \"both bad\" votes are left out, 95% bootstrap intervals; items need {min_votes} votes to be "
         "listed). Recomputed in the background at most once a minute.")
COMPUTING = "⏳ The statistics are being computed in the background; press **Refresh** in a moment."
EMPTY = "No votes yet: be the first in the Arena tab."
NEEDED = " · the learned model appears after **{needed} more** decisive votes"
FROM_ELSEWHERE = ", {n} of them from other replicas or earlier runs"
UPDATED = " · updated {time} UTC"
AGREEMENT = (" · the fixed rule (higher overall score wins) matched **{rate:.0f}%** of {n} decisive votes "
             "(95% Wilson interval {low:.0f}-{high:.0f}%; chance is 50%)")
LEARNED = ("**Learned from this arena's {n} decisive votes** (logistic regression on the standardised score "
           "differences A - B, stratified {folds}-fold cross-validation, seed {seed}): ROC AUC **{auc:.3f}** out of "
           "fold (95% bootstrap interval {low:.3f}-{high:.3f}; 0.5 is a coin flip). The fixed rule \"higher overall "
           "score wins\" has ROC AUC {fixed} on the same votes, so the arena's model pick now uses **{rule}**.")
RULE_LEARNED = "the learned model"
RULE_FIXED = "the fixed rule"
RULES_HEADER = ("| Score alone | Higher wins: agreement (95% CI) | AUC | Lower wins: agreement (95% CI) | AUC |\n"
                "|---|---|---|---|---|")
BOARD_COLUMNS = ["rank", "item", "rating", "ci_low", "ci_high", "votes", "wins", "ties", "losses"]
SYSTEMS_TITLE = "Systems: Bradley-Terry rating (95% CI)"
CLIPS_TITLE = "Clips: Bradley-Terry rating (95% CI)"
CSV_NAME = "apex_arena_votes.csv"
JSONL_NAME = "apex_arena_votes.jsonl"
MISSING = "-"


LEFT_OUT = (" {n} stored votes are left out of these numbers (flagged by the anomaly check, or not signed in "
            "where only signed-in votes count); `votes stats` lists them.")


def summary_markdown(board: Board | None) -> str:
    """One line: totals, where votes came from, the fixed rule's agreement, what is still needed."""
    if board is None:
        return COMPUTING
    stats = board.stats
    if stats.total_votes == 0:
        return EMPTY
    counts = ", ".join(f"{k} {v}" for k, v in stats.choice_counts.items())
    line = f"**{stats.total_votes} votes** ({counts}" + (
        FROM_ELSEWHERE.format(n=board.remote_votes) if board.remote_votes else "") + ")"
    a = stats.agreement
    if a.rate is not None:
        line += AGREEMENT.format(rate=100 * a.rate, n=a.n, low=100 * a.low, high=100 * a.high)  # type: ignore[operator]
    if board.learned.needed:
        line += NEEDED.format(needed=board.learned.needed)
    left_out = sum(board.excluded.get("flagged", {}).values()) + board.excluded.get("not_signed_in", 0)
    if left_out:
        line += LEFT_OUT.format(n=left_out)
    stamp = datetime.fromtimestamp(board.computed_at, timezone.utc).strftime("%H:%M:%S")
    return line + UPDATED.format(time=stamp)


def learned_markdown(learned: LearnedPick) -> str:
    """The learned model's out-of-fold AUC against the fixed rule, and which one picks now."""
    if not learned.ready:
        return ""
    return LEARNED.format(n=learned.n_decisive, folds=CV_FOLDS, seed=CV_SEED, auc=learned.auc, low=learned.auc_low,
                          high=learned.auc_high, fixed=format_auc(learned.fixed_auc),
                          rule=RULE_LEARNED if learned.beats_fixed else RULE_FIXED)


def _share(p: Proportion) -> str:
    if p.rate is None:
        return MISSING
    return f"{100 * p.rate:.0f}% ({100 * p.low:.0f}-{100 * p.high:.0f}%, n={p.n})"  # type: ignore[operator]


def rules_markdown(learned: LearnedPick) -> str:
    """Both fixed rules (higher wins, lower wins) for every output, as a table."""
    if not learned.rules:
        return ""
    rows = [f"| {OUTPUT_BY_KEY[r.key].label} | {_share(r.higher)} | {format_auc(r.higher_auc)} | {_share(r.lower)} | "
            f"{format_auc(r.lower_auc)} |" for r in learned.rules]
    return "\n".join([RULES_HEADER, *rows, "", f"<small>{OVERALL_DEFINITION}</small>"])


def agreement_plot(stats: ArenaStats):
    a = stats.agreement
    per = [(k, p.rate, p.low, p.high, p.n) for k, p in stats.per_score.items() if k in SCORE_KEYS]
    return figures.agreement_figure((a.rate, a.low, a.high, a.n), per)


def board_plot(rows: Sequence[RatingRow], title: str):
    return figures.leaderboard_figure([r.item for r in rows], [r.rating for r in rows], [r.ci_low for r in rows],
                                    [r.ci_high for r in rows], title=title)


def board_table(rows: Sequence[RatingRow]) -> pd.DataFrame:
    return pd.DataFrame([r.to_dict() for r in rows], columns=BOARD_COLUMNS)


def page(board: Board | None) -> tuple[Any, ...]:
    """Every leaderboard component from one snapshot; only formatting, nothing is computed here."""
    if board is None or board.stats.total_votes == 0:
        hidden = gr.update(visible=False)
        return (summary_markdown(board), hidden, hidden, hidden, hidden, hidden, hidden, hidden,
                gr.update(value=None), gr.update(value=None))
    stats, learned = board.stats, board.learned
    return (summary_markdown(board),
            gr.update(value=learned_markdown(learned), visible=learned.ready),
            gr.update(value=figures.coefficient_figure(learned.coefficients) if learned.ready else None,
                      visible=learned.ready),
            gr.update(value=rules_markdown(learned), visible=bool(learned.rules)),
            gr.update(value=agreement_plot(stats) if stats.agreement.n else None, visible=stats.agreement.n > 0),
            gr.update(value=board_plot(stats.systems, SYSTEMS_TITLE) if stats.systems else None,
                      visible=bool(stats.systems)),
            gr.update(value=board_plot(stats.clips, CLIPS_TITLE) if stats.clips else None, visible=bool(stats.clips)),
            gr.update(visible=bool(stats.systems or stats.clips)),
            board_table(stats.systems), board_table(stats.clips))


def make_refresh(arena: Arena):
    """The page-load handler: renders each board once (figures take a tenth of a second) and then
    hands every visitor copies of that rendering until the background thread publishes a new board."""
    rendered: list[tuple[Board | None, tuple[Any, ...]]] = []

    def refresh() -> tuple[Any, ...]:
        board = arena.board.latest()
        if not rendered or rendered[-1][0] is not board:
            rendered[:] = [(board, page(board))]
        return tuple(dict(o) if isinstance(o, dict) else o for o in rendered[-1][1])

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
    if (storage_note := ctx.settings.storage_note()) is not None:
        gr.Markdown(f"⚠️ {storage_note}", elem_id="leaderboard-storage-note")
    summary = gr.Markdown(COMPUTING)
    learned = gr.Markdown(visible=False)
    coefficients = gr.Plot(show_label=False, visible=False)
    rules = gr.Markdown(visible=False)
    agreement = gr.Plot(show_label=False, visible=False)
    with gr.Row(equal_height=True):
        systems_plot = gr.Plot(show_label=False, visible=False)
        clips_plot = gr.Plot(show_label=False, visible=False)
    with gr.Accordion("Tables", open=False, visible=False) as tables:
        systems_table = gr.Dataframe(label="Systems", interactive=False)
        clips_table = gr.Dataframe(label="Clips", interactive=False)
    gr.Markdown(LEADERBOARD_CONTEXT)
    with gr.Row():
        refresh = gr.Button("↻ Refresh")
        csv_button = gr.Button("Download votes (CSV)")
        jsonl_button = gr.Button("Download votes (JSONL)")
    file_out = gr.File(label="Raw votes", interactive=False, visible=False)
    outputs = [summary, learned, coefficients, rules, agreement, systems_plot, clips_plot, tables,
               systems_table, clips_table]
    refresh_fn = make_refresh(arena)
    private: dict[str, Any] = {"api_visibility": "private"}
    refresh.click(refresh_fn, inputs=None, outputs=outputs, api_name="ui_leaderboard_refresh", **private)
    # triggers=None with no inputs = on every page load; it only formats the background board
    gr.on(triggers=None, fn=refresh_fn, inputs=None, outputs=outputs, api_name="ui_leaderboard_load", **private)
    csv_button.click(make_download(ctx, arena, "csv", CSV_NAME), outputs=file_out, api_name="ui_votes_csv", **private)
    jsonl_button.click(make_download(ctx, arena, "jsonl", JSONL_NAME), outputs=file_out,
                       api_name="ui_votes_jsonl", **private)
