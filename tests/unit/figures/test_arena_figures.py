"""The arena's figures: agreement with its chance line and intervals, and the Bradley-Terry ratings."""

from __future__ import annotations


import pytest



# -- pool ----------------------------------------------------------------------------------


# -- battles and sessions ------------------------------------------------------------------


# -- a good vote ---------------------------------------------------------------------------


# -- abuse: each refused with its reason, nothing stored -----------------------------------


# -- the page's helpers ----------------------------------------------------------------------


def test_arena_figures() -> None:
    from apex_demo import figures

    fig = figures.agreement_figure((0.6, 0.45, 0.74, 40), [("coherence", 0.55, 0.4, 0.7, 40),
                                                          ("naturalness", None, None, None, 0)])
    assert len(fig.data) == 1 and list(fig.data[0].y) == ["Overall pick 60%", "Coherence 55%"]  # n=0 left out
    assert fig.data[0].text is None                      # values live in the labels: no line crosses them
    assert list(fig.data[0].x) == pytest.approx([60.0, 55.0])
    assert list(fig.layout.xaxis.range) == [0, 100]
    assert fig.data[0].error_x.array[0] == pytest.approx(14.0)
    empty = figures.agreement_figure((None, None, None, 0), [])
    assert len(empty.data) == 0 and "No decisive votes" in empty.layout.annotations[0].text
    board = figures.leaderboard_figure(["x", "y"], [1100.0, 900.0], [1050.0, 860.0], [1160.0, 950.0])
    assert list(board.data[0].x) == [1100.0, 900.0]
    assert list(board.data[0].error_x.array) == pytest.approx([60.0, 50.0])
    assert list(board.data[0].error_x.arrayminus) == pytest.approx([50.0, 40.0])
    assert len(figures.leaderboard_figure([], [], [], []).data) == 0
    assert board.layout.xaxis.tickangle == 0 and not board.layout.xaxis.title.text   # nothing cut on a phone


def test_a_zero_percent_bar_is_labelled() -> None:
    """A bar of 0 % has no length to carry a label: its value is in the row's label (by hand: 0 of 12)."""
    from apex_demo import figures

    fig = figures.agreement_figure((0.0, 0.0, 0.2425, 12), [("score_likes", 1.0, 0.7575, 1.0, 12)])
    assert list(fig.data[0].y) == ["Overall pick 0%", "Likes 100%"]
    assert list(fig.data[0].x) == [0.0, 100.0]


