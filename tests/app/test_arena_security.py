"""The arena against an attacker: nothing but a battle's blind copies is served, a script cannot tell
clips apart before voting from anything but the decoded audio (not from names, sizes, hashes, timings,
cache headers, STREAMINFO or a byte range of a file's tail), rate limits bind per address, and the
arena's small guards (bad database, listening time, pruning, votes never running the model) hold.
Attack files are generated here; the app runs in-process."""

from __future__ import annotations

import hashlib
import json
import math
import random
import secrets
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import soundfile as sf

from apex_demo.arena.pool import DEFAULT_POOL_DIR
from apex_demo.arena.rules import LISTEN_SLACK_S
from apex_demo.arena.pool import load_pool
from apex_demo.config import Settings
from apex_demo.errors import AudioError, ErrorCode
from apex_demo.arena.records import VoteRefused
from apex_demo.arena.store import DB_FILENAME
from tests.support.app import running_app
from tests.support.fakes import FakeScorer
from tests.support.arena import bare_arena, FakeClock, pool_copy
from tests.support.flac import last_frame, metadata_blocks, stream_info
from tests.support.http import RestClient, new_battles
from tests.support.hub import pool_download


BATTLES = 60                       # battles the stuffing script studies
CHANCE_SIGMAS = 3.0                # "beats chance": accuracy above 0.5 + 3 standard errors
FLAC_MD5 = slice(26, 42)           # "fLaC" + 4-byte block header + 18 bytes into STREAMINFO (RFC 9639 8.2)
TAIL_BYTES = 4096                  # the Range read of a file's end an attacker tried
CACHE_HEADERS = ("etag", "content-disposition", "cache-control")
SECRET_ENV = "APEX_TEST_SECRET_TOKEN"


def ffprobe_duration(path: Path) -> float:
    """The clip's length as ffprobe (a separate program) reads it."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                          str(path)], capture_output=True, text=True, check=True).stdout
    return float(out.strip())


# -- the pool resolves inside its folder ---------------------------------------------


def test_nothing_outside_the_blind_copies_is_served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over HTTP, as an anonymous visitor: every path an attacker would try answers without its content."""
    import huggingface_hub
    from huggingface_hub import constants

    secret = secrets.token_hex(16)
    monkeypatch.setenv(SECRET_ENV, secret)                      # what /proc/self/environ would leak
    monkeypatch.setattr(huggingface_hub, "snapshot_download", pool_download(pool_copy(tmp_path / "hub"), []))
    hf_cache = Path(constants.HF_HUB_CACHE)
    hf_cache.mkdir(parents=True, exist_ok=True)
    sentinel = hf_cache / f"apex-test-{secrets.token_hex(8)}.txt"
    sentinel.write_text(secret)
    settings = Settings(device="cpu", cache_dir=tmp_path / "cache", data_dir=tmp_path / "data", min_listen_s=0.0,
                        arena_pool="org/pool", vote_salt="s")
    try:
        with running_app(settings, load=lambda s: FakeScorer()) as (ctx, url):
            client = RestClient(url, Counter())
            info, audio_a, audio_b = client.predict("arena_new_battle")
            client.predict("arena_vote", info["battle_id"], "A", 1.0, 1.0)
            client.close()
            http = httpx.Client(base_url=url, timeout=60)
            for audio in (audio_a, audio_b):                   # the blind copies are served
                served = http.get(f"gradio_api/file={audio['path']}")
                assert served.status_code == 200 and len(served.content) == audio["size"]
            pool = [c.path for c in ctx.arena.pool]
            private_copies = list(Path(ctx.arena.blind._root).rglob("*.flac"))
            gradio_cache = Path(audio_a["path"]).parent.parent
            attempts = [*map(str, pool), str(pool[0].parent / "manifest.json"),
                        str(DEFAULT_POOL_DIR / "manifest.json"), str(next(DEFAULT_POOL_DIR.glob("*.ogg"))),
                        str(sentinel), "/proc/self/environ", str(tmp_path / "data" / DB_FILENAME),
                        *map(str, private_copies), f"{gradio_cache}/../../proc/self/environ",
                        f"{gradio_cache}/..%2F..%2Fproc/self/environ", "data/" + DB_FILENAME,
                        "assets/arena/manifest.json", "/etc/passwd"]
            assert private_copies
            for path in attempts:
                reply = http.get(f"gradio_api/file={path}")
                assert reply.status_code != 200, path
                assert secret.encode() not in reply.content and b"fLaC" not in reply.content, path
            http.close()
    finally:
        sentinel.unlink()


