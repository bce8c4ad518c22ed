"""Decode, downmix, resample to 24 kHz and cut 30 s segments, as the APEX reference does.

Reference (docs/reference.md, §2 steps 1-3): libsndfile decode to float32,
mean over channels, one `torchaudio.functional.resample` of the whole track to
24 kHz, consecutive 30 s segments from sample 0 with the last one zero-padded.
Containers libsndfile cannot read (m4a/AAC, webm, ...) go through the `ffmpeg`
program when it is on PATH, as a mono float stream (never a temporary file).

Why the limits below: memory grows with seconds x rate x channels, and
torchaudio's resampler builds a filter sized by the *reduced* rate ratio
(16001 Hz -> 24 kHz is 16001:24000, a 1.5 GB filter). So every file is checked
from its header before any decoding (`probe`), decoded in blocks that are
downmixed as they come, and odd rates are resampled through a nearby ratio
whose filter is small (`resampling_ratio`), with a warning. The common rates
keep the reference's exact single-call resampling.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

import numpy as np
import soundfile as sf
import torch
import torchaudio

from apex_demo.errors import AudioError, ErrorCode
from apex_demo.engine.result import ScoreWarning
from apex_demo.engine.segments import SAMPLE_RATE, SEGMENT_SAMPLES, SEGMENT_SECONDS, SHORT_TAIL_S

# Under this length a clip is scored but not judged (engine/report.py): APEX hears 30 s parts, so a shorter
# clip is padded with silence, and under a third of a part most of what the model hears is that silence.
# The same length below which a padded tail is never named the weakest part (segments.SHORT_TAIL_S).
SHORT_CLIP_SECONDS = SHORT_TAIL_S
LOW_SAMPLE_RATE = 16_000
SILENCE_PEAK = 1e-6
FFMPEG_TIMEOUT_S = 300
# Formats libsndfile decodes itself: its verdict on these is final (stable error codes).
SNDFILE_EXTENSIONS = frozenset({".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff",
                                ".aifc", ".au", ".caf", ".w64", ".rf64"})
MP3_HEADER_TOLERANCE = 0.9  # MP3 headers only estimate the length
TRUNCATION_TOLERANCE = 0.98
HEADER_LENGTH_TOLERANCE = 1.05  # headers may overstate a little; the decoded length is checked exactly
# The fixed budget per upload, checked from the header before decoding.
MIN_SAMPLE_RATE = 4_000
MAX_SAMPLE_RATE = 384_000
MAX_CHANNELS = 32
MAX_DECODED_SAMPLES = 600 * 96_000  # mono float32 at the file's own rate: 230 MB (10 min at 96 kHz)
DECODE_BLOCK_FRAMES = 1 << 16       # frames read (all channels) before downmixing: <= 8 MB at 32 channels
UNKNOWN_FRAMES = 1 << 62            # libsndfile says 2**63-1 frames when the header does not know (streamed FLAC)
# torchaudio.functional.resample defaults (reference step 2) and a bound on its sinc filter.
RESAMPLE_FILTER_WIDTH = 6
RESAMPLE_ROLLOFF = 0.99
MAX_RESAMPLE_KERNEL = 1_000_000     # filter elements (~40 MB while built); common rates need <= 51 520
SINGLE_CALL_MAX_SAMPLES = 1 << 22   # up to ~90 s at 48 kHz: one torchaudio call, as the reference
RESAMPLE_CHUNK_SAMPLES = 1 << 20    # input samples per chunk beyond that (~60 MB of convolution buffers)
BYTES_PER_SAMPLE = 4
FFPROBE_FIELDS = "stream=sample_rate,channels,duration:format=duration"


@dataclass(frozen=True)
class AudioHeader:
    """What a file's header says, read without decoding any audio."""

    sample_rate: int
    channels: int
    frames: int | None  # None when the header does not say (streamed FLAC, many ffmpeg containers)
    format: str
    via_ffmpeg: bool = False

    @property
    def seconds(self) -> float | None:
        return None if self.frames is None else self.frames / self.sample_rate

    def segments(self, max_seconds: float) -> int:
        """MERT segments this file will cost (the limit's worth when the header does not say)."""
        seconds = self.seconds if self.seconds is not None else max_seconds
        return max(1, math.ceil(min(seconds, max_seconds) / SEGMENT_SECONDS))


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


