"""Blind copies of arena clips: per battle, nothing a script can read without decoding the audio is
stable per clip.

A file served under its own bytes would be recognisable across battles: Gradio names the folder
it serves a file from after the SHA-256 of its content, and a file's exact size tells clips apart.
So every clip is served as FLAC (one format for all, so the format does not tell the pool's files
apart either), converted once into a private folder with the per-clip fields of its STREAMINFO
(frame sizes, MD5 of the samples) zeroed, and every battle gets its own copy of each clip with an
APPLICATION metadata block of fresh random bytes that pads both clips of the battle up to the same
size bucket plus an independent random jitter. Decoders skip APPLICATION blocks (RFC 9639 8.4), so
the audio is unchanged; the content hash is new every battle and the size says nothing about
which side is which.
"""

from __future__ import annotations

import math
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import BinaryIO, Sequence

import soundfile as sf

from apex_demo import tempfiles
from apex_demo.errors import AudioError, ErrorCode

SERVED_SUFFIX = ".flac"
FLAC_SUBTYPE = "PCM_16"
FFMPEG = "ffmpeg"
FFPROBE = "ffprobe"
FLAC_MAX_CHANNELS = 8
FLAC_MAGIC = b"fLaC"
STREAMINFO_TYPE = 0
APPLICATION_TYPE = 2
APPLICATION_ID = b"apxb"            # 4-byte application id; decoders skip unknown ones
LAST_BLOCK_FLAG = 0x80
BLOCK_HEADER_BYTES = 4
MAX_BLOCK_BYTES = (1 << 24) - 1
STREAMINFO_FRAME_SIZES = slice(4, 10)   # min/max frame size (24 bits each): 0 means unknown
STREAMINFO_MD5 = slice(18, 34)          # MD5 of the decoded samples: all zero means not computed
BUCKET_BYTES = 64 * 1024                # both clips of a battle are padded up to the same 64 KiB step
JITTER_BYTES = 64 * 1024                # plus an independent random 0-64 KiB each
NONCE_BYTES = 32                        # random bytes every copy carries at least (a fresh content hash)
MIN_PAD_BYTES = BLOCK_HEADER_BYTES + len(APPLICATION_ID) + NONCE_BYTES
READ_BLOCK_FRAMES = 1 << 16
PREPARED_DIR = "clips"
BATTLES_DIR = "battles"
BATTLE_COPY_MAX_AGE_S = 120.0   # Gradio copies a returned file into its own cache at once; ours can go


def probe_duration(path: Path) -> float:
    """A file's length in seconds from its header: libsndfile, else ffprobe (what the blind copy
    can be made from); AudioError when neither can read it."""
    try:
        return float(sf.info(str(path)).duration)
    except (sf.LibsndfileError, RuntimeError) as exc:
        error = str(exc)
    if shutil.which(FFPROBE) is not None:
        probe = subprocess.run([FFPROBE, "-v", "error", "-select_streams", "a:0", "-show_entries",
                                "format=duration", "-of", "csv=p=0", str(path)],
                               capture_output=True, text=True, check=False)
        try:
            return float(probe.stdout.strip())
        except ValueError:
            error = probe.stderr.strip()[-200:] or "no audio stream"
    raise AudioError(f"{path.name} cannot be decoded ({error})", ErrorCode.CORRUPT_AUDIO)


def convert_to_flac(source: Path, target: Path, max_seconds: float = math.inf) -> None:
    """Decode `source` block by block and write it as 16-bit FLAC (more than 8 channels: downmixed
    to mono, FLAC's limit), so memory stays bounded for any length; longer than `max_seconds`
    (the upload limit) is refused from the header, before any decoding. What libsndfile cannot
    read (AAC in .m4a) goes through ffmpeg when it is installed."""
    try:
        sf.info(str(source))
    except (sf.LibsndfileError, RuntimeError) as exc:
        if shutil.which(FFMPEG) is None:
            raise AudioError(f"the arena clip {source.name} cannot be prepared for blind listening ({exc}); "
                             "use a WAV, FLAC, OGG or MP3 file.", ErrorCode.CORRUPT_AUDIO) from exc
        _ffmpeg_to_flac(source, target, max_seconds)
        return
    try:
        with sf.SoundFile(str(source)) as inp:
            if inp.frames / inp.samplerate > max_seconds:
                raise AudioError(f"{source.name} lasts {inp.frames / inp.samplerate:.0f} s, longer than the "
                                 f"{max_seconds:g} s limit; use a shorter take.", ErrorCode.TOO_LONG)
            channels = inp.channels if inp.channels <= FLAC_MAX_CHANNELS else 1
            with sf.SoundFile(str(target), "w", samplerate=inp.samplerate, channels=channels, format="FLAC",
                              subtype=FLAC_SUBTYPE) as out:
                for block in inp.blocks(READ_BLOCK_FRAMES, dtype="float32", always_2d=True):
                    out.write(block if channels == inp.channels else block.mean(axis=1))
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        target.unlink(missing_ok=True)
        raise AudioError(f"the arena clip {source.name} cannot be prepared for blind listening ({exc}); "
                         "replace it with a WAV, FLAC, OGG or MP3 file.", ErrorCode.CORRUPT_AUDIO) from exc


