"""Arena statistics: model-vs-human agreement (Wilson intervals) and Bradley-Terry ratings.

Pure functions over votes; no I/O. Conventions follow ../shared/APEX_SPEC.md
("Arena conventions"): ties are half a win for each side, BOTH_BAD votes are
left out of the rating fit, rating = 400 * coef / ln(10) + 1000, 95% intervals
by bootstrap over battles with a fixed seed.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression

from apex_demo.ranking import OVERALL_DEFINITION, model_pick
from apex_demo.scores import SCORE_KEYS
from apex_demo.votes import Choice, Vote

Z_95 = 1.959963984540054
RATING_BASE = 1000.0
RATING_SCALE = 400.0
BT_C = 1.0                 # mild L2 prior: keeps ratings finite when one side always wins
BOOTSTRAP_ROUNDS = 200
BOOTSTRAP_SEED = 0
MIN_VOTES_LISTED = 5
MODEL_PICK_DEFINITION = "The model's pick is the clip with the higher overall score. " + OVERALL_DEFINITION


@dataclass(frozen=True)
class Proportion:
    """k successes out of n with a Wilson 95% interval; rate is None when n == 0."""

    k: int
    n: int
    rate: float | None
    low: float | None
    high: float | None

    def to_dict(self) -> dict[str, float | int | None]:
        return {"k": self.k, "n": self.n, "rate": self.rate, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class RatingRow:
    """One leaderboard line."""

    rank: int
    item: str
    rating: float
    ci_low: float
    ci_high: float
    votes: int
    wins: int
    ties: int
    losses: int

    def to_dict(self) -> dict[str, float | int | str]:
        return {"rank": self.rank, "item": self.item, "rating": round(self.rating, 1),
                "ci_low": round(self.ci_low, 1), "ci_high": round(self.ci_high, 1),
                "votes": self.votes, "wins": self.wins, "ties": self.ties, "losses": self.losses}


# -- agreement -----------------------------------------------------------------------------
def wilson_interval(k: int, n: int, z: float = Z_95) -> Proportion:
    """Wilson score interval: well behaved for small n and rates near 0 or 1."""
    if n <= 0:
        return Proportion(k, 0, None, None, None)
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Proportion(k, n, p, max(0.0, centre - half), min(1.0, centre + half))


def _decisive_scored(votes: Iterable[Vote]) -> list[Vote]:
    return [v for v in votes if v.choice in (Choice.A, Choice.B) and v.scores_a and v.scores_b]


def agreement(votes: Iterable[Vote], keys: Sequence[str] = SCORE_KEYS) -> Proportion:
    """How often the model's pick (over `keys`) equals a decisive human vote (A or B).

    Votes where the model cannot decide (equal scores, or the keys are missing) are left out.
    """
    k = n = 0
    for vote in _decisive_scored(votes):
        try:
            pick = model_pick(vote.scores_a, vote.scores_b, keys)  # type: ignore[arg-type]
        except ValueError:
            continue
        if pick is Choice.TIE:
            continue
        n += 1
        k += int(pick == vote.choice)
    return wilson_interval(k, n)


def per_score_agreement(votes: Iterable[Vote]) -> dict[str, Proportion]:
    """Agreement of each of the seven outputs used alone as the picker."""
    decisive = _decisive_scored(votes)
    return {key: agreement(decisive, (key,)) for key in SCORE_KEYS}


# -- Bradley-Terry -------------------------------------------------------------------------
_OUTCOME = {Choice.A: 1.0, Choice.B: 0.0, Choice.TIE: 0.5}


def _design(pairs: Sequence[tuple[str, str, Choice]], index: Mapping[str, int]
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows +1 (A's item) / -1 (B's item); an item pair with A-share s gives (x, 1, s) and (x, 0, 1-s).

    Battles of the same ordered pair are merged into one row with summed weights
    (same likelihood, far fewer rows). Each row is also added mirrored (-x, 1-y):
    without an intercept this leaves the maximiser unchanged and guarantees both
    classes exist even when one side always wins.
    """
    share: dict[tuple[int, int], list[float]] = {}
    for a, b, choice in pairs:
        won = share.setdefault((index[a], index[b]), [0.0, 0.0])
        won[0] += _OUTCOME[choice]
        won[1] += 1.0 - _OUTCOME[choice]
    x = np.zeros((len(share), len(index)))
    s = np.empty(len(share))
    f = np.empty(len(share))
    for row, ((a, b), (wins_a, wins_b)) in enumerate(share.items()):
        x[row, a] += 1.0
        x[row, b] -= 1.0
        s[row], f[row] = wins_a, wins_b
    n = len(share)
    xs = np.vstack([x, x, -x, -x])
    ys = np.concatenate([np.ones(n), np.zeros(n), np.zeros(n), np.ones(n)])
    ws = np.concatenate([s, f, s, f]) / 2
    keep = ws > 0
    return xs[keep], ys[keep], ws[keep]


def _fit(pairs: Sequence[tuple[str, str, Choice]], index: Mapping[str, int]) -> np.ndarray:
    """Ratings (Elo scale) of every item in `index`; all equal when nothing can be learnt."""
    x, y, w = _design(pairs, index)
    if len(index) < 2 or len(y) == 0 or not np.any(x):
        return np.full(len(index), RATING_BASE)
    model = LogisticRegression(fit_intercept=False, C=BT_C, tol=1e-7, max_iter=500, solver="newton-cg")
    model.fit(x, y, sample_weight=w)
    return RATING_SCALE * model.coef_[0] / math.log(10) + RATING_BASE


