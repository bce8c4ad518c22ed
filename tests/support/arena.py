"""Arena stand-ins for tests: a clock moved by hand, scores without a model, votes made to order."""

from __future__ import annotations

import json
import math
import shutil
import random
import secrets
import sqlite3
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from apex_demo.arena.pool import DEFAULT_POOL_DIR, PoolClip, load_pool
from apex_demo.arena.records import Choice, Visitor, Vote
from apex_demo.arena.service import Arena
from apex_demo.arena.store import VoteStore
from apex_demo.config import Settings
from apex_demo.scores import SCORE_KEYS
from tests.support.fakes import FakeScorer

MIN_LISTEN = 5.0  # the arena tests' minimum listening time (Settings.min_listen_s)

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


SCORES = {"score_streams": 55.5, "score_likes": 44.0, "coherence": 3.5, "musicality": 3.0,
          "memorability": 2.5, "clarity": 4.0, "naturalness": 3.25}


def vote(battle_id: str = "b1", choice: Choice = Choice.A, **changes: object) -> Vote:
    values: dict[str, object] = dict(battle_id=battle_id, choice=choice, session="h" * 32, source="pool",
                                     clip_a="c1", clip_b="c2", system_a="s1", system_b="s2",
                                     listened_a_s=6.0, listened_b_s=7.5, served_at=1000.0, voted_at=1010.0,
                                     model_choice=Choice.B, scores_a=SCORES, scores_b=SCORES, model="m")
    values.update(changes)
    return Vote(**values)  # type: ignore[arg-type]


LOW_HIGH = {"score_streams": (0, 100), "score_likes": (0, 100)}


def random_scores(rng: np.random.Generator) -> dict[str, float]:
    return {k: float(rng.uniform(*LOW_HIGH.get(k, (1, 5)))) for k in SCORE_KEYS}


def make_votes(n: int, true_coef: dict[str, float], seed: int = 0) -> list[Vote]:
    """Votes whose A-preference follows p = sigmoid(sum coef * (a - b) / sd(a - b)); for two independent
    uniform scores on [lo, hi], sd(a - b) = (hi - lo) / sqrt(6)."""
    rng = np.random.default_rng(seed)
    votes = []
    for i in range(n):
        a, b = random_scores(rng), random_scores(rng)
        logit = 0.0
        for key, coef in true_coef.items():
            lo, hi = LOW_HIGH.get(key, (1, 5))
            logit += coef * (a[key] - b[key]) / ((hi - lo) / math.sqrt(6))
        choice = Choice.A if rng.random() < 1 / (1 + math.exp(-logit)) else Choice.B
        votes.append(Vote(f"b{i}", choice, "s", "pool", "x", "y", "sx", "sy", 9.0, 9.0, 0.0, 1.0,
                          None, a, b, "m"))
    return votes


def db_value(path: Path, sql: str) -> Any:
    """One value read from a vote database by a connection of its own (not the store under test)."""
    with sqlite3.connect(str(path)) as conn:
        return conn.execute(sql).fetchone()[0]


def settings_for(tmp_path: Path, **changes: object) -> Settings:
    values: dict[str, object] = {"data_dir": tmp_path / "data", "min_listen_s": 5.0, "vote_salt": "test-salt"}
    values.update(changes)
    return Settings(**values)  # type: ignore[arg-type]


def bare_arena(tmp_path: Path, clock: FakeClock, pool: list[PoolClip] | None = None, score_fn=fake_scores,
               **changes: object) -> Arena:
    """An arena over the bundled pool with the settings given (no warm-up: scores only when asked)."""
    cfg = settings_for(tmp_path, **changes)
    return Arena(cfg, VoteStore.open(cfg), pool or load_pool(), score_fn=score_fn, clock=clock,
                 rng=random.Random(0))


def stuff_votes(arena: Arena, clock: FakeClock, favourite: str, sessions: int) -> int:
    """Fresh sessions that vote `favourite` whenever it is in the pair (TIE otherwise); returns how
    many votes had it in the pair."""
    involved = 0
    for i in range(sessions):
        visitor = Visitor(f"fresh-{secrets.token_hex(4)}-{i}", address=f"198.51.100.{i}")
        battle = arena.new_battle(visitor)
        clock.advance(6)
        sides = {battle.system_a: "A", battle.system_b: "B"}
        arena.vote(visitor, battle.battle_id, sides.get(favourite, "TIE"), 6, 6)
        involved += favourite in sides
    return involved


def warm_arena(tmp_path: Path, clock: FakeClock, score_fn=fake_scores, **settings: object) -> Arena:
    """An arena over the bundled pool whose clips are scored already (as the app's warm-up leaves it)."""
    values: dict[str, object] = dict(data_dir=tmp_path / "data", min_listen_s=MIN_LISTEN, votes_per_minute=30,
                                     vote_salt="test-salt")
    values.update(settings)
    cfg = Settings(**values)  # type: ignore[arg-type]
    arena = Arena(cfg, VoteStore.open(cfg), load_pool(), score_fn=score_fn, model_name="tiny", clock=clock,
                  rng=random.Random(0))
    arena.warm()  # what the app's start-up warm-up does: votes only read these scores
    return arena


def listen_and_vote(arena: Arena, clock: FakeClock, session: str = "s1", choice: str = "A") -> dict:
    """A new battle for `session`, listened to long enough, then the vote."""
    battle = arena.new_battle(session)
    clock.advance(MIN_LISTEN + 1)
    return arena.vote(session, battle.battle_id, choice, MIN_LISTEN + 0.5, MIN_LISTEN + 0.5)


def pool_copy(folder: Path, names: tuple[str, ...] = ("garzul_loop", "sorohanro_solo_trumpet_06")) -> Path:
    """A small manifest pool (two systems) copied from the bundled clips."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for i, name in enumerate(names):
        shutil.copy(DEFAULT_POOL_DIR / f"{name}.ogg", folder / f"{name}.ogg")
        entries.append({"id": name, "file": f"{name}.ogg", "system": f"system-{i}"})
    (folder / "manifest.json").write_text(json.dumps({"clips": entries}))
    return folder


def pool_votes(n: int, seed: int = 0, spread: float = 60.0) -> list[Vote]:
    """Earlier votes on the bundled pool (from elsewhere: their battles were not served here): systems rated
    1000, 1060, ... in name order, listeners following Bradley-Terry with one vote in ten a TIE, both
    clips scored by the stand-in engine, the battle's kind from the manifest."""
    pool = load_pool()
    truth = {s: 1000.0 + spread * i for i, s in enumerate(sorted({c.system for c in pool}))}
    rng = random.Random(seed)
    votes = []
    while len(votes) < n:
        a, b = rng.sample(pool, 2)
        if a.system == b.system:
            continue
        p = 1 / (1 + 10 ** ((truth[b.system] - truth[a.system]) / 400))
        choice = Choice.TIE if rng.random() < 0.1 else Choice.A if rng.random() < p else Choice.B
        kind = a.instrumental if a.instrumental == b.instrumental else None
        i = len(votes)
        votes.append(Vote(f"earlier-{seed}-{i}", choice, "e" * 32, "pool", a.clip_id, b.clip_id, a.system, b.system,
                          9.0, 9.0, 1000.0 + i, 1010.0 + i, None, dict(fake_scores(a.path)), dict(fake_scores(b.path)),
                          "tiny", client=f"earlier-client-{i % 40}", instrumental=kind))
    return votes
