"""Bounded memory and compute per upload: each memory bomb an attacker tried, generated here (tiny files),
is refused from its header with a stable code, or decoded with a peak memory measured in a child
process (resource.getrusage maxrss) that stays within 1 GiB of the same child decoding a small
normal file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from apex_demo.engine import audio
from apex_demo.errors import AudioError
from tests.support import REPO

ROOT = REPO
PEAK_BUDGET_KIB = 1024 * 1024  # the bound: +1 GB over a normal small file
CHILD = """
import resource, sys
from pathlib import Path
from apex_demo.engine import audio
decoded = audio.decode(Path(sys.argv[1]), 600.0)
wave = audio.resample(decoded.samples, decoded.sample_rate)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, wave.numel(), decoded.sample_rate)
"""
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="the ffmpeg program is not installed")


def _peak_kib(path: Path) -> tuple[int, int]:
    """(maxrss in KiB, resampled length) of a fresh process that decodes and resamples `path` as the app does."""
    proc = subprocess.run([sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    peak, length, _ = proc.stdout.split()
    return int(peak), int(length)


def _sine(seconds: float, rate: int, freq: float = 1000.0, channels: int = 1) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.repeat(tone[:, None], channels, axis=1)


def _write_silence(path: Path, seconds: int, rate: int, channels: int, fmt: str) -> Path:
    """A long, highly compressible file written one second at a time (the bombs are tiny on disk)."""
    block = np.zeros((rate, channels), dtype=np.int16)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=channels, format=fmt, subtype="PCM_16") as out:
        for _ in range(seconds):
            out.write(block)
    return path


@pytest.fixture(scope="module")
def baseline_kib(tmp_path_factory: pytest.TempPathFactory) -> int:
    path = tmp_path_factory.mktemp("normal") / "normal.wav"
    sf.write(str(path), _sine(1.0, 44100), 44100)
    return _peak_kib(path)[0]


@pytest.mark.parametrize("rate", [16001, 44101])
def test_odd_rate_resampling_stays_within_budget(rate: int, tmp_path: Path, baseline_kib: int) -> None:
    """A 1 s file at 16001 Hz took +6.2 GB (44101 Hz: ~18 GB) in torchaudio's resampling filter."""
    path = tmp_path / f"odd_{rate}.flac"
    sf.write(str(path), _sine(1.0, rate), rate, subtype="PCM_16")
    assert path.stat().st_size < 100_000
    peak, length = _peak_kib(path)
    assert peak - baseline_kib < PEAK_BUDGET_KIB
    assert abs(length - 24000) <= 2  # 1 s of audio is still 1 s at 24 kHz


def test_odd_rate_keeps_the_pitch_and_says_so(tmp_path: Path) -> None:
    path = tmp_path / "odd.wav"
    sf.write(str(path), _sine(2.0, 16001, freq=1000.0), 16001, subtype="PCM_16")
    decoded = audio.decode(path, 600)
    wave = audio.resample(decoded.samples, decoded.sample_rate).numpy()
    spectrum = np.abs(np.fft.rfft(wave))
    peak_hz = np.argmax(spectrum) * 24000 / len(wave)
    assert abs(peak_hz - 1000.0) < 1.0  # FFT bin is 0.5 Hz wide
    assert "approximate_resampling" in [w.code for w in decoded.warnings]


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000, 88200, 96000, 176400,
                                  192000])
def test_common_rates_keep_the_reference_resampling(rate: int) -> None:
    """Bit-identical to the reference's single torchaudio call (no warning)."""
    import torch
    import torchaudio

    mono = _sine(0.25, rate)[:, 0]
    ours = audio.resample(mono, rate)
    reference = torchaudio.functional.resample(torch.from_numpy(mono), rate, 24000)
    assert torch.equal(ours, reference)
    assert audio.resampling_ratio(rate) == (rate, 24000)


@pytest.mark.slow
def test_largest_file_the_budget_accepts_stays_within_budget(tmp_path: Path, baseline_kib: int) -> None:
    """10 min at 96 kHz, 2 channels (the decoded-size limit): decoded in blocks, peak memory bounded."""
    path = _write_silence(tmp_path / "long96k.flac", 600, 96000, 2, "FLAC")
    peak, length = _peak_kib(path)
    assert peak - baseline_kib < PEAK_BUDGET_KIB
    assert length == 600 * 24000