def bradley_terry(pairs: Sequence[tuple[str, str, Choice]], min_votes: int = MIN_VOTES_LISTED,
                  rounds: int = BOOTSTRAP_ROUNDS, seed: int = BOOTSTRAP_SEED) -> list[RatingRow]:
    """Leaderboard from (item_a, item_b, choice) battles; BOTH_BAD is dropped, ties are half wins.

    Every item is fitted; only items with at least `min_votes` battles are listed.
    The interval is the 2.5-97.5 percentile of ratings refitted on battles resampled
    with replacement (items absent from a resample do not count for that round).
    """
    pairs = [p for p in pairs if p[2] in _OUTCOME]
    items = sorted({p[0] for p in pairs} | {p[1] for p in pairs})
    if not items:
        return []
    index = {item: i for i, item in enumerate(items)}
    ratings = _fit(pairs, index)
    samples = _bootstrap(pairs, index, rounds, seed)
    tally = _tally(pairs)
    rows = []
    for item in items:
        i = index[item]
        wins, ties, losses = tally[item]
        if wins + ties + losses < min_votes:
            continue
        column = samples[:, i][~np.isnan(samples[:, i])] if samples.size else np.array([])
        low, high = (np.percentile(column, [2.5, 97.5]) if column.size else (ratings[i], ratings[i]))
        rows.append((item, float(ratings[i]), float(low), float(high), wins, ties, losses))
    rows.sort(key=lambda r: (-r[1], r[0]))
    return [RatingRow(rank, item, rating, low, high, w + t + l, w, t, l)
            for rank, (item, rating, low, high, w, t, l) in enumerate(rows, start=1)]


def _bootstrap(pairs: Sequence[tuple[str, str, Choice]], index: Mapping[str, int],
               rounds: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.full((rounds, len(index)), np.nan)
    for r in range(rounds):
        sample = [pairs[i] for i in rng.integers(0, len(pairs), len(pairs))]
        present = {p[0] for p in sample} | {p[1] for p in sample}
        ratings = _fit(sample, index)
        for item in present:
            out[r, index[item]] = ratings[index[item]]
    return out


def _tally(pairs: Iterable[tuple[str, str, Choice]]) -> dict[str, tuple[int, int, int]]:
    """(wins, ties, losses) per item; a self-battle counts as a tie for that item."""
    wins: Counter[str] = Counter()
    ties: Counter[str] = Counter()
    losses: Counter[str] = Counter()
    for a, b, choice in pairs:
        if choice is Choice.TIE or a == b:
            ties[a] += 1
            if a != b:
                ties[b] += 1
        elif choice is Choice.A:
            wins[a] += 1
            losses[b] += 1
        else:
            wins[b] += 1
            losses[a] += 1
    items = set(wins) | set(ties) | set(losses)
    return {i: (wins[i], ties[i], losses[i]) for i in items}


def system_leaderboard(votes: Iterable[Vote], **kwargs: int) -> list[RatingRow]:
    """Bradley-Terry over pool systems (uploaded pairs have no system and are left out)."""
    return bradley_terry([(v.system_a, v.system_b, v.choice) for v in votes if v.source == "pool"], **kwargs)


def clip_leaderboard(votes: Iterable[Vote], **kwargs: int) -> list[RatingRow]:
    """Bradley-Terry over pool clips."""
    return bradley_terry([(v.clip_a, v.clip_b, v.choice) for v in votes if v.source == "pool"], **kwargs)


@dataclass(frozen=True)
class ArenaStats:
    """Everything the Leaderboard tab, `votes stats` and /arena_stats show."""

    total_votes: int
    choice_counts: dict[str, int]
    agreement: Proportion
    per_score: dict[str, Proportion]
    systems: list[RatingRow]
    clips: list[RatingRow]

    def to_dict(self) -> dict[str, object]:
        return {
            "total_votes": self.total_votes,
            "choice_counts": self.choice_counts,
            "agreement": self.agreement.to_dict(),
            "model_pick_definition": MODEL_PICK_DEFINITION,
            "per_score_agreement": {k: p.to_dict() for k, p in self.per_score.items()},
            "systems": [r.to_dict() for r in self.systems],
            "clips": [r.to_dict() for r in self.clips],
        }


def arena_stats(votes: Sequence[Vote], min_votes: int = MIN_VOTES_LISTED,
                rounds: int = BOOTSTRAP_ROUNDS, seed: int = BOOTSTRAP_SEED) -> ArenaStats:
    """All statistics at once from a list of votes."""
    counts = Counter(v.choice.value for v in votes)
    return ArenaStats(
        total_votes=len(votes),
        choice_counts={c.value: counts.get(c.value, 0) for c in Choice},
        agreement=agreement(votes),
        per_score=per_score_agreement(votes),
        systems=system_leaderboard(votes, min_votes=min_votes, rounds=rounds, seed=seed),
        clips=clip_leaderboard(votes, min_votes=min_votes, rounds=rounds, seed=seed),
    )
