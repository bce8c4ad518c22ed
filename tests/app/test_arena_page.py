"""The arena through the running app: battle clips reach the page under neutral names, and the learned model
takes over the pick once it beats the fixed rule."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

from apex_demo.arena.pool import DEFAULT_POOL_DIR
from apex_demo.arena.service import Arena
from tests.support.arena import FakeClock, listen_and_vote, make_votes


def as_served_layout(source: Path, channels: int) -> np.ndarray:
    """The source decoded by ffmpeg (another program) at the served rate and channel count, as float samples."""
    raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(source), "-ar", "44100", "-ac", str(channels),
                          "-f", "f32le", "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype="<f4").reshape(-1, channels)


# -- pool ----------------------------------------------------------------------------------


# -- battles and sessions ------------------------------------------------------------------


# -- a good vote ---------------------------------------------------------------------------


# -- abuse: each refused with its reason, nothing stored -----------------------------------


# -- the page's helpers ----------------------------------------------------------------------


def test_the_page_gets_battle_clips_under_neutral_names(arena: Arena, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from apex_demo.ui.tabs import arena as arena_tab

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
                got, rate = sf.read(served, dtype="float32", always_2d=True)
                want = as_served_layout(Path(source), got.shape[1])   # the source as ffmpeg decodes it
                assert rate == 44100 and got.shape[1] == 1 and len(got) >= len(want)  # the bundled clips are mono
                head = got[: len(want)].ravel()
                assert np.dot(head, want.ravel()) / (np.linalg.norm(head) * np.linalg.norm(want)) > 0.99  # same music
            assert Path(battle.path_a).is_file()                      # the pool itself is untouched
    finally:
        arena.close()


def test_learned_model_makes_the_pick_once_it_beats_the_fixed_rule(arena: Arena, clock: FakeClock) -> None:
    """600 earlier votes (from elsewhere: their battles were not served here) in which listeners
    preferred the clip with LOWER likes: after the background refit the pick is the learned model's."""

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
    from apex_demo.ui.tabs import arena as arena_tab

    text = arena_tab.reveal_markdown(after)
    assert "learned from 601 votes" in text and after["model_pick_definition"] not in text