def probe(path: Path, max_seconds: float) -> AudioHeader:
    """Read the header and refuse, before decoding, what does not fit the per-upload budget.

    Cheap (no audio is decoded), so the app runs it before a job is queued.
    """
    path = Path(path)
    check_file(path)
    header = _read_header(path)
    check_header(path, header, max_seconds)
    return header


def check_header(path: Path, header: AudioHeader, max_seconds: float) -> None:
    """The budget: sample-rate range, channel count, length and decoded size."""
    if not MIN_SAMPLE_RATE <= header.sample_rate <= MAX_SAMPLE_RATE:
        raise AudioError(f"{path}: the sample rate is {header.sample_rate} Hz; only {MIN_SAMPLE_RATE} to "
                         f"{MAX_SAMPLE_RATE} Hz can be scored. Re-export it at 44.1 or 48 kHz.",
                         ErrorCode.UNSUPPORTED_SAMPLE_RATE)
    if header.channels > MAX_CHANNELS:
        raise AudioError(f"{path}: the file has {header.channels} channels; at most {MAX_CHANNELS} can be "
                         "scored. Mix it down to stereo or mono first.", ErrorCode.TOO_MANY_CHANNELS)
    if header.frames is None:
        return
    if header.frames / header.sample_rate > max_seconds * HEADER_LENGTH_TOLERANCE:
        raise _too_long(path, header.frames / header.sample_rate, max_seconds)
    if header.frames > MAX_DECODED_SAMPLES:
        raise _too_large(path, header.sample_rate)


def decode(path: Path, max_seconds: float) -> DecodedAudio:
    """Decode any supported file to mono float32 at its own sample rate.

    Checks the header first (`probe`), so a file over the budget is refused
    without decoding it; then decodes in blocks, downmixing each as it comes.
    """
    path = Path(path)
    header = probe(path, max_seconds)
    limit = frame_limit(header.sample_rate, max_seconds)
    decode_warnings: tuple[ScoreWarning, ...] = ()
    if header.via_ffmpeg:
        data = _decode_with_ffmpeg(path, header, limit)
    else:
        data = _decode_with_soundfile(path, header, limit)
        decode_warnings = _check_truncated(path, header, len(data))
    return _finish(path, data, header, max_seconds, decode_warnings)


def frame_limit(sample_rate: int, max_seconds: float) -> int:
    """Most frames decoding may produce before it stops and refuses the file."""
    return min(MAX_DECODED_SAMPLES, math.ceil(max_seconds * HEADER_LENGTH_TOLERANCE * sample_rate) + 1)


def _too_long(path: Path, seconds: float, max_seconds: float) -> AudioError:
    return AudioError(
        f"{path}: {seconds:.1f} s is longer than the limit of {max_seconds:g} s. Trim the file, or "
        "raise the limit with APEX_MAX_SECONDS.", ErrorCode.TOO_LONG,
        details={"seconds": seconds, "limit_s": max_seconds})


def _too_large(path: Path, sample_rate: int) -> AudioError:
    return AudioError(
        f"{path}: at {sample_rate} Hz this file decodes to more than {MAX_DECODED_SAMPLES * BYTES_PER_SAMPLE >> 20} "
        f"MB (the limit is {MAX_DECODED_SAMPLES / sample_rate:.0f} s at this rate). Trim it, or re-export it at "
        "44.1 or 48 kHz.", ErrorCode.TOO_LARGE)


def _over_limit(path: Path, header: AudioHeader, limit: int) -> AudioError:
    """Decoding ran past `frame_limit`: too long, or too large at this rate."""
    if limit >= MAX_DECODED_SAMPLES:
        return _too_large(path, header.sample_rate)
    return AudioError(f"{path}: longer than the limit (decoding stopped there). Trim the file, or raise the "
                      "limit with APEX_MAX_SECONDS.", ErrorCode.TOO_LONG)


def _read_header(path: Path) -> AudioHeader:
    """libsndfile's header for the formats it knows; ffprobe's for other extensions it cannot read."""
    try:
        info = sf.info(str(path))
    except sf.LibsndfileError as exc:
        if path.suffix.lower() in SNDFILE_EXTENSIONS:
            raise _unreadable(path, exc) from None
        return _ffprobe_header(path)
    if info.frames >= UNKNOWN_FRAMES:
        # A streamed file (e.g. FLAC written to a pipe): libsndfile fails on the last block of these,
        # ffmpeg decodes them to the end.
        return AudioHeader(int(info.samplerate), int(info.channels), None, str(info.format), via_ffmpeg=True)
    return AudioHeader(int(info.samplerate), int(info.channels), int(info.frames), str(info.format))


