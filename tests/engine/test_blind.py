"""Blind copies: every served copy at the loudness target under the true-peak ceiling (read by ffmpeg's own
EBU R128 meter, in a separate process), scores on the original files, new bytes in every battle, and a
header that names no clip (RFC 9639 read independently, tests/support/flac.py)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from apex_demo.arena.blind import BlindClips
from apex_demo.arena.loudness import TRUE_PEAK_CEILING_DBTP
from apex_demo.arena.pool import DEFAULT_POOL_DIR, load_pool
from apex_demo.arena.service import Arena
from apex_demo.arena.store import VoteStore
from tests.support.arena import FakeClock, fake_scores, settings_for
from tests.support.flac import APPLICATION, STREAMINFO, metadata_blocks, stream_info

pytestmark = pytest.mark.ffmpeg
QUIET, LOUD = "brahms_hungarian_dance_5", "kevin_macleod_outfoxing"   # -21.6 and -13.5 LUFS as bundled
SHORT = ("garzul_loop", "sorohanro_solo_trumpet_06", "vocadito_10")     # 5-9 s; 44.1 and 22.05 kHz
WITHIN_LU = 1.0
FRAME_WINDOW = 32            # bytes of a frame a script could search for in another copy


def ebur128(path: Path) -> tuple[float, float]:
    """(integrated loudness in LUFS, true peak in dBFS) as ffmpeg's ebur128 filter reports them."""
    log = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-i", str(path), "-af", "ebur128=peak=true",
                          "-f", "null", "-"], capture_output=True, text=True, check=True).stderr
    summary = log[log.rindex("Summary:"):]
    lufs = float(re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary).group(1))        # type: ignore[union-attr]
    peak = float(re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))  # type: ignore[union-attr]
    return lufs, peak


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", *args], check=True)


def arena_over(tmp_path: Path, names: tuple[str, ...], calls: list[Path] | None = None,
               extra: tuple[Path, ...] = (), **settings: object) -> Arena:
    """An arena whose pool is these bundled clips (and `extra` files), one system each; `calls` records what
    the model scored."""
    pool = tmp_path / "pool"
    pool.mkdir(parents=True, exist_ok=True)
    files = [DEFAULT_POOL_DIR / f"{name}.ogg" for name in names] + list(extra)
    for path in files:
        shutil.copy(path, pool / path.name)
    (pool / "manifest.json").write_text(json.dumps([{"file": p.name, "system": p.stem} for p in files]))

    def score(path: Path):
        if calls is not None:
            calls.append(Path(path))
        return fake_scores(path)

    cfg = settings_for(tmp_path, votes_per_minute=0, **settings)
    return Arena(cfg, VoteStore.open(cfg), load_pool(str(pool)), score_fn=score, clock=FakeClock())


@pytest.mark.slow
def test_every_served_copy_is_at_the_target_loudness_for_a_quiet_and_a_loud_clip(tmp_path: Path) -> None:
    """A quiet and a loud pool clip, and a quiet and a loud take of one's own, as served in battles: each copy
    within 1 LU of the target and under the true-peak ceiling, by ffmpeg's ebur128 meter. The model scores the
    original files only."""
    calls: list[Path] = []
    arena = arena_over(tmp_path, (QUIET, LOUD), calls)
    quiet_take, loud_take = tmp_path / "quiet_take.wav", tmp_path / "loud_take.flac"
    ffmpeg("-i", str(DEFAULT_POOL_DIR / "vocadito_10.ogg"), "-af", "volume=-14dB", "-y", str(quiet_take))
    ffmpeg("-i", str(DEFAULT_POOL_DIR / "garzul_loop.ogg"), "-af", "volume=12dB,alimiter=limit=0.98", "-y",
           str(loud_take))
    sources = {p: ebur128(p)[0] for p in (*[c.path for c in arena.pool], quiet_take, loud_take)}
    assert min(sources.values()) < -20 and max(sources.values()) > -13        # really a quiet and a loud one
    try:
        served = [*arena.blind_copies(arena.new_battle("s1")),
                  *arena.blind_copies(arena.new_upload_battle("s1", quiet_take, loud_take))]
        for copy in served:
            lufs, peak = ebur128(copy)
            assert abs(lufs - arena.settings.arena_loudness_lufs) <= WITHIN_LU, (copy, lufs)
            assert peak <= TRUE_PEAK_CEILING_DBTP, (copy, peak)
        arena.warm([arena.pool[0].path, quiet_take])
        assert set(calls) == {arena.pool[0].path, quiet_take}                    # the originals, never a copy
    finally:
        arena.close()
    other = arena_over(tmp_path / "ebu", SHORT[:2], arena_loudness_lufs=-23.0)   # the setting moves the target
    try:
        for copy in other.blind_copies(other.new_battle("s1")):
            assert abs(ebur128(copy)[0] - -23.0) <= WITHIN_LU
    finally:
        other.close()