@pytest.mark.parametrize(("name", "seconds", "rate", "channels", "code"), [
    pytest.param("8 channels x 192 kHz x 600 s FLAC (+4.4 GB before)", 600, 192000, 8, "too_large",
                 marks=pytest.mark.slow),
    ("64 channels (asked for 27.5 GB as Ogg)", 1, 48000, 64, "too_many_channels"),
    ("1 Hz WAV (counted as 600 s of compute)", 600, 1, 1, "unsupported_sample_rate"),
    ("over 384 kHz", 1, 768000, 1, "unsupported_sample_rate"),
    ("640 s at 44.1 kHz", 640, 44100, 1, "too_long"),
])
def test_bombs_are_refused_from_the_header(name: str, seconds: int, rate: int, channels: int, code: str,
                                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fmt = "FLAC" if rate <= 655350 and channels <= 8 else "WAV"
    path = _write_silence(tmp_path / f"bomb.{fmt.lower()}", seconds, rate, channels, fmt)
    assert path.stat().st_size < 8_000_000, name  # far under the 100 MB upload limit
    monkeypatch.setattr(sf.SoundFile, "read", _no_decoding)
    with pytest.raises(AudioError) as err:
        audio.decode(path, 600)
    assert err.value.code.value == code, name
    assert "." in err.value.message and len(err.value.message) > 40  # says what to do


def test_the_channel_limit_is_inclusive(tmp_path: Path) -> None:
    """Exactly the most channels decodes (to their mean, checked by hand: channel k holds k / 64); one more is
    refused from the header with too_many_channels."""
    rate, frames = 8000, 4000
    for channels in (audio.MAX_CHANNELS, audio.MAX_CHANNELS + 1):
        levels = np.arange(channels, dtype=np.float32) / 64
        sf.write(str(tmp_path / f"{channels}.wav"), np.tile(levels, (frames, 1)), rate, subtype="FLOAT")
    decoded = audio.decode(tmp_path / f"{audio.MAX_CHANNELS}.wav", 600)
    assert decoded.channels == audio.MAX_CHANNELS and len(decoded.samples) == frames
    expected = (audio.MAX_CHANNELS - 1) / 2 / 64                       # the mean of 0/64 ... 31/64
    assert np.allclose(decoded.samples, expected, atol=1e-6)
    with pytest.raises(AudioError) as err:
        audio.decode(tmp_path / f"{audio.MAX_CHANNELS + 1}.wav", 600)
    assert err.value.code.value == "too_many_channels"


def _no_decoding(*args: object, **kwargs: object) -> None:
    raise AssertionError("the header check must refuse this before any audio is decoded")


def test_one_hz_wav_costs_nothing(tmp_path: Path) -> None:
    path = tmp_path / "one_hz.wav"
    sf.write(str(path), np.zeros(600, np.float32), 1, subtype="PCM_16")
    assert path.stat().st_size < 2000
    with pytest.raises(AudioError) as err:
        audio.probe(path, 600)
    assert err.value.code.value == "unsupported_sample_rate"


@needs_ffmpeg
def test_streamed_flac_of_unknown_length_is_decoded(tmp_path: Path) -> None:
    source = tmp_path / "source.wav"
    sf.write(str(source), _sine(3.0, 44100, channels=2), 44100, subtype="PCM_16")
    streamed = tmp_path / "streamed.flac"
    with streamed.open("wb") as out:  # ffmpeg cannot seek back into a pipe to write the length
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(source), "-f", "flac", "pipe:1"], stdout=out, check=True)
    assert sf.info(str(streamed)).frames > 10**15  # the header really does not know
    decoded = audio.decode(streamed, 600)
    assert len(decoded.samples) == 3 * 44100
    expected, _ = sf.read(str(source), dtype="float32")
    np.testing.assert_allclose(decoded.samples, expected.mean(axis=1), atol=1e-6)


@needs_ffmpeg
def test_streamed_flac_longer_than_the_limit_stops_early(tmp_path: Path) -> None:
    streamed = tmp_path / "streamed.flac"
    with streamed.open("wb") as out:
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "20",
                        "-f", "flac", "pipe:1"], stdout=out, check=True)
    with pytest.raises(AudioError) as err:
        audio.decode(streamed, 5)
    assert err.value.code.value == "too_long"


@needs_ffmpeg
def test_ffmpeg_output_is_a_mono_stream_without_temp_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "eight.wav"
    rng = np.random.default_rng(1)
    sf.write(str(source), rng.uniform(-0.3, 0.3, (48000, 8)).astype(np.float32), 48000, subtype="PCM_16")
    mka = tmp_path / "eight.mka"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(source), "-c:a", "pcm_s16le", str(mka)], check=True)
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temp))
    decoded = audio.decode(mka, 600)
    assert list(temp.iterdir()) == []
    expected, _ = sf.read(str(source), dtype="float32")
    assert decoded.channels == 8
    np.testing.assert_allclose(decoded.samples, expected.mean(axis=1), atol=1e-6)


@needs_ffmpeg
def test_64_channel_matroska_is_refused_before_ffmpeg_decodes(tmp_path: Path) -> None:
    source = tmp_path / "many.wav"
    sf.write(str(source), np.zeros((4800, 64), np.float32), 48000, subtype="PCM_16")
    mka = tmp_path / "many.mka"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(source), "-c:a", "pcm_s16le", str(mka)], check=True)
    with pytest.raises(AudioError) as err:
        audio.probe(mka, 600)
    assert err.value.code.value == "too_many_channels"


def test_header_cost_estimate_counts_segments(tmp_path: Path) -> None:
    path = tmp_path / "ninety.flac"
    _write_silence(path, 61, 8000, 1, "FLAC")
    assert audio.probe(path, 600).segments(600) == 3  # 61 s: 30 + 30 + 1


@pytest.mark.parametrize("rate", [11025, 44100, 48000, 96000, 192000, 16001, 44101])
def test_long_tracks_resample_in_chunks_exactly_as_one_call(rate: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past SINGLE_CALL_MAX_SAMPLES the track is resampled in chunks: same numbers as torchaudio's one call."""
    import torch
    import torchaudio

    monkeypatch.setattr(audio, "SINGLE_CALL_MAX_SAMPLES", 10_000)
    monkeypatch.setattr(audio, "RESAMPLE_CHUNK_SAMPLES", 7_919)  # a prime: chunk edges fall anywhere
    mono = np.random.default_rng(rate).uniform(-1, 1, 200_003).astype(np.float32)
    orig, new = audio.resampling_ratio(rate)
    expected = torchaudio.functional.resample(torch.from_numpy(mono), orig, new)
    ours = audio.resample(mono, rate)
    assert ours.shape == expected.shape
    torch.testing.assert_close(ours, expected, rtol=0, atol=1e-6)
