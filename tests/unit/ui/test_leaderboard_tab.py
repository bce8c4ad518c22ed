"""The Leaderboard tab's formatting (from a ready board) and the coefficient figure."""

from __future__ import annotations

import pytest

from apex_demo.figures import arena as arena_plots
from apex_demo.arena.board import compute_board
from apex_demo.scores import OUTPUT_BY_KEY
from apex_demo.ui.tabs import leaderboard as leaderboard_tab
from tests.support.arena import make_votes


def test_before_the_first_board_and_with_no_votes_only_one_line() -> None:
    for board in (None, compute_board([])):
        summary, *rest = leaderboard_tab.page(board)
        assert "\n" not in summary
        assert all(update.get("visible") is False for update in rest[:7])   # no empty boxes


def test_few_votes_say_how_many_more_are_needed() -> None:
    board = compute_board(make_votes(20, {"score_likes": 1.0}))
    summary, learned, coefficients, rules, agreement, *_ = leaderboard_tab.page(board)
    assert "**20 votes**" in summary and "**30 more** decisive votes" in summary and "\n" not in summary
    assert learned["visible"] is False and coefficients["visible"] is False and rules["visible"] is False
    assert agreement["visible"] is True


def test_enough_votes_show_the_learned_model_and_both_rules() -> None:
    board = compute_board(make_votes(400, {"score_likes": -2.0}, seed=4))
    summary, learned, coefficients, rules, *_ = leaderboard_tab.page(board)
    assert "more** decisive" not in summary
    assert "400 decisive votes" in learned["value"] and "the learned model" in learned["value"]
    assert coefficients["visible"] and rules["visible"]
    assert rules["value"].count("\n| ") == 7                       # one row per output
    figure = coefficients["value"]
    assert figure.data[0].y[0] == "Likes" and figure.data[0].x[0] < 0    # the biggest effect first


def test_coefficient_figure_by_hand() -> None:
    fig = arena_plots.coefficient_figure({"score_streams": 0.2, "score_likes": -0.9, "coherence": 0.5})
    assert list(fig.data[0].y) == ["Likes", "Coherence", "Streams"]             # by |coefficient|
    assert list(fig.data[0].x) == pytest.approx([-0.9, 0.5, 0.2])
    assert list(fig.data[0].marker.color) == [OUTPUT_BY_KEY[k].color for k in ("score_likes", "coherence",
                                                                               "score_streams")]
    assert fig.layout.title.text == arena_plots.COEFFICIENT_TITLE
