"""Which battle comes next: votes go where they teach most, and no script can tell what comes.

Drawing pairs uniformly keeps spending votes on clips and system pairs that are already well measured
while new or uncertain ones wait. Here a battle is drawn in three steps:

1. a system pair (and a kind: instrumental or with vocals, where the pool says so) with weight
   `1 / (votes on that pair + PAIR_PRIOR_VOTES)`, cut to SETTLED_WEIGHT of that once the leaderboard's
   95 % intervals of the two systems no longer overlap (their order is settled; closer pairs teach
   more); one draw in EXPLORE_DRAWS ignores the weights, so every pair keeps a floor probability;
2. a clip of each system (of the pair's kind) with weight `1 / (votes on that clip + CLIP_PRIOR_VOTES)`;
3. which side is A by a fair coin.

Every draw uses the arena's random source (the OS's, `random.SystemRandom`, in the app), so knowing the
weights (they follow public vote counts) does not tell a script which battle it will get.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass
from itertools import combinations
from typing import Callable, Iterable, Mapping, Sequence

from apex_demo.arena.pool import PoolClip
from apex_demo.arena.records import SOURCE_POOL, Vote

PAIR_PRIOR_VOTES = 5.0       # as if each pair had this many votes already: new pairs are favoured, not forced
CLIP_PRIOR_VOTES = 2.0       # the same for clips within a system
SETTLED_WEIGHT = 0.25        # a pair whose 95 % intervals are apart is drawn a quarter as often
EXPLORE_SHARE = 0.2          # this share of draws is uniform over the candidate pairs

Intervals = Mapping[str, tuple[float, float]]   # system -> its 95 % interval on the leaderboard


@dataclass(frozen=True, order=True)
class Candidate:
    """A system pair (alphabetical) and the kind of clips it battles with (None: any clips)."""

    first: str
    second: str
    instrumental: bool | None


def battle_kind(a: PoolClip, b: PoolClip) -> bool | None:
    """True when both clips are instrumental, False when both have vocals, else None (mixed or unknown)."""
    return a.instrumental if a.instrumental is not None and a.instrumental == b.instrumental else None


def candidates(pool: Sequence[PoolClip]) -> list[Candidate]:
    """Every system pair, once per kind of clip both systems have (instrumental, with vocals); a pair
    with no kind in common, or with unlabelled clips, also battles with any clips (kind None)."""
    by_system: dict[str, list[PoolClip]] = {}
    for clip in pool:
        by_system.setdefault(clip.system, []).append(clip)
    found = []
    for first, second in combinations(sorted(by_system), 2):
        kinds_1, kinds_2 = {c.instrumental for c in by_system[first]}, {c.instrumental for c in by_system[second]}
        shared = [k for k in (False, True) if k in kinds_1 and k in kinds_2]
        mixed = not shared or None in kinds_1 or None in kinds_2
        found += [Candidate(first, second, k) for k in shared] + ([Candidate(first, second, None)] if mixed else [])
    return found


def _overlap(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool:
    """Whether two intervals overlap; an unrated system overlaps everything (nothing is settled yet)."""
    return a is None or b is None or (a[0] <= b[1] and b[0] <= a[1])


class Pairing:
    """Draws pool battles by the weights above; counts votes as they come (seeded from the store)."""

    def __init__(self, pool: Sequence[PoolClip], votes: Iterable[Vote] = (),
                 intervals: Callable[[], Intervals] = dict) -> None:
        self._pool = tuple(pool)
        self._candidates = candidates(self._pool)
        self._known = frozenset(self._candidates)
        self._clips = {c.clip_id: c for c in self._pool}
        self._intervals = intervals
        self._pair_votes: Counter[Candidate] = Counter()
        self._clip_votes: Counter[str] = Counter()
        self._lock = threading.Lock()
        for vote in votes:
            self.count(vote)

    def count(self, vote: Vote) -> None:
        """A stored pool vote: one more for its pair (of its kind) and for each of its clips."""
        if vote.source != SOURCE_POOL:
            return
        first, second = sorted((vote.system_a, vote.system_b))
        pair = Candidate(first, second, vote.instrumental)
        with self._lock:
            self._pair_votes[pair if pair in self._known else Candidate(first, second, None)] += 1
            self._clip_votes[vote.clip_a] += 1
            self._clip_votes[vote.clip_b] += 1

    def probabilities(self) -> dict[Candidate, float]:
        """The chance of each candidate pair in the next draw."""
        if not self._candidates:
            return {}
        intervals = self._intervals()
        with self._lock:
            weights = {c: (1.0 if _overlap(intervals.get(c.first), intervals.get(c.second)) else SETTLED_WEIGHT)
                       / (self._pair_votes[c] + PAIR_PRIOR_VOTES) for c in self._candidates}
        total, floor = sum(weights.values()), EXPLORE_SHARE / len(weights)
        return {c: (1 - EXPLORE_SHARE) * w / total + floor for c, w in weights.items()}

    def clip_weights(self, system: str, instrumental: bool | None) -> dict[str, float]:
        """The relative chance of each of a system's clips (of the kind; None: any) in a battle."""
        with self._lock:
            return {c.clip_id: 1.0 / (self._clip_votes[c.clip_id] + CLIP_PRIOR_VOTES) for c in self._pool
                    if c.system == system and (instrumental is None or c.instrumental == instrumental)}

    def draw(self, rng: random.Random) -> tuple[PoolClip, PoolClip]:
        """The next battle's two clips, in random A/B order."""
        chances = self.probabilities()
        if not chances:   # one system only: two of its clips
            a, b = rng.sample(list(self._pool), 2)
            return a, b
        pair = rng.choices(list(chances), weights=list(chances.values()))[0]
        a, b = (self._clip(pair.first, pair.instrumental, rng), self._clip(pair.second, pair.instrumental, rng))
        return (a, b) if rng.random() < 0.5 else (b, a)

    def _clip(self, system: str, instrumental: bool | None, rng: random.Random) -> PoolClip:
        weights = self.clip_weights(system, instrumental)
        return self._clips[rng.choices(list(weights), weights=list(weights.values()))[0]]
