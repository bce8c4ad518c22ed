"""Pairing: votes go where they teach most (few votes, unsettled pairs), kinds stay apart, every pair stays
possible, and a simulation with a known ground truth shows narrower intervals than uniform drawing."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from apex_demo.arena.pairing import EXPLORE_SHARE, Candidate, Pairing, candidates
from apex_demo.arena.pool import PoolClip, load_pool
from apex_demo.arena.records import Choice, Vote

ELO = 400 / math.log(10)
Z_95 = 1.959963984540054


def clip(clip_id: str, system: str, instrumental: bool | None = None) -> PoolClip:
    return PoolClip(clip_id, Path(f"{clip_id}.ogg"), system, instrumental)


def pool_vote(i: int, a: PoolClip, b: PoolClip, a_won: bool) -> Vote:
    kind = a.instrumental if a.instrumental is not None and a.instrumental == b.instrumental else None
    return Vote(f"b{i}", Choice.A if a_won else Choice.B, "s", "pool", a.clip_id, b.clip_id, a.system, b.system,
                9.0, 9.0, 0.0, 1.0, instrumental=kind)


def test_chances_follow_votes_and_settled_intervals_by_hand() -> None:
    """Weights 1 / (pair votes + 5), a quarter of that when both intervals are apart; 80 % of draws by
    weight, 20 % uniform. x-y has 5 votes: 1/10; x-z is settled: 0.25/5 = 1/20; y (unrated) - z: 1/5.
    Total 0.35, so x-y = 0.8 * 0.1 / 0.35 + 0.2 / 3 = 0.29524, x-z = 0.18095, y-z = 0.52381."""
    x, y, z = clip("x1", "x"), clip("y1", "y"), clip("z1", "z")
    votes = [pool_vote(i, x, y, i % 2 == 0) for i in range(5)]
    pairing = Pairing([x, y, z], votes, intervals=lambda: {"x": (1100.0, 1200.0), "z": (800.0, 900.0)})
    chances = pairing.probabilities()
    assert chances[Candidate("x", "y", None)] == pytest.approx(0.8 * 0.1 / 0.35 + 0.2 / 3)
    assert chances[Candidate("x", "z", None)] == pytest.approx(0.8 * 0.05 / 0.35 + 0.2 / 3)
    assert chances[Candidate("y", "z", None)] == pytest.approx(0.8 * 0.2 / 0.35 + 0.2 / 3)
    assert pairing.clip_weights("x", None) == {"x1": pytest.approx(1 / 7)}    # 5 votes + 2


def test_kinds_stay_apart_where_the_pool_says_which_is_which() -> None:
    """The bundled pool: 2 systems with vocals, 4 instrumental (one with two clips). Same-kind pairs battle
    within their kind; systems that share no kind still meet (mixed), so the overall board stays connected."""
    pool = load_pool()
    found = candidates(pool)
    vocal = {c for c in found if c.instrumental is False}
    instrumental = {c for c in found if c.instrumental is True}
    assert len(vocal) == 1 and len(instrumental) == 6 and len(found) == 1 + 6 + 2 * 4
    pairing = Pairing(pool)
    rng = random.Random(3)
    kinds = {c.clip_id: c.instrumental for c in pool}
    for _ in range(300):
        a, b = pairing.draw(rng)
        assert a.system != b.system
        both = {kinds[a.clip_id], kinds[b.clip_id]}
        pair = {a.system, b.system}
        if len(both) == 1:   # a same-kind battle: its pair is a candidate of that kind
            assert any({c.first, c.second} == pair and c.instrumental == kinds[a.clip_id] for c in found)
        else:                # a mixed battle only where the two systems share no kind
            assert not any({c.first, c.second} == pair and c.instrumental is not None for c in found)


def test_every_pair_stays_possible_and_sides_are_a_fair_coin() -> None:
    """However lopsided the counts, no pair falls below the uniform floor, and A/B is a coin toss."""
    pool = [clip(f"{s}{i}", s) for s in "abcd" for i in range(2)]
    votes = [pool_vote(i, pool[0], pool[2], True) for i in range(500)]        # a-b voted to death
    pairing = Pairing(pool, votes, intervals=lambda: {"a": (2000.0, 2100.0), "b": (0.0, 100.0)})
    chances = pairing.probabilities()
    assert min(chances.values()) >= EXPLORE_SHARE / len(chances) and sum(chances.values()) == pytest.approx(1.0)
    rng = random.Random(11)
    draws = [pairing.draw(rng) for _ in range(4000)]
    first_is_a = sum(a.system < b.system for a, b in draws)
    assert abs(first_is_a - 2000) < 4 * math.sqrt(4000 * 0.25)                  # 4 standard errors of a fair coin
    assert {a.clip_id for a, _ in draws} == {c.clip_id for c in pool} == {b.clip_id for _, b in draws}


def test_the_app_draws_from_the_systems_random_source(tmp_path: Path) -> None:
    """Two arenas with the same settings and votes serve different battle sequences (no seed to learn)."""
    from apex_demo.arena.service import Arena
    from apex_demo.arena.store import VoteStore
    from tests.support.arena import settings_for

    sequences = []
    for name in ("one", "two"):
        settings = settings_for(tmp_path / name, votes_per_minute=0)
        arena = Arena(settings, VoteStore.open(settings), load_pool())
        sequences.append([(b.clip_a, b.clip_b) for b in (arena.new_battle(f"s{i}") for i in range(30))])
        arena.close()
    assert sequences[0] != sequences[1]


# -- simulation: a known ground truth, simulated voters -------------------------------------------------
TRUTH = {"s0": 1200.0, "s1": 1170.0, "s2": 1100.0, "s3": 1080.0, "s4": 1000.0, "s5": 930.0, "s6": 900.0,
         "s7": 760.0}
SYSTEMS = sorted(TRUTH)
NEWCOMERS = ("s2", "s5")
SEEDS = 20
REFIT_EVERY = 25            # the app's board refreshes about once a minute: a few votes at a time


def sim_pool(systems) -> list[PoolClip]:
    return [clip(f"{s}-{j}", s) for i, s in enumerate(systems) for j in range(1 + i % 3)]


def p_first_wins(first: float, second: float) -> float:
    return 1.0 / (1.0 + 10 ** ((second - first) / 400.0))


def information(counts: dict[tuple[str, str], int], ratings: dict[str, float]) -> np.ndarray:
    """The Bradley-Terry Fisher information of the votes drawn (in logits), at `ratings`."""
    index = {s: i for i, s in enumerate(SYSTEMS)}
    info = np.zeros((len(SYSTEMS), len(SYSTEMS)))
    for (s, t), n in counts.items():
        p = p_first_wins(ratings[s], ratings[t])
        i, j, w = index[s], index[t], n * p * (1 - p)
        info[i, i] += w
        info[j, j] += w
        info[i, j] -= w
        info[j, i] -= w
    return info


def expected_widths(counts: dict[tuple[str, str], int]) -> tuple[float, float, float]:
    """95 % interval widths (rating points) that the votes drawn give at the TRUE ratings: mean over
    systems, the widest system, and the mean over neighbours' differences (what decides shared ranks).
    Independent of the code under test: it only counts which pairs were voted on."""
    cov = np.linalg.pinv(information(counts, TRUTH))
    widths = [2 * Z_95 * ELO * math.sqrt(cov[i, i]) for i in range(len(SYSTEMS))]
    order = sorted(range(len(SYSTEMS)), key=lambda i: -TRUTH[SYSTEMS[i]])
    gaps = []
    for i, j in zip(order, order[1:]):
        e = np.zeros(len(SYSTEMS))
        e[i], e[j] = 1.0, -1.0
        gaps.append(2 * Z_95 * ELO * math.sqrt(e @ cov @ e))
    return float(np.mean(widths)), max(widths), float(np.mean(gaps))


def board_stand_in(wins: dict[str, int], counts: dict[tuple[str, str], int]) -> dict[str, tuple[float, float]]:
    """What the sampler reads from the leaderboard: ratings (Hunter's MM algorithm for Bradley-Terry) with
    95 % intervals from the Fisher information at the estimate (the app's board bootstraps instead)."""
    strength = np.ones(len(SYSTEMS))
    won = np.array([wins.get(s, 0) + 0.5 for s in SYSTEMS])
    index = {s: i for i, s in enumerate(SYSTEMS)}
    for _ in range(50):
        denominator = np.zeros(len(SYSTEMS))
        for (s, t), n in counts.items():
            share = n / (strength[index[s]] + strength[index[t]])
            denominator[index[s]] += share
            denominator[index[t]] += share
        strength = won / np.maximum(denominator, 1e-12)
        strength /= np.exp(np.mean(np.log(strength)))
    ratings = {s: 1000.0 + ELO * math.log(strength[index[s]]) for s in SYSTEMS}
    cov = np.linalg.pinv(information(counts, ratings))
    half = {s: Z_95 * ELO * math.sqrt(max(cov[index[s], index[s]], 0.0)) for s in SYSTEMS}
    return {s: (ratings[s] - half[s], ratings[s] + half[s]) for s in SYSTEMS if 0 < half[s] < math.inf}


def uniform_draw(pool: list[PoolClip], rng: random.Random) -> tuple[PoolClip, PoolClip]:
    """The arena's former drawing: two systems uniformly, a clip of each uniformly, random order."""
    first, second = rng.sample(sorted({c.system for c in pool}), 2)
    a = rng.choice([c for c in pool if c.system == first])
    b = rng.choice([c for c in pool if c.system == second])
    return (a, b) if rng.random() < 0.5 else (b, a)


def simulate(adaptive: bool, seed: int, history: int, votes: int) -> tuple[float, float, float]:
    """`history` votes drawn uniformly among the systems that were there first (none when 0), then
    `votes` more over all systems, either uniformly or by the arena's pairing; voters follow TRUTH."""
    rng, voters = random.Random(seed), random.Random(10_000 + seed)
    counts: dict[tuple[str, str], int] = {}
    wins: dict[str, int] = {}

    def vote(i: int, a: PoolClip, b: PoolClip) -> Vote:
        a_won = voters.random() < p_first_wins(TRUTH[a.system], TRUTH[b.system])
        key = (min(a.system, b.system), max(a.system, b.system))
        counts[key] = counts.get(key, 0) + 1
        winner = a.system if a_won else b.system
        wins[winner] = wins.get(winner, 0) + 1
        return pool_vote(i, a, b, a_won)

    everyone = sim_pool(SYSTEMS)
    first_ones = sim_pool([s for s in SYSTEMS if s not in NEWCOMERS]) if history else everyone
    past = [vote(i, *uniform_draw(first_ones, rng)) for i in range(history)]
    board: dict[str, tuple[float, float]] = {}
    pairing = Pairing(everyone, past, intervals=lambda: board)
    for i in range(votes):
        if adaptive and i % REFIT_EVERY == 0:
            board = board_stand_in(wins, counts)
        drawn = pairing.draw(rng) if adaptive else uniform_draw(everyone, rng)
        pairing.count(vote(history + i, *drawn))
    return expected_widths(counts)


def mean_widths(run: Callable[[int], tuple[float, float, float]]) -> np.ndarray:
    return np.mean([run(seed) for seed in range(SEEDS)], axis=0)


def test_simulated_voters_teach_more_per_vote_than_uniform_drawing() -> None:
    """Eight systems with known ratings (760-1200), clips per system 1-3, voters following Bradley-Terry
    on the true ratings, 20 seeded runs per strategy. Two arenas: one where two systems join after 300
    votes (200 more votes follow), and a fresh one (400 votes). Judged by the expected 95 % interval
    widths the drawn votes give at the true ratings (mean, widest, neighbours' differences)."""
    newcomers = {name: mean_widths(lambda seed, a=adaptive: simulate(a, seed, history=300, votes=200))
                 for name, adaptive in (("uniform", False), ("pairing", True))}
    fresh = {name: mean_widths(lambda seed, a=adaptive: simulate(a, seed, history=0, votes=400))
             for name, adaptive in (("uniform", False), ("pairing", True))}
    print("\nexpected 95 % interval widths (rating points): mean over systems, widest, neighbours' differences")
    for title, result in (("two systems join after 300 votes, then 200 votes", newcomers),
                          ("fresh arena, 400 votes", fresh)):
        for name, widths in result.items():
            print(f"  {title:<50} {name:<8} {widths[0]:6.1f} {widths[1]:6.1f} {widths[2]:6.1f}")
    assert (newcomers["pairing"] < newcomers["uniform"]).all()          # all three, where counts were uneven
    assert fresh["pairing"][2] < fresh["uniform"][2]                     # neighbours told apart sooner
    assert fresh["pairing"][0] < fresh["uniform"][0]