def _ffmpeg_to_flac(source: Path, target: Path, max_seconds: float) -> None:
    """ffmpeg streams (bounded memory): first audio stream, at most stereo, no metadata, cut one second
    past the limit so that an over-long file is known without converting all of it."""
    limit = [] if math.isinf(max_seconds) else ["-t", f"{max_seconds + 1:g}"]
    done = subprocess.run([FFMPEG, "-nostdin", "-v", "error", "-i", str(source), *limit, "-map", "0:a:0",
                           "-map_metadata", "-1", "-ac", "2", "-c:a", "flac", "-sample_fmt", "s16", "-y",
                           str(target)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        target.unlink(missing_ok=True)
        raise AudioError(f"the arena clip {source.name} cannot be decoded ({done.stderr.strip()[-200:]}); "
                         "use a WAV, FLAC, OGG, MP3 or M4A file.", ErrorCode.CORRUPT_AUDIO)
    seconds = sf.info(str(target)).duration
    if seconds > max_seconds:
        target.unlink(missing_ok=True)
        raise AudioError(f"{source.name} lasts longer than the {max_seconds:g} s limit; use a shorter take.",
                         ErrorCode.TOO_LONG)


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


def neutralise(path: Path) -> None:
    """Zero STREAMINFO's per-clip fields in place (frame sizes and MD5 are fingerprints that need no
    decoding; zero means "unknown" to every decoder)."""
    with path.open("r+b") as handle:
        blocks = _read_blocks(handle)
        if not blocks or blocks[0][0] != STREAMINFO_TYPE:
            raise AudioError(f"{path.name}: FLAC without STREAMINFO", ErrorCode.CORRUPT_AUDIO)
        info = bytearray(blocks[0][1])
        info[STREAMINFO_FRAME_SIZES] = bytes(6)
        info[STREAMINFO_MD5] = bytes(16)
        handle.seek(len(FLAC_MAGIC) + BLOCK_HEADER_BYTES)
        handle.write(bytes(info))


def padded_sizes(sizes: Sequence[int], rng: secrets.SystemRandom) -> list[int]:
    """Target sizes for a battle's files: all up to the bucket above the largest, each plus its own
    random jitter, so sizes carry no information about which side is which clip."""
    bucket = -(-(max(sizes) + MIN_PAD_BYTES) // BUCKET_BYTES) * BUCKET_BYTES
    return [bucket + rng.randrange(JITTER_BYTES) for _ in sizes]


def write_padded(prepared: Path, target: Path, size: int) -> None:
    """Copy a prepared FLAC to `target` with random APPLICATION padding making it `size` bytes; of
    its metadata only STREAMINFO is kept (a seek table or tags would fingerprint the clip)."""
    with prepared.open("rb") as src:
        blocks = [(k, b) for k, b in _read_blocks(src) if k == STREAMINFO_TYPE]  # no seek table, tags, art
        frames_at = src.tell()
        frames = prepared.stat().st_size - frames_at
        head = len(FLAC_MAGIC) + sum(BLOCK_HEADER_BYTES + len(b) for _, b in blocks)
        body = size - head - frames - BLOCK_HEADER_BYTES
        if not len(APPLICATION_ID) + NONCE_BYTES <= body <= MAX_BLOCK_BYTES:
            raise ValueError(f"cannot pad {prepared.name} ({head + frames} bytes) to {size} bytes")
        kinds = blocks + [(APPLICATION_TYPE, APPLICATION_ID + secrets.token_bytes(body - len(APPLICATION_ID)))]
        with target.open("wb") as out:
            out.write(FLAC_MAGIC)
            for i, (kind, payload) in enumerate(kinds):
                out.write(_block(kind, payload, last=i == len(kinds) - 1))
            shutil.copyfileobj(src, out)


class BlindClips:
    """Prepared FLAC copies of clips in a private folder (never served, never in Gradio's allowed
    paths), made once per source file, and per-battle padded copies of them."""

    def __init__(self, max_age_s: float = BATTLE_COPY_MAX_AGE_S, max_seconds: float = math.inf) -> None:
        self._max_age_s = max_age_s
        self._max_seconds = max_seconds
        self._folder: Path | None = None
        self._prepared: dict[str, Path] = {}
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

    def prepared(self, source: Path, keep: bool = True) -> Path:
        """The neutral FLAC of `source`; `keep` caches it (pool clips), else the caller removes it."""
        key = str(Path(source).resolve())
        with self._lock:
            if key in self._prepared:
                return self._prepared[key]
        target = self._root / PREPARED_DIR / f"{secrets.token_hex(16)}{SERVED_SUFFIX}"
        convert_to_flac(Path(source), target, self._max_seconds)
        neutralise(target)
        if keep:
            with self._lock:
                target = self._prepared.setdefault(key, target)
        return target

    def write_battle(self, names: Sequence[str], sources: Sequence[Path], keep: bool = True) -> list[Path]:
        """Each source as `<random folder>/<name>.flac`, padded to a common size bucket with fresh
        random bytes (a new content hash every battle). Folders older than the maximum age are
        removed first: the web layer serves its own copies."""
        self._prune()
        folder = self._root / BATTLES_DIR / secrets.token_hex(16)
        folder.mkdir()
        prepared = [self.prepared(s, keep) for s in sources]
        sizes = padded_sizes([p.stat().st_size for p in prepared], self._rng)
        paths = []
        for name, src, size in zip(names, prepared, sizes):
            path = folder / f"{name}{SERVED_SUFFIX}"
            write_padded(src, path, size)
            paths.append(path)
        if not keep:
            for src in prepared:
                src.unlink(missing_ok=True)
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

