"""Loudness matching for blind listening: every clip a listener hears is at one integrated loudness.

Listeners in blind A/B tests prefer the louder clip, so an arena that serves clips at their own
levels partly measures level, not the song. Each clip is brought to one target (ITU-R BS.1770 /
EBU R128 integrated loudness, `Settings.arena_loudness_lufs`) under a true-peak ceiling by
ffmpeg's `loudnorm` filter in its documented two-pass form: the first pass measures, the second
applies the measured values (a plain gain when that stays under the ceiling, `linear=true`, else
loudnorm's own limiter). Both passes first convert to the served layout (44.1 kHz, mono or stereo), so
what is measured is what is played. Scores never see these copies: the model reads the original file.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from apex_demo.errors import AudioError, ErrorCode

FFMPEG = "ffmpeg"
SERVED_RATE = 44_100                  # every blind copy: one rate and one layout, so the header says nothing
SERVED_CHANNELS = 2                   # stereo, unless every clip of the pool (or both takes) is mono
LAYOUTS = {1: "mono", 2: "stereo"}
TRUE_PEAK_CEILING_DBTP = -1.0         # no served copy peaks above this (true peak, 4x oversampled)
LOUDNORM_PEAK_MARGIN_DB = 0.5         # loudnorm aims this far below the ceiling; the fine gain uses what is left
FINE_GAIN_PEAK_MARGIN_DB = 0.2        # ...and stops this far below it (16-bit rounding, dither)
LOUDNORM_LRA = 50.0                   # the widest range loudnorm accepts: keep the music's dynamics (linear mode)
MEASURABLE_LUFS = -70.0               # BS.1770's absolute gate: quieter (silence, a click) cannot be measured
_JSON_BLOCK = re.compile(r"\{[^{}]*\}\s*$")


@dataclass(frozen=True)
class Measured:
    """What loudnorm reports: integrated loudness (LUFS) and true peak (dBTP); -inf when unmeasurable."""

    lufs: float
    true_peak_dbtp: float

    @property
    def measurable(self) -> bool:
        return math.isfinite(self.lufs) and self.lufs > MEASURABLE_LUFS


def fine_gain_db(output: Measured, target_lufs: float) -> float:
    """The small gain that finishes loudnorm's work (its dynamic mode can land a few tenths off),
    never lifting the true peak closer than FINE_GAIN_PEAK_MARGIN_DB to the ceiling."""
    if not output.measurable or not math.isfinite(output.true_peak_dbtp):
        return 0.0
    room = TRUE_PEAK_CEILING_DBTP - FINE_GAIN_PEAK_MARGIN_DB - output.true_peak_dbtp
    return min(target_lufs - output.lufs, room)


def _layout_filter(channels: int) -> str:
    return f"aformat=sample_rates={SERVED_RATE}:channel_layouts={LAYOUTS[channels]}"


def _loudnorm(target_lufs: float, stats: dict[str, str] | None = None) -> str:
    """The loudnorm filter: measuring (first pass), or applying the first pass's `stats` (second)."""
    peak = TRUE_PEAK_CEILING_DBTP - LOUDNORM_PEAK_MARGIN_DB
    spec = f"loudnorm=I={target_lufs:g}:TP={peak:g}:LRA={LOUDNORM_LRA:g}:print_format=json"
    if stats is not None:
        spec += (f":measured_I={stats['input_i']}:measured_TP={stats['input_tp']}:measured_LRA={stats['input_lra']}"
                 f":measured_thresh={stats['input_thresh']}:offset={stats['target_offset']}:linear=true")
    return spec


def _run(args: list[str], source: Path) -> str:
    """ffmpeg with these arguments; its log (stderr), or AudioError naming the file."""
    if shutil.which(FFMPEG) is None:
        raise AudioError("the arena needs the ffmpeg program to prepare loudness-matched blind copies; install "
                         "ffmpeg (packages.txt installs it on Hugging Face Spaces).", ErrorCode.CORRUPT_AUDIO)
    done = subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-nostats", *args], capture_output=True,
                          text=True, errors="replace", check=False)
    if done.returncode != 0:
        raise AudioError(f"{source.name} cannot be decoded for blind listening "
                         f"({done.stderr.strip().splitlines()[-1][-200:] if done.stderr.strip() else 'ffmpeg failed'}); "
                         "use a WAV, FLAC, OGG, MP3 or M4A file.", ErrorCode.CORRUPT_AUDIO)
    return done.stderr


def _stats(log: str, source: Path) -> dict[str, str]:
    """loudnorm's JSON report, the last block of ffmpeg's log."""
    found = _JSON_BLOCK.search(log.strip())
    try:
        stats = json.loads(found.group(0)) if found else None
    except ValueError:
        stats = None
    if not isinstance(stats, dict):
        raise AudioError(f"{source.name}: ffmpeg's loudness meter gave no report", ErrorCode.CORRUPT_AUDIO)
    return {str(k): str(v) for k, v in stats.items()}


def _number(text: str | None) -> float:
    try:
        return float(text) if text is not None else -math.inf
    except ValueError:
        return -math.inf


def _input_args(source: Path, max_seconds: float) -> list[str]:
    """The first audio stream, without metadata, cut one second past the limit (so an over-long file
    that slipped past the header check is known without converting all of it)."""
    limit = [] if math.isinf(max_seconds) else ["-t", f"{max_seconds + 1:g}"]
    return ["-i", str(source), *limit, "-map", "0:a:0", "-map_metadata", "-1"]


def measure(source: Path, target_lufs: float, max_seconds: float = math.inf,
            channels: int = SERVED_CHANNELS) -> dict[str, str]:
    """First pass: loudnorm's measurement of the source in the served layout."""
    log = _run([*_input_args(source, max_seconds), "-af", f"{_layout_filter(channels)},{_loudnorm(target_lufs)}",
                "-f", "null", "-"], source)
    return _stats(log, source)


def normalise(source: Path, target: Path, target_lufs: float, max_seconds: float = math.inf,
              channels: int = SERVED_CHANNELS) -> Measured:
    """Both passes: `target` becomes the source at the target loudness, 44.1 kHz with `channels`, as 24-bit
    FLAC (private; the served copies are made from it); returns what loudnorm measured on its output. A
    clip too quiet to measure (silence) is converted at its own level."""
    first = measure(source, target_lufs, max_seconds, channels)
    measured = Measured(_number(first.get("input_i")), _number(first.get("input_tp")))
    chain = _layout_filter(channels) + ("," + _loudnorm(target_lufs, first) if measured.measurable else "")
    log = _run([*_input_args(source, max_seconds), "-af", chain, "-ar", str(SERVED_RATE), "-ac",
                str(channels), "-c:a", "flac", "-sample_fmt", "s32", "-y", str(target)], source)
    if not measured.measurable:
        return measured
    second = _stats(log, source)
    return Measured(_number(second.get("output_i")), _number(second.get("output_tp")))
