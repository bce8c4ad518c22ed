"""A song's figures: the radar, the popularity bars, the timeline of its parts, the ranking of takes,
and a plain-text twin of each for screen readers. Pure functions from scores to figures, no I/O.

Takes (several songs overlaid) get colours from TAKE_COLORS; outputs keep their own colours
(apex_demo.figures.style).
"""

from __future__ import annotations

from typing import Any, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from apex_demo.engine import segments as seg
from apex_demo.engine import SegmentScore
from apex_demo.scores import AESTHETICS, OUTPUT_BY_KEY, POPULARITY, Scores
from apex_demo.engine import format_time
from apex_demo.figures.style import (FIGURE_HEIGHT, GRID_COLOR, MUTED_COLOR, NEUTRAL_COLOR, base_layout,
                                     message_figure, short_label)

TIMELINE_HEIGHT = 460
# Take colours: distinct from each other, used when several songs share one figure.
TAKE_COLORS = ("#111827", "#2563eb", "#dc2626", "#16a34a", "#9333ea",
               "#ca8a04", "#0891b2", "#db2777", "#6b7280", "#ea580c")
# Overlaid takes also differ by dash and marker, so two takes with equal scores (or a colour-blind
# reader) still tell the lines apart; earlier takes are drawn wider, so a later line on top of an
# identical earlier one leaves the earlier one visible around it.
TAKE_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
TAKE_SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star", "cross", "triangle-down",
                "pentagon", "hexagon")
TAKE_WIDTH_MAX = 5.0
TAKE_WIDTH_MIN = 1.5
TAKE_WIDTH_STEP = 0.75
PADDED_FILL = "rgba(107,114,128,0.12)"
PADDED_TEXT = "{seconds:.0f} s tail, padded"  # short: it shares the top line with the panel title on a phone
AESTHETIC_RANGE = (1.0, 5.0)
# Timeline y axes get a little room beyond the scale so markers and tick labels at the ends stay clear.
TIMELINE_POPULARITY_AXIS = (-4.0, 104.0)
TIMELINE_AESTHETIC_AXIS = (0.85, 5.15)
RADAR_SIDE_MARGIN = 80
RADIAL_AXIS_ANGLE = 54  # between the first two spokes (top and top-right), so ticks never hide a label
POPULARITY_RANGE = (0.0, 100.0)
NO_AESTHETICS_TEXT = "This model predicts popularity only:<br>no aesthetic dimensions to show."
EMPTY_TEXT = "No scores yet"

Take = tuple[str, Scores]


def take_color(index: int) -> str:
    """Colour of the index-th take (cycles after ten takes)."""
    return TAKE_COLORS[index % len(TAKE_COLORS)]


def take_style(index: int) -> dict[str, object]:
    """Line style of the index-th overlaid take: colour, dash and width (wider for earlier takes)."""
    width = max(TAKE_WIDTH_MIN, TAKE_WIDTH_MAX - TAKE_WIDTH_STEP * index)
    return {"color": take_color(index), "dash": TAKE_DASHES[index % len(TAKE_DASHES)], "width": width}


def radar_figure(takes: Sequence[Take], title: str = "Aesthetic profile (1-5)") -> go.Figure:
    """The five aesthetic dimensions on their 1-5 scale; one closed trace per take.

    With one take, each vertex is drawn in its dimension's colour; with several,
    each take gets its own line colour. Popularity-only takes are left out.
    """
    with_aesthetics = [(label, scores) for label, scores in takes if scores.has_aesthetics]
    if not takes:
        return message_figure(title, EMPTY_TEXT)
    if not with_aesthetics:
        return message_figure(title, NO_AESTHETICS_TEXT)
    labels = [spec.label for spec in AESTHETICS]
    fig = go.Figure()
    single = len(with_aesthetics) == 1
    for i, (label, scores) in enumerate(with_aesthetics):
        values = [getattr(scores, spec.key) for spec in AESTHETICS]
        line: dict[str, Any] = {"color": NEUTRAL_COLOR, "width": 2} if single else take_style(i)
        marker_colors: Any = [spec.color for spec in AESTHETICS] if single else line["color"]
        fig.add_trace(go.Scatterpolar(
            r=values + values[:1], theta=labels + labels[:1], name=short_label(label),
            mode="lines+markers", fill="toself" if single else "none",
            fillcolor="rgba(55,65,81,0.12)" if single else None, line=line,
            marker={"color": marker_colors + [marker_colors[0]] if single else marker_colors,
                    "size": 9, "symbol": "circle" if single else TAKE_SYMBOLS[i % len(TAKE_SYMBOLS)]},
            hovertemplate="%{theta}: %{r:.2f}<extra>" + short_label(label) + "</extra>",
        ))
    fig.update_layout(
        polar={"radialaxis": {"range": list(AESTHETIC_RANGE), "tickvals": [1, 2, 3, 4, 5],
                              "gridcolor": GRID_COLOR, "angle": RADIAL_AXIS_ANGLE,
                              "tickangle": RADIAL_AXIS_ANGLE, "tickfont": {"size": 10, "color": MUTED_COLOR}},
               "angularaxis": {"gridcolor": GRID_COLOR, "direction": "clockwise", "rotation": 90},
               "bgcolor": "white"},
        showlegend=not single,
    )
    fig = base_layout(fig, title)
    fig.update_layout(margin={"l": RADAR_SIDE_MARGIN, "r": RADAR_SIDE_MARGIN})  # room for spoke labels on a phone
    return fig


