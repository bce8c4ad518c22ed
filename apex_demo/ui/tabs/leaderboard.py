"""Leaderboard tab: which systems listeners prefer here (overall, instrumental, with vocals), which clips,
how often APEX picks what listeners picked, and raw vote downloads, in words a musician reads.

Every number comes from the arena's background board (apex_demo.arena.board: recomputed off the request
path, at most once a minute), so a page load only formats a ready snapshot, even with 100,000 votes. The
terms (rating, interval, rank, agreement, ROC AUC) are glossed once, in one line each, above the numbers;
a board that ranks nobody yet says how many votes it is waiting for instead of staying empty. The raw vote
downloads are files built once per vote count in the background and shared by every visitor who asks
(apex_demo.arena.export_files).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Sequence

import gradio as gr

from apex_demo import figures
from apex_demo.arena import (CV_FOLDS, CV_SEED, Arena, ArenaStats, Board, ExportFiles, LearnedPick, Proportion,
                             RatingRow, format_auc)
from apex_demo.engine import LEADERBOARD_CONTEXT, OVERALL_DEFINITION
from apex_demo.scores import OUTPUT_BY_KEY, SCORE_KEYS
from apex_demo.ui.arena_host import arena_errors, arena_or_notice
from apex_demo.ui.context import AppContext

INTRO = ("Which systems listeners prefer in this arena's blind battles (both clips played at the same loudness), "
         "and how often APEX picks what the listener picked. Recomputed in the background at most once a minute.")
GLOSSARY = (
    "<small>**How to read it.** "
    "**Rating**: a score from head-to-head votes (the Bradley-Terry model, as chess Elo): 1000 is average, and "
    "100 points ahead means winning about 64 % of battles against that one. "
    "**95 % interval**: where the rating would likely land with other listeners; found by recomputing it 200 "
    "times from votes drawn at random from the real ones (a *bootstrap*). "
    "**Rank**: one more than the number of entries clearly ahead (their whole interval above this one's); "
    "entries whose intervals overlap are not clearly apart and share a rank. "
    "**Agreement**: the share of A/B votes where APEX picked the listener's clip, with its 95 % range (a "
    "*Wilson interval*, which stays honest with few votes); 50 % is a coin flip. "
    "**ROC AUC**: how well a score sorts the preferred clip above the other: 0.5 is a coin flip, 1.0 always "
    "right, below 0.5 backwards.</small>")
COMPUTING = "⏳ The statistics are being computed in the background; press **Refresh** in a moment."
EMPTY = "No votes yet: be the first in the Arena tab."
FROM_ELSEWHERE = ", {n} of them from other replicas or earlier runs"
UPDATED = " · updated {time} UTC"
LEFT_OUT = " · left out by the trust check: {parts}"
SIGNAL_WORDS = {"stuffing": "stuffing", "coordinated": "coordinated", "one_sided": "always one side",
                "too_fast": "too fast to have listened", "burst": "burst", "not_signed_in": "not signed in"}
RANKED_FROM = "Ranked from **{least} votes** each; the number before a name is its rank (shared where intervals overlap). "
WAITING = "Ranked from **{least} votes** each; no {what} has that many yet (the most so far: {most})."
TABLES_TITLE = "All numbers (tables)"
AGREEMENT_TITLE = "### How often APEX picks what the listener picked"
AGREEMENT = ("The fixed rule (higher overall score wins) matched **{rate:.0f}%** of {n} A/B votes "
             "(95% interval {low:.0f}-{high:.0f}%; a coin flip is 50%).")
NO_AGREEMENT = "No A/B vote with a model pick yet."
NEEDED = " The model learned from this arena's votes appears after **{needed} more** A/B votes."
LEARNED = ("**Learned from this arena's {n} A/B votes** (logistic regression on the score differences A - B, "
           "checked on votes it was not fitted to: {folds}-fold cross-validation, seed {seed}): ROC AUC "
           "**{auc:.3f}** (95% interval {low:.3f}-{high:.3f}). The fixed rule \"higher overall score wins\" has ROC "
           "AUC {fixed} on the same votes, so the arena's model pick now uses **{rule}**. In the figure, a bar to the "
           "right means listeners here prefer the clip with the higher value of that score, to the left the lower "
           "value; its length is the effect on the odds per standard deviation of the score difference.")
RULE_LEARNED = "the learned model"
RULE_FIXED = "the fixed rule"
RULES_HEADER = ("| Score alone | Higher score wins | Lower score wins |\n|---|---|---|")
BOARD_HEADER = "| Rank | {what} | Rating (95% interval) | Votes (won-tied-lost) |\n|---|---|---|---|"
CSV_NAME = "apex_arena_votes.csv"
JSONL_NAME = "apex_arena_votes.jsonl"
MISSING = "-"


@dataclass(frozen=True)
class BoardView:
    """One board on the page: which rows of the statistics, and what they rank."""

    key: str          # systems, systems_instrumental, systems_vocal, clips
    title: str
    what: str         # "system" or "clip"


BOARDS = (BoardView("systems", "Systems, all battles", "system"),
          BoardView("systems_instrumental", "Systems, instrumental battles", "system"),
          BoardView("systems_vocal", "Systems, battles with vocals", "system"),
          BoardView("clips", "Clips", "clip"))


def rows_of(stats: ArenaStats, key: str) -> list[RatingRow] | None:
    """A board's ranked rows; None when the board does not exist (the pool does not label that kind)."""
    if key == "systems":
        return stats.systems
    if key == "clips":
        return stats.clips
    return stats.by_kind.get(key.removeprefix("systems_"))


