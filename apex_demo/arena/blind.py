"""Blind copies of arena clips: loudness-matched, and new bytes every battle, so that only listening
(decoding the audio) tells a clip apart.

A file served under its own bytes would be recognisable across battles: Gradio names the folder it
serves a file from after the SHA-256 of its content, a byte range of any frame matches the clip, and
the FLAC header's sample count, rate and channels fingerprint it. So:

- every clip is prepared once (uploads: every battle) into a private folder: ffmpeg's loudnorm brings
  it to the arena's loudness target under the true-peak ceiling (apex_demo.arena.loudness), at one
  layout for all (44.1 kHz, 16 bit, TPDF-dithered; stereo unless every clip is mono), kept as raw
  16-bit samples so that a battle need not decode it;
- every battle re-encodes each prepared clip with its own random one-step (16-bit) TPDF noise, which
  changes every FLAC frame's bytes, and pads both sides with dithered silence to one common length
  (the longer clip plus a random 0.5-1.5 s), so both files end in silence and their STREAMINFO
  blocks are identical, with the per-clip fields (frame sizes, MD5) zeroed;
- of the metadata only STREAMINFO is kept, plus an APPLICATION block of fresh random bytes that pads
  both files up to one size bucket and then each by an independent random jitter (decoders skip
  APPLICATION blocks, RFC 9639 8.4).

The noise is at most one 16-bit step (about -90 dBFS): the music is what the listener hears.
"""

from __future__ import annotations

import math
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Sequence

import numpy as np
import soundfile as sf

from apex_demo import tempfiles
from apex_demo.arena.loudness import SERVED_CHANNELS, SERVED_RATE, fine_gain_db, normalise
from apex_demo.errors import AudioError, ErrorCode

SERVED_SUFFIX = ".flac"
PREPARED_SUFFIX = ".npy"                # raw 16-bit samples (numpy's format): read without decoding
SERVED_SUBTYPE = "PCM_16"
SERVED_COMPRESSION = 0.125              # libsndfile's scale: libFLAC level 1 (fixed predictors, mid-side): fast
FULL_SCALE = 32767.0
INT16_LOW, INT16_HIGH = -32768, 32767
FFPROBE = "ffprobe"
FLAC_MAGIC = b"fLaC"
STREAMINFO_TYPE = 0
APPLICATION_TYPE = 2
APPLICATION_ID = b"apxb"                # 4-byte application id; decoders skip unknown ones
LAST_BLOCK_FLAG = 0x80
BLOCK_HEADER_BYTES = 4
MAX_BLOCK_BYTES = (1 << 24) - 1
STREAMINFO_FRAME_SIZES = slice(4, 10)   # min/max frame size (24 bits each): 0 means unknown
STREAMINFO_MD5 = slice(18, 34)          # MD5 of the decoded samples: all zero means not computed
BUCKET_BYTES = 64 * 1024                # both clips of a battle are padded up to the same 64 KiB step
JITTER_BYTES = 64 * 1024                # plus an independent random 0-64 KiB each
NONCE_BYTES = 32                        # random bytes every copy's padding block carries at least
MIN_PAD_BYTES = BLOCK_HEADER_BYTES + len(APPLICATION_ID) + NONCE_BYTES
TAIL_MIN_S = 0.5                        # both sides end in at least this much dithered silence...
TAIL_SPAN_S = 1.0                       # ...plus a random share of this, the same for both
SERVED_TAIL_MAX_S = TAIL_MIN_S + TAIL_SPAN_S
READ_BLOCK_FRAMES = 1 << 18
PREPARED_DIR = "clips"
BATTLES_DIR = "battles"
BATTLE_COPY_MAX_AGE_S = 120.0   # Gradio copies a returned file into its own cache at once; ours can go


@dataclass(frozen=True)
class Header:
    """What a file's header says: its length in seconds and its channel count."""

    seconds: float
    channels: int


