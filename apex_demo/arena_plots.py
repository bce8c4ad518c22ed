"""Figures of what the arena learned from its votes: pure functions, no I/O.

Kept apart from apex_demo.plots (the scoring figures) and styled like them: each
output keeps its OutputSpec colour, layouts are compact for phones.
"""

from __future__ import annotations

from typing import Mapping

import plotly.graph_objects as go

from apex_demo.scores import OUTPUT_BY_KEY

COEFFICIENT_TITLE = "Which scores listeners follow here"
COEFFICIENT_AXIS = "effect on the odds of preferring a clip, per standard deviation of the score difference"
FONT_FAMILY = "Inter, system-ui, -apple-system, Segoe UI, Roboto, sans-serif"
TEXT_COLOR = "#1f2937"
GRID_COLOR = "#e5e7eb"
ZERO_COLOR = "#9ca3af"
ROW_HEIGHT = 34
BASE_HEIGHT = 120
MIN_HEIGHT = 240


def coefficient_figure(coefficients: Mapping[str, float], title: str = COEFFICIENT_TITLE) -> go.Figure:
    """Bars of the learned logistic-regression coefficients (standardised), largest effect first.

    A bar to the right: listeners here tend to prefer the clip with the HIGHER value of that
    score; to the left: the LOWER value. Lengths compare directly because the differences
    were standardised before the fit.
    """
    keys = sorted(coefficients, key=lambda k: -abs(coefficients[k]))
    fig = go.Figure(go.Bar(
        x=[coefficients[k] for k in keys], y=[OUTPUT_BY_KEY[k].label for k in keys], orientation="h",
        marker_color=[OUTPUT_BY_KEY[k].color for k in keys],
        text=[f"{coefficients[k]:+.2f}" for k in keys], textposition="outside",
        hovertemplate="%{y}: %{x:+.3f}<extra></extra>",
    ))
    fig.add_vline(x=0, line={"color": ZERO_COLOR})
    fig.update_xaxes(gridcolor=GRID_COLOR, zeroline=False, title_text=COEFFICIENT_AXIS, title_font={"size": 11})
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left", "font": {"size": 16}},
        height=max(MIN_HEIGHT, BASE_HEIGHT + ROW_HEIGHT * len(keys)), showlegend=False,
        margin={"l": 40, "r": 24, "t": 48, "b": 56}, paper_bgcolor="white", plot_bgcolor="white",
        font={"family": FONT_FAMILY, "color": TEXT_COLOR, "size": 13})
    return fig
