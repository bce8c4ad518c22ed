"""Learn from the arena's own votes how APEX's scores relate to listeners' choices.

What the APEX authors did with Music Arena (apex_demo.engine.caveats), done live on
this arena's decisive votes (A or B, both clips scored): a logistic regression on
the standardised score differences (A minus B, every output the head gives),
judged by its out-of-fold ROC AUC (stratified 10-fold CV, seed 42) with a 95 %
bootstrap interval; beside it the two fixed rules per output ("higher wins",
"lower wins") with their AUC and Wilson intervals. Nothing is shown as learned
before MIN_DECISIVE_VOTES votes. The arena's model pick switches from the fixed
rule (apex_demo.arena.picks: higher overall wins) to the learned model only when the
learned model's out-of-fold AUC beats the fixed rule's AUC on the same votes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np

from apex_demo.arena.picks import FIXED_RULE, FIXED_RULE_TEXT, model_pick
from apex_demo.arena.records import Choice, Vote
from apex_demo.arena.paper_table import CV_FOLDS, CV_SEED
from apex_demo.arena.stats import Proportion, roc_auc, wilson_interval
from apex_demo.engine import overall_score
from apex_demo.scores import OUTPUT_BY_KEY, SCORE_KEYS

MIN_DECISIVE_VOTES = 50
BOOTSTRAP_ROUNDS = 1000
BOOTSTRAP_SEED = 0
CI_PERCENTILES = (2.5, 97.5)
LEARNED_RULE = "learned"
LEARNED_RULE_TEXT = ("a model learned from {n} votes in this arena (its ROC AUC {auc:.2f} beats the fixed "
                     "rule's {fixed:.2f} out of fold)")
NO_AUC = "-"  # shown where an AUC is undefined (only one outcome among the votes)


def format_auc(value: float | None) -> str:
    """An AUC as the leaderboard and `votes stats` show it: three decimals, or NO_AUC."""
    return NO_AUC if value is None else f"{value:.3f}"


@dataclass(frozen=True)
class RuleRow:
    """One output used alone as a fixed rule, both ways round."""

    key: str
    higher: Proportion            # how often "higher score wins" matched a decisive vote
    lower: Proportion             # ... and "lower score wins" (the notebook's direction)
    higher_auc: float | None      # ROC AUC of the difference A - B; lower wins has 1 - this

    @property
    def lower_auc(self) -> float | None:
        return None if self.higher_auc is None else 1.0 - self.higher_auc

    def to_dict(self) -> dict[str, object]:
        return {"key": self.key, "label": OUTPUT_BY_KEY[self.key].label, "higher_wins": self.higher.to_dict(),
                "higher_wins_auc": self.higher_auc, "lower_wins": self.lower.to_dict(),
                "lower_wins_auc": self.lower_auc}


@dataclass(frozen=True)
class LearnedPick:
    """The learned model (or why there is none yet) and the fixed rules it is compared with."""

    n_decisive: int
    keys: tuple[str, ...] = ()
    auc: float | None = None
    auc_low: float | None = None
    auc_high: float | None = None
    fixed_auc: float | None = None
    coefficients: Mapping[str, float] = field(default_factory=dict)   # per standard deviation of A - B
    rules: tuple[RuleRow, ...] = ()
    # the refitted model, as plain numbers: p(A) = sigmoid(intercept + sum coef * (diff - mean) / scale)
    mean: tuple[float, ...] = ()
    scale: tuple[float, ...] = ()
    intercept: float = 0.0

    @property
    def needed(self) -> int:
        """How many more decisive votes before the learned model is shown."""
        return max(0, MIN_DECISIVE_VOTES - self.n_decisive)

    @property
    def ready(self) -> bool:
        return self.needed == 0 and self.auc is not None

    @property
    def beats_fixed(self) -> bool:
        """Whether the arena's pick should come from the learned model."""
        return self.ready and self.fixed_auc is not None and self.auc > self.fixed_auc  # type: ignore[operator]

    def pick(self, scores_a: Mapping[str, float], scores_b: Mapping[str, float]) -> tuple[Choice, str]:
        """(A, B or TIE, which rule made the pick): the learned model when it beats the fixed rule."""
        if not self.beats_fixed or any(scores_a.get(k) is None or scores_b.get(k) is None for k in self.keys):
            return model_pick(scores_a, scores_b), FIXED_RULE
        z = [(scores_a[k] - scores_b[k] - m) / s for k, m, s in zip(self.keys, self.mean, self.scale)]
        logit = self.intercept + sum(self.coefficients[k] * v for k, v in zip(self.keys, z))
        return (Choice.A if logit > 0 else Choice.B if logit < 0 else Choice.TIE), LEARNED_RULE

    def rule_text(self, rule: str) -> str:
        """Plain words for the reveal: which rule made the pick."""
        if rule == LEARNED_RULE:
            return LEARNED_RULE_TEXT.format(n=self.n_decisive, auc=self.auc, fixed=self.fixed_auc)
        return FIXED_RULE_TEXT

    def to_dict(self) -> dict[str, object]:
        return {"decisive_votes": self.n_decisive, "needed": self.needed, "keys": list(self.keys),
                "auc": self.auc, "auc_low": self.auc_low, "auc_high": self.auc_high, "fixed_rule_auc": self.fixed_auc,
                "learned_model_picks": self.beats_fixed, "coefficients": dict(self.coefficients),
                "rules": [r.to_dict() for r in self.rules]}