def popularity_figure(takes: Sequence[Take], title: str = "Popularity (0-100)") -> go.Figure:
    """Streams and Likes as horizontal 0-100 bars, one group per take, each output in its colour."""
    if not takes:
        return message_figure(title, EMPTY_TEXT)
    names = [short_label(label) for label, _ in takes]
    fig = go.Figure()
    for spec in POPULARITY:
        values = [getattr(scores, spec.key) for _, scores in takes]
        fig.add_trace(go.Bar(
            x=values, y=names, orientation="h", name=spec.label, marker_color=spec.color,
            text=[f"{v:.0f}" for v in values], textposition="outside", cliponaxis=False,
            hovertemplate=spec.label + ": %{x:.1f}<extra>%{y}</extra>",
        ))
    height = max(220, 120 + 56 * len(takes))
    fig.update_layout(barmode="group", bargap=0.25)
    fig.update_xaxes(range=list(POPULARITY_RANGE), gridcolor=GRID_COLOR, dtick=20, zeroline=False)
    fig.update_yaxes(autorange="reversed", showticklabels=len(takes) > 1)
    return base_layout(fig, title, height)


def timeline_figure(segments: Sequence[SegmentScore], duration_s: float | None = None,
                    title: str = "Along the song (per 30 s segment)") -> go.Figure:
    """Each output across the song's segments, so a weak part stands out.

    Popularity (0-100) and aesthetics (1-5) get separate panels because their
    scales differ; a popularity-only result has just the first panel. The x axis
    spans the whole song (`duration_s`) so streamed partial results grow in place.
    """
    if not segments:
        return message_figure(title, EMPTY_TEXT, TIMELINE_HEIGHT)
    has_aesthetics = segments[0].scores.has_aesthetics
    rows = 2 if has_aesthetics else 1
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.12,
                        subplot_titles=("Popularity (0-100)", "Aesthetics (1-5)")[:rows])
    mids = [(s.start_s + s.end_s) / 2 for s in segments]
    # text: the part's label (hover); customdata: its start second (the page's click handler seeks there).
    labels = [seg.label(s) for s in segments]
    starts = [s.start_s for s in segments]
    for row, specs in ((1, POPULARITY), (2, AESTHETICS))[:rows]:
        for spec in specs:
            fig.add_trace(go.Scatter(
                x=mids, y=[getattr(s.scores, spec.key) for s in segments], name=spec.label,
                mode="lines+markers", line={"color": spec.color, "width": 2}, marker={"size": 7},
                text=labels, customdata=starts, hovertemplate=spec.label + " %{text}: %{y:.2f}<extra></extra>",
            ), row=row, col=1)
    _mark_padded_tail(fig, segments)
    end = max(duration_s or 0.0, segments[-1].end_s)
    ticks = [s.start_s for s in segments] + [segments[-1].end_s]
    fig.update_xaxes(range=[0, end], tickvals=ticks, ticktext=[format_time(t) for t in ticks],
                     gridcolor=GRID_COLOR, zeroline=False)
    fig.update_yaxes(range=list(TIMELINE_POPULARITY_AXIS), tickvals=[0, 25, 50, 75, 100], gridcolor=GRID_COLOR,
                     zeroline=False, row=1, col=1)
    if has_aesthetics:
        fig.update_yaxes(range=list(TIMELINE_AESTHETIC_AXIS), tickvals=[1, 2, 3, 4, 5], gridcolor=GRID_COLOR,
                         zeroline=False, row=2, col=1)
    fig.update_layout(legend={"y": -0.08})
    for subtitle in fig.layout.annotations[:rows]:  # panel titles on the left, the padded-tail note on the right
        subtitle.update(x=0.0, xanchor="left", font={"size": 13})
    return base_layout(fig, title, TIMELINE_HEIGHT if rows == 2 else FIGURE_HEIGHT)


