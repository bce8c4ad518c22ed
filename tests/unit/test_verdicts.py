"""Verdicts respect noise, the padded tail is honest, errors and progress speak plainly.

Every expected number below is worked out by hand from the definitions: overall = mean of the
outputs on 0-100 (a 1-5 score x counts as (x - 1) / 4 * 100), tolerance 2 points.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import soundfile as sf

from apex_demo.engine import audio
from apex_demo.errors import ApexError, AudioError, ErrorCode
from apex_demo.figures.song import radar_figure, timeline_figure, timeline_summary
from apex_demo.arena.picks import model_pick
from apex_demo.engine.ranking import about_same, rank_takes
from apex_demo.engine.result import ModelInfo, ScoreResult, SegmentScore
from apex_demo.scores import Scores
from apex_demo.engine.report import song_report, takes_report
from apex_demo.engine.segments import label, weakest_part
from apex_demo.ui.tabs.analyze import scores_table, weakest_part_text
from apex_demo.ui.tabs.compare import ranking_table, verdict_markdown
from apex_demo.ui.loader import model_name
from apex_demo.ui.messages import minutes_text, visitor_message
from apex_demo.ui.progress import ScoreProgress, SegmentSpeed
from apex_demo.arena.records import Choice


def pop(value: float) -> Scores:
    """A popularity-only score whose overall is exactly `value` (mean of two equal numbers)."""
    return Scores(score_streams=value, score_likes=value)


def segments(*spans_and_overall: tuple[float, float, float]) -> tuple[SegmentScore, ...]:
    return tuple(SegmentScore(i, start, end, pop(value)) for i, (start, end, value) in enumerate(spans_and_overall))


def plain(markdown: str) -> str:
    """The text without the play links' HTML tags and arrows."""
    return re.sub(r"<[^>]+>|▶ ", "", markdown)


def result_of(segs: tuple[SegmentScore, ...]) -> ScoreResult:
    return ScoreResult("song.wav", segs[-1].end_s, 44100, 2, pop(50.0), segs, np.zeros(4, np.float32),
                       ModelInfo("m", "h"), total_segments=len(segs))


# -- the tolerance rule -----------------------------------------------------------------------
def test_model_pick_calls_close_overall_scores_a_tie() -> None:
    # overall 50.5 vs 50 (0.5 apart) and 51.5 vs 50 (1.5 apart): within 2 points -> TIE
    assert model_pick({"score_streams": 51.0, "score_likes": 50.0}, pop(50.0)) is Choice.TIE
    assert model_pick({"score_streams": 53.0, "score_likes": 50.0}, pop(50.0)) is Choice.TIE
    # 52.5 vs 50: 2.5 apart -> a real pick, either way round
    assert model_pick({"score_streams": 55.0, "score_likes": 50.0}, pop(50.0)) is Choice.A
    assert model_pick(pop(50.0), {"score_streams": 55.0, "score_likes": 50.0}) is Choice.B


def test_about_same_on_a_1_to_5_score_uses_the_same_points() -> None:
    # 0.08 on 1-5 is 0.08 / 4 * 100 = 2 points (the boundary counts as the same); 0.10 is 2.5 points
    assert about_same("coherence", 3.00, 3.08)
    assert not about_same("coherence", 3.00, 3.10)
    assert about_same("score_likes", 40.0, 41.9) and not about_same("score_likes", 40.0, 42.1)


def test_compare_ranks_49_4_and_49_3_as_equal_and_says_so() -> None:
    ranked = rank_takes([("take_a", pop(49.4)), ("take_b", pop(49.3)), ("take_c", pop(40.0))])
    assert [(r.label, r.rank, r.tied) for r in ranked] == [("take_a", 1, True), ("take_b", 1, True),
                                                         ("take_c", 3, False)]
    verdict = verdict_markdown(takes_report([("take_a", pop(49.4)), ("take_b", pop(49.3)), ("take_c", pop(40.0))]))
    assert "take\\_a and take\\_b are about the same" in verdict and "0.1 points" in verdict  # names escaped
    assert "ahead by" not in verdict


def test_compare_names_a_leader_only_beyond_the_tolerance() -> None:
    ranked = takes_report([("quiet", pop(40.0)), ("loud", pop(60.0))])
    assert verdict_markdown(ranked) == "**loud** is ahead by overall score: 20.0 points above **quiet**."
    everyone_equal = takes_report([("a", pop(50.0)), ("b", pop(51.0)), ("c", pop(50.5))])
    assert [r.rank for r in everyone_equal.ranked] == [1, 1, 1]
    assert "b, c and a are about the same" in verdict_markdown(everyone_equal)