def test_the_served_flac_holds_exactly_streaminfo_and_the_padding_block(tmp_path: Path) -> None:
    """An Ogg and an m4a take in one bring-your-own battle: each served file has STREAMINFO (frame sizes
    and MD5 zeroed) and the random APPLICATION padding block, nothing else (no vendor string, seek table or
    tags to tell the two sides' encoders or sources apart), and both STREAMINFO blocks are identical."""
    take = tmp_path / "take.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-c:a", "aac", "-metadata", "title=my take",
           str(take))
    arena = arena_over(tmp_path, (QUIET, LOUD))
    try:
        copies = arena.blind_copies(arena.new_upload_battle("s1", DEFAULT_POOL_DIR / "vocadito_10.ogg", take))
        infos = []
        for copy in copies:
            blocks = metadata_blocks(copy.read_bytes())
            assert [kind for kind, _ in blocks] == [STREAMINFO, APPLICATION]
            assert blocks[1][1][:4] == b"apxb"
            info = stream_info(blocks[0][1])
            assert (info.min_frame, info.max_frame, info.md5) == (0, 0, bytes(16))
            infos.append(blocks[0][1])
        assert infos[0] == infos[1]
    finally:
        arena.close()


def test_bytes_differ_in_every_battle_and_only_decoding_tells_a_clip(tmp_path: Path) -> None:
    """One clip served in four battles: every file is new, no 32-byte run of one copy's audio frames occurs in
    another (so no byte range recognises the clip), yet the decoded audio is the same to two 16-bit steps
    (each copy has its own one-step noise) and ends in at least half a second of silence."""
    blind = BlindClips()
    source = DEFAULT_POOL_DIR / "garzul_loop.ogg"
    try:
        copies = [blind.write_battle(["A"], [source])[0].read_bytes() for _ in range(4)]
        assert len({hashlib.sha256(c).digest() for c in copies}) == 4
        frames = [c[4 + sum(4 + len(b) for _, b in metadata_blocks(c)):] for c in copies]
        for offset in range(0, len(frames[0]) - FRAME_WINDOW, len(frames[0]) // 50):
            window = frames[0][offset:offset + FRAME_WINDOW]
            assert not any(window in other for other in frames[1:]), offset
        decoded = [sf.read(_as_file(tmp_path, c), dtype="int16", always_2d=True)[0].astype(int) for c in copies]
        shortest = min(len(a) for a in decoded)
        for audio in decoded[1:]:
            assert np.abs(audio[:shortest] - decoded[0][:shortest]).max() <= 2      # two copies' noise
        for audio in decoded:
            assert np.abs(audio[-22050:]).max() <= 1 < np.abs(audio).max()        # a silent tail after music
    finally:
        blind.cleanup()


def test_streaminfo_alone_does_not_tell_clips_apart(tmp_path: Path) -> None:
    """Twelve battles over four clips of different lengths, rates and channel counts (three mono, one stereo
    at 48 kHz): A's and B's STREAMINFO are the same bytes in each battle, every clip is served at one rate,
    channel count (stereo: the pool has a stereo clip) and sample size, and a STREAMINFO seen with a revealed
    clip never comes back with it."""
    stereo = tmp_path / "stereo_loop.wav"
    ffmpeg("-i", str(DEFAULT_POOL_DIR / "garzul_loop.ogg"), "-ac", "2", "-ar", "48000", "-t", "6", str(stereo))
    arena = arena_over(tmp_path, SHORT, extra=(stereo,))
    seen: dict[bytes, str] = {}
    hits = 0
    try:
        for i in range(12):
            battle = arena.new_battle(f"s{i}")
            bodies = [metadata_blocks(c.read_bytes())[0][1] for c in arena.blind_copies(battle)]
            assert bodies[0] == bodies[1]
            info = stream_info(bodies[0])
            assert (info.sample_rate, info.channels, info.bits) == (44100, 2, 16)
            for body, clip in zip(bodies, (battle.clip_a, battle.clip_b)):
                hits += seen.get(body) == clip
                seen[body] = clip
    finally:
        arena.close()
    assert hits == 0


def test_blind_copy_folders_are_pruned(tmp_path: Path) -> None:
    blind = BlindClips(max_age_s=0.0)
    source = DEFAULT_POOL_DIR / "garzul_loop.ogg"
    try:
        first = blind.write_battle(["A"], [source])[0]
        os.utime(first.parent, (0, 0))
        second = blind.write_battle(["A"], [source])[0]
        assert not first.exists() and second.exists()
    finally:
        blind.cleanup()


def _as_file(folder: Path, body: bytes) -> str:
    path = folder / f"{hashlib.sha256(body).hexdigest()[:12]}.flac"
    path.write_bytes(body)
    return str(path)
