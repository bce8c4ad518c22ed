"""The arena service: unguessable battle ids, salted sessions, the vote and its reveal, and every refusal
(nothing stored when refused)."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Mapping

import pytest

from apex_demo.arena.pool import DEFAULT_POOL_DIR
from apex_demo.arena.rules import BATTLE_TTL_S
from apex_demo.arena.service import Arena
from apex_demo.errors import ApexError, ErrorCode, VoteError
from apex_demo.arena.records import Choice
from apex_demo.arena.records import Refusal, VoteRefused
from tests.support.arena import db_value, FakeClock, listen_and_vote, MIN_LISTEN, warm_arena


def refusal(arena: Arena, *args: object) -> str:
    with pytest.raises(VoteRefused) as info:
        arena.vote(*args)  # type: ignore[arg-type]
    return info.value.reason.value


# -- pool ----------------------------------------------------------------------------------


# -- battles and sessions ------------------------------------------------------------------
def test_battle_ids_are_unguessable_and_sessions_hashed(arena: Arena, tmp_path: Path) -> None:
    battles = [arena.new_battle("raw-session-SECRET") for _ in range(20)]
    assert len({b.battle_id for b in battles}) == 20
    assert all(len(b.battle_id) >= 32 for b in battles)
    assert all(b.session == arena.pseudonyms.of("raw-session-SECRET") != "raw-session-SECRET" for b in battles)
    assert db_value(arena.store.path, "SELECT COUNT(*) FROM battles") == 20
    data = b"".join(p.read_bytes() for p in (tmp_path / "data").iterdir() if p.is_file())
    assert b"raw-session-SECRET" not in data


def test_salt_from_settings_is_stable_and_random_salt_is_per_process(tmp_path: Path, clock: FakeClock) -> None:
    one = warm_arena(tmp_path / "1", clock)
    two = warm_arena(tmp_path / "2", clock)
    assert one.pseudonyms.of("x") == two.pseudonyms.of("x")
    three = warm_arena(tmp_path / "3", clock, vote_salt=None)
    four = warm_arena(tmp_path / "4", clock, vote_salt=None)
    assert three.pseudonyms.of("x") != four.pseudonyms.of("x")


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
    assert reply["running_agreement"]["n"] == (0 if reply["model_choice"] == "TIE" else 1)  # decisive picks only
    stored = arena.store.votes()
    assert len(stored) == 1 and stored[0].choice is Choice.B and stored[0].model == "tiny"
    assert stored[0].listened_a_s == pytest.approx(MIN_LISTEN + 0.5)


def test_running_agreement_survives_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    arena = warm_arena(tmp_path, clock)
    for _ in range(3):
        listen_and_vote(arena, clock)
    again = warm_arena(tmp_path, clock)
    decisive = sum(v.model_choice in (Choice.A, Choice.B) for v in arena.store.votes())
    assert again.running_agreement()["n"] == decisive == arena.running_agreement()["n"] > 0


def test_vote_counts_even_when_the_model_fails(tmp_path: Path, clock: FakeClock) -> None:
    def broken(path: Path) -> Mapping[str, float]:
        raise ApexError("model not loaded", ErrorCode.MODEL_NOT_FOUND)

    arena = warm_arena(tmp_path, clock, score_fn=broken)
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
    arena = warm_arena(tmp_path, clock, votes_per_minute=3)
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


@pytest.mark.parametrize("failure", [VoteError("the vote was not stored: disk full", ErrorCode.BAD_REQUEST),
                                     sqlite3.OperationalError("database is locked")])
def test_a_store_failure_reaches_the_voter_as_a_clear_error(arena: Arena, clock: FakeClock,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             failure: Exception) -> None:
    """Not a refusal (those are replies): the page and the API raise a gr.Error that says what happened."""
    import gradio as gr
    from types import SimpleNamespace

    from apex_demo.ui import arena_api
    from apex_demo.ui.tabs import arena as arena_tab

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


