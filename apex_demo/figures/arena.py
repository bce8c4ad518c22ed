"""The arena's figures: how often the model agreed with listeners, the Bradley-Terry ratings, and which
scores listeners here follow. Pure functions from numbers to figures, no I/O; styled as the song's
figures (apex_demo.figures.style), each output in its own colour.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import plotly.graph_objects as go

from apex_demo.figures.style import (BASELINE_COLOR, GRID_COLOR, MUTED_COLOR, NEUTRAL_COLOR, base_layout,
                                     message_figure, short_label)
from apex_demo.scores import OUTPUT_BY_KEY

COEFFICIENT_TITLE = "Which scores listeners follow here"
COEFFICIENT_AXIS = "effect per standard deviation"
ROW_HEIGHT = 34
BASE_HEIGHT = 120
MIN_HEIGHT = 240
AXIS_TITLE_MARGIN = 56  # room under the plot for the x axis title
LEADERBOARD_COLOR = "#4f46e5"
NO_VOTES_TEXT = "No decisive votes yet:<br>vote in the Arena tab."
NO_RATINGS_TEXT = "Nobody has enough votes to be ranked yet."
RATING_TICKS = 3        # few, unrotated ticks: they fit a 390 px phone


def agreement_label(label: str, rate: float) -> str:
    """A row's label with its value, so every bar is labelled (a 0 % bar has no length to carry text)
    and no interval line crosses a value written inside the plot."""
    return f"{label} {100 * rate:.0f}%"


def agreement_figure(overall: tuple[float | None, float | None, float | None, int],
                     per_score: Sequence[tuple[str, float | None, float | None, float | None, int]],
                     title: str = "Agreement with the listener (95% interval)") -> go.Figure:
    """Agreement with decisive votes (A or B), with 95% Wilson intervals, against the 50% chance line.

    `overall` is (rate, low, high, n); `per_score` rows are (score key, rate, low, high, n).
    Rates are 0-1 and drawn as percentages; each value is written in its row's label, the vote
    count and interval in the hover text.
    """
    rows = [("Overall pick", overall[0], overall[1], overall[2], overall[3], NEUTRAL_COLOR)]
    rows += [(OUTPUT_BY_KEY[k].label, r, lo, hi, n, OUTPUT_BY_KEY[k].color) for k, r, lo, hi, n in per_score]
    rows = [row for row in rows if row[1] is not None]
    if not rows:
        return message_figure(title, NO_VOTES_TEXT)
    rates = [100 * r[1] for r in rows]  # type: ignore[operator]  # None rates are filtered out above
    fig = go.Figure(go.Bar(
        x=rates, y=[agreement_label(r[0], r[1]) for r in rows], orientation="h",  # type: ignore[arg-type]
        marker_color=[r[5] for r in rows],
        error_x={"type": "data", "symmetric": False, "color": MUTED_COLOR,
                 "array": [100 * r[3] - v for r, v in zip(rows, rates)],  # type: ignore[operator]
                 "arrayminus": [v - 100 * r[2] for r, v in zip(rows, rates)]},  # type: ignore[operator]
        customdata=[[r[4], 100 * r[2], 100 * r[3]] for r in rows],  # type: ignore[operator]
        hovertemplate="%{y} of %{customdata[0]} decisive votes (95% interval %{customdata[1]:.0f}-"
                      "%{customdata[2]:.0f}%)<extra></extra>", name="agreement",
    ))
    fig.add_vline(x=50, line={"color": BASELINE_COLOR, "dash": "dash"}, annotation_text="chance",
                  annotation_position="top")
    fig.update_xaxes(range=[0, 100], gridcolor=GRID_COLOR, ticksuffix="%", zeroline=False)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(showlegend=False)
    return base_layout(fig, title, max(MIN_HEIGHT, 110 + 34 * len(rows)))


def leaderboard_figure(items: Sequence[str], ratings: Sequence[float], lows: Sequence[float],
                       highs: Sequence[float], title: str = "Rating and 95% interval (1000 = average)") -> go.Figure:
    """Ratings as dots with bootstrap intervals, best at the top, and the 1000 baseline; no axis title
    and a few unrotated ticks, so nothing is cut or crossed on a phone."""
    if not items:
        return message_figure(title, NO_RATINGS_TEXT)
    fig = go.Figure(go.Scatter(
        x=list(ratings), y=[short_label(i) for i in items], mode="markers",
        marker={"color": LEADERBOARD_COLOR, "size": 11},
        error_x={"type": "data", "symmetric": False, "color": LEADERBOARD_COLOR,
                 "array": [h - r for h, r in zip(highs, ratings)],
                 "arrayminus": [r - lo for r, lo in zip(ratings, lows)]},
        hovertemplate="%{y}: %{x:.0f}<extra></extra>", name="rating",
    ))
    fig.add_vline(x=1000, line={"color": BASELINE_COLOR, "dash": "dot"})
    fig.update_xaxes(gridcolor=GRID_COLOR, zeroline=False, nticks=RATING_TICKS, tickangle=0)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(showlegend=False)
    return base_layout(fig, title, max(MIN_HEIGHT, 110 + 36 * len(items)))


def coefficient_figure(coefficients: Mapping[str, float], title: str = COEFFICIENT_TITLE) -> go.Figure:
    """Bars of the learned logistic-regression coefficients (standardised), largest effect first.

    A bar to the right: listeners here tend to prefer the clip with the HIGHER value of that
    score; to the left: the LOWER value. Lengths compare directly because the differences
    were standardised before the fit.
    """
    keys = sorted(coefficients, key=lambda k: -abs(coefficients[k]))
    fig = go.Figure(go.Bar(
        x=[coefficients[k] for k in keys], y=[f"{OUTPUT_BY_KEY[k].label} {coefficients[k]:+.2f}" for k in keys],
        orientation="h", marker_color=[OUTPUT_BY_KEY[k].color for k in keys],
        hovertemplate="%{y}: %{x:+.3f}<extra></extra>",       # values in the labels: nothing written over a bar
    ))
    fig.add_vline(x=0, line={"color": BASELINE_COLOR})
    fig.update_xaxes(gridcolor=GRID_COLOR, zeroline=False, title_text=COEFFICIENT_AXIS, title_font={"size": 11})
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(showlegend=False)
    base_layout(fig, title, max(MIN_HEIGHT, BASE_HEIGHT + ROW_HEIGHT * len(keys)))
    fig.update_layout(margin={"b": AXIS_TITLE_MARGIN})
    return fig
