"""The report a musician reads, as data: every view (page, API, MCP) gets the same verdicts from it.

Expected values are worked by hand from hand-made scores (overall = the plain mean on 0-100; a 1-5
score x counts as (x - 1) * 25), never taken from the code under test. Audio that cannot be judged
(silence, under 10 s) keeps its numbers but gets no verdict; a tip for vocals goes only to a song
known to have them, and an instrumental gets no verdict on the singing.
"""

from __future__ import annotations

import numpy as np
import pytest

from apex_demo.engine.caveats import SCORE_CAVEAT
from apex_demo.engine.report import NotJudged, song_report, takes_report
from apex_demo.engine.result import ModelInfo, ScoreResult, ScoreWarning, SegmentScore
from apex_demo.scores import Scores

# the tips scores.py gives, written out here so that a changed or swapped tip is noticed
NATURALNESS_ANY = ("If the song has vocals: shorten long lyric lines so each fits one breath, and leave space "
                   "between lines. On an instrumental this score means little.")
NATURALNESS_VOCALS = "Shorten long lyric lines so each fits one breath, and leave space between lines."
MEMORABILITY_ANY = ("Give it a short hook that comes back several times: a chorus, or a riff or melody in an "
                    "instrumental.")
MEMORABILITY_VOCALS = "Give it a short, singable chorus that repeats (mark [Chorus] in the lyrics)."


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
    assert record["advice"] == {"key": "naturalness", "to_try": NATURALNESS_ANY, "fits": "any"}  # nobody said
    assert record["judged"] is True and record["not_judged"] is None and record["vocals"] is None
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
                    {"rank": 3, "label": "a", "value": 40.0, "overall": 40.0, "tied": False}],
        "not_judged": []}


def one_part(song: Scores, seconds: float = 30.0, warnings: tuple[ScoreWarning, ...] = ()) -> ScoreResult:
    return ScoreResult("song.wav", seconds, 44100, 2, song, (SegmentScore(0, 0.0, seconds, song),),
                       np.zeros(4, np.float32), ModelInfo("m", "h"), warnings=warnings, total_segments=1)


@pytest.mark.parametrize("code", ["silence", "short_clip"])
def test_audio_that_cannot_be_judged_keeps_its_numbers_and_gets_no_verdict(code: str) -> None:
    song = full(90.0, 85.0, 4.5, 4.5, 1.5, 4.5, 4.5)
    reason = ScoreWarning(code, f"Not judged: {code}.")
    other = ScoreWarning("low_sample_rate", "The sample rate is 8000 Hz.")
    record = song_report(one_part(song, 7.0, (other, reason))).to_record()
    assert record["judged"] is False and record["not_judged"] == {"code": code, "reason": f"Not judged: {code}."}
    assert record["popularity"] == [{"key": "score_streams", "value": 90.0}, {"key": "score_likes", "value": 85.0}]
    assert (record["strongest"], record["weakest"], record["advice"], record["weakest_part"]) == (None,) * 4
    # (90 + 85 + 87.5 * 4 + 12.5) / 7: the numbers stay, to be shown greyed
    assert record["overall"] == pytest.approx(round((90 + 85 + 4 * 87.5 + 12.5) / 7, 2))
    assert record["caveat"] == SCORE_CAVEAT


def test_silence_is_the_reason_given_before_a_short_clip() -> None:
    warnings = (ScoreWarning("short_clip", "short"), ScoreWarning("silence", "silent"))
    assert song_report(one_part(full(50, 50, 3, 3, 3, 3, 3), 2.0, warnings)).not_judged == NotJudged("silence", "silent")


def test_a_low_warning_that_is_not_about_judging_leaves_the_verdicts() -> None:
    warnings = (ScoreWarning("many_channels", "6 channels"),)
    report = song_report(one_part(full(50, 50, 3, 3, 3, 3, 2), 60.0, warnings))
    assert report.judged and report.weakest is not None and report.weakest.spec.key == "naturalness"


def test_tips_fit_what_is_known_about_vocals() -> None:
    # naturalness 2.0 is the lowest, memorability 2.5 the next: both below 3
    song = one_part(full(50, 50, 3.5, 3.5, 2.5, 3.5, 2.0))
    unknown, sung, instrumental = (song_report(song, vocals).to_record() for vocals in (None, True, False))
    assert unknown["advice"] == {"key": "naturalness", "to_try": NATURALNESS_ANY, "fits": "any"}
    assert sung["advice"] == {"key": "naturalness", "to_try": NATURALNESS_VOCALS, "fits": "vocals"}
    # an instrumental gets no verdict on the singing: its weakest is memorability, with the tip for any song
    assert instrumental["weakest"] == {"key": "memorability", "value": 2.5}
    assert instrumental["advice"] == {"key": "memorability", "to_try": MEMORABILITY_ANY, "fits": "any"}
    assert instrumental["strongest"]["key"] != "naturalness" and instrumental["vocals"] is False
    assert song_report(one_part(full(50, 50, 3.5, 3.5, 2.5, 3.5, 4.0)), True).to_record()["advice"] == {
        "key": "memorability", "to_try": MEMORABILITY_VOCALS, "fits": "vocals"}


def test_a_take_that_cannot_be_judged_is_left_out_of_the_ranking() -> None:
    short = NotJudged("short_clip", "Not judged: 7 s.")
    report = takes_report([("a", Scores(40.0, 40.0)), ("b", Scores(90.0, 90.0)), ("c", Scores(60.0, 60.0))],
                          not_judged={"b": short})
    record = report.to_record()
    assert [t["label"] for t in record["ranking"]] == ["c", "a"] and record["leaders"] == ["c"]
    assert record["gap_points"] == 20.0  # 60 - 40: the unjudged 90 is not the leader
    assert record["not_judged"] == [{"label": "b", "code": "short_clip", "reason": "Not judged: 7 s."}]
    nobody = takes_report([("a", Scores(40.0, 40.0))], not_judged={"a": short})
    assert nobody.ranked == () and nobody.leaders == () and nobody.gap == 0.0
