"""Decode, downmix, resample to 24 kHz and cut 30 s segments, as the APEX reference does.

Reference (docs/reference.md, §2 steps 1-3): libsndfile decode to float32,
mean over channels, one `torchaudio.functional.resample` of the whole track to
24 kHz, consecutive 30 s segments from sample 0 with the last one zero-padded.
Containers libsndfile cannot read (m4a/AAC, webm, ...) go through the `ffmpeg`
program when it is on PATH.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio

from apex_demo.errors import AudioError, ErrorCode
from apex_demo.result import ScoreWarning

SAMPLE_RATE = 24_000
SEGMENT_SECONDS = 30
SEGMENT_SAMPLES = SAMPLE_RATE * SEGMENT_SECONDS  # 720 000
SHORT_CLIP_SECONDS = 1.0
LOW_SAMPLE_RATE = 16_000
SILENCE_PEAK = 1e-6
FFMPEG_TIMEOUT_S = 300
# Formats libsndfile decodes itself: its verdict on these is final (stable error codes).
SNDFILE_EXTENSIONS = frozenset({".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff",
                                ".aifc", ".au", ".caf", ".w64", ".rf64"})
MP3_HEADER_TOLERANCE = 0.9  # MP3 headers only estimate the length
TRUNCATION_TOLERANCE = 0.98


@dataclass(frozen=True)
class DecodedAudio:
    """A decoded file: mono float32 samples at the original rate, plus what it was."""

    samples: np.ndarray  # mono, float32, original sample rate
    sample_rate: int
    channels: int
    warnings: tuple[ScoreWarning, ...]

    @property
    def duration_s(self) -> float:
        return len(self.samples) / self.sample_rate


def check_file(path: Path) -> None:
    """Fail early, with a fix, for files that cannot be audio at all."""
    if not path.exists():
        raise AudioError(f"{path}: file not found. Check the path and try again.", ErrorCode.FILE_NOT_FOUND)
    if not path.is_file():
        raise AudioError(f"{path}: is a folder, not an audio file. Pass a file (or use --recursive "
                         "for folders).", ErrorCode.FILE_NOT_FOUND)
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: the file is empty (0 bytes). Re-export or re-download it.",
                         ErrorCode.EMPTY_FILE)


def decode(path: Path, max_seconds: float) -> DecodedAudio:
    """Decode any supported file to mono float32 at its own sample rate.

    Checks the duration limit from the header first, so an over-long file is
    refused without decoding it.
    """
    check_file(path)
    if path.suffix.lower() in SNDFILE_EXTENSIONS:
        data, sr, decode_warnings = _decode_with_soundfile(path, max_seconds)
    else:
        data, sr, decode_warnings = _decode_other(path, max_seconds)
    return _finish(path, data, sr, max_seconds, decode_warnings)


def _too_long(path: Path, seconds: float, max_seconds: float) -> AudioError:
    return AudioError(
        f"{path}: {seconds:.1f} s is longer than the limit of {max_seconds:g} s. Trim the file, or "
        "raise the limit with APEX_MAX_SECONDS.", ErrorCode.TOO_LONG)


def _decode_with_soundfile(path: Path, max_seconds: float,
                           info: "sf._SoundFileInfo | None" = None) -> tuple[np.ndarray, int, tuple[ScoreWarning, ...]]:
    """libsndfile decode (the reference decoder), with the length limit checked from the header."""
    if info is None:
        try:
            info = sf.info(str(path))
        except sf.LibsndfileError as exc:
            raise _unreadable(path, exc) from None
    if info.samplerate > 0 and info.frames / info.samplerate > max_seconds * 1.05:
        raise _too_long(path, info.frames / info.samplerate, max_seconds)
    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"{path}: the audio data is corrupt or truncated ({exc}). Re-export or "
                         "re-download the file.", ErrorCode.CORRUPT_AUDIO) from None
    return data, int(sr), _check_truncated(path, info, len(data))


def _unreadable(path: Path, exc: "sf.LibsndfileError") -> AudioError:
    if "malformed" in exc.error_string.lower():
        return AudioError(f"{path}: the file is damaged ({exc.error_string}). Re-export or re-download it.",
                          ErrorCode.CORRUPT_AUDIO)
    return AudioError(f"{path}: not a readable audio file: its name ends in {path.suffix or '(nothing)'} but "
                      "libsndfile does not recognise the content as audio. Check that it is audio, or "
                      "re-export it as WAV, FLAC, OGG or MP3.", ErrorCode.NOT_AUDIO)


def _decode_other(path: Path, max_seconds: float) -> tuple[np.ndarray, int, tuple[ScoreWarning, ...]]:
    """Unusual extensions: libsndfile if it knows the content, else the ffmpeg program."""
    try:
        info = sf.info(str(path))
    except sf.LibsndfileError:
        data, sr = _decode_with_ffmpeg(path, max_seconds)
        return data, sr, ()
    return _decode_with_soundfile(path, max_seconds, info)


def _check_truncated(path: Path, info: "sf._SoundFileInfo", decoded: int) -> tuple[ScoreWarning, ...]:
    """A header that promises much more audio than decodes means a cut-off file.

    MP3 headers only estimate the length, so for MP3 this is a warning; for the
    other formats it is an error.
    """
    if info.frames <= 0 or decoded >= TRUNCATION_TOLERANCE * info.frames:
        return ()
    promised, got = info.frames / info.samplerate, decoded / info.samplerate
    if info.format != "MP3":
        raise AudioError(f"{path}: the file is truncated: its header promises {promised:.1f} s but only "
                         f"{got:.1f} s decode. Re-export or re-download it.", ErrorCode.CORRUPT_AUDIO)
    if decoded >= MP3_HEADER_TOLERANCE * info.frames:
        return ()
    return (ScoreWarning("truncated", f"The MP3 header promises {promised:.1f} s but only {got:.1f} s "
                         "decode; the file is probably cut off. The decodable part was scored."),)


def _decode_with_ffmpeg(path: Path, max_seconds: float) -> tuple[np.ndarray, int]:
    """Decode through the ffmpeg program into a temporary float WAV."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise AudioError(
            f"{path}: {path.suffix or 'this'} files need the ffmpeg program, which is not installed. "
            "Install it (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg; on Spaces "
            "it comes from packages.txt), or convert the file to WAV, FLAC, OGG or MP3.",
            ErrorCode.FFMPEG_MISSING)
    with tempfile.TemporaryDirectory(prefix="apex_ffmpeg_") as tmp:
        out = Path(tmp) / "decoded.wav"
        cmd = [ffmpeg, "-nostdin", "-v", "error", "-i", str(path), "-t", str(max_seconds * 1.05 + 1),
               "-vn", "-acodec", "pcm_f32le", "-f", "wav", str(out)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=FFMPEG_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise AudioError(f"{path}: ffmpeg took over {FFMPEG_TIMEOUT_S} s to decode it. Convert it to "
                             "WAV or FLAC first.", ErrorCode.CORRUPT_AUDIO) from None
        if proc.returncode != 0 or not out.exists() or out.stat().st_size == 0:
            detail = (proc.stderr.strip().splitlines() or ["no audio stream"])[-1]
            raise AudioError(f"{path}: not a readable audio file (ffmpeg: {detail}). Check that it is "
                             "audio, or re-export it as WAV, FLAC, OGG or MP3.", ErrorCode.NOT_AUDIO)
        data, sr = sf.read(str(out), dtype="float32", always_2d=True)
    return data, int(sr)


def _finish(path: Path, data: np.ndarray, sr: int, max_seconds: float,
            decode_warnings: tuple[ScoreWarning, ...] = ()) -> DecodedAudio:
    """Validate decoded samples, downmix by channel mean, collect warnings."""
    frames, channels = data.shape
    if frames == 0:
        raise AudioError(f"{path}: the file holds no audio samples (0 s). Re-export it with audio.",
                         ErrorCode.ZERO_LENGTH)
    if frames / sr > max_seconds:
        raise _too_long(path, frames / sr, max_seconds)
    if not np.isfinite(data).all():
        raise AudioError(f"{path}: the audio contains NaN or infinite sample values. Re-export it "
                         "(e.g. as 16- or 24-bit PCM WAV/FLAC).", ErrorCode.NON_FINITE)
    mono = data.mean(axis=1, dtype=np.float32) if channels > 1 else data[:, 0]
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    return DecodedAudio(mono, sr, channels, _warnings_for(mono, sr, channels) + decode_warnings)


def _warnings_for(mono: np.ndarray, sr: int, channels: int) -> tuple[ScoreWarning, ...]:
    """Conditions that still score but make the numbers less meaningful."""
    found: list[ScoreWarning] = []
    seconds = len(mono) / sr
    if float(np.max(np.abs(mono))) <= SILENCE_PEAK:
        found.append(ScoreWarning("silence", "The audio is digital silence; its scores say nothing "
                                  "about music. Check the export."))
    if seconds < SHORT_CLIP_SECONDS:
        found.append(ScoreWarning("short_clip", f"The clip is only {seconds:.2f} s long; APEX pads it "
                                  "to 30 s with silence, so scores are unreliable. Use at least 10 s."))
    if sr < LOW_SAMPLE_RATE:
        found.append(ScoreWarning("low_sample_rate", f"The sample rate is {sr} Hz; MERT expects 24 kHz, "
                                  f"so everything above {sr // 2} Hz is missing. Use a 44.1 kHz export "
                                  "if you have one."))
    if channels > 2:
        found.append(ScoreWarning("many_channels", f"The file has {channels} channels; they were mixed "
                                  "down to mono by their mean, as the reference does."))
    return tuple(found)


def resample(mono: np.ndarray, sample_rate: int) -> torch.Tensor:
    """Resample the whole track once to 24 kHz with torchaudio's defaults (reference step 2)."""
    wave = torch.from_numpy(mono)
    if sample_rate == SAMPLE_RATE:
        return wave
    return torchaudio.functional.resample(wave, sample_rate, SAMPLE_RATE)


def segment_count(num_samples: int) -> int:
    """How many 30 s segments cover the track (the last one may be mostly padding)."""
    return max(1, -(-num_samples // SEGMENT_SAMPLES))


def segment(wave: torch.Tensor, index: int) -> torch.Tensor:
    """Segment `index` (720 000 samples), zero-padded on the right if the track ends early."""
    start = index * SEGMENT_SAMPLES
    chunk = wave[start:start + SEGMENT_SAMPLES]
    if chunk.numel() < SEGMENT_SAMPLES:
        chunk = torch.nn.functional.pad(chunk, (0, SEGMENT_SAMPLES - chunk.numel()))
    return chunk


def segment_bounds(index: int, duration_s: float) -> tuple[float, float]:
    """Start and end (seconds of real audio, not padding) of segment `index`."""
    start = float(index * SEGMENT_SECONDS)
    return start, min(start + SEGMENT_SECONDS, duration_s)
