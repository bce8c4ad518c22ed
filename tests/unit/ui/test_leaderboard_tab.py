"""The Leaderboard tab's formatting (from a ready board): the terms glossed, boards that say what they wait
for, shared ranks, the kind boards, what the trust check left out, and the coefficient figure."""

from __future__ import annotations

from dataclasses import replace

import pytest

from apex_demo.figures import arena as arena_plots
from apex_demo.arena.board import compute_board
from apex_demo.arena.records import Choice, Vote
from apex_demo.scores import OUTPUT_BY_KEY
from apex_demo.ui.tabs import leaderboard as leaderboard_tab
from tests.support.arena import make_votes

BOARD_COMPONENTS = 2 * len(leaderboard_tab.BOARDS)


def battle(i: int, a: str, b: str, choice: Choice, instrumental: bool | None = None) -> Vote:
    return Vote(f"b{i}", choice, "s", "pool", f"{a}-clip", f"{b}-clip", a, b, 9.0, 9.0, 0.0, 1.0,
                instrumental=instrumental)


def test_before_the_first_board_and_with_no_votes_only_one_line() -> None:
    for board in (None, compute_board([])):
        summary, *rest, tables = leaderboard_tab.page(board)
        assert "\n" not in summary and tables["value"] == ""
        assert all(update.get("visible") is False for update in rest)        # no empty boxes


def test_the_terms_are_glossed_in_plain_words() -> None:
    """Each statistical term a musician meets is named and explained in one line."""
    text = leaderboard_tab.GLOSSARY
    for term, plain in (("Bradley-Terry", "1000 is average"), ("bootstrap", "drawn at random from the real ones"),
                        ("Wilson interval", "stays honest with few votes"), ("ROC AUC", "0.5 is a coin flip"),
                        ("share a rank", "clearly ahead")):
        assert term in text and plain in text, term


def test_few_votes_say_what_each_board_waits_for() -> None:
    """20 votes between two systems: no board ranks anybody yet (30 for a system, 10 for a clip: the clips
    here have 20 each, so the clip board does), and each empty board says how far it is."""
    board = compute_board(make_votes(20, {"score_likes": 1.0}))
    summary, *rest = leaderboard_tab.page(board)
    systems_text, systems_plot = rest[0], rest[1]
    assert "**20 votes counted**" in summary and "\n" not in summary
    assert "Ranked from **30 votes**" in systems_text["value"] and "most so far: 20" in systems_text["value"]
    assert systems_plot["visible"] is False
    clips_text, clips_plot = rest[BOARD_COMPONENTS - 2]["value"], rest[BOARD_COMPONENTS - 1]
    assert "Ranked from **10 votes**" in clips_text and clips_plot["visible"] is True   # 20 votes: ranked
    agreement_text, agreement, rules, learned, coefficients, *_ = rest[BOARD_COMPONENTS:]
    assert "**30 more** A/B votes" in agreement_text["value"] and agreement["visible"] is True
    assert learned["visible"] is False and coefficients["visible"] is False and rules["visible"] is False


def test_enough_votes_show_the_learned_model_and_both_rules() -> None:
    board = compute_board(make_votes(400, {"score_likes": -2.0}, seed=4))
    _, *rest = leaderboard_tab.page(board)
    agreement_text, _, rules, learned, coefficients, *_ = rest[BOARD_COMPONENTS:]
    assert "more** A/B" not in agreement_text["value"]
    assert "400 A/B votes" in learned["value"] and "the learned model" in learned["value"]
    assert coefficients["visible"] and rules["visible"]
    assert rules["value"].count("\n| ") == 1 + 7                   # the header and one row per output
    figure = coefficients["value"]
    assert figure.data[0].y[0].startswith("Likes -") and figure.data[0].x[0] < 0    # the biggest effect first


def test_overlapping_intervals_share_a_rank_and_kinds_get_their_boards() -> None:
    """a beats everyone often, b and c are even (their intervals overlap): ranks 1, 2, 2. Kinds: the
    instrumental battles are a-b only, so the vocal board is there (b-c) and ranks b and c alike."""
    votes = [battle(i, "a", "b" if i % 2 else "c", Choice.A if i % 5 else Choice.B, instrumental=True)
             for i in range(120)]
    votes += [battle(1000 + i, "b", "c", Choice.A if i % 2 else Choice.B, instrumental=False) for i in range(80)]
    board = compute_board(votes)
    tiers = {r.item: r.tier for r in board.stats.systems}
    assert tiers == {"a": 1, "b": 2, "c": 2}
    a, b, c = (next(r for r in board.stats.systems if r.item == x) for x in "abc")
    assert a.ci_low > max(b.ci_high, c.ci_high) and b.ci_low <= c.ci_high and c.ci_low <= b.ci_high
    text = leaderboard_tab.tables_markdown(board.stats)
    assert "| 1 | a |" in text and "| 2 | b |" in text and "| 2 | c |" in text
    vocal = text[text.index("battles with vocals"):]
    assert "| 1 | b |" in vocal and "| 1 | c |" in vocal
    _, *rest = leaderboard_tab.page(board)
    assert rest[2]["visible"] and rest[4]["visible"]             # instrumental and vocal boards shown
    assert list(rest[1]["value"].data[0].y) == ["1. a", "2. b", "2. c"]     # the figure shows the shared ranks
    only_overall = compute_board([replace(v, instrumental=None) for v in votes])
    _, *rest = leaderboard_tab.page(only_overall)
    assert rest[2]["visible"] is False and rest[4]["visible"] is False


def test_what_the_trust_check_left_out_is_counted_in_words() -> None:
    votes = [battle(i, "a", "b", Choice.A) for i in range(40)]
    votes[:5] = [replace(v, flag="stuffing: a won 20 of 20") for v in votes[:5]]
    votes[5:7] = [replace(v, flag="one_sided: all 15 were A") for v in votes[5:7]]
    line = leaderboard_tab.summary_markdown(compute_board(votes))
    assert "**33 votes counted**" in line and "5 stuffing" in line and "2 always one side" in line


def test_coefficient_figure_by_hand() -> None:
    fig = arena_plots.coefficient_figure({"score_streams": 0.2, "score_likes": -0.9, "coherence": 0.5})
    assert list(fig.data[0].y) == ["Likes -0.90", "Coherence +0.50", "Streams +0.20"]   # by |coefficient|
    assert fig.data[0].text is None                                # values in the labels, none over a bar
    assert list(fig.data[0].x) == pytest.approx([-0.9, 0.5, 0.2])
    assert list(fig.data[0].marker.color) == [OUTPUT_BY_KEY[k].color for k in ("score_likes", "coherence",
                                                                               "score_streams")]
    assert fig.layout.title.text == arena_plots.COEFFICIENT_TITLE
