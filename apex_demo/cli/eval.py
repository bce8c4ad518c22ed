"""`eval BATTLES.csv`: how well APEX predicts human preferences in labelled battles.

The file follows Music Arena's public data: columns battle_uuid, system_a,
system_b, preference (A, B, TIE or BOTH_BAD), audio_a, audio_b (paths relative to
the csv). Every clip is scored once (the embedding cache makes reruns fast).
Per predictor (each score, the popularity pair, all seven averaged) it reports
agreement with decisive votes and ROC AUC, then a 10-fold cross-validated
logistic regression on score differences with a fixed seed, as in the APEX
paper. Files that fail to score are listed, not fatal: their battles are skipped.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from apex_demo.analysis import CV_FOLDS, CV_SEED, PREDICTOR_COLUMNS, evaluate_predictors
from apex_demo.cli.score import record_of
from apex_demo.config import Settings
from apex_demo.errors import ApexError, ErrorCode
from apex_demo.votes import Choice, VoteRefused

REQUIRED_COLUMNS = ("battle_uuid", "system_a", "system_b", "preference", "audio_a", "audio_b")
FORMATS = ("table", "json", "csv")
EXIT_OK, EXIT_SOME_FAILED = 0, 1
MISSING = "-"


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("eval", help="agreement and ROC AUC of APEX on labelled battles", description=__doc__)
    p.add_argument("battles", type=Path, help="Music-Arena-style CSV of battles")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--output", type=Path, help="write to this file instead of standard output")
    p.add_argument("--folds", type=int, default=CV_FOLDS, help=f"cross-validation folds (default: {CV_FOLDS})")
    p.add_argument("--seed", type=int, default=CV_SEED, help=f"cross-validation seed (default: {CV_SEED})")
    p.set_defaults(func=run)


@dataclass(frozen=True)
class BattleRow:
    battle_uuid: str
    preference: str
    audio_a: Path
    audio_b: Path


def read_battles(path: Path) -> list[BattleRow]:
    """Rows of the csv; audio paths resolved relative to the csv's folder."""
    if not path.is_file():
        raise ApexError(f"battle file {path} not found.", ErrorCode.FILE_NOT_FOUND)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ApexError(f"{path.name} lacks the column(s) {missing}; expected {list(REQUIRED_COLUMNS)}.",
                            ErrorCode.BAD_REQUEST)
        return [BattleRow(r["battle_uuid"], r["preference"], path.parent / r["audio_a"], path.parent / r["audio_b"])
                for r in reader]


def score_clips(paths: set[Path], settings: Settings) -> tuple[dict[Path, Mapping[str, float]], list[dict[str, str]]]:
    """Scores of every clip that can be scored, and an error entry for each that cannot."""
    from apex_demo.batch import score_records  # the engine loads only when something is scored
    from apex_demo.scoring import get_scorer

    scorer = get_scorer(settings)
    scores: dict[Path, Mapping[str, float]] = {}
    failed: list[dict[str, str]] = []
    ordered = sorted(paths)
    for path, record in zip(ordered, score_records([str(p) for p in ordered], record_of(scorer), len(ordered) > 1)):
        if "error" in record:
            failed.append({"file": str(path), **record["error"]})
        else:
            scores[path] = record["scores"]
    return scores, failed


def evaluate_file(path: Path, settings: Settings, folds: int = CV_FOLDS, seed: int = CV_SEED) -> dict[str, Any]:
    """The whole report as one JSON-able dict."""
    rows = read_battles(path)
    scores, failed = score_clips({p for r in rows for p in (r.audio_a, r.audio_b)}, settings)
    usable, skipped = [], []
    for row in rows:
        try:
            choice = Choice.parse(row.preference)
        except VoteRefused:
            skipped.append({"battle_uuid": row.battle_uuid, "why": f"unknown preference {row.preference!r}"})
            continue
        if row.audio_a not in scores or row.audio_b not in scores:
            skipped.append({"battle_uuid": row.battle_uuid, "why": "a clip could not be scored"})
            continue
        usable.append((scores[row.audio_a], scores[row.audio_b], choice))
    predictors = evaluate_predictors(usable, folds=folds, seed=seed)
    return {"battles": len(rows), "scored_battles": len(usable),
            "decisive_battles": sum(c in (Choice.A, Choice.B) for _, _, c in usable),
            "failed_files": failed, "skipped_battles": skipped,
            "predictors": [p.to_dict() for p in predictors]}


def _fmt(value: object, pattern: str) -> str:
    return MISSING if value is None else format(value, pattern)


def render(report: Mapping[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(PREDICTOR_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(report["predictors"])
        return out.getvalue().rstrip("\n")
    lines = [f"battles: {report['battles']}, scored: {report['scored_battles']}, "
             f"decisive (A/B): {report['decisive_battles']}, failed files: {len(report['failed_files'])}", ""]
    header = f"{'predictor':<30} {'n':>5} {'agreement':>9} {'95% CI':>13} {'AUC':>6}  note"
    lines.append(header)
    for p in report["predictors"]:
        ci = f"{_fmt(p['agreement_low'], '.2f')}-{_fmt(p['agreement_high'], '.2f')}" \
            if p["agreement_low"] is not None else MISSING
        lines.append(f"{p['predictor']:<30} {p['n']:>5} {_fmt(p['agreement'], '.3f'):>9} {ci:>13} "
                     f"{_fmt(p['auc'], '.3f'):>6}  {p['note']}".rstrip())
    for f in report["failed_files"]:
        lines.append(f"failed: {f['file']}: [{f['code']}] {f['message']}")
    return "\n".join(lines)


def run(args: argparse.Namespace, settings: Settings) -> int:
    report = evaluate_file(args.battles, settings, folds=args.folds, seed=args.seed)
    text = render(report, args.format)
    if args.output is None:
        print(text)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n", encoding="utf-8")
    return EXIT_SOME_FAILED if report["failed_files"] else EXIT_OK
