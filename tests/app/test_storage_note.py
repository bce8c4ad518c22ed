"""Votes and persistent storage on a Space, in both setups, simulated (a folder stands in for /data;
nothing is written to a real /data): with storage, votes and the cache go there and nothing warns;
without it and without APEX_VOTES_REPO, `doctor` and the Leaderboard tab say that votes are lost on restart."""

from __future__ import annotations

from pathlib import Path

import pytest

from apex_demo.arena import DB_FILENAME
from apex_demo.config import VOTES_LOST_ON_RESTART, Settings
from apex_demo.engine import format_report, run_doctor
from apex_demo.ui import build_app, create_context
from tests.support.fakes import FakeScorer

LOST = VOTES_LOST_ON_RESTART.split(":")[0]  # "Votes are lost when this Space restarts"


def space_settings(tmp_path: Path, tiny_mert_dir: Path, head: Path, with_storage: bool) -> Settings:
    storage = tmp_path / "persistent"
    if with_storage:
        storage.mkdir()
    env = {"SPACE_ID": "me/checker", "APEX_MERT": str(tiny_mert_dir), "APEX_HEAD": str(head), "APEX_DEVICE": "cpu",
           "APEX_CACHE_DIR": str(tmp_path / "cache")}
    settings = Settings.from_env(env, persistent_storage=storage)
    if not with_storage:  # the default would be ./data of the working folder: keep the test's votes in tmp
        settings = settings.with_overrides(data_dir=tmp_path / "ephemeral")
    return settings


def leaderboard_note(settings: Settings) -> str | None:
    ctx = create_context(settings, load=lambda s: FakeScorer())
    try:
        demo = build_app(ctx)
        notes = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "leaderboard-storage-note"]
        return notes[0].value if notes else None
    finally:
        ctx.close()


@pytest.mark.parametrize("with_storage", [True, False], ids=["persistent-storage", "no-storage"])
def test_doctor_and_leaderboard_say_whether_votes_survive(with_storage: bool, tmp_path: Path, tiny_mert_dir: Path,
                                                          tiny_heads: dict[str, Path]) -> None:
    settings = space_settings(tmp_path, tiny_mert_dir, tiny_heads["train"], with_storage)
    if with_storage:
        assert settings.data_dir == tmp_path / "persistent" / "apex_demo"
    report = run_doctor(settings)
    assert report.ok  # a note, not a failure
    note = leaderboard_note(settings)
    if with_storage:
        assert not report.notes and LOST not in format_report(report) and note is None
        assert (settings.data_dir / DB_FILENAME).exists()  # the vote store lives in the persistent storage
    else:
        assert LOST in format_report(report) and note is not None and LOST in note