def weighted_auc(y: np.ndarray, groups: np.ndarray, weights: np.ndarray, n_groups: int) -> float:
    """ROC AUC (ties count half) of scores given as rank groups 0..n_groups-1, each battle weighted;
    O(n), so a thousand bootstrap rounds over 100,000 votes stay cheap."""
    pos = np.bincount(groups, weights=weights * y, minlength=n_groups)
    neg = np.bincount(groups, weights=weights * (1 - y), minlength=n_groups)
    total = pos.sum() * neg.sum()
    if total == 0:
        return math.nan
    below = np.cumsum(neg) - neg
    return float(np.sum(pos * (below + 0.5 * neg)) / total)


def bootstrap_auc(y: np.ndarray, score: np.ndarray, rounds: int = BOOTSTRAP_ROUNDS,
                  seed: int = BOOTSTRAP_SEED) -> tuple[float, float]:
    """95 % percentile interval of the AUC over battles resampled with replacement."""
    _, groups = np.unique(score, return_inverse=True)
    n_groups = int(groups.max()) + 1
    rng = np.random.default_rng(seed)
    samples = [weighted_auc(y, groups, np.bincount(rng.integers(0, len(y), len(y)), minlength=len(y)).astype(float),
                            n_groups) for _ in range(rounds)]
    low, high = np.nanpercentile(samples, CI_PERCENTILES)
    return float(low), float(high)


def _decisive(votes: Sequence[Vote]) -> list[Vote]:
    return [v for v in votes if v.choice in (Choice.A, Choice.B) and v.scores_a and v.scores_b]


def common_keys(votes: Sequence[Vote]) -> tuple[str, ...]:
    """The outputs every decisive vote has on both sides (all seven, or two for a popularity head)."""
    return tuple(k for k in SCORE_KEYS if all(v.scores_a.get(k) is not None and v.scores_b.get(k) is not None  # type: ignore[union-attr]
                                              for v in votes))


def rule_row(key: str, diff: np.ndarray, y: np.ndarray) -> RuleRow:
    """Both fixed rules for one output; battles where the two scores are equal have no pick."""
    decided = diff != 0
    higher_hits = int(np.sum((diff[decided] > 0) == (y[decided] == 1)))
    n = int(decided.sum())
    return RuleRow(key, wilson_interval(higher_hits, n), wilson_interval(n - higher_hits, n), roc_auc(y, diff))


def learn(votes: Sequence[Vote], folds: int = CV_FOLDS, seed: int = CV_SEED,
          rounds: int = BOOTSTRAP_ROUNDS) -> LearnedPick:
    """Fit, cross-validate and compare; before MIN_DECISIVE_VOTES only the count is returned."""
    decisive = _decisive(votes)
    keys = common_keys(decisive)
    if len(decisive) < MIN_DECISIVE_VOTES or not keys:
        return LearnedPick(len(decisive))
    x = np.array([[v.scores_a[k] - v.scores_b[k] for k in keys] for v in decisive])  # type: ignore[index]
    y = np.array([int(v.choice is Choice.A) for v in decisive])
    fixed = np.array([overall_score(v.scores_a) - overall_score(v.scores_b) for v in decisive])  # type: ignore[arg-type]
    rules = tuple(rule_row(k, x[:, i], y) for i, k in enumerate(keys))
    k = min(folds, int(min(y.sum(), len(y) - y.sum())))
    if k < 2:
        return LearnedPick(len(decisive), keys, fixed_auc=roc_auc(y, fixed), rules=rules)
    from sklearn.linear_model import LogisticRegression  # not at the top: see roc_auc
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression())
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    oof = cross_val_predict(model, x, y, cv=cv, method="predict_proba")[:, 1]
    low, high = bootstrap_auc(y, oof, rounds)
    model.fit(x, y)
    scaler, logreg = model[0], model[-1]
    return LearnedPick(len(decisive), keys, roc_auc(y, oof), low, high, roc_auc(y, fixed),
                       dict(zip(keys, map(float, logreg.coef_[0]))), rules,
                       tuple(map(float, scaler.mean_)), tuple(map(float, scaler.scale_)),
                       float(logreg.intercept_[0]))