def left_out_words(excluded: dict[str, Any]) -> str:
    """The votes kept but left out of the numbers, by reason, in words (empty when none)."""
    parts = [f"{n} {SIGNAL_WORDS.get(signal, signal)}" for signal, n in sorted(excluded.get("flagged", {}).items())]
    if excluded.get("not_signed_in"):
        parts.append(f"{excluded['not_signed_in']} {SIGNAL_WORDS['not_signed_in']}")
    return LEFT_OUT.format(parts=", ".join(parts)) if parts else ""


def summary_markdown(board: Board | None) -> str:
    """One line: totals, where votes came from, what was left out and why, when it was computed."""
    if board is None:
        return COMPUTING
    stats = board.stats
    if stats.total_votes == 0 and not board.votes:
        return EMPTY
    counts = ", ".join(f"{k} {v}" for k, v in stats.choice_counts.items())
    line = f"**{stats.total_votes} vote{'' if stats.total_votes == 1 else 's'} counted** ({counts}" + (
        FROM_ELSEWHERE.format(n=board.remote_votes) if board.remote_votes else "") + ")"
    stamp = datetime.fromtimestamp(board.computed_at, timezone.utc).strftime("%H:%M:%S")
    return line + left_out_words(board.excluded) + UPDATED.format(time=stamp)


def _name(item: str) -> str:
    return item.replace("|", "\\|")


def board_markdown(stats: ArenaStats, view: BoardView) -> str:
    """A board's heading and its minimum, or what it waits for (the figure below shows the ranks)."""
    rows = rows_of(stats, view.key) or []
    least = stats.min_votes.get("clips" if view.what == "clip" else "systems", 0)
    text = RANKED_FROM.format(least=least) if rows else WAITING.format(least=least, what=view.what,
                                                                         most=stats.most_votes.get(view.key, 0))
    return f"### {view.title}\n\n{text}"


def board_table(rows: Sequence[RatingRow], view: BoardView) -> str:
    """A board as a table: shared rank, name, rating with its interval, votes won-tied-lost."""
    lines = [f"**{view.title}**", "", BOARD_HEADER.format(what=view.what.capitalize())]
    lines += [f"| {r.tier} | {_name(r.item)} | {r.rating:.0f} ({r.ci_low:.0f}-{r.ci_high:.0f}) | "
              f"{r.votes} ({r.wins}-{r.ties}-{r.losses}) |" for r in rows]
    return "\n".join(lines)


def tables_markdown(stats: ArenaStats) -> str:
    return "\n\n".join(board_table(rows, view) for view in BOARDS if (rows := rows_of(stats, view.key)))


def board_plot(rows: Sequence[RatingRow]):
    return figures.leaderboard_figure([f"{r.tier}. {r.item}" for r in rows], [r.rating for r in rows],
                                      [r.ci_low for r in rows], [r.ci_high for r in rows])


def agreement_markdown(board: Board) -> str:
    """The fixed rule's agreement in a sentence, and how many votes the learned model still needs."""
    a = board.stats.agreement
    text = NO_AGREEMENT if a.rate is None else AGREEMENT.format(
        rate=100 * a.rate, n=a.n, low=100 * a.low, high=100 * a.high)  # type: ignore[operator]
    if board.learned.needed:
        text += NEEDED.format(needed=board.learned.needed)
    return AGREEMENT_TITLE + "\n\n" + text


def learned_markdown(learned: LearnedPick) -> str:
    """The learned model's out-of-fold AUC against the fixed rule, and which one picks now."""
    if not learned.ready:
        return ""
    return LEARNED.format(n=learned.n_decisive, folds=CV_FOLDS, seed=CV_SEED, auc=learned.auc, low=learned.auc_low,
                          high=learned.auc_high, fixed=format_auc(learned.fixed_auc),
                          rule=RULE_LEARNED if learned.beats_fixed else RULE_FIXED)


def _share(p: Proportion, auc: float | None) -> str:
    if p.rate is None:
        return MISSING
    return f"{100 * p.rate:.0f}% ({100 * p.low:.0f}-{100 * p.high:.0f}%) · AUC {format_auc(auc)}"  # type: ignore[operator]


