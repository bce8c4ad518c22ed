"""The leaderboard's learned model: counts, AUC, recovered coefficients, and when it takes over the pick."""

from __future__ import annotations


import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from apex_demo.scores import SCORE_KEYS
from apex_demo.arena.learned import LEARNED_RULE, MIN_DECISIVE_VOTES, bootstrap_auc, learn, rule_row, weighted_auc
from apex_demo.arena.picks import FIXED_RULE
from apex_demo.arena.records import Choice
from apex_demo.arena.records import Vote
from tests.support.arena import make_votes


def test_weighted_auc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    score = rng.integers(0, 20, 300).astype(float)       # many ties
    _, groups = np.unique(score, return_inverse=True)
    assert weighted_auc(y, groups, np.ones(300), int(groups.max()) + 1) == pytest.approx(roc_auc_score(y, score))
    weights = rng.integers(0, 3, 300).astype(float)      # a bootstrap resample = repeated rows
    repeated = np.repeat(np.arange(300), weights.astype(int))
    assert weighted_auc(y, groups, weights, int(groups.max()) + 1) == pytest.approx(
        roc_auc_score(y[repeated], score[repeated]))


def test_bootstrap_interval_brackets_the_auc() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 500)
    score = y + rng.normal(0, 1.5, 500)
    low, high = bootstrap_auc(y, score, rounds=300)
    assert low < roc_auc_score(y, score) < high and high - low < 0.2


def test_fewer_than_the_minimum_says_how_many_more() -> None:
    learned = learn(make_votes(MIN_DECISIVE_VOTES - 8, {"score_likes": 1.0}))
    assert learned.needed == 8 and not learned.ready and learned.auc is None
    tie = make_votes(3, {})[0]
    tie = Vote(**{**tie.__dict__, "choice": Choice.TIE})
    assert learn([tie]).n_decisive == 0


def test_recovers_the_coefficients_of_a_known_rule() -> None:
    truth = {"score_likes": 1.0, "coherence": -0.7}
    learned = learn(make_votes(4000, truth, seed=3), rounds=100)
    assert learned.ready and learned.keys == SCORE_KEYS
    for key in SCORE_KEYS:
        assert learned.coefficients[key] == pytest.approx(truth.get(key, 0.0), abs=0.15), key
    assert learned.auc_low < learned.auc < learned.auc_high


def test_learned_model_takes_over_when_listeners_follow_the_lower_score() -> None:
    """Listeners prefer the clip with LOWER likes: the fixed "higher overall wins" rule is below
    chance, the learned model beats it out of fold, so the pick comes from the learned model."""
    learned = learn(make_votes(600, {"score_likes": -2.0}, seed=4), rounds=100)
    assert learned.beats_fixed and learned.auc > 0.7 and learned.fixed_auc < 0.5
    a = dict.fromkeys(SCORE_KEYS, 3.0) | {"score_streams": 50.0, "score_likes": 10.0}
    b = dict(a, score_likes=90.0)
    assert learned.pick(a, b) == (Choice.A, LEARNED_RULE)
    assert "600 votes" in learned.rule_text(LEARNED_RULE)
    likes = next(r for r in learned.rules if r.key == "score_likes")
    assert likes.lower_auc > 0.7 and likes.lower.rate > 0.6 and likes.higher.rate < 0.4
    popularity_only = {"score_streams": 50.0, "score_likes": 10.0}   # a clip scored by another head
    assert learned.pick(popularity_only, dict(popularity_only, score_likes=90.0)) == (Choice.B, FIXED_RULE)


def test_rule_row_by_hand() -> None:
    """diffs 5, -3, 0, 2 with A, A, B, B preferred: higher wins is right on 5 (A) and wrong on -3 (A),
    wrong on 2 (B); the 0 has no pick -> 1/3, lower wins 2/3. AUC pairs (A: 5, -3; B: 0, 2):
    5>0, 5>2, -3<0, -3<2 -> 2/4."""
    row = rule_row("score_likes", np.array([5.0, -3.0, 0.0, 2.0]), np.array([1, 1, 0, 0]))
    assert (row.higher.k, row.higher.n, row.lower.k) == (1, 3, 2)
    assert row.higher_auc == pytest.approx(0.5) and row.lower_auc == pytest.approx(0.5)