def probe(path: Path) -> Header:
    """A file's header: libsndfile, else ffprobe (what the blind copy can be made from); AudioError when
    neither can read it."""
    try:
        info = sf.info(str(path))
        return Header(float(info.duration), int(info.channels))
    except (sf.LibsndfileError, RuntimeError) as exc:
        error = str(exc)
    if shutil.which(FFPROBE) is not None:
        found = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "a:0", "-show_entries",
                                "stream=channels:format=duration", "-of", "default=noprint_wrappers=1",
                                str(path)], capture_output=True, text=True, check=False)
        fields = dict(line.split("=", 1) for line in found.stdout.splitlines() if "=" in line)
        try:
            return Header(float(fields["duration"]), int(fields["channels"]))
        except (KeyError, ValueError):
            error = found.stderr.strip()[-200:] or "no audio stream"
    raise AudioError(f"{path.name} cannot be decoded ({error})", ErrorCode.CORRUPT_AUDIO)


def probe_duration(path: Path) -> float:
    """A file's length in seconds from its header (see `probe`)."""
    return probe(path).seconds


def served_channels(channels: Sequence[int]) -> int:
    """The layout every copy of a pool (or a battle's takes) is served in: mono when every clip is mono,
    else stereo (one layout for all, so the header says nothing; a mono pool is not made twice as big)."""
    return 1 if channels and max(channels) == 1 else SERVED_CHANNELS


def _too_long(source: Path, seconds: float, max_seconds: float) -> AudioError:
    return AudioError(f"{source.name} lasts {seconds:.0f} s, longer than the {max_seconds:g} s limit; use a "
                      "shorter take.", ErrorCode.TOO_LONG)


def _tpdf(rng: np.random.Generator, frames: int) -> np.ndarray:
    """Triangular dither of one 16-bit step as a column, the same for every channel: the difference of two
    fair bits (-1, 0, 0 or +1), the two low bits of one random byte a sample."""
    bits = np.frombuffer(rng.bytes(frames), dtype=np.uint8)
    return ((bits & 1).astype(np.int8) - ((bits >> 1) & 1).astype(np.int8)).reshape(-1, 1)


def _quantise(raw: Path, target: Path, gain_db: float, rng: np.random.Generator) -> int:
    """The loudnorm output, times the fine gain, as dithered 16-bit samples in a .npy file (written block
    by block, so memory stays bounded for any length); returns its length in frames."""
    scale = FULL_SCALE * 10.0 ** (gain_db / 20.0)
    with sf.SoundFile(str(raw)) as src:
        out = np.lib.format.open_memmap(str(target), mode="w+", dtype=np.int16, shape=(src.frames, src.channels))
        at = 0
        for block in src.blocks(READ_BLOCK_FRAMES, dtype="float32", always_2d=True):
            noise = rng.random((len(block), 1), dtype=np.float32) - rng.random((len(block), 1), dtype=np.float32)
            out[at:at + len(block)] = np.clip(np.rint(block * scale + noise), INT16_LOW, INT16_HIGH)
            at += len(block)
        out.flush()
        del out
    return at


def prepare(source: Path, target: Path, target_lufs: float, max_seconds: float = math.inf,
            channels: int = SERVED_CHANNELS) -> int:
    """The private prepared copy of `source`: at the loudness target, 44.1 kHz 16-bit samples with `channels`
    (a .npy file); returns its length in frames. Longer than `max_seconds` (the upload limit) is refused from the
    header, before any decoding."""
    seconds = probe_duration(source)
    if seconds > max_seconds:
        raise _too_long(source, seconds, max_seconds)
    raw = target.with_suffix(".loudnorm" + SERVED_SUFFIX)
    try:
        measured = normalise(source, raw, target_lufs, max_seconds, channels)
        frames = _quantise(raw, target, fine_gain_db(measured, target_lufs),
                           np.random.default_rng(secrets.randbits(128)))
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        target.unlink(missing_ok=True)
        raise AudioError(f"the arena clip {source.name} cannot be prepared for blind listening ({exc}); "
                         "replace it with a WAV, FLAC, OGG, MP3 or M4A file.", ErrorCode.CORRUPT_AUDIO) from exc
    except AudioError:
        target.unlink(missing_ok=True)   # ffmpeg refused the file: nothing half-written stays
        raise
    finally:
        raw.unlink(missing_ok=True)
    if frames / SERVED_RATE > max_seconds:
        target.unlink(missing_ok=True)
        raise _too_long(source, frames / SERVED_RATE, max_seconds)
    return frames