# -- blind to scripts ------------------------------------------------------------------
def test_blind_copies_decode_elsewhere_and_carry_no_per_clip_header(tmp_path: Path) -> None:
    """ffmpeg (another decoder, another process) reads the padded copies without complaint; the
    STREAMINFO MD5 (a per-clip hash readable without decoding) is zeroed; every copy is new, and as long
    as the clip plus a silent tail of 0.5-1.5 s."""
    from apex_demo.arena.blind import BlindClips

    blind = BlindClips()
    source = DEFAULT_POOL_DIR / "garzul_loop.ogg"
    try:
        copies = [blind.write_battle(["A"], [source])[0] for _ in range(3)]
        for copy in copies:
            check = subprocess.run(["ffmpeg", "-v", "error", "-i", str(copy), "-f", "null", "-"],
                                   capture_output=True, text=True, check=False)
            assert check.returncode == 0 and check.stderr == ""
            assert copy.read_bytes()[FLAC_MD5] == bytes(16)
            assert 0.5 - 0.01 <= ffprobe_duration(copy) - ffprobe_duration(source) <= 1.5 + 0.01
        assert len({hashlib.sha256(c.read_bytes()).hexdigest() for c in copies}) == 3
    finally:
        blind.cleanup()


def _play(client: RestClient, http: httpx.Client) -> dict[str, Any]:
    """One battle as a stuffing script sees it before voting, then the reveal."""
    start = time.monotonic()
    info, audio_a, audio_b = client.predict("arena_new_battle")
    seen: dict[str, Any] = {"battle_id": info["battle_id"], "reply_s": time.monotonic() - start}
    sides = [("a", audio_a), ("b", audio_b)]
    random.shuffle(sides)  # a script fetches in either order; a fixed order would time the first fetch
    for side, audio in sides:
        tail = http.get(audio["url"], headers={"Range": f"bytes=-{TAIL_BYTES}"})   # the end only, no decoding
        assert tail.status_code == 206 and len(tail.content) == TAIL_BYTES
        start = time.monotonic()
        reply = http.get(audio["url"])
        body = reply.content
        header = stream_info(metadata_blocks(body)[0][1])
        seen[side] = {"url": audio["url"], "folder": Path(audio["path"]).parent.name, "name": audio["orig_name"],
                      "size": audio["size"], "bytes": len(body), "sha": hashlib.sha256(body).hexdigest(),
                      "fetch_s": time.monotonic() - start, "body": body, "tail": tail.content,
                      "last_frame": last_frame(tail.content, header.max_block),
                      "streaminfo": metadata_blocks(body)[0][1],
                      **{name: reply.headers.get(name) for name in CACHE_HEADERS}}
    (reply,) = client.predict("arena_vote", info["battle_id"], "A", 1.0, 1.0)
    seen["truth"] = (reply["a"]["clip_id"], reply["b"]["clip_id"])
    return seen


def _beats_chance(correct: int, truth: list[bool]) -> bool:
    """More right answers than the better constant guess ("always yes" or "always no", which knows
    nothing about a battle but scores the base rate) by CHANCE_SIGMAS standard errors."""
    n = len(truth)
    constant = max(sum(truth), n - sum(truth))
    return correct > constant + CHANCE_SIGMAS * math.sqrt(0.25 * n)