def test_ranking_table_shows_shared_ranks() -> None:
    scored = [(name, _with_scores(pop(v))) for name, v in (("x", 70.0), ("y", 69.0), ("z", 10.0))]
    table = ranking_table(scored, "overall")
    assert list(table["Rank"]) == ["=1", "=1", "3"] and list(table["Take"]) == ["x", "y", "z"]


def _with_scores(scores: Scores) -> ScoreResult:
    return ScoreResult("t.wav", 30.0, 44100, 2, scores, (), np.zeros(4, np.float32), ModelInfo("m", "h"),
                       total_segments=1)


def test_weakest_part_needs_a_gap_beyond_the_tolerance() -> None:
    even = segments((0, 30, 49.0), (30, 60, 50.0), (60, 90, 49.5))
    verdict = weakest_part(even)
    assert verdict is not None and verdict.weakest == ()
    text = "\n".join(weakest_part_text(song_report(result_of(even))))
    assert "No part stands out" in text and "Weakest part" not in text
    two_low = segments((0, 30, 40.0), (30, 60, 60.0), (60, 90, 41.0))
    verdict = weakest_part(two_low)
    assert verdict is not None and [s.index for s in verdict.weakest] == [0, 2] and verdict.best.index == 1
    assert "**Weakest part:** 0:00-0:30 and 1:00-1:30, overall score 40 (the best part, 0:30-1:00, has 60)" in \
        plain(weakest_part_text(song_report(result_of(two_low)))[0])


# -- the padded tail ----------------------------------------------------------------------------
def test_short_padded_tail_is_labelled_and_never_named_weakest() -> None:
    # a 65 s song: two full parts and a 5 s tail padded with 25 s of silence, scored far below the rest
    segs = segments((0, 30, 60.0), (30, 60, 50.0), (60, 65, 10.0))
    assert label(segs[2]) == "1:00-1:05 (5 s, padded with silence)"
    assert label(segs[1]) == "0:30-1:00"
    verdict = weakest_part(segs)
    assert verdict is not None and [s.index for s in verdict.weakest] == [1] and verdict.skipped == segs[2]
    text = plain("\n".join(weakest_part_text(song_report(result_of(segs)))))
    assert "**Weakest part:** 0:30-1:00" in text
    assert "The last 5 s (1:00-1:05) is too short to judge on its own" in text and "25 s of silence" in text
    assert list(scores_table(result_of(segs))["Part"])[-1] == "1:00-1:05 (5 s, padded with silence)"
    assert "1:00-1:05 (5 s, padded with silence): Streams 10.0, Likes 10.0" in timeline_summary(segs)  # screen readers


def test_a_35_second_song_has_no_weakest_part() -> None:
    # one full part and a 5 s tail: only one part can be judged
    segs = segments((0, 30, 50.0), (30, 35, 49.0))
    assert weakest_part(segs) is None and weakest_part_text(song_report(result_of(segs))) == []


def test_a_tail_of_ten_seconds_or_more_can_be_the_weakest_part() -> None:
    segs = segments((0, 30, 60.0), (30, 45, 20.0))
    verdict = weakest_part(segs)
    assert verdict is not None and [s.index for s in verdict.weakest] == [1] and verdict.skipped is None
    assert "0:30-0:45 (15 s, padded with silence)" in plain(weakest_part_text(song_report(result_of(segs)))[0])


def test_timeline_marks_the_padded_tail() -> None:
    fig = timeline_figure(segments((0, 30, 60.0), (30, 60, 50.0), (60, 65, 10.0)), 65.0)
    shapes = [s for s in fig.layout.shapes if s.type == "rect"]
    assert [(s.x0, s.x1) for s in shapes] == [(60, 65)]
    assert any(a.text == "5 s tail, padded" for a in fig.layout.annotations)
    unpadded = timeline_figure(segments((0, 30, 60.0), (30, 60, 50.0)), 60.0)
    assert not [s for s in unpadded.layout.shapes if s.type == "rect"]


# -- overlaid radars stay distinguishable ------------------------------------------------------------
def test_overlaid_radar_lines_differ_in_colour_and_dash_and_none_is_hidden() -> None:
    same = Scores(50, 50, 3, 3, 3, 3, 3)
    fig = radar_figure([("a", same), ("b", same), ("c", same)])
    styles = [(t.line.color, t.line.dash) for t in fig.data]
    assert len(set(c for c, _ in styles)) == 3 and len(set(d for _, d in styles)) == 3
    widths = [t.line.width for t in fig.data]
    assert widths[0] > widths[1] > widths[2]  # identical lines: each earlier one shows around the later one
    assert fig.layout.showlegend is True and [t.name for t in fig.data] == ["a", "b", "c"]


