"""Plotly figure builders: pure functions from scores to figures, no I/O.

Every figure colours an output with its `OutputSpec.color` from apex_demo.scores,
so "Memorability" is the same orange in the radar, the timeline and the bars.
Takes (several songs overlaid) get colours from TAKE_COLORS instead.
Layouts are compact (small margins, legends below) so figures stay readable on a phone.

Sections: shared layout helpers; score figures (radar, popularity, timeline, ranking).
Arena/leaderboard figures may be appended below in their own section.
"""

from __future__ import annotations

import textwrap
from typing import Any, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from apex_demo import segments as seg
from apex_demo.result import SegmentScore
from apex_demo.scores import AESTHETICS, OUTPUT_BY_KEY, POPULARITY, Scores
from apex_demo.segments import format_time

FONT_FAMILY = "Inter, system-ui, -apple-system, Segoe UI, Roboto, sans-serif"
TEXT_COLOR = "#1f2937"
GRID_COLOR = "#e5e7eb"
FIGURE_HEIGHT = 380
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
TITLE_LINE_CHARS = 36  # about 300 px of 16 px text: the width of a chart on a 390 px phone
TITLE_LINE_PX = 20

Take = tuple[str, Scores]


# ---------------------------------------------------------------- shared layout helpers

def take_color(index: int) -> str:
    """Colour of the index-th take (cycles after ten takes)."""
    return TAKE_COLORS[index % len(TAKE_COLORS)]


def _wrap_title(title: str) -> tuple[str, int]:
    """A title broken into lines that fit a 390 px phone (Plotly cuts a long title instead of
    wrapping it), and how many lines it took."""
    lines = textwrap.wrap(title, TITLE_LINE_CHARS) or [""]
    return "<br>".join(lines), len(lines)


def _base_layout(fig: go.Figure, title: str, height: int = FIGURE_HEIGHT) -> go.Figure:
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


def _message_figure(title: str, text: str, height: int = FIGURE_HEIGHT) -> go.Figure:
    """An empty figure that says why there is nothing to draw (instead of blank axes)."""
    fig = go.Figure()
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 14, "color": "#6b7280"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _base_layout(fig, title, height)


def take_style(index: int) -> dict[str, object]:
    """Line style of the index-th overlaid take: colour, dash and width (wider for earlier takes)."""
    width = max(TAKE_WIDTH_MIN, TAKE_WIDTH_MAX - TAKE_WIDTH_STEP * index)
    return {"color": take_color(index), "dash": TAKE_DASHES[index % len(TAKE_DASHES)], "width": width}


def _short(label: str, limit: int = 28) -> str:
    """Shorten long file names so legends do not wrap on a phone."""
    return label if len(label) <= limit else label[: limit - 1] + "…"


# ---------------------------------------------------------------- score figures

def radar_figure(takes: Sequence[Take], title: str = "Aesthetic profile (1-5)") -> go.Figure:
    """The five aesthetic dimensions on their 1-5 scale; one closed trace per take.

    With one take, each vertex is drawn in its dimension's colour; with several,
    each take gets its own line colour. Popularity-only takes are left out.
    """
    with_aesthetics = [(label, scores) for label, scores in takes if scores.has_aesthetics]
    if not takes:
        return _message_figure(title, EMPTY_TEXT)
    if not with_aesthetics:
        return _message_figure(title, NO_AESTHETICS_TEXT)
    labels = [spec.label for spec in AESTHETICS]
    fig = go.Figure()
    single = len(with_aesthetics) == 1
    for i, (label, scores) in enumerate(with_aesthetics):
        values = [getattr(scores, spec.key) for spec in AESTHETICS]
        line: dict[str, Any] = {"color": "#374151", "width": 2} if single else take_style(i)
        marker_colors: Any = [spec.color for spec in AESTHETICS] if single else line["color"]
        fig.add_trace(go.Scatterpolar(
            r=values + values[:1], theta=labels + labels[:1], name=_short(label),
            mode="lines+markers", fill="toself" if single else "none",
            fillcolor="rgba(55,65,81,0.12)" if single else None, line=line,
            marker={"color": marker_colors + [marker_colors[0]] if single else marker_colors,
                    "size": 9, "symbol": "circle" if single else TAKE_SYMBOLS[i % len(TAKE_SYMBOLS)]},
            hovertemplate="%{theta}: %{r:.2f}<extra>" + _short(label) + "</extra>",
        ))
    fig.update_layout(
        polar={"radialaxis": {"range": list(AESTHETIC_RANGE), "tickvals": [1, 2, 3, 4, 5],
                              "gridcolor": GRID_COLOR, "angle": RADIAL_AXIS_ANGLE,
                              "tickangle": RADIAL_AXIS_ANGLE, "tickfont": {"size": 10, "color": "#6b7280"}},
               "angularaxis": {"gridcolor": GRID_COLOR, "direction": "clockwise", "rotation": 90},
               "bgcolor": "white"},
        showlegend=not single,
    )
    fig = _base_layout(fig, title)
    fig.update_layout(margin={"l": RADAR_SIDE_MARGIN, "r": RADAR_SIDE_MARGIN})  # room for spoke labels on a phone
    return fig


def popularity_figure(takes: Sequence[Take], title: str = "Popularity (0-100)") -> go.Figure:
    """Streams and Likes as horizontal 0-100 bars, one group per take, each output in its colour."""
    if not takes:
        return _message_figure(title, EMPTY_TEXT)
    names = [_short(label) for label, _ in takes]
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
    return _base_layout(fig, title, height)


