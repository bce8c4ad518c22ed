"""The APEX authors' Music Arena table (APEX_arena_experiment.ipynb, cell 10), reproducible here.

Kept separate from the live arena statistics (apex_demo.arena.stats) because it follows
the notebook to the letter, oddities included, so that its printed numbers can be
checked: the five rule rows predict that the clip with the LOWER score wins
(`pred = margin > 0` with `margin = mean(score_b - score_a)`, `proba =
1 / (1 + exp(-margin / 10))`, raw margins, not rescaled); the learned rows use the
notebook's features (differences, ratios a / (b + 1e-9), is_instrumental and the
differences x is_instrumental, for streams, likes and their average), its models
and its StratifiedKFold(10, shuffle=True, random_state=42) out-of-fold predictions.
`higher_wins_accuracy` is cell 4 ("the higher score wins", z-scored sums).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from apex_demo.arena.stats import roc_auc

# The notebook's column names: pred_<name>_a / pred_<name>_b, and the head key of each name.
KEY_OF_NAME: dict[str, str] = {"streams": "score_streams", "likes": "score_likes", "coherence": "coherence",
                               "musicality": "musicality", "memorability": "memorability",
                               "clarity": "clarity", "naturalness": "naturalness"}
NAMES = tuple(KEY_OF_NAME)
AESTHETICS = NAMES[2:]
COMBINED = "combined_popularity"          # the notebook's average of streams and likes
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Likes (rule)", ("likes",)), ("Streams (rule)", ("streams",)),
    ("Likes + Streams (rule)", ("likes", "streams")), ("All Features (rule)", NAMES),
    ("Aesthetics (rule)", AESTHETICS))
RULE_TEMPERATURE = 10.0
RATIO_EPSILON = 1e-9
LEARNED_NAMES = ("streams", "likes", COMBINED)
CV_FOLDS = 10
CV_SEED = 42
SVM_GRID = {"svc__C": [0.01, 0.1, 1, 10], "svc__kernel": ["linear", "rbf"], "svc__gamma": ["scale", "auto"]}
SVM_INNER_FOLDS = 5
LOGREG = "LogisticRegression"
SVM = "SVM"
LEARNED_MODELS = (LOGREG, SVM)
TABLE_COLUMNS = ("model", "AUC_overall", "AUC_instrumental", "AUC_noninstr",
                 "F1_overall", "F1_instrumental", "F1_noninstr", "note")


@dataclass(frozen=True)
class BattleTable:
    """Decisive battles only: per score name the A and B values, y = 1 when A was preferred."""

    a: Mapping[str, np.ndarray]
    b: Mapping[str, np.ndarray]
    y: np.ndarray
    instrumental: np.ndarray

    def has(self, names: Sequence[str]) -> bool:
        """Whether every battle has every one of these scores (a popularity-only head has no aesthetics)."""
        return all(n in self.a and n in self.b and not np.isnan(self.a[n]).any() and not np.isnan(self.b[n]).any()
                   for n in names)


@dataclass(frozen=True)
class TableRow:
    """One line of the notebook's table; None where a metric is undefined (one class only)."""

    model: str
    auc: tuple[float | None, float | None, float | None]
    f1: tuple[float | None, float | None, float | None]
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        return dict(zip(TABLE_COLUMNS, (self.model, *self.auc, *self.f1, self.note)))


