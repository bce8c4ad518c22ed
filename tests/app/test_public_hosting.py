"""A public app against an attacker, over HTTP on loopback (one app, tiny models, as on Spaces behind the proxy):
a planted X-Forwarded-For hop does not escape the arena's limit, the monitoring routes are closed, an upload
cannot be found by someone holding the same bytes, a bring-your-own battle scores through the visitor's private
view (its answer time does not tell whether someone else scored the songs) and its takes are checked from their
headers before anything is converted or scored, and a full data disk answers with the store's own message."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import httpx
import numpy as np
import pytest
import soundfile as sf

from apex_demo.config import Settings
from apex_demo.engine.scoring import Scorer
from apex_demo.ui.context import AppContext
from tests.support.app import running_app
from tests.support.http import RestClient, Visitor, new_battles

PROXY_HOP = "198.51.100.9"   # the hop the Spaces proxy appends: the client's real address
MAX_SECONDS = 20.0
TAKES = ("loop_garzul.flac", "vocadito_10.wav")   # 8 s and 10 s: one segment each


@pytest.fixture(scope="module")
def scored() -> Iterator[list[tuple[str, bool]]]:
    """(file name, served from cache) of every complete scoring in this module's app."""
    seen: list[tuple[str, bool]] = []
    original = Scorer.iter_score

    def spying(self: Scorer, path: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for result in original(self, path, *args, **kwargs):
            if result.complete:
                seen.append((Path(path).name, result.cached))
            yield result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Scorer, "iter_score", spying)
        yield seen


@pytest.fixture(scope="module")
def app(module_tiny_settings: Settings, scored: list[tuple[str, bool]]) -> Iterator[tuple[AppContext, str]]:
    settings = module_tiny_settings.with_overrides(behind_proxy=True, votes_per_minute=1, min_listen_s=0.0,
                                                   max_seconds=MAX_SECONDS, vote_salt="public-hosting")
    with running_app(settings) as (ctx, url):
        ctx.loader.wait(120)
        yield ctx, url


def test_a_planted_first_hop_does_not_escape_the_arena_limit(app: tuple[AppContext, str]) -> None:
    """A client that writes its own first X-Forwarded-For hop (a new one, and a new session, every time) is still
    the address the proxy appended: 2 battles a minute (APEX_VOTES_PER_MINUTE=1), then refused."""
    _, url = app
    outcomes = new_battles(url, [f"203.0.113.{i}, {PROXY_HOP}" for i in range(4)])
    assert outcomes == ["served", "served", "refused", "refused"]
    assert new_battles(url, ["203.0.113.0, 198.51.100.8"]) == ["served"]     # another real address


def test_monitoring_routes_are_closed(app: tuple[AppContext, str]) -> None:
    _, url = app
    Visitor(url, "10.20.0.1").call("arena_stats")           # traffic the summary would have counted
    for path in ("monitoring", "monitoring/summary", "monitoring/anything", "monitoring/summary/"):
        reply = httpx.get(url + path, timeout=60, follow_redirects=True)
        assert reply.status_code in (403, 404), (path, reply.status_code)
        assert b"arena_stats" not in reply.content and b"process_time" not in reply.content


def test_an_upload_cannot_be_found_by_someone_holding_the_same_bytes(app: tuple[AppContext, str], audio_dir: Path,
                                                                    tmp_path: Path) -> None:
    """The victim uploads a song; an attacker uploads the same bytes under another name (before, Gradio
    answered with the same content-named folder) and asks for the victim's file name in its folder."""
    _, url = app
    song = Path(shutil.copy(audio_dir / TAKES[0], tmp_path / "unreleased.flac"))
    decoy = Path(shutil.copy(song, tmp_path / "decoy.flac"))
    victim, attacker = Visitor(url, "10.20.0.2"), Visitor(url, "10.20.0.3")
    uploaded = Path(victim.upload(song)["path"])
    probe = Path(attacker.upload(decoy)["path"])
    assert uploaded.parent != probe.parent and len(uploaded.parent.name) == 32
    assert victim.http.get(f"file={uploaded}").content == song.read_bytes()      # the visitor's own file is there
    guessed = attacker.http.get(f"file={probe.parent / song.name}")
    assert guessed.status_code in (403, 404) and guessed.content != song.read_bytes()
    (record,) = victim.call("score", victim.upload(song))                      # the moved file scores as before
    assert record["file"] == song.name and len(record["scores"]) == 7