# -- progress line -----------------------------------------------------------------------------------
def test_progress_line_estimates_time_left_from_measured_speed() -> None:
    now = [100.0]
    speed = SegmentSpeed()
    progress = ScoreProgress(speed, clock=lambda: now[0])
    assert "Reading the audio" in progress.reading()
    now[0] = 110.0  # first of four parts took 10 s -> 3 more take about 30 s
    assert "1 of 4 parts done · about 30 s left" in progress.segments(1, 4)
    now[0] = 140.0
    assert "Done: 4 parts scored in 40 s" in progress.finished(4, cached=False)
    assert speed.seconds_per_segment == 10.0
    later = ScoreProgress(speed, clock=lambda: now[0])
    assert "about 10 s per part" in later.reading()


# -- errors in plain words ------------------------------------------------------------------------------
def test_too_long_file_is_explained_in_minutes_without_admin_words(tmp_path) -> None:
    path = tmp_path / "long_take.wav"
    sf.write(str(path), np.zeros(8000 * 3, np.float32), 8000)  # 3 s against a 2 s limit
    with pytest.raises(AudioError) as info:
        audio.decode(path, max_seconds=2.0)
    message = visitor_message(info.value, path)
    assert message == "“long_take.wav” is 3 s long; the limit is 2 s. Trim it or upload the part you want checked."
    eleven = AudioError("x", ErrorCode.TOO_LONG, details={"seconds": 660.0, "limit_s": 600.0})
    assert "is 11 min long; the limit is 10 min." in visitor_message(eleven, "/tmp/gradio/abc/song.mp3")


@pytest.mark.parametrize("seconds, text", [
    (8.5, "8.5 s"), (8.0, "8 s"), (9.0978, "9.1 s"), (8.25, "8.3 s"), (1.05, "1.1 s"), (45, "45 s"),
    (59.94, "59.9 s"), (59.96, "1 min"), (90, "1 min 30 s"), (90.5, "1 min 31 s"), (150.5, "2 min 31 s"),
    (600, "10 min"), (660, "11 min"), (0, "0 s"),
])
def test_lengths_read_as_a_person_rounds_them(seconds: float, text: str) -> None:
    """Halves round up (Python's round() gave "8 s" for 8.5 s and "2 min 30 s" for 150.5 s); tenths
    under a minute, so a limit of 8.5 s and a 9.1 s clip read differently."""
    assert minutes_text(seconds) == text


def test_unreadable_file_message_has_no_server_words(tmp_path) -> None:
    path = tmp_path / "notes.mp3"
    path.write_text("these are my lyrics, not audio\n" * 50)
    with pytest.raises(AudioError) as info:
        audio.decode(path, max_seconds=600.0)
    message = visitor_message(info.value, path)
    assert "“notes.mp3” doesn't look like audio" in message
    for admin_word in ("libsndfile", "APEX_", str(tmp_path)):
        assert admin_word not in message
    model = ApexError("Cannot reach the Hugging Face Hub. Set APEX_MERT=...", ErrorCode.HUB_UNREACHABLE)
    assert "APEX_" not in visitor_message(model) and "About tab" in visitor_message(model)


def test_models_are_named_by_hub_id_or_folder_name() -> None:
    assert model_name("m-a-p/MERT-v1-95M") == "m-a-p/MERT-v1-95M"
    assert model_name("/srv/models/MERT-v1-95M") == "MERT-v1-95M"
    assert model_name("./weights/best_model.pt") == "best_model.pt"


def test_takes_report_gap_and_leaders_by_hand() -> None:
    """One leader: the gap is to the runner-up (60 - 40). Two about the same at the top: the gap between
    them (55.0 - 54.2 = 0.8), the runner-up the first take below. One take: no runner-up, no gap."""
    alone = takes_report([("a", pop(60.0)), ("b", pop(40.0)), ("c", pop(10.0))])
    assert [t.label for t in alone.leaders] == ["a"] and alone.runner_up is not None
    assert alone.runner_up.label == "b" and alone.gap == pytest.approx(20.0) and not alone.all_tied
    pair = takes_report([("x", pop(54.2)), ("y", pop(55.0)), ("z", pop(30.0))])
    assert [t.label for t in pair.leaders] == ["y", "x"] and pair.gap == pytest.approx(0.8)
    assert pair.runner_up is not None and pair.runner_up.label == "z" and not pair.all_tied
    one = takes_report([("solo", pop(50.0))])
    assert one.runner_up is None and one.gap == 0.0 and one.all_tied
