"""Figure builders: trace counts, axis ranges, colours and the popularity-only case."""

from __future__ import annotations


from apex_demo.figures import song as plots
from apex_demo.engine.ranking import (OVERALL_KEY)
from apex_demo.engine.result import SegmentScore
from apex_demo.scores import AESTHETICS, OUTPUT_BY_KEY, POPULARITY, Scores

FULL = Scores(score_streams=60.0, score_likes=40.0, coherence=3.0, musicality=4.0,
              memorability=2.0, clarity=5.0, naturalness=1.0)
OTHER = Scores(score_streams=20.0, score_likes=80.0, coherence=4.0, musicality=4.0,
               memorability=4.0, clarity=4.0, naturalness=4.0)
POP_ONLY = Scores(score_streams=70.0, score_likes=30.0)


def segments(scores: list[Scores]) -> list[SegmentScore]:
    return [SegmentScore(index=i, start_s=30.0 * i, end_s=30.0 * (i + 1), scores=s) for i, s in enumerate(scores)]


def test_radar_single_take_is_closed_on_1_to_5_with_dimension_colours() -> None:
    fig = plots.radar_figure([("song.wav", FULL)])
    assert len(fig.data) == 1
    trace = fig.data[0]
    assert list(trace.r) == [3.0, 4.0, 2.0, 5.0, 1.0, 3.0]
    assert list(trace.theta) == [s.label for s in AESTHETICS] + [AESTHETICS[0].label]
    assert list(trace.marker.color)[:5] == [s.color for s in AESTHETICS]
    assert list(fig.layout.polar.radialaxis.range) == [1.0, 5.0]


def test_radar_overlays_takes_with_distinct_colours_and_skips_popularity_only() -> None:
    fig = plots.radar_figure([("a", FULL), ("b", OTHER), ("c", POP_ONLY)])
    assert [t.name for t in fig.data] == ["a", "b"]
    assert fig.data[0].line.color != fig.data[1].line.color
    assert fig.layout.showlegend is True


def test_radar_popularity_only_says_so() -> None:
    fig = plots.radar_figure([("a", POP_ONLY)])
    assert len(fig.data) == 0
    assert "popularity only" in fig.layout.annotations[0].text


def test_popularity_bars_one_trace_per_output_on_0_100() -> None:
    fig = plots.popularity_figure([("a", FULL), ("b", POP_ONLY)])
    assert [t.name for t in fig.data] == [s.label for s in POPULARITY]
    assert [t.marker.color for t in fig.data] == [s.color for s in POPULARITY]
    assert list(fig.data[0].x) == [60.0, 70.0]
    assert list(fig.data[1].x) == [40.0, 30.0]
    assert list(fig.layout.xaxis.range) == [0.0, 100.0]


def test_timeline_has_two_panels_with_every_output() -> None:
    fig = plots.timeline_figure(segments([FULL, OTHER, FULL]), duration_s=75.0)
    assert len(fig.data) == 7
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["Clarity"].y) == [5.0, 4.0, 5.0]
    assert list(by_name["Clarity"].x) == [15.0, 45.0, 75.0]
    assert by_name["Clarity"].line.color == OUTPUT_BY_KEY["clarity"].color
    assert list(fig.layout.yaxis.tickvals) == [0, 25, 50, 75, 100]
    low, high = fig.layout.yaxis.range
    assert low < 0 and 100 < high < 110  # the whole 0-100 scale, with a little room for markers
    assert list(fig.layout.yaxis2.tickvals) == [1, 2, 3, 4, 5]
    low, high = fig.layout.yaxis2.range
    assert 0.5 < low < 1 and 5 < high < 5.5
    assert list(fig.layout.xaxis.range) == [0, 90.0]


def test_timeline_popularity_only_has_one_panel() -> None:
    fig = plots.timeline_figure(segments([POP_ONLY, POP_ONLY]))
    assert [t.name for t in fig.data] == ["Streams", "Likes"]
    assert "yaxis2" not in fig.layout.to_plotly_json()


def test_timeline_partial_result_keeps_full_song_axis() -> None:
    fig = plots.timeline_figure(segments([FULL]), duration_s=170.0)
    assert list(fig.layout.xaxis.range) == [0, 170.0]


def test_empty_inputs_give_a_message_not_blank_axes() -> None:
    for fig in (plots.radar_figure([]), plots.popularity_figure([]), plots.timeline_figure([]),
                plots.ranking_figure([], [], OVERALL_KEY)):
        assert len(fig.data) == 0
        assert fig.layout.annotations[0].text == plots.EMPTY_TEXT


def test_ranking_figure_uses_metric_colour_and_range() -> None:
    fig = plots.ranking_figure(["a", "b"], [4.5, 2.0], "memorability")
    assert fig.data[0].marker.color == OUTPUT_BY_KEY["memorability"].color
    assert list(fig.layout.xaxis.range) == [1.0, 5.0]
    overall = plots.ranking_figure(["a", "b"], [70.0, 20.0], OVERALL_KEY)
    assert list(overall.layout.xaxis.range) == [0.0, 100.0]