def _byo(visitor: Visitor, takes: tuple[Path, Path], uploads: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A bring-your-own battle over the page's protocol, with these takes uploaded now (or those uploads)."""
    uploads = uploads or [visitor.upload(take) for take in takes]
    started = time.perf_counter()
    answer = visitor.page_event("ui_arena_upload", *uploads)
    answer["seconds"] = time.perf_counter() - started
    return answer


def test_a_bring_your_own_battle_scores_through_the_private_view(app: tuple[AppContext, str], audio_dir: Path,
                                                                 tmp_path: Path, scored: list[tuple[str, bool]]) -> None:
    """Alice battles two takes; Bob battles the same bytes later, uploaded himself or even the very files Alice
    uploaded: both takes are encoded again for Bob (the embedding cache and the arena's scores of a path are
    this visitor's only), as for /score; Alice's repeat is hers, from the cache."""
    _, url = app
    takes = (Path(shutil.copy(audio_dir / TAKES[0], tmp_path / TAKES[0])),
             Path(shutil.copy(audio_dir / TAKES[1], tmp_path / TAKES[1])))
    alice, bob, carol = Visitor(url, "10.30.0.1"), Visitor(url, "10.30.0.2"), Visitor(url, "10.30.0.3")
    alices = [alice.upload(take) for take in takes]
    runs = {}
    for who, visitor, uploads in (("alice", alice, alices), ("bob", bob, None), ("carol, alice's files", carol, alices),
                                  ("alice again", alice, None)):
        before = len(scored)
        answer = _byo(visitor, takes, uploads)
        assert answer.get("success"), answer
        runs[who] = sorted(cached for name, cached in scored[before:] if name in TAKES)
        print(f"\nbring-your-own battle for {who}: {answer['seconds']:.2f} s, takes from cache: {runs[who]}")
    assert runs == {"alice": [False, False], "bob": [False, False], "carol, alice's files": [False, False],
                    "alice again": [True, True]}


def test_bring_your_own_takes_are_checked_from_their_headers_first(app: tuple[AppContext, str], tmp_path: Path,
                                                                   audio_dir: Path,
                                                                   scored: list[tuple[str, bool]]) -> None:
    """A 1 Hz file and an 8 channel x 192 kHz take longer than the limit are refused when the battle is asked
    for, in the visitor's words, before anything is converted (a blind copy) or scored."""
    ctx, url = app
    one_hz = tmp_path / "one_hz.wav"
    sf.write(str(one_hz), np.zeros(600, np.float32), 1, subtype="PCM_16")
    wide = tmp_path / "wide.flac"
    sf.write(str(wide), np.zeros((int(192_000 * (MAX_SECONDS + 3)), 8), np.int16), 192_000, subtype="PCM_16")
    good = Path(shutil.copy(audio_dir / TAKES[0], tmp_path / TAKES[0]))
    visitor = Visitor(url, "10.40.0.1")
    blind_before = sorted(Path(ctx.arena.blind._root).rglob("*.flac")) if ctx.arena.blind._root else []
    for bomb, said in ((one_hz, "1 Hz"), (wide, "limit")):
        before = len(scored)
        answer = _byo(visitor, (good, bomb))
        refused = answer.get("refused")
        assert refused is not None and refused.status_code == 422, answer
        assert said in refused.text and bomb.name in refused.text
        assert [name for name, _ in scored[before:] if name in (good.name, bomb.name)] == []  # (the pool warm-up
        # may score its own clips meanwhile)
    blind_after = sorted(Path(ctx.arena.blind._root).rglob("*.flac")) if ctx.arena.blind._root else []
    assert blind_after == blind_before


def test_a_full_data_disk_answers_with_the_store_unavailable_message(app: tuple[AppContext, str]) -> None:
    """SQLite's "database or disk is full" (max_page_count: what a full disk gives) reaches the visitor as the
    vote store's own message, not "Something went wrong (OperationalError)"; once there is room, it works."""
    ctx, url = app
    connection = ctx.arena.store._conn
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {pages}")
    client = RestClient(url, Counter())
    try:
        answers = []
        for i in range(200):     # a new address each time (2 battles a minute each); a page fills within ~10
            client.http.headers["X-Forwarded-For"] = f"10.50.0.{i}"
            try:
                client.predict("arena_new_battle")
                answers.append("served")
            except AssertionError as exc:
                answers.append(str(exc))
            if answers[-1] != "served":
                break
        assert "The vote store cannot be used right now (database or disk is full)" in answers[-1]
        assert "OperationalError" not in answers[-1] and "Something went wrong" not in answers[-1]
    finally:
        connection.execute(f"PRAGMA max_page_count = {2 * pages + 10_000}")
    client.http.headers["X-Forwarded-For"] = "10.50.0.9"
    assert client.predict("arena_new_battle")[0]["battle_id"]
    client.close()
