"""`/compare` with memory bombs among the takes: each bomb becomes its own error record (with the
refusal code from the header check), the good takes are scored, and nothing fails the whole call."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import soundfile as sf
from gradio_client import Client, handle_file

from apex_demo.config import Settings
from tests.support.app import running_app

GOOD = "loop_garzul.flac"


@pytest.fixture()
def client(tiny_settings: Settings) -> Iterator[Client]:
    with running_app(tiny_settings) as (ctx, url):
        ctx.loader.wait(120)
        yield Client(url, verbose=False)


def _silence(path: Path, seconds: int, rate: int, channels: int) -> str:
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=channels, subtype="PCM_16") as out:
        for _ in range(seconds):
            out.write(np.zeros((rate, channels), np.int16))
    return str(path)


def test_compare_reports_each_bomb_and_scores_the_rest(client: Client, audio_dir: Path, tmp_path: Path) -> None:
    uploads = {
        GOOD: str(audio_dir / GOOD),
        "one_hz.wav": _silence(tmp_path / "one_hz.wav", 600, 1, 1),
        "many.wav": _silence(tmp_path / "many.wav", 1, 8000, 64),
        "huge.flac": _silence(tmp_path / "huge.flac", 600, 192000, 8),
        "odd.wav": _silence(tmp_path / "odd.wav", 2, 16001, 1),
    }
    records = client.predict([handle_file(p) for p in uploads.values()], api_name="/compare")
    by_name = {r["file"]: r for r in records}
    assert [r["file"] for r in records] == list(uploads)
    assert by_name["one_hz.wav"]["error"]["code"] == "unsupported_sample_rate"
    assert by_name["many.wav"]["error"]["code"] == "too_many_channels"
    assert by_name["huge.flac"]["error"]["code"] == "too_large"
    assert "scores" in by_name[GOOD]
    assert "scores" in by_name["odd.wav"]  # an odd rate is scored (bounded resampling), with a warning
    assert "approximate_resampling" in [w["code"] for w in by_name["odd.wav"]["warnings"]]
    assert all("/tmp" not in str(r.get("error", "")) for r in records)  # server paths never leak