def _mark_padded_tail(fig: go.Figure, segments: Sequence[SegmentScore]) -> None:
    """Shade a padded last segment and say, on the chart, that it is short and padded."""
    tail = segments[-1]
    if not seg.is_padded(tail) or len(segments) < 2:
        return
    fig.add_vrect(x0=tail.start_s, x1=tail.end_s, fillcolor=PADDED_FILL, line_width=0, layer="below")
    fig.add_annotation(x=tail.end_s, xref="x", xanchor="right", y=1.0, yref="paper", yanchor="bottom",
                       text=PADDED_TEXT.format(seconds=seg.length_s(tail)),
                       showarrow=False, font={"size": 11, "color": MUTED_COLOR})


def ranking_figure(labels: Sequence[str], values: Sequence[float], metric_key: str,
                   title: str | None = None) -> go.Figure:
    """Takes ranked by one metric, best at the top, as horizontal bars.

    `metric_key` is a score key (bar in that output's colour, on its range) or
    "overall" (0-100, neutral colour).
    """
    spec = OUTPUT_BY_KEY.get(metric_key)
    name = spec.label if spec else "Overall"
    title = title or f"Ranking by {name}"
    if not labels:
        return message_figure(title, EMPTY_TEXT)
    color = spec.color if spec else NEUTRAL_COLOR
    axis_range = [spec.low, spec.high] if spec else list(POPULARITY_RANGE)
    fig = go.Figure(go.Bar(
        x=list(values), y=[short_label(label) for label in labels], orientation="h", marker_color=color,
        text=[f"{v:.2f}" if spec and spec.high <= 5 else f"{v:.1f}" for v in values],
        textposition="outside", cliponaxis=False, name=name,
        hovertemplate=name + ": %{x:.2f}<extra>%{y}</extra>",
    ))
    fig.update_xaxes(range=axis_range, gridcolor=GRID_COLOR, zeroline=False)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(showlegend=False)
    return base_layout(fig, title, max(220, 100 + 40 * len(labels)))


# ---------------------------------------------------------------- text summaries (screen readers)
# A chart is an image to a screen reader; each score figure has a plain-text twin with the same numbers.

def radar_summary(takes: Sequence[Take]) -> str:
    """The radar's numbers in words: each take's five aesthetic scores."""
    lines = [f"{label}: " + ", ".join(f"{spec.label} {getattr(scores, spec.key):.2f} of 5" for spec in AESTHETICS)
             for label, scores in takes if scores.has_aesthetics]
    return "Aesthetic profile. " + ("; ".join(lines) if lines else "No aesthetic scores.")


def popularity_summary(takes: Sequence[Take]) -> str:
    """The popularity bars in words."""
    return "Popularity. " + "; ".join(
        f"{label}: " + ", ".join(f"{spec.label} {getattr(scores, spec.key):.0f} of 100" for spec in POPULARITY)
        for label, scores in takes)


def timeline_summary(segments: Sequence[SegmentScore]) -> str:
    """The timeline in words: each part's label with its scores."""
    parts = [f"{seg.label(s)}: " + ", ".join(f"{OUTPUT_BY_KEY[k].label} {v:.1f}" for k, v in s.scores)
             for s in segments]
    return "Along the song, per 30-second part. " + "; ".join(parts)


def ranking_summary(labels: Sequence[str], values: Sequence[float], metric_key: str) -> str:
    """The ranking bars in words, best first."""
    spec = OUTPUT_BY_KEY.get(metric_key)
    name = spec.label if spec else "Overall"
    return f"Ranking by {name}, best first: " + "; ".join(f"{label} {value:.2f}" for label, value in zip(labels, values))
