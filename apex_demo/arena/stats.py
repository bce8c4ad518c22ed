"""Arena statistics: model-vs-human agreement (Wilson intervals) and Bradley-Terry ratings.

Pure functions over votes; no I/O. Conventions follow docs/reference.md
(§6 "Arena conventions"): ties are half a win for each side, BOTH_BAD votes are
left out of the rating fit, rating = 400 * coef / ln(10) + 1000, 95% intervals
by bootstrap over battles with a fixed seed.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping, Sequence

import numpy as np

from apex_demo.arena.picks import MODEL_PICK_DEFINITION, model_pick
from apex_demo.arena.records import SOURCE_POOL, Choice, Vote
from apex_demo.scores import SCORE_KEYS

Z_95 = 1.959963984540054
RATING_BASE = 1000.0
RATING_SCALE = 400.0
BT_C = 1.0                 # mild L2 prior: keeps ratings finite when one side always wins
BOOTSTRAP_ROUNDS = 200
BOOTSTRAP_SEED = 0
# Ranked from (why: docs/arena-statistics.md): a system from 30 votes (Music Arena's rule; its 95 % interval
# is then about +-125 points), a clip from 10 (a share of its system's votes; about +-215 points).
MIN_SYSTEM_VOTES = 30
MIN_CLIP_VOTES = 10
KINDS = {"instrumental": True, "vocal": False}   # the separate boards, by the battle's kind (both clips alike)


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

    rank: int           # position by rating (1 = highest)
    item: str
    rating: float
    ci_low: float
    ci_high: float
    votes: int
    wins: int
    ties: int
    losses: int
    tier: int = 0       # shared rank: 1 + the number of entries clearly better (interval entirely above)

    def to_dict(self) -> dict[str, float | int | str]:
        return {"rank": self.rank, "tier": self.tier, "item": self.item, "rating": round(self.rating, 1),
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


def roc_auc(y: np.ndarray, score: np.ndarray) -> float | None:
    """ROC AUC of `score` for labels `y`, or None when `y` holds one class only.

    sklearn is imported in the functions that fit or judge, never at module top: it costs about
    1.3 s of start-up, and `python -m apex_demo score` imports every subcommand's module.
    """
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, score)) if len(np.unique(y)) == 2 else None


# -- Bradley-Terry -------------------------------------------------------------------------
_OUTCOME = {Choice.A: 1.0, Choice.B: 0.0, Choice.TIE: 0.5}


Cells = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]   # item a, item b, A's share, battle count


def _cells(pairs: Sequence[tuple[str, str, Choice]], index: Mapping[str, int]) -> Cells:
    """Battles grouped by (item a, item b, outcome): the fit and every bootstrap round work on these
    few cells with counts, so their cost does not grow with the number of votes."""
    counts = Counter((index[a], index[b], _OUTCOME[choice]) for a, b, choice in pairs)
    keys = list(counts)
    return (np.array([k[0] for k in keys], dtype=int), np.array([k[1] for k in keys], dtype=int),
            np.array([k[2] for k in keys], dtype=float), np.array([counts[k] for k in keys], dtype=float))


def _design(cells: Cells, n_items: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows +1 (first item) / -1 (second item): an item pair with first-item wins s and losses f
    gives (x, 1, s) and (x, 0, f).

    Battles of the same unordered pair are merged into one row with summed weights
    (B-vs-A battles flipped: same likelihood without an intercept, far fewer rows).
    When one class is missing (one side always won) every row is also added mirrored
    (-x, 1-y) at half weight: the maximiser is unchanged and both classes exist.
    """
    a, b, share, count = cells
    swap = a > b
    first, second = np.where(swap, b, a), np.where(swap, a, b)
    won = np.where(swap, 1.0 - share, share)
    pair_ids, rows = np.unique(first * n_items + second, return_inverse=True)
    s = np.bincount(rows, weights=count * won, minlength=len(pair_ids))
    f = np.bincount(rows, weights=count * (1.0 - won), minlength=len(pair_ids))
    n = len(pair_ids)
    x = np.zeros((n, n_items))
    x[np.arange(n), pair_ids // n_items] += 1.0
    x[np.arange(n), pair_ids % n_items] -= 1.0
    xs, ys, ws = np.vstack([x, x]), np.concatenate([np.ones(n), np.zeros(n)]), np.concatenate([s, f])
    if not (np.any(s > 0) and np.any(f > 0)):
        xs, ys, ws = np.vstack([xs, -xs]), np.concatenate([ys, 1.0 - ys]), np.concatenate([ws, ws]) / 2
    keep = ws > 0
    return xs[keep], ys[keep], ws[keep]


def _fit(cells: Cells, n_items: int) -> np.ndarray:
    """Ratings (Elo scale) of every item; all equal when nothing can be learnt."""
    x, y, w = _design(cells, n_items)
    if n_items < 2 or len(y) == 0 or not np.any(x):
        return np.full(n_items, RATING_BASE)
    from sklearn.linear_model import LogisticRegression  # here, not at the top: see arena.stats.roc_auc

    model = LogisticRegression(fit_intercept=False, C=BT_C, tol=1e-7, max_iter=500, solver="newton-cg")
    model.fit(x, y, sample_weight=w)
    return RATING_SCALE * model.coef_[0] / math.log(10) + RATING_BASE


def tiers(rows: Sequence[RatingRow]) -> list[RatingRow]:
    """Each row with its shared rank: one more than the number of rows whose whole 95 % interval lies
    above this row's (clearly better). Rows whose intervals overlap are not clearly apart, so they can
    share a rank (as LMArena ranks its board)."""
    return [replace(r, tier=1 + sum(o.ci_low > r.ci_high for o in rows)) for r in rows]


def bradley_terry(pairs: Sequence[tuple[str, str, Choice]], min_votes: int = MIN_SYSTEM_VOTES,
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
    cells = _cells(pairs, index)
    ratings = _fit(cells, len(items))
    samples = _bootstrap(cells, len(items), rounds, seed)
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
    return tiers([RatingRow(rank, item, rating, low, high, w + t + lost, w, t, lost)
                  for rank, (item, rating, low, high, w, t, lost) in enumerate(rows, start=1)])


def _bootstrap(cells: Cells, n_items: int, rounds: int, seed: int) -> np.ndarray:
    """Resampling battles with replacement = a multinomial draw of the cells' counts."""
    rng = np.random.default_rng(seed)
    a, b, share, count = cells
    out = np.full((rounds, n_items), np.nan)
    for r in range(rounds):
        drawn = rng.multinomial(int(count.sum()), count / count.sum()).astype(float)
        ratings = _fit((a, b, share, drawn), n_items)
        used = drawn > 0
        present = np.union1d(a[used], b[used])
        out[r, present] = ratings[present]
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


def system_pairs(votes: Iterable[Vote], instrumental: bool | None = None) -> list[tuple[str, str, Choice]]:
    """Pool battles as (system a, system b, verdict) (uploaded pairs have no system and are left out); with
    `instrumental`, only battles of that kind (both clips instrumental, or both with vocals)."""
    return [(v.system_a, v.system_b, v.choice) for v in votes
            if v.source == SOURCE_POOL and (instrumental is None or v.instrumental is instrumental)]


def clip_pairs(votes: Iterable[Vote]) -> list[tuple[str, str, Choice]]:
    """Pool battles as (clip a, clip b, verdict)."""
    return [(v.clip_a, v.clip_b, v.choice) for v in votes if v.source == SOURCE_POOL]


def most_votes(pairs: Sequence[tuple[str, str, Choice]]) -> int:
    """The most battles any item of a board has (BOTH_BAD left out, as in the fit): what an empty
    board says it is waiting for."""
    counted = _tally([p for p in pairs if p[2] in _OUTCOME])
    return max((sum(t) for t in counted.values()), default=0)


@dataclass(frozen=True)
class ArenaStats:
    """Everything the Leaderboard tab, `votes stats` and /arena_stats show."""

    total_votes: int
    choice_counts: dict[str, int]
    agreement: Proportion
    per_score: dict[str, Proportion]
    systems: list[RatingRow]
    clips: list[RatingRow]
    by_kind: dict[str, list[RatingRow]] = field(default_factory=dict)   # "instrumental", "vocal": systems
    min_votes: dict[str, int] = field(default_factory=dict)             # "systems", "clips": ranked from
    most_votes: dict[str, int] = field(default_factory=dict)            # per board: the most any item has

    def to_dict(self) -> dict[str, object]:
        return {
            "total_votes": self.total_votes,
            "choice_counts": self.choice_counts,
            "agreement": self.agreement.to_dict(),
            "model_pick_definition": MODEL_PICK_DEFINITION,
            "per_score_agreement": {k: p.to_dict() for k, p in self.per_score.items()},
            "systems": [r.to_dict() for r in self.systems],
            **{f"systems_{kind}": [r.to_dict() for r in rows] for kind, rows in self.by_kind.items()},
            "clips": [r.to_dict() for r in self.clips],
            "min_votes": self.min_votes,
            "most_votes": self.most_votes,
        }


def arena_stats(votes: Sequence[Vote], min_votes: int | None = None,
                rounds: int = BOOTSTRAP_ROUNDS, seed: int = BOOTSTRAP_SEED) -> ArenaStats:
    """All statistics at once from a list of votes. Systems are ranked from MIN_SYSTEM_VOTES votes and
    clips from MIN_CLIP_VOTES, unless `min_votes` sets one minimum for both. The kind boards exist for
    the kinds the votes have (battles whose clips the pool labels alike)."""
    counts = Counter(v.choice.value for v in votes)
    least = {"systems": min_votes or MIN_SYSTEM_VOTES, "clips": min_votes or MIN_CLIP_VOTES}
    boards = {"systems": system_pairs(votes), "clips": clip_pairs(votes)}
    boards |= {f"systems_{kind}": system_pairs(votes, flag) for kind, flag in KINDS.items()
               if any(v.instrumental is flag for v in votes)}
    ranked = {key: bradley_terry(pairs, min_votes=least["clips" if key == "clips" else "systems"], rounds=rounds,
                                 seed=seed) for key, pairs in boards.items()}
    return ArenaStats(
        total_votes=len(votes),
        choice_counts={c.value: counts.get(c.value, 0) for c in Choice},
        agreement=agreement(votes),
        per_score=per_score_agreement(votes),
        systems=ranked["systems"],
        clips=ranked["clips"],
        by_kind={kind: ranked[f"systems_{kind}"] for kind in KINDS if f"systems_{kind}" in ranked},
        min_votes=least,
        most_votes={key: most_votes(pairs) for key, pairs in boards.items()},
    )
