"""The report a musician reads, as data: every view (page, API, MCP) gets the same verdicts from it.

Expected values are worked by hand from hand-made scores (overall = the plain mean on 0-100; a 1-5
score x counts as (x - 1) * 25), never taken from the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest

from apex_demo.engine.caveats import SCORE_CAVEAT
from apex_demo.engine.report import song_report, takes_report
from apex_demo.engine.result import ModelInfo, ScoreResult, SegmentScore
from apex_demo.scores import Scores


def full(streams: float, likes: float, coherence: float, musicality: float, memorability: float, clarity: float,
         naturalness: float) -> Scores:
    return Scores(streams, likes, coherence, musicality, memorability, clarity, naturalness)


def test_a_song_report_as_data() -> None:
    # song: streams 85 "very high", likes 30 "low"; aesthetics 3 3 3 3 2.2 -> strongest the alphabetically last of
    # the equal 3.0s (Musicality), weakest Naturalness 2.2 < 3, so advice for Naturalness
    song = full(85.0, 30.0, 3.0, 3.0, 3.0, 3.0, 2.2)
    # parts: overall of popularity-only parts = their value; part 1 (20) is clearly below parts 0 and 2 (60, 61)
    parts = (SegmentScore(0, 0.0, 30.0, Scores(60.0, 60.0)), SegmentScore(1, 30.0, 60.0, Scores(20.0, 20.0)),
             SegmentScore(2, 60.0, 90.0, Scores(61.0, 61.0)))
    result = ScoreResult("song.wav", 90.0, 44100, 2, song, parts, np.zeros(4, np.float32), ModelInfo("m", "h"),
                         total_segments=3)
    record = song_report(result).to_record()
    # overall: (85 + 30 + 4 * 50 + 30) / 7 = 345 / 7
    assert record["overall"] == pytest.approx(round(345 / 7, 2))
    assert record["popularity"] == [{"key": "score_streams", "value": 85.0, "words": "very high"},
                                    {"key": "score_likes", "value": 30.0, "words": "low"}]
    assert record["strongest"] == {"key": "musicality", "value": 3.0}
    assert record["weakest"] == {"key": "naturalness", "value": 2.2}
    assert record["advice"]["key"] == "naturalness" and record["advice"]["to_try"]
    assert record["weakest_part"] == {"weakest": [{"index": 1, "start_s": 30.0, "end_s": 60.0}],
                                      "no_part_stands_out": False, "low": 20.0,
                                      "best": {"index": 2, "start_s": 60.0, "end_s": 90.0}, "high": 61.0,
                                      "skipped_tail": None}
    assert record["caveat"] == SCORE_CAVEAT and "coin flip" in SCORE_CAVEAT


def test_a_partial_result_has_no_part_verdict_yet() -> None:
    parts = (SegmentScore(0, 0.0, 30.0, Scores(60.0, 60.0)),)
    result = ScoreResult("song.wav", 90.0, 44100, 2, Scores(60.0, 60.0), parts, np.zeros(4, np.float32),
                         ModelInfo("m", "h"), total_segments=3, complete=False)
    record = song_report(result).to_record()
    assert record["weakest_part"] is None and record["strongest"] is None and record["advice"] is None


def test_a_takes_report_as_data() -> None:
    report = takes_report([("a", Scores(40.0, 40.0)), ("b", Scores(70.0, 70.0)), ("c", Scores(69.0, 69.0))])
    assert report.to_record() == {
        "by": "overall", "all_tied": False, "leaders": ["b", "c"], "gap_points": 1.0, "caveat": SCORE_CAVEAT,
        "ranking": [{"rank": 1, "label": "b", "value": 70.0, "overall": 70.0, "tied": True},
                    {"rank": 1, "label": "c", "value": 69.0, "overall": 69.0, "tied": True},
                    {"rank": 3, "label": "a", "value": 40.0, "overall": 40.0, "tied": False}]}