def test_a_stuffing_script_cannot_tell_clips_apart_before_voting(tmp_path: Path) -> None:
    """The script studies BATTLES battles (with every reveal) and tries to tell which side holds which
    clip from names, URLs, sizes, ids, timings, cache headers, STREAMINFO and a Range read of each file's
    last 4 KiB (its bytes, and the last frame header's sample position, RFC 9639 9.1): no rule beats
    chance and no lookup ever hits. From the decoded audio it can (that is what listening is), which shows
    the script itself works."""
    settings = Settings(device="cpu", cache_dir=tmp_path / "cache", data_dir=tmp_path / "data", min_listen_s=0.0,
                        votes_per_minute=0, vote_salt="s")
    with running_app(settings, load=lambda s: FakeScorer()) as (ctx, url):
        pool_bytes = {c.clip_id: c.path.stat().st_size for c in ctx.arena.pool}
        client, http = RestClient(url, Counter()), httpx.Client(timeout=60)
        battles = [_play(client, http) for _ in range(BATTLES)]
        client.close()
        http.close()

    # what the script wants to know: is A the clip with the bigger file? (the old arena served exact sizes)
    truth = [pool_bytes[b["truth"][0]] > pool_bytes[b["truth"][1]] for b in battles]
    rules = {"size": lambda b: b["a"]["size"] > b["b"]["size"],
             "bytes": lambda b: b["a"]["bytes"] > b["b"]["bytes"],
             "fetch time": lambda b: b["a"]["fetch_s"] > b["b"]["fetch_s"],
             "folder": lambda b: b["a"]["folder"] > b["b"]["folder"],
             "tail bytes": lambda b: b["a"]["tail"] > b["b"]["tail"],
             "last frame": lambda b: b["a"]["last_frame"] > b["b"]["last_frame"],
             "etag": lambda b: str(b["a"]["etag"]) > str(b["b"]["etag"]),
             "reply time": lambda b: b["reply_s"] > sorted(x["reply_s"] for x in battles)[BATTLES // 2]}
    for name, rule in rules.items():
        correct = sum(rule(b) == t for b, t in zip(battles, truth))
        assert not _beats_chance(correct, truth), (name, correct, sum(truth))
    assert all(b["a"]["name"] == "A.flac" and b["b"]["name"] == "B.flac" for b in battles)
    assert all(b["a"]["streaminfo"] == b["b"]["streaminfo"] and b["a"]["last_frame"] == b["b"]["last_frame"]
               for b in battles)                            # the header and the tail's frame position: one per battle

    # lookups: anything seen with a revealed clip in an earlier battle, seen again later
    assert all(b[s]["content-disposition"] == f'inline; filename="{s.upper()}.flac"' for b in battles for s in "ab")
    assert {b[s]["cache-control"] for b in battles for s in "ab"} == {None}     # no cache header to key on
    for key in ("folder", "sha", "url", "size", "tail", "last_frame", "streaminfo", "etag"):
        table: dict[object, str] = {}
        hits = 0
        for b in battles:
            for side, clip in (("a", b["truth"][0]), ("b", b["truth"][1])):
                hits += table.get(b[side][key]) == clip
                table[b[side][key]] = clip
        assert hits <= (2 if key == "size" else 0), (key, hits)    # sizes: 1 in 64 Ki values may repeat

    # the decoded audio does identify a clip heard revealed before (allowed: that is what a listener does)
    heard: dict[str, np.ndarray] = {}

    def recognise(body: bytes) -> str | None:
        samples = sf.read(_as_file(tmp_path, body), dtype="int16", always_2d=True)[0].astype(int)
        def same(ref: np.ndarray) -> bool:             # the first half: music, not the padded tail
            half = min(len(ref), len(samples)) // 2
            return bool(np.abs(ref[:half] - samples[:half]).max() <= 2)

        return next((clip for clip, ref in heard.items() if same(ref)), None)

    recognised = []
    for b in battles:
        guesses = [recognise(b[side]["body"]) for side in "ab"]
        recognised.append(guesses)
        for side, clip in zip("ab", b["truth"]):
            heard.setdefault(clip, sf.read(_as_file(tmp_path, b[side]["body"]), dtype="int16",
                                           always_2d=True)[0].astype(int))
    guessed = [(g, b["truth"]) for g, b in zip(recognised, battles) if None not in g]
    assert all(tuple(g) == t for g, t in guessed) and len(guessed) >= BATTLES - 2 * len(pool_bytes)
    by_ear = [pool_bytes[g[0]] > pool_bytes[g[1]] for g, _ in guessed]
    told = [pool_bytes[t[0]] > pool_bytes[t[1]] for _, t in guessed]
    assert _beats_chance(sum(e == t for e, t in zip(by_ear, told)), told)  # the yardstick catches a real leak


def _as_file(folder: Path, body: bytes) -> str:
    path = folder / f"{secrets.token_hex(8)}.flac"
    path.write_bytes(body)
    return str(path)


# -- limits key on the address; signed-in only --------------------------------------


def test_forged_forwarded_for_and_new_sessions_do_not_escape_the_limit_over_http(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # uvicorn itself believes X-Forwarded-For from loopback peers (a local reverse proxy); the test
    # client is one, so it is told to trust only an address nobody here uses, as for a public peer
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "192.0.2.254")
    settings = Settings(device="cpu", cache_dir=tmp_path / "cache", data_dir=tmp_path / "data", min_listen_s=0.0,
                        votes_per_minute=1, vote_salt="s")                 # 2 battles a minute per address
    with running_app(settings, load=lambda s: FakeScorer()) as (_, url):
        outcomes = new_battles(url, [f"192.0.2.{i}" for i in range(4)])  # a new session and claimed address each
    assert outcomes == ["served", "served", "refused", "refused"]


# -- a bad database, listening time, pruning, votes never run the model -----------
def _corrupt(data: Path) -> None:
    data.mkdir(parents=True)
    (data / DB_FILENAME).write_bytes(b"this is not an SQLite database" * 100)


def test_the_app_starts_and_scores_with_a_corrupt_vote_database(tiny_settings: Settings, audio_dir: Path) -> None:
    from gradio_client import Client, handle_file

    _corrupt(Path(tiny_settings.data_dir))
    with running_app(tiny_settings) as (ctx, url):
        ctx.loader.wait(120)
        config = httpx.get(url + "config", timeout=60).json()
        texts = [str(c.get("props", {}).get("value")) for c in config["components"]]
        assert any("arena is not available" in t and "APEX_DATA_DIR" in t for t in texts)
        endpoints = {d.get("api_name") for d in config["dependencies"]}
        assert "score" in endpoints and "arena_vote" not in endpoints
        client = Client(url, verbose=False)
        record = client.predict(handle_file(str(audio_dir / "loop_garzul.flac")), api_name="/score")
        assert len(record["scores"]) == 7
        client.close()


def test_listening_time_is_at_most_the_clip_plus_a_minute(tmp_path: Path) -> None:
    clock = FakeClock()
    arena = bare_arena(tmp_path, clock, pool=load_pool(str(pool_copy(tmp_path / "pool"))))
    battle = arena.new_battle("s1")
    clock.advance(6)
    # both served copies last as long as the longer clip plus at most 1.5 s of silence
    most = max(ffprobe_duration(Path(battle.path_a)), ffprobe_duration(Path(battle.path_b))) + 1.5 + LISTEN_SLACK_S
    for listened in ((1e308, 6), (most + 1, 6), (6, most + 1)):
        with pytest.raises(VoteRefused) as info:
            arena.vote("s1", battle.battle_id, "A", *listened)
        assert info.value.reason.value == "bad_listen_time"
    assert arena.store.count() == 0
    assert arena.vote("s1", battle.battle_id, "A", most - 1, most - 1)["accepted"]
    arena.close()


def test_sign_in_with_hugging_face_counts_only_signed_in_votes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the running app with gr.LoginButton: Gradio's local OAuth mock (which would ask the Hub
    who the machine's token belongs to) is given a profile instead; a visitor who went through
    /login/huggingface votes as signed in, an anonymous one does not, and only the first counts."""
    from gradio import oauth

    monkeypatch.setattr(oauth, "_get_mocked_oauth_info", lambda: {
        "access_token": "mock", "token_type": "bearer", "expires_in": 3600, "scope": "openid profile",
        "expires_at": int(time.time()) + 3600,
        "userinfo": {"name": "Alice", "preferred_username": "alice", "profile": "https://huggingface.co/alice",
                     "picture": ""}})
    settings = Settings(device="cpu", cache_dir=tmp_path / "cache", data_dir=tmp_path / "data", min_listen_s=0.0,
                        vote_salt="s", arena_login=True, arena_signed_in_only=True)
    with running_app(settings, load=lambda s: FakeScorer()) as (ctx, url):
        config = httpx.get(url + "config", timeout=60).json()
        assert any(c.get("props", {}).get("value") == "Sign in with Hugging Face" or "login" in str(c.get("type"))
                   for c in config["components"])
        signed_in, anonymous = RestClient(url, Counter()), RestClient(url, Counter())
        signed_in.http.get(url + "login/huggingface", follow_redirects=True)
        session = signed_in.http.cookies.get("session")        # a Secure cookie: httpx keeps it off http://
        assert session
        signed_in.http.headers["Cookie"] = f"session={session}"
        for client in (signed_in, anonymous):
            info, _, _ = client.predict("arena_new_battle")
            client.predict("arena_vote", info["battle_id"], "A", 1.0, 1.0)
            client.close()
        votes = ctx.arena.store.votes()
        assert sorted(v.signed_in for v in votes) == [False, True]
        assert ctx.arena.stats(min_votes=1).total_votes == 1
        assert b"alice" not in (tmp_path / "data" / DB_FILENAME).read_bytes()


def test_an_m4a_take_is_served_blind_through_ffmpeg(tmp_path: Path) -> None:
    """AAC in .m4a (which libsndfile cannot read) reaches the battle as FLAC, and the length limit holds."""
    take = tmp_path / "take.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-c:a", "aac",
                    str(take)], check=True)
    clock = FakeClock()
    arena = bare_arena(tmp_path, clock, max_seconds=10.0)
    battle = arena.new_upload_battle("s1", take, DEFAULT_POOL_DIR / "garzul_loop.ogg")
    copies = arena.blind_copies(battle)
    served = copies[[battle.path_a, battle.path_b].index(str(take))]
    assert served.read_bytes()[:4] == b"fLaC"
    longer = max(ffprobe_duration(take), ffprobe_duration(DEFAULT_POOL_DIR / "garzul_loop.ogg"))
    assert 0.5 - 0.05 <= ffprobe_duration(served) - longer <= 1.5 + 0.05     # the longer clip plus a silent tail
    arena.close()
    pool = tmp_path / "m4a-pool"                                          # an .m4a pool clip loads too
    pool.mkdir()
    shutil.copy(take, pool / "take.m4a")
    shutil.copy(DEFAULT_POOL_DIR / "garzul_loop.ogg", pool / "loop.ogg")
    (pool / "manifest.json").write_text(json.dumps([{"file": "take.m4a", "system": "x"},
                                                    {"file": "loop.ogg", "system": "y"}]))
    assert sorted(c.path.name for c in load_pool(str(pool))) == ["loop.ogg", "take.m4a"]
    short = bare_arena(tmp_path / "short", clock, max_seconds=2.0)
    battle = short.new_upload_battle("s1", take, DEFAULT_POOL_DIR / "sorohanro_solo_trumpet_06.ogg")
    with pytest.raises(AudioError) as info:
        short.blind_copies(battle)
    assert info.value.code is ErrorCode.TOO_LONG
    short.close()