def _unreadable(path: Path, exc: "sf.LibsndfileError") -> AudioError:
    if "malformed" in exc.error_string.lower():
        return AudioError(f"{path}: the file is damaged ({exc.error_string}). Re-export or re-download it.",
                          ErrorCode.CORRUPT_AUDIO)
    return AudioError(f"{path}: not a readable audio file: its name ends in {path.suffix or '(nothing)'} but "
                      "libsndfile does not recognise the content as audio. Check that it is audio, or "
                      "re-export it as WAV, FLAC, OGG or MP3.", ErrorCode.NOT_AUDIO)


def _decode_with_soundfile(path: Path, header: AudioHeader, limit: int) -> np.ndarray:
    """libsndfile decode (the reference decoder), block by block, each block downmixed by channel mean."""
    try:
        with sf.SoundFile(str(path)) as handle:
            return _collect(_soundfile_blocks(handle, header.channels), path, header, limit)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioError(f"{path}: the audio data is corrupt or truncated ({exc}). Re-export or "
                         "re-download the file.", ErrorCode.CORRUPT_AUDIO) from None


def _soundfile_blocks(handle: sf.SoundFile, channels: int) -> Iterator[np.ndarray]:
    buffer = np.empty((DECODE_BLOCK_FRAMES, channels), dtype=np.float32)
    while True:
        block = handle.read(DECODE_BLOCK_FRAMES, dtype="float32", always_2d=True, out=buffer)
        if len(block) == 0:
            return
        yield downmix(block)


def downmix(block: np.ndarray) -> np.ndarray:
    """[frames, channels] -> mono by the channel mean (reference step 1), row by row as numpy does it."""
    if block.shape[1] == 1:
        return block[:, 0]
    return block.mean(axis=1, dtype=np.float32)


def _collect(blocks: Iterator[np.ndarray], path: Path, header: AudioHeader, limit: int) -> np.ndarray:
    """Append mono blocks into one array, never past `limit` frames; reject non-finite samples early."""
    out = np.empty(min(header.frames or header.sample_rate * SEGMENT_SECONDS, limit), dtype=np.float32)
    filled = 0
    for mono in blocks:
        if filled + len(mono) > limit:
            raise _over_limit(path, header, limit)
        if not np.isfinite(mono).all():
            raise _non_finite(path)
        if filled + len(mono) > len(out):
            out = _grown(out, filled, min(limit, max(2 * len(out), filled + len(mono))))
        out[filled:filled + len(mono)] = mono
        filled += len(mono)
    return out[:filled]


def _grown(array: np.ndarray, filled: int, size: int) -> np.ndarray:
    bigger = np.empty(size, dtype=array.dtype)
    bigger[:filled] = array[:filled]
    return bigger


def _non_finite(path: Path) -> AudioError:
    return AudioError(f"{path}: the audio contains NaN or infinite sample values. Re-export it "
                      "(e.g. as 16- or 24-bit PCM WAV/FLAC).", ErrorCode.NON_FINITE)


def _check_truncated(path: Path, header: AudioHeader, decoded: int) -> tuple[ScoreWarning, ...]:
    """A header that promises much more audio than decodes means a cut-off file.

    MP3 headers only estimate the length, so for MP3 this is a warning; for the
    other formats it is an error.
    """
    if header.frames is None or decoded >= TRUNCATION_TOLERANCE * header.frames:
        return ()
    promised, got = header.frames / header.sample_rate, decoded / header.sample_rate
    if header.format != "MP3":
        raise AudioError(f"{path}: the file is truncated: its header promises {promised:.1f} s but only "
                         f"{got:.1f} s decode. Re-export or re-download it.", ErrorCode.CORRUPT_AUDIO)
    if decoded >= MP3_HEADER_TOLERANCE * header.frames:
        return ()
    return (ScoreWarning("truncated", f"The MP3 header promises {promised:.1f} s but only {got:.1f} s "
                         "decode; the file is probably cut off. The decodable part was scored."),)