def write_variant(prepared: Path, target: Path, frames: int, rng: np.random.Generator) -> None:
    """This battle's encoding of a prepared clip: its samples plus fresh one-step noise, then dithered
    silence up to `frames` (so every frame's bytes are new and both sides end alike)."""
    samples = np.load(str(prepared), mmap_mode="r")
    channels = samples.shape[1]
    with sf.SoundFile(str(target), "w", samplerate=SERVED_RATE, channels=channels, format="FLAC",
                      subtype=SERVED_SUBTYPE, compression_level=SERVED_COMPRESSION) as out:
        for at in range(0, frames, READ_BLOCK_FRAMES):
            block = np.zeros((min(READ_BLOCK_FRAMES, frames - at), channels), dtype=np.int32)
            clip = samples[at:at + len(block)]
            block[:len(clip)] = clip
            block += _tpdf(rng, len(block))
            out.write(np.clip(block, INT16_LOW, INT16_HIGH).astype(np.int16))


def _read_blocks(handle: BinaryIO) -> list[tuple[int, bytes]]:
    """The metadata blocks of a FLAC stream as (type, body), leaving `handle` at the first frame."""
    if handle.read(4) != FLAC_MAGIC:
        raise AudioError("not a FLAC stream", ErrorCode.CORRUPT_AUDIO)
    blocks = []
    while True:
        header = handle.read(BLOCK_HEADER_BYTES)
        if len(header) != BLOCK_HEADER_BYTES:
            raise AudioError("truncated FLAC metadata", ErrorCode.CORRUPT_AUDIO)
        length = int.from_bytes(header[1:], "big")
        blocks.append((header[0] & 0x7F, handle.read(length)))
        if header[0] & LAST_BLOCK_FLAG:
            return blocks


def _block(kind: int, body: bytes, last: bool) -> bytes:
    return bytes([kind | (LAST_BLOCK_FLAG if last else 0)]) + len(body).to_bytes(3, "big") + body


def served_streaminfo(body: bytes) -> bytes:
    """STREAMINFO without its per-clip fields: frame sizes and MD5 zeroed (fingerprints that need no
    decoding; zero means "unknown" to every decoder)."""
    info = bytearray(body)
    info[STREAMINFO_FRAME_SIZES] = bytes(6)
    info[STREAMINFO_MD5] = bytes(16)
    return bytes(info)


