"""The app's one `@spaces.GPU` function, with the real `spaces` package installed (off ZeroGPU here).

Off ZeroGPU the decorator must be inert (the function itself comes back) and scoring through it must
give the engine's numbers exactly; the GPU time it asks ZeroGPU for is computed from the file's
header: 23 s for a 20 s clip, 38 s for a 3-minute song, 80 s for a 10-minute one (over the 60 s
default, which would cut it off), as worked out by hand from GPU_BASE_S + GPU_PER_SEGMENT_S per 30 s part.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import spaces
from spaces.config import Config
from spaces.zero.wrappers import static_duration

from apex_demo.engine.models import get_scorer
from apex_demo.errors import ScoringStopped
from apex_demo.ui.gpu import GpuScorer, GpuSlot, ScoreJob, gpu_seconds, on_zero_gpu

SPACES_DEFAULT_S = 60  # spaces/zero/client.py: DEFAULT_SCHEDULE_DURATION
RATE = 4000  # the lowest rate the app scores: long files stay small


def tone(path: Path, seconds: float) -> Path:
    t = np.arange(int(seconds * RATE)) / RATE
    sf.write(path, (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), RATE, subtype="PCM_16")
    return path


def test_off_zerogpu_the_decorator_is_the_function_itself() -> None:
    assert not Config.zero_gpu and not on_zero_gpu()
    slot = GpuSlot(lambda: None, 600.0)
    assert slot.run == slot._encode  # spaces.GPU handed the (bound) function back unchanged

    def plain(job: ScoreJob) -> int:
        return 1

    assert spaces.GPU(duration=gpu_seconds)(plain) is plain


@pytest.mark.parametrize("seconds, asked", [(20, 23), (180, 38), (600, 80)])
def test_gpu_time_follows_the_songs_length(seconds: int, asked: int, tmp_path: Path) -> None:
    job = ScoreJob(str(tone(tmp_path / f"song_{seconds}s.wav", seconds)), None, max_seconds=600.0)
    assert gpu_seconds(job) == asked
    assert static_duration(gpu_seconds, job) == asked  # what spaces itself computes from the callable
    assert (asked > SPACES_DEFAULT_S) == (seconds == 600)  # only the 10-minute song needs more than the default


def test_a_file_that_cannot_be_scored_asks_for_the_least(tmp_path: Path) -> None:
    bad = tmp_path / "not_audio.wav"
    bad.write_text("not audio")
    assert gpu_seconds(ScoreJob(str(bad), None, 600.0)) == 23
    assert gpu_seconds(ScoreJob(str(tone(tmp_path / "long.wav", 700)), None, 600.0)) == 23  # over the limit


def test_scores_through_the_gpu_function_are_the_engines(tiny_settings, audio_dir: Path) -> None:
    scorer = get_scorer(dataclasses.replace(tiny_settings, use_cache=False))
    path = audio_dir / "outfoxing.mp3"  # 97 s: four parts
    routed = GpuScorer(scorer, GpuSlot(lambda: scorer, scorer.max_seconds))
    want = list(scorer.iter_score(path, "song"))
    got = list(routed.iter_score(path, "song"))
    assert [r.to_record(with_embedding=True) for r in got] == [r.to_record(with_embedding=True) for r in want]
    assert routed.score_file(path, "song").to_record() == scorer.score_file(path, "song").to_record()
    assert routed.mode == scorer.mode and routed.cache is scorer.cache  # everything else passes through


def test_a_visitor_who_left_stops_it_after_the_part_in_work(tiny_settings, audio_dir: Path, monkeypatch) -> None:
    scorer = get_scorer(dataclasses.replace(tiny_settings, use_cache=False))
    encoded: list[int] = []
    real = scorer.encode_segment
    monkeypatch.setattr(scorer, "encode_segment", lambda segment: encoded.append(1) or real(segment))
    routed = GpuScorer(scorer, GpuSlot(lambda: scorer, scorer.max_seconds))
    asked = iter([True, True, False])  # before the start, after part 1, after part 2: gone
    with pytest.raises(ScoringStopped):
        routed.score_file(audio_dir / "outfoxing.mp3", "song", proceed=lambda: next(asked))
    assert len(encoded) == 2  # of four parts
