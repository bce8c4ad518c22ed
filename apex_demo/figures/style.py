"""The figures' shared look: fonts, colours, margins and an empty-figure message, defined once.

Every figure colours an output with its `OutputSpec.color` from apex_demo.scores, so "Memorability"
is the same orange in the radar, the timeline and the arena's bars. Layouts are compact (small
margins, legends below, titles wrapped) so figures stay readable on a 390 px phone.
"""

from __future__ import annotations

import textwrap

import plotly.graph_objects as go

FONT_FAMILY = "Inter, system-ui, -apple-system, Segoe UI, Roboto, sans-serif"
TEXT_COLOR = "#1f2937"
GRID_COLOR = "#e5e7eb"
MUTED_COLOR = "#6b7280"     # notes drawn on a figure
NEUTRAL_COLOR = "#374151"   # what has no output colour of its own (the overall score, the overall pick)
BASELINE_COLOR = "#9ca3af"  # reference lines: chance, the rating baseline, zero
FIGURE_HEIGHT = 380
TITLE_LINE_CHARS = 36  # about 300 px of 16 px text: the width of a chart on a 390 px phone
TITLE_LINE_PX = 20
LABEL_CHARS = 28       # legend and axis labels shortened past this, so they do not wrap on a phone


def _wrap_title(title: str) -> tuple[str, int]:
    """A title broken into lines that fit a 390 px phone (Plotly cuts a long title instead of
    wrapping it), and how many lines it took."""
    lines = textwrap.wrap(title, TITLE_LINE_CHARS) or [""]
    return "<br>".join(lines), len(lines)


def base_layout(fig: go.Figure, title: str, height: int = FIGURE_HEIGHT) -> go.Figure:
    """The common clean look: white background, small margins, legend under the plot."""
    text, lines = _wrap_title(title)
    fig.update_layout(
        title={"text": text, "x": 0.0, "xanchor": "left", "font": {"size": 16}},
        height=height + TITLE_LINE_PX * (lines - 1),
        margin={"l": 40, "r": 24, "t": 48 + TITLE_LINE_PX * (lines - 1), "b": 40},
        paper_bgcolor="white",
        plot_bgcolor="white",
        font={"family": FONT_FAMILY, "color": TEXT_COLOR, "size": 13},
        legend={"orientation": "h", "yanchor": "top", "y": -0.12, "xanchor": "left", "x": 0.0},
        hoverlabel={"font": {"family": FONT_FAMILY}},
    )
    return fig


def message_figure(title: str, text: str, height: int = FIGURE_HEIGHT) -> go.Figure:
    """An empty figure that says why there is nothing to draw (instead of blank axes)."""
    fig = go.Figure()
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 14, "color": MUTED_COLOR})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return base_layout(fig, title, height)


def short_label(label: str, limit: int = LABEL_CHARS) -> str:
    """Shorten long file names so legends do not wrap on a phone."""
    return label if len(label) <= limit else label[: limit - 1] + "…"
