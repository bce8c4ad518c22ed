"""The Arena tab's pieces without a browser: listening time from play and pause events, the reveal in words, the
vote download."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from apex_demo.arena.pool import DEFAULT_POOL_DIR
from apex_demo.arena.pool import PoolClip
from apex_demo.arena.service import Arena
from apex_demo.arena.board import compute_board
from apex_demo.config import Settings
from apex_demo.arena.store import VoteStore
from tests.support.arena import fake_scores, FakeClock, listen_and_vote, MIN_LISTEN


# -- pool ----------------------------------------------------------------------------------


# -- battles and sessions ------------------------------------------------------------------


# -- a good vote ---------------------------------------------------------------------------


# -- abuse: each refused with its reason, nothing stored -----------------------------------


# -- the page's helpers ----------------------------------------------------------------------
def test_listening_time_from_play_and_pause_events(monkeypatch: pytest.MonkeyPatch) -> None:
    from apex_demo.ui.tabs import arena as arena_tab

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
    from apex_demo.ui.tabs import arena as arena_tab, leaderboard as leaderboard_tab

    reply = listen_and_vote(arena, clock, choice="A")
    text = arena_tab.reveal_markdown(reply)
    assert reply["a"]["system"] in text and reply["b"]["system"] in text
    assert text.startswith("### You said: A is better") and "overall" in text
    assert f"same loudness ({arena.settings.arena_loudness_lufs:g} LUFS)" in text
    assert "The model's pick: " in text and "higher overall score" in text     # the rule that made the pick
    tie = dict(reply, choice="TIE", agreed=None)
    assert arena_tab.reveal_markdown(tie).startswith("### You said: tie")
    upload = dict(reply, a=dict(reply["a"], system="your take 1"), b=dict(reply["b"], system="your take 2"))
    named = arena_tab.reveal_markdown(upload, {"your take 1": "chorus_v2.wav", "your take 2": "chorus_v1.wav"})
    assert "*chorus_v2.wav*" in named and "*chorus_v1.wav*" in named
    figure = arena_tab._radar(reply, "a")
    assert len(figure.data) == 1
    board = arena.board.refresh()
    line = leaderboard_tab.summary_markdown(board)
    assert "**1 vote counted**" in line and "\n" not in line     # one compact line
    assert "49 more" in leaderboard_tab.agreement_markdown(board)
    assert leaderboard_tab.summary_markdown(compute_board([])) == leaderboard_tab.EMPTY
    assert leaderboard_tab.summary_markdown(None) == leaderboard_tab.COMPUTING


def test_leaderboard_download_writes_escaped_csv(tmp_path: Path, clock: FakeClock) -> None:
    import csv

    from apex_demo.arena.export_files import ExportFiles
    from apex_demo.ui.tabs import leaderboard as leaderboard_tab

    src = sorted(DEFAULT_POOL_DIR.glob("*.ogg"))[:2]
    pool = [PoolClip("=HYPERLINK(\"http://x\")", src[0], "=cmd|' /C calc'!A0"), PoolClip("plain", src[1], "sys")]
    cfg = Settings(data_dir=tmp_path / "data", min_listen_s=MIN_LISTEN, vote_salt="test-salt")
    arena = Arena(cfg, VoteStore.open(cfg), pool, score_fn=fake_scores, clock=clock, rng=random.Random(0))
    listen_and_vote(arena, clock)
    exports = ExportFiles(arena.store, tmp_path / "exports", {"csv": leaderboard_tab.CSV_NAME})
    update = leaderboard_tab.make_download(exports, "csv")()
    assert Path(update.value["path"]).name == leaderboard_tab.CSV_NAME
    text = Path(update.value["path"]).read_text()
    assert text.splitlines()[0].startswith("battle_id,choice") and len(text.splitlines()) == 2
    (row,) = list(csv.DictReader(text.splitlines()))
    side = "a" if row["clip_a"] != "plain" else "b"
    assert row[f"clip_{side}"] == "'=HYPERLINK(\"http://x\")"
    assert row[f"system_{side}"] == "'=cmd|' /C calc'!A0"
    assert not [cell for cell in row.values() if cell.startswith(("=", "+", "@"))]
    arena.store.close()


