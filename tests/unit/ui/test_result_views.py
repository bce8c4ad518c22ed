"""What Analyze and Compare show, without a browser: the caveat beside the scores, audio that cannot be
judged (its numbers greyed with the reason, no verdict, not ranked), advice that fits what was said about
vocals, the overall score defined where it is used, the same take chosen twice compared once, players in
the ranking's order, a CSV whose numbers are numbers, and downloads without server paths."""

from __future__ import annotations

import csv
import io
import itertools
import re
import shutil
from pathlib import Path

import numpy as np

from apex_demo.engine.result import ModelInfo, ScoreResult, ScoreWarning, SegmentScore
from apex_demo.scores import Scores
from apex_demo.ui.common import public_record
from apex_demo.ui.progress import ScoreProgress, SegmentSpeed
from apex_demo.ui.tabs.analyze import summary_markdown
from apex_demo.ui.tabs.compare import ranking_csv, ranking_table, report_of, verdict_markdown
from apex_demo.ui.takes import distinct_takes

CAVEAT = ("A guide, not a verdict: when the APEX authors checked these scores against 1,259 blind listener votes, "
          "\"the higher score wins\" agreed with the listener no more often than a coin flip.")
SONG = Scores(80.0, 60.0, 3.5, 4.0, 3.2, 3.8, 2.0)  # naturalness 2.0: the weakest, below 3
SHORT = ScoreWarning("short_clip", "Not judged: the clip is 7 s long.")


def song(scores: Scores = SONG, seconds: float = 60.0, warnings: tuple[ScoreWarning, ...] = (),
         name: str = "take.wav", mert: str = "m-a-p/MERT-v1-95M", head: str = "amaai-lab/apex") -> ScoreResult:
    parts = tuple(SegmentScore(i, 30.0 * i, min(30.0 * (i + 1), seconds), scores)
                  for i in range(max(1, int(np.ceil(seconds / 30)))))
    return ScoreResult(name, seconds, 44100, 2, scores, parts, np.zeros(4, np.float32), ModelInfo(mert, head),
                       warnings=warnings, total_segments=len(parts))


def plain(markdown: str) -> str:
    return re.sub(r"<[^>]+>", "", markdown)


def test_the_caveat_sits_right_after_the_scores_and_overall_is_defined() -> None:
    text = plain(summary_markdown(song(), "take.wav"))
    scores_end = text.index("weakest:** Naturalness 2.00 / 5")
    assert text.index(CAVEAT) > scores_end and text.index(CAVEAT) < text.index("What to try")
    assert "**Overall score** (0-100), used for the parts: Overall = the plain average of every score" in text


def test_audio_that_cannot_be_judged_shows_greyed_numbers_and_the_reason_but_no_verdict() -> None:
    markdown = summary_markdown(song(seconds=7.0, warnings=(SHORT,)), "take.wav")
    assert '<div class="apex-panel apex-panel-note apex-not-judged" role="note">Not judged: the clip is 7 s long.' \
        in markdown
    numbers = ("Streams 80 / 100 · Likes 60 / 100 · Coherence 3.50 / 5 · Musicality 4.00 / 5 · Memorability 3.20 / 5 · "
               "Clarity 3.80 / 5 · Naturalness 2.00 / 5").replace(" / ", "\u00a0/\u00a0")  # a number stays with its scale
    assert f'<p class="apex-greyed">{numbers}</p>' in markdown
    for verdict in ("Strongest", "very high", "What to try", "Weakest part"):
        assert verdict not in markdown
    assert CAVEAT in plain(markdown)


def test_advice_fits_what_was_said_about_vocals() -> None:
    unknown, sung, instrumental = (plain(summary_markdown(song(), "take.wav", vocals)) for vocals in (None, True, False))
    assert "What to try for Naturalness:** If the song has vocals: shorten long lyric lines" in unknown
    assert "What to try for Naturalness:** Shorten long lyric lines so each fits one breath" in sung
    assert "Naturalness" not in instrumental.split("What these scores mean")[0]  # no verdict on singing
    assert "What to try" not in instrumental  # the other dimensions are all 3.2 or more


def test_a_take_that_cannot_be_judged_is_greyed_last_and_unranked_in_the_table_csv_and_verdict() -> None:
    scored = [("short.wav", song(Scores(90.0, 90.0), 7.0, (SHORT,))), ("a.wav", song(Scores(40.0, 40.0))),
              ("b.wav", song(Scores(70.0, 70.0))), ("c.wav", song(Scores(69.0, 69.0)))]
    table = ranking_table(scored, "overall")
    assert list(table["Rank"]) == ["=1", "=1", "3", "–"] and list(table["Take"]) == ["b.wav", "c.wav", "a.wav",
                                                                                      "short.wav"]
    rows = list(csv.DictReader(io.StringIO(ranking_csv(scored, "overall"))))
    assert [r["Rank"] for r in rows] == ["1", "1", "3", ""]  # numbers, never "'=1"
    assert [r["Tied"] for r in rows] == ["yes", "yes", "no", ""]
    assert [r["Judged"] for r in rows] == ["yes", "yes", "yes", "Not judged: the clip is 7 s long."]
    assert rows[0]["Overall"] == "70.0" and rows[3]["Overall"] == "90.0"
    verdict = verdict_markdown(report_of(scored, "overall"))
    assert verdict.startswith("**b\\.wav and c\\.wav are about the same**")  # names escaped for Markdown


def test_the_csv_guards_text_but_not_numbers() -> None:
    scored = [("=HYPERLINK(1).wav", song(Scores(10.0, 10.0))), ("b.wav", song(Scores(70.0, 70.0)))]
    rows = list(csv.reader(io.StringIO(ranking_csv(scored, "overall"))))
    assert rows[1][:3] == ["1", "no", "b.wav"] and rows[2][:3] == ["2", "no", "'=HYPERLINK(1).wav"]


def test_the_same_take_chosen_twice_is_compared_once(tmp_path: Path, audio_dir: Path) -> None:
    one = shutil.copy(audio_dir / "loop_garzul.flac", tmp_path / "take1.flac")
    copy = shutil.copy(one, tmp_path / "take1 copy.flac")      # the same bytes under another name
    other = tmp_path / "take2.flac"
    data = bytearray(Path(one).read_bytes())
    data[-1] ^= 1                                               # same size, one byte differs: another take
    other.write_bytes(bytes(data))
    kept, repeated = distinct_takes([str(one), str(other), str(one), str(copy)])
    assert kept == [str(one), str(other)] and repeated == [str(one), str(copy)]


def test_a_downloaded_record_names_models_without_server_paths() -> None:
    record = public_record(song(mert="/srv/models/MERT-v1-95M", head="/home/owner/apex/best_model.pt"))
    assert record["model"]["mert"] == "MERT-v1-95M" and record["model"]["head"] == "best_model.pt"
    assert public_record(song())["model"]["mert"] == "m-a-p/MERT-v1-95M"  # a Hub id stays as it is


def test_one_part_is_one_part() -> None:
    clock = itertools.chain([0.0], itertools.repeat(3.0)).__next__  # started at 0, every later reading 3 s
    progress = ScoreProgress(SegmentSpeed(), clock=clock)
    assert "Scoring: 1 of 1 part done" in progress.segments(1, 1)
    assert "Done: 1 part scored in 3 s" in progress.finished(1, cached=False)
