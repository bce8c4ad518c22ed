"""The arena's figures: agreement with its chance line and intervals, and the Bradley-Terry ratings."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from apex_demo.arena.service import Arena, load_pool
from apex_demo.config import Settings
from apex_demo.arena.store import VoteStore
from tests.support.arena import FakeClock, fake_scores

MIN_LISTEN = 5.0


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


# -- pool ----------------------------------------------------------------------------------


# -- battles and sessions ------------------------------------------------------------------


# -- a good vote ---------------------------------------------------------------------------


# -- abuse: each refused with its reason, nothing stored -----------------------------------


# -- the page's helpers ----------------------------------------------------------------------


def test_arena_figures() -> None:
    from apex_demo import figures

    fig = figures.agreement_figure((0.6, 0.45, 0.74, 40), [("coherence", 0.55, 0.4, 0.7, 40),
                                                          ("naturalness", None, None, None, 0)])
    assert len(fig.data) == 1 and list(fig.data[0].y) == ["Overall pick", "Coherence"]   # n=0 left out
    assert list(fig.data[0].x) == pytest.approx([60.0, 55.0])
    assert list(fig.layout.xaxis.range) == [0, 100]
    assert fig.data[0].error_x.array[0] == pytest.approx(14.0)
    empty = figures.agreement_figure((None, None, None, 0), [])
    assert len(empty.data) == 0 and "No decisive votes" in empty.layout.annotations[0].text
    board = figures.leaderboard_figure(["x", "y"], [1100.0, 900.0], [1050.0, 860.0], [1160.0, 950.0])
    assert list(board.data[0].x) == [1100.0, 900.0]
    assert list(board.data[0].error_x.array) == pytest.approx([60.0, 50.0])
    assert list(board.data[0].error_x.arrayminus) == pytest.approx([50.0, 40.0])
    assert len(figures.leaderboard_figure([], [], [], []).data) == 0