def rules_markdown(learned: LearnedPick) -> str:
    """Both fixed rules (higher wins, lower wins) for every output: agreement, its interval, and ROC AUC."""
    if not learned.rules:
        return ""
    n = max(r.higher.n for r in learned.rules)
    rows = [f"| {OUTPUT_BY_KEY[r.key].label} | {_share(r.higher, r.higher_auc)} | {_share(r.lower, r.lower_auc)} |"
            for r in learned.rules]
    return "\n".join([f"Each score used alone as the pick, over {n} A/B votes:", "", RULES_HEADER, *rows, "",
                      f"<small>{OVERALL_DEFINITION}</small>"])


def agreement_plot(stats: ArenaStats):
    a = stats.agreement
    per = [(k, p.rate, p.low, p.high, p.n) for k, p in stats.per_score.items() if k in SCORE_KEYS]
    return figures.agreement_figure((a.rate, a.low, a.high, a.n), per)


def page(board: Board | None) -> tuple[Any, ...]:
    """Every leaderboard component from one snapshot; only formatting, nothing is computed here."""
    hidden = gr.update(visible=False)
    if board is None or (board.stats.total_votes == 0 and not board.votes):
        return (summary_markdown(board), *[hidden] * (2 * len(BOARDS)), hidden, hidden, hidden, hidden, hidden,
                hidden, gr.update(value=""))
    stats, learned = board.stats, board.learned
    boards: list[Any] = []
    for view in BOARDS:
        rows = rows_of(stats, view.key)
        boards.append(gr.update(value=board_markdown(stats, view), visible=rows is not None))
        boards.append(gr.update(value=board_plot(rows) if rows else None, visible=bool(rows)))
    return (summary_markdown(board), *boards,
            gr.update(value=agreement_markdown(board), visible=True),
            gr.update(value=agreement_plot(stats) if stats.agreement.n else None, visible=stats.agreement.n > 0),
            gr.update(value=rules_markdown(learned), visible=bool(learned.rules)),
            gr.update(value=learned_markdown(learned), visible=learned.ready),
            gr.update(value=figures.coefficient_figure(learned.coefficients) if learned.ready else None,
                      visible=learned.ready),
            gr.update(visible=bool(stats.systems or stats.clips)), gr.update(value=tables_markdown(stats)))


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


def make_download(exports: ExportFiles, fmt: str):
    """The file of every vote in `fmt`: the one built for the current vote count, shared by every visitor."""
    def download() -> gr.File:
        with arena_errors():
            return gr.File(value=str(exports.file(fmt)), visible=True)

    return download


def build(ctx: AppContext) -> None:
    """The Leaderboard tab (call inside a gr.Tab)."""
    arena = arena_or_notice(ctx)
    if arena is None:
        return
    gr.Markdown(INTRO)
    gr.Markdown(GLOSSARY)
    if (storage_note := ctx.settings.storage_note()) is not None:
        gr.Markdown(f"⚠️ {storage_note}", elem_id="leaderboard-storage-note")
    summary = gr.Markdown(COMPUTING)
    boards: list[Any] = []
    for _ in BOARDS:
        boards += [gr.Markdown(visible=False), gr.Plot(show_label=False, visible=False)]
    agreement_text = gr.Markdown(visible=False)
    agreement = gr.Plot(show_label=False, visible=False)
    rules = gr.Markdown(visible=False)
    learned = gr.Markdown(visible=False)
    coefficients = gr.Plot(show_label=False, visible=False)
    with gr.Accordion(TABLES_TITLE, open=False, visible=False) as tables_box:
        tables = gr.Markdown()
    gr.Markdown(LEADERBOARD_CONTEXT)
    with gr.Row():
        refresh = gr.Button("↻ Refresh")
        csv_button = gr.Button("Download votes (CSV)")
        jsonl_button = gr.Button("Download votes (JSONL)")
    file_out = gr.File(label="Raw votes", interactive=False, visible=False)
    outputs = [summary, *boards, agreement_text, agreement, rules, learned, coefficients, tables_box, tables]
    refresh_fn = make_refresh(arena)
    private: dict[str, Any] = {"api_visibility": "private"}
    refresh.click(refresh_fn, inputs=None, outputs=outputs, api_name="ui_leaderboard_refresh", **private)
    # triggers=None with no inputs = on every page load; it only formats the background board
    gr.on(triggers=None, fn=refresh_fn, inputs=None, outputs=outputs, api_name="ui_leaderboard_load", **private)
    exports = ExportFiles(arena.store, ctx.downloads.new_folder(), {"csv": CSV_NAME, "jsonl": JSONL_NAME},
                          stop=ctx.stopping)
    csv_button.click(make_download(exports, "csv"), outputs=file_out, api_name="ui_votes_csv", **private)
    jsonl_button.click(make_download(exports, "jsonl"), outputs=file_out, api_name="ui_votes_jsonl", **private)
