"""Audio that cannot be judged, the same way everywhere: under 10 s (or digital silence) a file is scored,
and the engine's warning, the report and the command line all say its numbers are not judged.

The boundary is worked by hand: a 30 s part heard with under 10 s of sound is more than two-thirds
padding silence. A cache entry made under an older rule gets today's warning back from its length.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from apex_demo.cli import main
from apex_demo.engine import audio, get_scorer, song_report

RATE = 22050


def _noise(path: Path, seconds: float, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    sf.write(str(path), rng.uniform(-0.3, 0.3, int(seconds * RATE)).astype(np.float32), RATE, subtype="PCM_16")
    return path


def test_the_cli_and_the_report_say_a_seven_second_clip_is_not_judged(tiny_settings, tmp_path: Path,
                                                                         capsys) -> None:
    short, long = _noise(tmp_path / "seven.wav", 7.0, 1), _noise(tmp_path / "twelve.wav", 12.0, 2)
    flags = ["--mert", tiny_settings.mert, "--head", tiny_settings.head, "--device", "cpu", "--no-cache"]
    assert main(["score", str(short), str(long), *flags, "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [[w["code"] for w in r["warnings"]] for r in records] == [["short_clip"], []]
    reason = ("Not judged: the clip is 7 s long. APEX listens in 30-second parts and fills the rest with silence "
              "(23 s here); under 10 s most of what it hears is that silence, so the numbers say little about the "
              "song. Upload at least 10 s.")
    assert records[0]["warnings"][0]["message"] == reason
    assert set(records[0]["scores"]) == set(records[1]["scores"])  # scored all the same: shown greyed, not refused

    scorer = get_scorer(tiny_settings.with_overrides(use_cache=False))
    report = song_report(scorer.score_file(short))
    assert not report.judged and report.not_judged is not None and report.not_judged.reason == reason
    assert song_report(scorer.score_file(long)).judged

    assert main(["score", str(short), str(long), *flags]) == 0  # the human table
    table = capsys.readouterr().out.splitlines()
    assert table[1].endswith("not judged: short_clip") and table[2].endswith("ok")


@pytest.mark.parametrize(("seconds", "judged"), [(9.99, False), (10.0, True), (0.57, False)])
def test_ten_seconds_is_the_boundary(seconds: float, judged: bool) -> None:
    codes = [w.code for w in audio.current_warnings([], seconds)]
    assert codes == ([] if judged else ["short_clip"])


def test_a_song_from_the_cache_made_under_the_old_rule_is_not_judged_either(tiny_settings, tmp_path: Path) -> None:
    from apex_demo.engine.cache import CacheEntry, look_up

    short = _noise(tmp_path / "seven.wav", 7.0, 3)
    scorer = get_scorer(tiny_settings)
    scorer.score_file(short)
    _, key, entry = look_up(short, scorer.cache, scorer.key_of)
    assert entry is not None  # as the old 1 s rule stored it: no short_clip warning in the entry
    scorer.cache.put(key, CacheEntry(entry.layer_means, entry.meta | {"warnings": []}))
    again = scorer.score_file(short)
    assert again.cached and [w.code for w in again.warnings] == ["short_clip"] and not song_report(again).judged


def test_a_cached_entry_gets_todays_rule_from_its_length() -> None:
    old_rule = [{"code": "silence", "message": "silent"}, {"code": "short_clip", "message": "under 1 s"},
                {"code": "low_sample_rate", "message": "8 kHz"}]
    now = audio.current_warnings(old_rule, 12.0)  # an old rule's short-clip warning at 12 s: gone today
    assert [w.code for w in now] == ["silence", "low_sample_rate"]
    again = audio.current_warnings([{"code": "low_sample_rate", "message": "8 kHz"}], 7.0)
    assert [w.code for w in again] == ["short_clip", "low_sample_rate"] and "7 s long" in again[0].message