def _ffmpeg_tool(path: Path, name: str) -> str:
    tool = shutil.which(name)
    if tool is None:
        raise AudioError(
            f"{path}: {path.suffix or 'this'} files need the ffmpeg program ({name}), which is not installed. "
            "Install it (Debian/Ubuntu: apt-get install ffmpeg; macOS: brew install ffmpeg; on Spaces "
            "it comes from packages.txt), or convert the file to WAV, FLAC, OGG or MP3.",
            ErrorCode.FFMPEG_MISSING)
    return tool


def _not_readable_by_ffmpeg(path: Path, detail: str) -> AudioError:
    return AudioError(f"{path}: not a readable audio file (ffmpeg: {detail}). Check that it is "
                      "audio, or re-export it as WAV, FLAC, OGG or MP3.", ErrorCode.NOT_AUDIO)


def _ffprobe_header(path: Path) -> AudioHeader:
    """The first audio stream's rate, channels and (when known) duration, from ffprobe."""
    cmd = [_ffmpeg_tool(path, "ffprobe"), "-v", "error", "-select_streams", "a:0", "-show_entries",
           FFPROBE_FIELDS, "-of", "json", str(path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=FFMPEG_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise _not_readable_by_ffmpeg(path, f"no answer in {FFMPEG_TIMEOUT_S} s") from None
    info = json.loads(proc.stdout or "{}") if proc.returncode == 0 else {}
    streams = info.get("streams") or []
    if not streams or not streams[0].get("sample_rate"):
        raise _not_readable_by_ffmpeg(path, (proc.stderr.strip().splitlines() or ["no audio stream"])[-1])
    stream = streams[0]
    rate = int(stream["sample_rate"])
    duration = _float_or_none(stream.get("duration")) or _float_or_none(info.get("format", {}).get("duration"))
    frames = round(duration * rate) if duration and rate > 0 else None
    return AudioHeader(rate, int(stream.get("channels") or 1), frames, "ffmpeg", via_ffmpeg=True)


def _float_or_none(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _decode_with_ffmpeg(path: Path, header: AudioHeader, limit: int) -> np.ndarray:
    """Decode through the ffmpeg program: mono (channel mean) float32 read from its output pipe in blocks.

    Never a temporary file; ffmpeg is killed as soon as the output passes the limit or the time runs out.
    """
    cmd = [_ffmpeg_tool(path, "ffmpeg"), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-vn",
           *_mean_downmix_args(header.channels), "-f", "f32le", "-acodec", "pcm_f32le", "pipe:1"]
    timed_out = threading.Event()
    with tempfile.TemporaryFile() as errors, \
            subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL) as proc:
        def stop() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(FFMPEG_TIMEOUT_S, stop)
        timer.start()
        try:
            assert proc.stdout is not None
            data = _collect(_pipe_blocks(proc.stdout), path, header, limit)
            proc.wait()  # end of its output: let it finish, so its exit status is its own verdict
        finally:
            timer.cancel()
            if proc.poll() is None:  # stopped early (over the limit, or an error): do not let it run on
                proc.kill()
            proc.wait()
        if timed_out.is_set():
            raise AudioError(f"{path}: ffmpeg took over {FFMPEG_TIMEOUT_S} s to decode it. Convert it to "
                             "WAV or FLAC first.", ErrorCode.CORRUPT_AUDIO)
        if proc.returncode != 0 or len(data) == 0:
            errors.seek(0)
            detail = (errors.read().decode(errors="replace").strip().splitlines() or ["no audio decoded"])[-1]
            raise _not_readable_by_ffmpeg(path, detail)
    return data


def _mean_downmix_args(channels: int) -> list[str]:
    """ffmpeg's pan filter with gains 1/N: the reference's channel mean (`-ac 1` would weight channels)."""
    if channels <= 1:
        return ["-ac", "1"]
    gain = repr(1.0 / channels)
    # Mixed in float (aformat): pan would otherwise mix 16-bit input in 16 bits and round.
    return ["-af", "aformat=sample_fmts=flt,pan=mono|c0=" + "+".join(f"{gain}*c{i}" for i in range(channels))]


def _pipe_blocks(stream: IO[bytes]) -> Iterator[np.ndarray]:
    block_bytes = DECODE_BLOCK_FRAMES * BYTES_PER_SAMPLE
    pending = b""
    while chunk := stream.read(block_bytes):
        pending += chunk
        usable = len(pending) - len(pending) % BYTES_PER_SAMPLE
        yield np.frombuffer(pending[:usable], dtype="<f4").astype(np.float32)
        pending = pending[usable:]


def _finish(path: Path, mono: np.ndarray, header: AudioHeader, max_seconds: float,
            decode_warnings: tuple[ScoreWarning, ...] = ()) -> DecodedAudio:
    """Validate the decoded samples and collect warnings."""
    sr, channels = header.sample_rate, header.channels
    if len(mono) == 0:
        raise AudioError(f"{path}: the file holds no audio samples (0 s). Re-export it with audio.",
                         ErrorCode.ZERO_LENGTH)
    if len(mono) / sr > max_seconds:
        raise _too_long(path, len(mono) / sr, max_seconds)
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    return DecodedAudio(mono, sr, channels, _warnings_for(mono, sr, channels) + decode_warnings)


def short_clip_reason(seconds: float) -> str:
    """Why a clip under SHORT_CLIP_SECONDS is not judged, with its length and the padding the model heard."""
    return (f"Not judged: the clip is {round(seconds, 2):g} s long. APEX listens in {SEGMENT_SECONDS:g}-second parts "
            f"and fills the rest with silence ({round(SEGMENT_SECONDS - seconds, 2):g} s here); under "
            f"{SHORT_CLIP_SECONDS:g} s most of what it hears is that silence, so the numbers say little about the "
            f"song. Upload at least {SHORT_CLIP_SECONDS:g} s.")


def current_warnings(stored: Iterable[dict[str, str]], seconds: float) -> tuple[ScoreWarning, ...]:
    """A cached file's warnings with the short-clip one given by today's rule: a cache entry keeps the
    warnings of the rule it was made under, and the length is all this rule needs."""
    short = (ScoreWarning("short_clip", short_clip_reason(seconds)),) if seconds < SHORT_CLIP_SECONDS else ()
    warnings = [ScoreWarning(**w) for w in stored if w["code"] != "short_clip"]
    first_silence = next((i + 1 for i, w in enumerate(warnings) if w.code == "silence"), 0)
    return (*warnings[:first_silence], *short, *warnings[first_silence:])  # where _warnings_for puts it


def _warnings_for(mono: np.ndarray, sr: int, channels: int) -> tuple[ScoreWarning, ...]:
    """Conditions that still score but make the numbers less meaningful."""
    found: list[ScoreWarning] = []
    seconds = len(mono) / sr
    if max(float(mono.max()), -float(mono.min())) <= SILENCE_PEAK:  # no |x| copy of a long track
        found.append(ScoreWarning("silence", "Not judged: the audio is digital silence, so its numbers say "
                                  "nothing about music. Check the export."))
    if seconds < SHORT_CLIP_SECONDS:
        found.append(ScoreWarning("short_clip", short_clip_reason(seconds)))
    if sr < LOW_SAMPLE_RATE:
        found.append(ScoreWarning("low_sample_rate", f"The sample rate is {sr} Hz; MERT expects 24 kHz, "
                                  f"so everything above {sr // 2} Hz is missing. Use a 44.1 kHz export "
                                  "if you have one."))
    ratio = resampling_ratio(sr)
    if Fraction(*ratio) != Fraction(sr, SAMPLE_RATE):
        found.append(ScoreWarning("approximate_resampling", f"The sample rate {sr} Hz has no compact ratio to "
                                  f"24 kHz; it was resampled as {ratio[0]}:{ratio[1]} (rate off by "
                                  f"{ratio_error_ppm(sr):.1f} ppm, inaudible). Export at 44.1 or 48 kHz for the "
                                  "reference's exact resampling."))
    if channels > 2:
        found.append(ScoreWarning("many_channels", f"The file has {channels} channels; they were mixed "
                                  "down to mono by their mean, as the reference does."))
    return tuple(found)


def resample(mono: np.ndarray, sample_rate: int) -> torch.Tensor:
    """Resample the whole track to 24 kHz with torchaudio's defaults (reference step 2).

    Up to SINGLE_CALL_MAX_SAMPLES this is the reference's one call; longer tracks are
    resampled in overlapping chunks that compute the same filter sums (`_resample_in_chunks`),
    because the one call's convolution needs about 30 bytes per input sample at 48 kHz.
    Rates whose filter would exceed MAX_RESAMPLE_KERNEL use the nearest ratio that fits
    (`resampling_ratio`); every common rate keeps the exact reference filter.
    """
    wave = torch.from_numpy(mono)
    if sample_rate == SAMPLE_RATE:
        return wave
    orig, new = resampling_ratio(sample_rate)
    if wave.numel() <= SINGLE_CALL_MAX_SAMPLES:
        return torchaudio.functional.resample(wave, orig, new)
    return _resample_in_chunks(wave, orig, new)


def _reduced_filter(orig: int, new: int) -> tuple[int, int, int]:
    """(orig', new', width) of torchaudio's sinc filter: the reduced ratio and the filter's half-width.

    The same formula as torchaudio.functional.functional._get_sinc_resample_kernel with the defaults.
    """
    gcd = math.gcd(orig, new)
    orig, new = orig // gcd, new // gcd
    return orig, new, math.ceil(RESAMPLE_FILTER_WIDTH * orig / (min(orig, new) * RESAMPLE_ROLLOFF))


def resample_kernel_elements(orig: int, new: int) -> int:
    """Size of torchaudio's sinc filter for orig -> new Hz: new' x (2 width + orig')."""
    orig, new, width = _reduced_filter(orig, new)
    return new * (2 * width + orig)


def _resample_in_chunks(wave: torch.Tensor, orig: int, new: int) -> torch.Tensor:
    """torchaudio's resample, computed a block of filter positions at a time.

    torchaudio pads `width` zeros on the left and evaluates the filter at input positions
    i*orig' (i = 0, 1, ...), each giving new' output samples from input [i*orig' - width,
    (i+1)*orig' + width). A chunk that starts on a multiple of orig' at least `width` before
    its first position, and ends `width` after its last, gives those positions' outputs from
    the same samples; only the outer zero padding is torchaudio's own, as in the one call.
    """
    o, n, width = _reduced_filter(orig, new)
    length = wave.numel()
    target = math.ceil(n * length / o)
    out = torch.empty(target, dtype=wave.dtype)
    step = max(1, RESAMPLE_CHUNK_SAMPLES // o)   # filter positions per chunk
    lead = math.ceil(width / o)                  # positions of left context
    for first in range(0, length // o + 1, step):
        last = first + step                      # exclusive
        start = max(0, first - lead) * o
        stop = min(length, last * o + width)
        chunk = torchaudio.functional.resample(wave[start:stop], o, n)
        offset = (first - start // o) * n
        wanted = min(last * n, target) - first * n
        out[first * n:first * n + wanted] = chunk[offset:offset + wanted]
    return out


def resampling_ratio(sample_rate: int) -> tuple[int, int]:
    """(orig, new) to pass torchaudio: (rate, 24000) when its filter fits the bound, else the closest
    fraction of the rate ratio whose filter does (16001 Hz -> 2 ppm off; common rates are exact)."""
    exact = Fraction(sample_rate, SAMPLE_RATE)
    max_denominator = exact.denominator
    while max_denominator > 1:
        near = exact.limit_denominator(max_denominator)
        if resample_kernel_elements(near.numerator, near.denominator) <= MAX_RESAMPLE_KERNEL:
            break
        max_denominator //= 2
    near = exact.limit_denominator(max(max_denominator, 1))
    if near == exact:
        return sample_rate, SAMPLE_RATE
    return near.numerator, near.denominator


def ratio_error_ppm(sample_rate: int) -> float:
    """How far (parts per million) the ratio actually used is from the true one."""
    orig, new = resampling_ratio(sample_rate)
    return abs(orig / new - sample_rate / SAMPLE_RATE) / (sample_rate / SAMPLE_RATE) * 1e6


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


def decode_song(path: Path, max_seconds: float) -> tuple[torch.Tensor, dict[str, Any]]:
    """The 24 kHz mono track and the facts a result (and a cache entry) keeps about the file."""
    decoded = decode(path, max_seconds)
    wave = resample(decoded.samples, decoded.sample_rate)
    meta = {"duration_s": decoded.duration_s, "sample_rate": decoded.sample_rate,
            "channels": decoded.channels, "warnings": [w.to_dict() for w in decoded.warnings]}
    return wave, meta