def _groups(table: BattleTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks: all battles, instrumental, with vocals (the notebook's three columns)."""
    return np.ones(len(table.y), bool), table.instrumental, ~table.instrumental


def _f1(y: np.ndarray, pred: np.ndarray) -> float | None:
    from sklearn.metrics import f1_score  # not at the top: see arena.stats.roc_auc

    return float(f1_score(y, pred)) if len(y) else None


def _row(name: str, table: BattleTable, proba: np.ndarray, pred: np.ndarray, note: str = "") -> TableRow:
    masks = _groups(table)
    return TableRow(name, tuple(roc_auc(table.y[m], proba[m]) for m in masks),  # type: ignore[arg-type]
                    tuple(_f1(table.y[m], pred[m]) for m in masks), note)  # type: ignore[arg-type]


def rule_margin(table: BattleTable, names: Sequence[str]) -> np.ndarray:
    """mean over `names` of (score_b - score_a): positive means B scored higher, and the rule says A wins."""
    return np.mean([table.b[n] - table.a[n] for n in names], axis=0)


def rule_row(name: str, names: Sequence[str], table: BattleTable) -> TableRow:
    """A rule row exactly as the notebook defines it (lower score predicted to win)."""
    if not table.has(names):
        none = (None, None, None)
        return TableRow(name, none, none, "not predicted by this head")
    margin = rule_margin(table, names)
    return _row(name, table, 1.0 / (1.0 + np.exp(-margin / RULE_TEMPERATURE)), (margin > 0).astype(int))


def _values(side: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    if name == COMBINED and COMBINED not in side:
        return (side["streams"] + side["likes"]) / 2.0
    return side[name]


def notebook_features(table: BattleTable) -> np.ndarray:
    """diff_*, ratio_*, is_instrumental_int, diff_*_x_instr for streams, likes and their average
    (the notebook's feature_cols, in its order)."""
    instr = table.instrumental.astype(float)
    diffs = [_values(table.a, n) - _values(table.b, n) for n in LEARNED_NAMES]
    ratios = [_values(table.a, n) / (_values(table.b, n) + RATIO_EPSILON) for n in LEARNED_NAMES]
    return np.column_stack(diffs + ratios + [instr] + [d * instr for d in diffs])


def learned_model(name: str, seed: int = CV_SEED, jobs: int = 1):
    """The notebook's LogisticRegression and grid-searched SVM (`jobs` parallel grid fits: the
    notebook used all cores; results do not depend on it)."""
    from sklearn.linear_model import LogisticRegression  # not at the top: see arena.stats.roc_auc
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if name == LOGREG:
        return LogisticRegression(C=0.1, max_iter=1000, class_weight="balanced")
    pipe = Pipeline([("scaler", StandardScaler()),
                     ("svc", SVC(probability=True, random_state=seed, class_weight="balanced"))])
    return GridSearchCV(pipe, param_grid=SVM_GRID, cv=SVM_INNER_FOLDS, scoring="roc_auc", n_jobs=jobs)


def learned_row(name: str, table: BattleTable, folds: int = CV_FOLDS, seed: int = CV_SEED,
                jobs: int = 1) -> TableRow:
    """Out-of-fold predictions and probabilities (two cross_val_predict calls, as the notebook)."""
    smallest = int(min(np.sum(table.y == 1), np.sum(table.y == 0)))
    k = min(folds, smallest)
    if k < 2 or not table.has(("streams", "likes")):
        none = (None, None, None)
        return TableRow(name, none, none, "needs at least 2 battles won by each side")
    from sklearn.model_selection import StratifiedKFold, cross_val_predict  # see arena.stats.roc_auc

    x = notebook_features(table)
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    try:
        with warnings.catch_warnings():
            # SVC(probability=True) is what the notebook ran; sklearn 1.9 warns that it is deprecated
            warnings.filterwarnings("ignore", message=".*probability.*", category=FutureWarning)
            pred = cross_val_predict(learned_model(name, seed, jobs), x, table.y, cv=cv)
            proba = cross_val_predict(learned_model(name, seed, jobs), x, table.y, cv=cv,
                                      method="predict_proba")[:, 1]
    except ValueError as exc:  # e.g. the SVM's inner 5-fold grid search on a handful of battles
        none = (None, None, None)
        return TableRow(name, none, none, f"too few battles for this model ({exc})")
    note = f"{k}-fold CV, seed {seed}" + ("" if k == folds else f" (fewer than {folds} folds: small data)")
    return _row(name, table, proba, pred, note)


def notebook_table(table: BattleTable, folds: int = CV_FOLDS, seed: int = CV_SEED,
                   models: Sequence[str] = LEARNED_MODELS, jobs: int = 1) -> list[TableRow]:
    """The five rule rows, then the learned rows (`models`), as in the notebook's printed table."""
    rows = [rule_row(name, names, table) for name, names in RULES]
    return rows + [learned_row(m, table, folds, seed, jobs) for m in models]


def _zscore(values: np.ndarray) -> np.ndarray:
    """scipy.stats.zscore's default (population standard deviation, ddof=0)."""
    std = values.std()
    return (values - values.mean()) / std if std > 0 else np.zeros_like(values)


def higher_wins_accuracy(table: BattleTable) -> dict[str, float | None]:
    """Notebook cell 4: how often "A wins when A's summed z-scored differences are positive" is right."""
    def acc(combined: np.ndarray) -> float:
        return float(np.mean((combined > 0) == (table.y == 1)))

    z = {n: _zscore(table.a[n] - table.b[n]) for n in NAMES if table.has((n,))}
    out: dict[str, float | None] = {
        "all_seven_z": acc(sum(z.values())) if len(z) == len(NAMES) else None,  # type: ignore[arg-type]
        "likes_streams_z": acc(z["likes"] + z["streams"]) if {"likes", "streams"} <= set(z) else None,
        "likes_raw": acc(table.a["likes"] - table.b["likes"]) if "likes" in z else None,
    }
    return out