def padded_sizes(sizes: Sequence[int], rng: secrets.SystemRandom) -> list[int]:
    """Target sizes for a battle's files: all up to the bucket above the largest, each plus its own
    random jitter, so sizes carry no information about which side is which clip."""
    bucket = -(-(max(sizes) + MIN_PAD_BYTES) // BUCKET_BYTES) * BUCKET_BYTES
    return [bucket + rng.randrange(JITTER_BYTES) for _ in sizes]


def write_padded(encoded: Path, target: Path, size: int) -> None:
    """Copy an encoded FLAC to `target` with random APPLICATION padding making it `size` bytes; of its
    metadata only STREAMINFO is kept, neutralised (a seek table, tags or vendor string would
    fingerprint the clip or the encoder)."""
    with encoded.open("rb") as src:
        infos = [b for k, b in _read_blocks(src) if k == STREAMINFO_TYPE]
        if len(infos) != 1:
            raise AudioError(f"{encoded.name}: FLAC without one STREAMINFO", ErrorCode.CORRUPT_AUDIO)
        frames = encoded.stat().st_size - src.tell()
        head = len(FLAC_MAGIC) + BLOCK_HEADER_BYTES + len(infos[0])
        body = size - head - frames - BLOCK_HEADER_BYTES
        if not len(APPLICATION_ID) + NONCE_BYTES <= body <= MAX_BLOCK_BYTES:
            raise ValueError(f"cannot pad {encoded.name} ({head + frames} bytes) to {size} bytes")
        blocks = [(STREAMINFO_TYPE, served_streaminfo(infos[0])),
                  (APPLICATION_TYPE, APPLICATION_ID + secrets.token_bytes(body - len(APPLICATION_ID)))]
        with target.open("wb") as out:
            out.write(FLAC_MAGIC)
            for i, (kind, payload) in enumerate(blocks):
                out.write(_block(kind, payload, last=i == len(blocks) - 1))
            shutil.copyfileobj(src, out)


@dataclass(frozen=True)
class Prepared:
    """A clip's private, loudness-matched copy and its length in frames (44.1 kHz)."""

    path: Path
    frames: int


class BlindClips:
    """Prepared copies of clips in a private folder (never served, never in Gradio's allowed paths),
    made once per source file, and per-battle copies made from them."""

    def __init__(self, max_age_s: float = BATTLE_COPY_MAX_AGE_S, max_seconds: float = math.inf,
                 target_lufs: float = -16.0, channels: int = SERVED_CHANNELS) -> None:
        self._max_age_s = max_age_s
        self._max_seconds = max_seconds
        self.target_lufs = target_lufs
        self.channels = channels           # the pool's layout (served_channels); uploads choose their own
        self._folder: Path | None = None
        self._prepared: dict[str, Prepared] = {}
        self._lock = threading.Lock()
        self._rng = secrets.SystemRandom()

    @property
    def _root(self) -> Path:
        """The private folder, made on first use (an arena that serves no battle makes none)."""
        with self._lock:
            if self._folder is None:
                self._folder = Path(tempfile.mkdtemp(prefix=tempfiles.owned_prefix(tempfiles.BLIND_PREFIX)))
                (self._folder / PREPARED_DIR).mkdir()
                (self._folder / BATTLES_DIR).mkdir()
            return self._folder

    def prepared(self, source: Path, keep: bool = True, channels: int | None = None) -> Prepared:
        """The loudness-matched copy of `source` (in the pool's layout unless `channels` says otherwise);
        `keep` caches it (pool clips), else the caller removes it."""
        key = str(Path(source).resolve())
        with self._lock:
            if key in self._prepared:
                return self._prepared[key]
        target = self._root / PREPARED_DIR / f"{secrets.token_hex(16)}{PREPARED_SUFFIX}"
        clip = Prepared(target, prepare(Path(source), target, self.target_lufs, self._max_seconds,
                                        channels or self.channels))
        if keep:
            with self._lock:
                clip = self._prepared.setdefault(key, clip)
        return clip

    def write_battle(self, names: Sequence[str], sources: Sequence[Path], keep: bool = True) -> list[Path]:
        """Each source as `<random folder>/<name>.flac`: this battle's own encoding, all of one length,
        padded to a common size bucket. Pool clips (`keep`) come in the pool's layout; uploads in theirs
        (mono when both takes are). Folders older than the maximum age are removed first: the web layer
        serves its own copies."""
        self._prune()
        folder = self._root / BATTLES_DIR / secrets.token_hex(16)
        folder.mkdir()
        channels = None if keep else served_channels([probe(Path(s)).channels for s in sources])
        prepared = [self.prepared(s, keep, channels) for s in sources]
        try:
            rng = np.random.default_rng(secrets.randbits(128))
            tail = TAIL_MIN_S + TAIL_SPAN_S * self._rng.random()
            frames = max(p.frames for p in prepared) + round(tail * SERVED_RATE)
            encoded = [folder / f".{i}{SERVED_SUFFIX}" for i in range(len(prepared))]
            for clip, raw in zip(prepared, encoded):
                write_variant(clip.path, raw, frames, rng)
            sizes = padded_sizes([raw.stat().st_size for raw in encoded], self._rng)
            paths = [folder / f"{name}{SERVED_SUFFIX}" for name in names]
            for raw, path, size in zip(encoded, paths, sizes):
                write_padded(raw, path, size)
                raw.unlink()
        finally:
            if not keep:
                for clip in prepared:
                    clip.path.unlink(missing_ok=True)
        return paths

    def _prune(self) -> None:
        cutoff = time.time() - self._max_age_s
        for child in list((self._root / BATTLES_DIR).iterdir()):
            try:
                if child.stat().st_mtime < cutoff:
                    shutil.rmtree(child, ignore_errors=True)
            except FileNotFoundError:
                continue  # another request pruned it first

    def cleanup(self) -> None:
        """Remove the private folder (at shutdown)."""
        with self._lock:
            if self._folder is not None:
                shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
            self._prepared.clear()
