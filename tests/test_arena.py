"""Arena rules: pool, pairing, battle ids, and every refusal (nothing stored when refused)."""

from __future__ import annotations

import json
import math
import random
import shutil
import sqlite3
from pathlib import Path
from typing import Mapping

import numpy as np
import pytest
import soundfile as sf

from apex_demo.arena import (BATTLE_TTL_S, DEFAULT_POOL_DIR, Arena, PoolClip, draw_pair, load_pool)
from apex_demo.arena_board import compute_board
from apex_demo.config import Settings
from apex_demo.errors import ApexError, ErrorCode, VoteError
from apex_demo.votes import Choice, Refusal, VoteRefused, VoteStore
from tests.app_server import FakeScorer

MIN_LISTEN = 5.0


class FakeClock:
    """A clock the test moves by hand, so no test ever sleeps."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def fake_scores(path: Path) -> Mapping[str, float]:
    """The arena's score function over the tests' stand-in engine."""
    return FakeScorer().scores_for(path).as_dict()


@pytest.fixture()
def clock() -> FakeClock:
    return FakeClock()


def make_arena(tmp_path: Path, clock: FakeClock, score_fn=fake_scores, **settings: object) -> Arena:
    values: dict[str, object] = dict(data_dir=tmp_path / "data", min_listen_s=MIN_LISTEN, votes_per_minute=30,
                                     vote_salt="test-salt")
    values.update(settings)
    cfg = Settings(**values)  # type: ignore[arg-type]
    arena = Arena(cfg, VoteStore.open(cfg), load_pool(), score_fn=score_fn, model_name="tiny", clock=clock,
                  rng=random.Random(0))
    arena.warm()  # what the app's start-up warm-up does: votes only read these scores
    return arena


@pytest.fixture()
def arena(tmp_path: Path, clock: FakeClock) -> Arena:
    return make_arena(tmp_path, clock)


def listen_and_vote(arena: Arena, clock: FakeClock, session: str = "s1", choice: str = "A") -> dict:
    battle = arena.new_battle(session)
    clock.advance(MIN_LISTEN + 1)
    return arena.vote(session, battle.battle_id, choice, MIN_LISTEN + 0.5, MIN_LISTEN + 0.5)


def refusal(arena: Arena, *args: object) -> str:
    with pytest.raises(VoteRefused) as info:
        arena.vote(*args)  # type: ignore[arg-type]
    return info.value.reason.value


# -- pool ----------------------------------------------------------------------------------
def test_bundled_pool_is_openly_licensed_and_labelled() -> None:
    clips = load_pool()
    assert len(clips) >= 6 and all(c.path.is_file() for c in clips)
    assert all(c.path.parent == DEFAULT_POOL_DIR for c in clips)
    assert not any("NC" in c.licence for c in clips)
    assert all(c.licence.startswith(("CC0", "CC BY", "Public Domain")) and c.attribution for c in clips)
    assert len({c.system for c in clips}) >= 5
    note = json.loads((DEFAULT_POOL_DIR / "manifest.json").read_text())["note"]
    assert "APEX_ARENA_POOL" in note and "NOT AI-generated" in note
    total = sum(p.stat().st_size for p in DEFAULT_POOL_DIR.iterdir())
    assert total < 3_000_000


def test_pool_from_folder_of_systems_and_csv_manifest(tmp_path: Path) -> None:
    src = sorted(DEFAULT_POOL_DIR.glob("*.ogg"))
    for system, path in zip(["gen-x", "gen-x", "gen-y"], src):
        (tmp_path / "folder" / system).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, tmp_path / "folder" / system / path.name)
    clips = load_pool(str(tmp_path / "folder"))
    assert sorted(c.system for c in clips) == ["gen-x", "gen-x", "gen-y"]

    (tmp_path / "csvpool").mkdir()
    for path in src[:2]:
        shutil.copy(path, tmp_path / "csvpool" / path.name)
    (tmp_path / "csvpool" / "manifest.csv").write_text(
        "id,file,system,instrumental,prompt,licence,attribution\n"
        f"one,{src[0].name},sysA,true,p1,CC0,me\ntwo,{src[1].name},sysB,no,p2,CC0,me\n")
    clips = load_pool(str(tmp_path / "csvpool"))
    assert [(c.clip_id, c.system, c.instrumental) for c in clips] == [("one", "sysA", True), ("two", "sysB", False)]


def test_pool_with_too_few_clips_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    shutil.copy(next(DEFAULT_POOL_DIR.glob("*.ogg")), tmp_path / "one" / "a.ogg")
    with pytest.raises(ApexError) as info:
        load_pool(str(tmp_path / "one"))
    assert info.value.code is ErrorCode.ARENA_EMPTY
    with pytest.raises(ApexError):
        load_pool(str(tmp_path / "does-not-exist"))


def test_pairs_are_different_systems_in_random_order() -> None:
    clips = load_pool()
    rng = random.Random(1)
    pairs = [draw_pair(clips, rng) for _ in range(300)]
    assert all(a.system != b.system for a, b in pairs)
    first = {a.clip_id for a, _ in pairs}
    assert first == {c.clip_id for c in clips}          # every clip shows up as A
    one_system = [PoolClip(c.clip_id, c.path, "same") for c in clips[:3]]
    assert all(a.clip_id != b.clip_id for a, b in (draw_pair(one_system, rng) for _ in range(50)))


# -- battles and sessions ------------------------------------------------------------------
def test_battle_ids_are_unguessable_and_sessions_hashed(arena: Arena, tmp_path: Path) -> None:
    battles = [arena.new_battle("raw-session-SECRET") for _ in range(20)]
    assert len({b.battle_id for b in battles}) == 20
    assert all(len(b.battle_id) >= 32 for b in battles)
    assert all(b.session == arena.session_key("raw-session-SECRET") != "raw-session-SECRET" for b in battles)
    assert arena.store.battle_count() == 20
    data = b"".join(p.read_bytes() for p in (tmp_path / "data").iterdir() if p.is_file())
    assert b"raw-session-SECRET" not in data


def test_salt_from_settings_is_stable_and_random_salt_is_per_process(tmp_path: Path, clock: FakeClock) -> None:
    one = make_arena(tmp_path / "1", clock)
    two = make_arena(tmp_path / "2", clock)
    assert one.session_key("x") == two.session_key("x")
    three = make_arena(tmp_path / "3", clock, vote_salt=None)
    four = make_arena(tmp_path / "4", clock, vote_salt=None)
    assert three.session_key("x") != four.session_key("x")


# -- a good vote ---------------------------------------------------------------------------
def test_vote_is_committed_and_revealed(arena: Arena, clock: FakeClock) -> None:
    reply = listen_and_vote(arena, clock, choice="b")
    assert reply["accepted"] is True and reply["reason"] is None and reply["choice"] == "B"
    # overall by hand: Streams and Likes as they are, a 1-5 score x as (x - 1) * 25, then the plain mean
    overall = {side: sum(v if k.startswith("score_") else (v - 1) * 25 for k, v in reply[side]["scores"].items()) / 7
               for side in ("a", "b")}
    gap = overall["a"] - overall["b"]              # within 2 points (the documented tolerance) is a TIE
    assert reply["model_choice"] == ("TIE" if abs(gap) <= 2.0 else "A" if gap > 0 else "B")
    assert reply["agreed"] == (None if reply["model_choice"] == "TIE" else reply["model_choice"] == "B")
    for side in ("a", "b"):
        assert reply[side]["system"] and reply[side]["licence"] and len(reply[side]["scores"]) == 7
        assert reply[side]["overall"] == pytest.approx(overall[side], abs=0.005)  # shown rounded to 0.01
    assert reply["running_agreement"]["n"] == 1
    stored = arena.store.votes()
    assert len(stored) == 1 and stored[0].choice is Choice.B and stored[0].model == "tiny"
    assert stored[0].listened_a_s == pytest.approx(MIN_LISTEN + 0.5)


def test_running_agreement_survives_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    arena = make_arena(tmp_path, clock)
    for _ in range(3):
        listen_and_vote(arena, clock)
    again = make_arena(tmp_path, clock)
    assert again.running_agreement()["n"] == 3


def test_vote_counts_even_when_the_model_fails(tmp_path: Path, clock: FakeClock) -> None:
    def broken(path: Path) -> Mapping[str, float]:
        raise ApexError("model not loaded", ErrorCode.MODEL_NOT_FOUND)

    arena = make_arena(tmp_path, clock, score_fn=broken)
    reply = listen_and_vote(arena, clock)
    assert reply["accepted"] and reply["model_choice"] is None and reply["agreed"] is None
    assert arena.store.count() == 1 and arena.store.votes()[0].scores_a is None


def test_tie_and_both_bad_are_stored_but_not_in_agreement(arena: Arena, clock: FakeClock) -> None:
    assert listen_and_vote(arena, clock, choice="TIE")["agreed"] is None
    assert listen_and_vote(arena, clock, choice="both_bad")["agreed"] is None
    assert [v.choice for v in arena.store.votes()] == [Choice.TIE, Choice.BOTH_BAD]
    assert arena.running_agreement()["n"] == 0


def test_upload_battle_hides_then_reveals_takes(arena: Arena, clock: FakeClock, tmp_path: Path) -> None:
    src = sorted(DEFAULT_POOL_DIR.glob("*.ogg"))[:2]
    seen_orders = set()
    for _ in range(12):
        battle = arena.new_upload_battle("s1", src[0], src[1])
        assert battle.source == "upload" and {battle.system_a, battle.system_b} == {"your take 1", "your take 2"}
        seen_orders.add(battle.system_a)
    assert seen_orders == {"your take 1", "your take 2"}            # the order is random
    clock.advance(MIN_LISTEN)
    reply = arena.vote("s1", battle.battle_id, "A", MIN_LISTEN, MIN_LISTEN)
    assert reply["a"]["system"] == battle.system_a and reply["a"]["clip_id"].startswith("upload-")
    with pytest.raises(ApexError):
        arena.new_upload_battle("s1", src[0], tmp_path / "missing.ogg")


# -- abuse: each refused with its reason, nothing stored -----------------------------------
def test_replayed_battle_id(arena: Arena, clock: FakeClock) -> None:
    battle = arena.new_battle("s1")
    clock.advance(MIN_LISTEN)
    arena.vote("s1", battle.battle_id, "A", MIN_LISTEN, MIN_LISTEN)
    assert refusal(arena, "s1", battle.battle_id, "B", MIN_LISTEN, MIN_LISTEN) == "already_voted"
    assert arena.store.count() == 1 and arena.store.votes()[0].choice is Choice.A


def test_too_early_and_not_listened(arena: Arena, clock: FakeClock) -> None:
    battle = arena.new_battle("s1")
    clock.advance(MIN_LISTEN - 1)
    # The page claims enough listening, but the battle was served too recently: the server decides.
    assert refusal(arena, "s1", battle.battle_id, "A", 100, 100) == "too_early"
    clock.advance(1)
    assert refusal(arena, "s1", battle.battle_id, "A", MIN_LISTEN, MIN_LISTEN - 0.1) == "not_listened"
    assert refusal(arena, "s1", battle.battle_id, "A", 0, MIN_LISTEN) == "not_listened"
    assert arena.store.count() == 0
    assert arena.vote("s1", battle.battle_id, "A", MIN_LISTEN, MIN_LISTEN)["accepted"]  # still usable after


@pytest.mark.parametrize("choice", ["C", "", "a ", "AB", "tie!", None, 1, "BOTH BAD"])
def test_unknown_choice(arena: Arena, clock: FakeClock, choice: object) -> None:
    battle = arena.new_battle("s1")
    clock.advance(MIN_LISTEN)
    expected = "invalid_choice" if choice != "a " else None
    if expected is None:       # surrounding whitespace is tolerated
        assert arena.vote("s1", battle.battle_id, choice, MIN_LISTEN, MIN_LISTEN)["choice"] == "A"
        return
    assert refusal(arena, "s1", battle.battle_id, choice, MIN_LISTEN, MIN_LISTEN) == expected
    assert arena.store.count() == 0


@pytest.mark.parametrize("seconds", ["abc", -1, math.nan, math.inf, None])
def test_bad_listening_time(arena: Arena, clock: FakeClock, seconds: object) -> None:
    battle = arena.new_battle("s1")
    clock.advance(MIN_LISTEN)
    assert refusal(arena, "s1", battle.battle_id, "A", seconds, MIN_LISTEN) == "bad_listen_time"
    assert arena.store.count() == 0


def test_forged_wrong_session_and_expired(arena: Arena, clock: FakeClock) -> None:
    battle = arena.new_battle("s1")
    clock.advance(MIN_LISTEN)
    forged = battle.battle_id[:-2] + ("AA" if not battle.battle_id.endswith("AA") else "BB")
    assert refusal(arena, "s1", forged, "A", MIN_LISTEN, MIN_LISTEN) == "unknown_battle"
    assert refusal(arena, "s1", "", "A", MIN_LISTEN, MIN_LISTEN) == "unknown_battle"
    assert refusal(arena, "s1", "x' OR '1'='1", "A", MIN_LISTEN, MIN_LISTEN) == "unknown_battle"
    assert refusal(arena, "other", battle.battle_id, "A", MIN_LISTEN, MIN_LISTEN) == "wrong_session"
    clock.advance(BATTLE_TTL_S + 1)
    assert refusal(arena, "s1", battle.battle_id, "A", MIN_LISTEN, MIN_LISTEN) == "expired"
    assert arena.store.count() == 0


def test_rate_limit_flood(tmp_path: Path, clock: FakeClock) -> None:
    arena = make_arena(tmp_path, clock, votes_per_minute=3)
    battles = [arena.new_battle("s1") for _ in range(6)]     # battle limit is 2x the vote limit
    assert refusal_new_battle(arena, "s1") == "rate_limited"
    clock.advance(MIN_LISTEN)
    for battle in battles[:3]:
        assert arena.vote("s1", battle.battle_id, "A", MIN_LISTEN, MIN_LISTEN)["accepted"]
    for battle in battles[3:]:
        assert refusal(arena, "s1", battle.battle_id, "A", MIN_LISTEN, MIN_LISTEN) == "rate_limited"
    assert arena.vote_reply("other", battles[3].battle_id, "A", MIN_LISTEN, MIN_LISTEN)["reason"] \
        == "wrong_session"                                    # the limit is per session
    assert arena.store.count() == 3
    clock.advance(61)
    assert arena.vote("s1", battles[3].battle_id, "A", MIN_LISTEN, MIN_LISTEN)["accepted"]


def refusal_new_battle(arena: Arena, session: str) -> str:
    with pytest.raises(VoteRefused) as info:
        arena.new_battle(session)
    return info.value.reason.value


def test_vote_reply_shape_for_the_api(arena: Arena) -> None:
    reply = arena.vote_reply("s1", "forged", "A", 10, 10)
    assert reply == {"accepted": False, "reason": Refusal.UNKNOWN_BATTLE.value, "message": reply["message"]}
    assert "new battle" in reply["message"]


# -- the page's helpers ----------------------------------------------------------------------
def test_listening_time_from_play_and_pause_events(monkeypatch: pytest.MonkeyPatch) -> None:
    from apex_demo.ui import arena_tab

    now = [100.0]
    monkeypatch.setattr(arena_tab.time, "monotonic", lambda: now[0])
    state = arena_tab.fresh_listening()
    state = arena_tab.started(state, "a")
    now[0] += 4.0
    state = arena_tab.stopped(state, "a")
    state = arena_tab.started(state, "a")
    state = arena_tab.started(state, "a")          # a second play event while playing counts once
    now[0] += 2.5
    assert arena_tab.listened(state, "a") == pytest.approx(6.5)   # still playing
    assert arena_tab.listened(state, "b") == 0.0
    state = arena_tab.stopped(arena_tab.stopped(state, "a"), "a")  # stop after pause adds nothing
    now[0] += 10
    assert arena_tab.listened(state, "a") == pytest.approx(6.5)


def test_reveal_text_and_leaderboard_summary(arena: Arena, clock: FakeClock) -> None:
    from apex_demo.ui import arena_tab, leaderboard_tab

    reply = listen_and_vote(arena, clock, choice="A")
    text = arena_tab.reveal_markdown(reply)
    assert reply["a"]["system"] in text and reply["b"]["system"] in text
    assert text.startswith("### You said: A is better") and "overall" in text
    assert "The model picked" in text and "higher overall score" in text     # the rule that made the pick
    tie = dict(reply, choice="TIE", agreed=None)
    assert arena_tab.reveal_markdown(tie).startswith("### You said: tie")
    upload = dict(reply, a=dict(reply["a"], system="your take 1"), b=dict(reply["b"], system="your take 2"))
    named = arena_tab.reveal_markdown(upload, {"your take 1": "chorus_v2.wav", "your take 2": "chorus_v1.wav"})
    assert "*chorus_v2.wav*" in named and "*chorus_v1.wav*" in named
    figure = arena_tab._radar(reply, "a")
    assert len(figure.data) == 1
    board = arena.board.refresh()
    line = leaderboard_tab.summary_markdown(board)
    assert "**1 votes**" in line and "49 more" in line and "\n" not in line     # one compact line
    assert list(leaderboard_tab.board_table(board.stats.systems).columns) == leaderboard_tab.BOARD_COLUMNS
    assert leaderboard_tab.summary_markdown(compute_board([])) == leaderboard_tab.EMPTY
    assert leaderboard_tab.summary_markdown(None) == leaderboard_tab.COMPUTING


def test_arena_figures() -> None:
    from apex_demo import plots

    fig = plots.agreement_figure((0.6, 0.45, 0.74, 40), [("coherence", 0.55, 0.4, 0.7, 40),
                                                          ("naturalness", None, None, None, 0)])
    assert len(fig.data) == 1 and list(fig.data[0].y) == ["Overall pick", "Coherence"]   # n=0 left out
    assert list(fig.data[0].x) == pytest.approx([60.0, 55.0])
    assert list(fig.layout.xaxis.range) == [0, 100]
    assert fig.data[0].error_x.array[0] == pytest.approx(14.0)
    empty = plots.agreement_figure((None, None, None, 0), [])
    assert len(empty.data) == 0 and "No decisive votes" in empty.layout.annotations[0].text
    board = plots.leaderboard_figure(["x", "y"], [1100.0, 900.0], [1050.0, 860.0], [1160.0, 950.0])
    assert list(board.data[0].x) == [1100.0, 900.0]
    assert list(board.data[0].error_x.array) == pytest.approx([60.0, 50.0])
    assert list(board.data[0].error_x.arrayminus) == pytest.approx([50.0, 40.0])
    assert len(plots.leaderboard_figure([], [], [], []).data) == 0


def test_leaderboard_download_writes_escaped_csv(tmp_path: Path, clock: FakeClock) -> None:
    import csv

    from apex_demo.ui import leaderboard_tab
    from apex_demo.ui.context import DownloadDir

    class Ctx:
        downloads = DownloadDir()

    src = sorted(DEFAULT_POOL_DIR.glob("*.ogg"))[:2]
    pool = [PoolClip("=HYPERLINK(\"http://x\")", src[0], "=cmd|' /C calc'!A0"), PoolClip("plain", src[1], "sys")]
    cfg = Settings(data_dir=tmp_path / "data", min_listen_s=MIN_LISTEN, vote_salt="test-salt")
    arena = Arena(cfg, VoteStore.open(cfg), pool, score_fn=fake_scores, clock=clock, rng=random.Random(0))
    listen_and_vote(arena, clock)
    update = leaderboard_tab.make_download(Ctx(), arena, "csv", leaderboard_tab.CSV_NAME)()
    text = Path(update.value["path"]).read_text()
    assert text.splitlines()[0].startswith("battle_id,choice") and len(text.splitlines()) == 2
    (row,) = list(csv.DictReader(text.splitlines()))
    side = "a" if row["clip_a"] != "plain" else "b"
    assert row[f"clip_{side}"] == "'=HYPERLINK(\"http://x\")"
    assert row[f"system_{side}"] == "'=cmd|' /C calc'!A0"
    assert not [cell for cell in row.values() if cell.startswith(("=", "+", "@"))]
    arena.store.close()
    Ctx.downloads.cleanup()


def test_the_page_gets_battle_clips_under_neutral_names(arena: Arena, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from apex_demo.ui import arena_tab

    request = SimpleNamespace(session_hash="s1")
    src = sorted(DEFAULT_POOL_DIR.glob("*.ogg"))[:2]
    try:
        for outputs in (arena_tab.make_new_battle(arena)(request),
                        arena_tab.make_upload_battle(arena)(str(src[0]), str(src[1]), request)):
            battle = arena.store.get_battle(outputs[0])
            path_a, path_b = Path(outputs[3]["value"]), Path(outputs[4]["value"])  # after id, listening, names
            assert outputs[3]["visible"] and outputs[4]["visible"]  # the players appear with the battle
            assert (path_a.name, path_b.name) == ("A.flac", "B.flac") and path_a.parent == path_b.parent
            telltales = (battle.clip_a, battle.clip_b, battle.system_a, battle.system_b,
                         Path(battle.path_a).stem, Path(battle.path_b).stem)
            assert not [t for t in telltales if t.lower() in str(path_a.parent).lower()]
            for served, source in ((path_a, battle.path_a), (path_b, battle.path_b)):
                got, rate = sf.read(served, dtype="float32")
                want, want_rate = sf.read(source, dtype="float32")
                assert rate == want_rate and got.shape == want.shape
                assert np.abs(got - want).max() <= 1 / 32768          # 16-bit FLAC: half a step, rounded
            assert Path(battle.path_a).is_file()                      # the pool itself is untouched
    finally:
        arena.close()


@pytest.mark.parametrize("failure", [VoteError("the vote was not stored: disk full", ErrorCode.BAD_REQUEST),
                                     sqlite3.OperationalError("database is locked")])
def test_a_store_failure_reaches_the_voter_as_a_clear_error(arena: Arena, clock: FakeClock,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             failure: Exception) -> None:
    """Not a refusal (those are replies): the page and the API raise a gr.Error that says what happened."""
    import gradio as gr
    from types import SimpleNamespace

    from apex_demo.ui import arena_api, arena_tab

    request = SimpleNamespace(session_hash="s1")
    battle = arena.new_battle("s1")
    clock.advance(MIN_LISTEN)

    def broken(vote: object) -> None:
        raise failure

    monkeypatch.setattr(arena.store, "add_vote", broken)
    want = "disk full" if isinstance(failure, VoteError) else "OperationalError"
    with pytest.raises(gr.Error, match=want):
        arena_api.make_vote(arena)(battle.battle_id, "A", MIN_LISTEN, MIN_LISTEN, request)
    monkeypatch.setattr(arena_tab, "listened", lambda state, side: MIN_LISTEN)
    with pytest.raises(gr.Error, match=want):
        arena_tab.make_vote(arena, "A")(battle.battle_id, arena_tab.fresh_listening(), {}, request)
    assert arena.store.count() == 0


def test_learned_model_makes_the_pick_once_it_beats_the_fixed_rule(arena: Arena, clock: FakeClock) -> None:
    """600 earlier votes (from elsewhere: their battles were not served here) in which listeners
    preferred the clip with LOWER likes: after the background refit the pick is the learned model's."""
    from tests.test_vote_model import make_votes

    before = listen_and_vote(arena, clock)
    assert before["model_rule"] == "fixed" and "higher overall score" in before["model_rule_text"]
    arena.store.import_votes(make_votes(600, {"score_likes": -2.0}, seed=4))
    board = arena.board.refresh()
    assert board.remote_votes == 600 and board.votes == 601 and board.learned.beats_fixed
    after = listen_and_vote(arena, clock)
    assert after["model_rule"] == "learned" and "learned from 601 votes" in after["model_rule_text"]
    scores_a, scores_b = after["a"]["scores"], after["b"]["scores"]
    lower_likes = "A" if scores_a["score_likes"] < scores_b["score_likes"] else "B"
    assert after["model_choice"] == lower_likes          # the learned rule: the lower likes wins
    from apex_demo.ui import arena_tab

    text = arena_tab.reveal_markdown(after)
    assert "learned from 601 votes" in text and after["model_pick_definition"] not in text