def timeline_figure(segments: Sequence[SegmentScore], duration_s: float | None = None,
                    title: str = "Along the song (per 30 s segment)") -> go.Figure:
    """Each output across the song's segments, so a weak part stands out.

    Popularity (0-100) and aesthetics (1-5) get separate panels because their
    scales differ; a popularity-only result has just the first panel. The x axis
    spans the whole song (`duration_s`) so streamed partial results grow in place.
    """
    if not segments:
        return _message_figure(title, EMPTY_TEXT, TIMELINE_HEIGHT)
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
    return _base_layout(fig, title, TIMELINE_HEIGHT if rows == 2 else FIGURE_HEIGHT)


def _mark_padded_tail(fig: go.Figure, segments: Sequence[SegmentScore]) -> None:
    """Shade a padded last segment and say, on the chart, that it is short and padded."""
    tail = segments[-1]
    if not seg.is_padded(tail) or len(segments) < 2:
        return
    fig.add_vrect(x0=tail.start_s, x1=tail.end_s, fillcolor=PADDED_FILL, line_width=0, layer="below")
    fig.add_annotation(x=tail.end_s, xref="x", xanchor="right", y=1.0, yref="paper", yanchor="bottom",
                       text=PADDED_TEXT.format(seconds=seg.length_s(tail)),
                       showarrow=False, font={"size": 11, "color": "#6b7280"})


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
        return _message_figure(title, EMPTY_TEXT)
    color = spec.color if spec else "#374151"
    axis_range = [spec.low, spec.high] if spec else list(POPULARITY_RANGE)
    fig = go.Figure(go.Bar(
        x=list(values), y=[_short(label) for label in labels], orientation="h", marker_color=color,
        text=[f"{v:.2f}" if spec and spec.high <= 5 else f"{v:.1f}" for v in values],
        textposition="outside", cliponaxis=False, name=name,
        hovertemplate=name + ": %{x:.2f}<extra>%{y}</extra>",
    ))
    fig.update_xaxes(range=axis_range, gridcolor=GRID_COLOR, zeroline=False)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(showlegend=False)
    return _base_layout(fig, title, max(220, 100 + 40 * len(labels)))


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


# ---------------------------------------------------------------- arena figures (owned by the Arena)

AGREEMENT_COLOR = "#374151"
CHANCE_COLOR = "#9ca3af"
LEADERBOARD_COLOR = "#4f46e5"
NO_VOTES_TEXT = "No decisive votes yet:<br>vote in the Arena tab."
NO_RATINGS_TEXT = "Nobody has enough votes to be listed yet."


def agreement_figure(overall: tuple[float | None, float | None, float | None, int],
                     per_score: Sequence[tuple[str, float | None, float | None, float | None, int]],
                     title: str = "How often the model picks what listeners picked") -> go.Figure:
    """Agreement with decisive votes (A or B), with 95% Wilson intervals, against the 50% chance line.

    `overall` is (rate, low, high, n); `per_score` rows are (score key, rate, low, high, n).
    Rates are 0-1 and drawn as percentages.
    """
    rows = [("Overall pick", overall[0], overall[1], overall[2], overall[3], AGREEMENT_COLOR)]
    rows += [(OUTPUT_BY_KEY[k].label, r, lo, hi, n, OUTPUT_BY_KEY[k].color) for k, r, lo, hi, n in per_score]
    rows = [row for row in rows if row[1] is not None]
    if not rows:
        return _message_figure(title, NO_VOTES_TEXT)
    rates = [100 * r[1] for r in rows]  # type: ignore[operator]  # None rates are filtered out above
    fig = go.Figure(go.Bar(
        x=rates, y=[r[0] for r in rows], orientation="h", marker_color=[r[5] for r in rows],
        error_x={"type": "data", "symmetric": False, "color": "#6b7280",
                 "array": [100 * r[3] - v for r, v in zip(rows, rates)],  # type: ignore[operator]
                 "arrayminus": [v - 100 * r[2] for r, v in zip(rows, rates)]},  # type: ignore[operator]
        text=[f"{v:.0f}% (n={r[4]})" for r, v in zip(rows, rates)], textposition="inside",
        insidetextanchor="start",
        hovertemplate="%{y}: %{x:.1f}%<extra></extra>", name="agreement",
    ))
    fig.add_vline(x=50, line={"color": CHANCE_COLOR, "dash": "dash"}, annotation_text="chance",
                  annotation_position="top")
    fig.update_xaxes(range=[0, 100], gridcolor=GRID_COLOR, ticksuffix="%", zeroline=False)
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(showlegend=False)
    return _base_layout(fig, title, max(240, 110 + 34 * len(rows)))


def leaderboard_figure(items: Sequence[str], ratings: Sequence[float], lows: Sequence[float],
                       highs: Sequence[float], title: str = "Bradley-Terry rating (95% CI)") -> go.Figure:
    """Ratings as dots with bootstrap intervals, best at the top, and the 1000 baseline."""
    if not items:
        return _message_figure(title, NO_RATINGS_TEXT)
    fig = go.Figure(go.Scatter(
        x=list(ratings), y=[_short(i) for i in items], mode="markers",
        marker={"color": LEADERBOARD_COLOR, "size": 11},
        error_x={"type": "data", "symmetric": False, "color": LEADERBOARD_COLOR,
                 "array": [h - r for h, r in zip(highs, ratings)],
                 "arrayminus": [r - lo for r, lo in zip(ratings, lows)]},
        hovertemplate="%{y}: %{x:.0f}<extra></extra>", name="rating",
    ))
    fig.add_vline(x=1000, line={"color": CHANCE_COLOR, "dash": "dot"})
    fig.update_xaxes(gridcolor=GRID_COLOR, zeroline=False, title_text="rating (1000 = average)")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(showlegend=False)
    return _base_layout(fig, title, max(240, 110 + 36 * len(items)))
