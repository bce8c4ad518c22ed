"""`eval BATTLES.csv|RELEASE.parquet`: the APEX authors' Music Arena table (APEX_arena_experiment.ipynb)
for any battles, also for this arena's own data release (`votes export --format dataset`).

The csv (or Parquet) has one battle per row, a `user_preference` (or `preference`) column with A,
B, TIE or BOTH_BAD, an optional `is_instrumental` column (true/false), and either
the notebook's score columns `pred_streams_a` ... `pred_naturalness_b` (used as
they are) or audio columns `audio_a`, `audio_b` (paths relative to the csv, scored
first; the embedding cache makes reruns fast). Only decisive battles (A or B) are
evaluated. It prints the notebook's table (five "lower score wins" rule rows,
LogisticRegression and SVM on the notebook's features with 10-fold stratified CV,
seed 42: ROC AUC and F1 overall / instrumental / with vocals) and cell 4's
"higher score wins" accuracy. Files that fail to score are listed, not fatal. Rows with a `left_out`
reason (the release's votes that the arena's trust check keeps off its leaderboard) are skipped.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from apex_demo.arena import (CV_FOLDS, CV_SEED, KEY_OF_NAME, LEARNED_MODELS, NAMES, TABLE_COLUMNS, BattleTable,
                             Choice, VoteRefused, higher_wins_accuracy, notebook_table)
from apex_demo.cli.exits import EXIT_OK, EXIT_SOME_FAILED
from apex_demo.cli.score import record_of
from apex_demo.config import Settings
from apex_demo.errors import ApexError, ErrorCode

PREFERENCE_COLUMNS = ("user_preference", "preference")
AUDIO_COLUMNS = ("audio_a", "audio_b")
INSTRUMENTAL_COLUMN = "is_instrumental"
ID_COLUMN = "battle_uuid"
LEFT_OUT_COLUMN = "left_out"
PARQUET_SUFFIX = ".parquet"
TRUE_WORDS = frozenset({"1", "true", "yes", "y", "t"})
FALSE_WORDS = frozenset({"0", "false", "no", "n", "f", ""})
FORMATS = ("table", "json", "csv")
MISSING = "-"
NO_INSTRUMENTAL_NOTE = "no is_instrumental column: every battle counts as non-instrumental"


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("eval", help="the APEX Music Arena table (ROC AUC, F1) for labelled battles",
                       description=__doc__)
    p.add_argument("battles", type=Path, help="csv or Parquet of battles (notebook score columns or audio "
                                                 "paths), e.g. this arena's data release")
    p.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    p.add_argument("--output", type=Path, help="write to this file instead of standard output")
    p.add_argument("--folds", type=int, default=CV_FOLDS, help=f"cross-validation folds (default: {CV_FOLDS})")
    p.add_argument("--seed", type=int, default=CV_SEED, help=f"cross-validation seed (default: {CV_SEED})")
    p.add_argument("--models", nargs="*", choices=LEARNED_MODELS, default=list(LEARNED_MODELS),
                   help="learned rows to fit (default: both; the SVM grid search takes longest)")
    p.add_argument("--jobs", type=int, default=1,
                   help="parallel fits in the SVM grid search (-1: all cores, as the notebook; default: 1)")
    p.set_defaults(func=run)


def score_column(name: str, side: str) -> str:
    return f"pred_{name}_{side}"


def _cell(value: object) -> str:
    """A Parquet value as the csv would hold it: empty for null, true/false for booleans."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _read_parquet(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:   # pyarrow's errors derive from these
        raise ApexError(f"{path.name} cannot be read as Parquet ({exc}).", ErrorCode.BAD_REQUEST) from exc
    return [{k: _cell(v) for k, v in row.items()} for row in table.to_pylist()], list(table.column_names)


def read_rows(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    """The file's rows and header (csv, or Parquet by its suffix); a clear error when it is missing or has
    neither kind of columns."""
    if not path.is_file():
        raise ApexError(f"battle file {path} not found.", ErrorCode.FILE_NOT_FOUND)
    if path.suffix.lower() == PARQUET_SUFFIX:
        rows, header = _read_parquet(path)
    else:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            rows = list(reader)
    has_scores = all(score_column(n, s) in header for n in ("streams", "likes") for s in "ab")
    has_audio = all(c in header for c in AUDIO_COLUMNS)
    preference = next((c for c in PREFERENCE_COLUMNS if c in header), None)
    if preference is None or not (has_scores or has_audio):
        raise ApexError(f"{path.name} needs a {' or '.join(PREFERENCE_COLUMNS)} column and either the score "
                        f"columns {score_column('streams', 'a')} ... {score_column('naturalness', 'b')} or "
                        f"the audio columns {list(AUDIO_COLUMNS)}; it has {header}.", ErrorCode.BAD_REQUEST)
    return rows, header


def _flag(text: str | None) -> bool | None:
    word = (text or "").strip().lower()
    return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None


def _number(text: str | None) -> float:
    try:
        value = float(text) if text not in (None, "") else math.nan
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def score_audio(rows: Sequence[dict[str, str]], folder: Path, settings: Settings) -> list[dict[str, str]]:
    """Score every clip once and fill the notebook's score columns; an error entry per failed file."""
    from apex_demo.engine import get_scorer
    from apex_demo.folder import score_records

    paths = sorted({str(folder / r[c]) for r in rows for c in AUDIO_COLUMNS if r.get(c)})
    scorer = get_scorer(settings)
    failed: list[dict[str, str]] = []
    scores: dict[str, Mapping[str, float]] = {}
    for path, record in zip(paths, score_records(paths, record_of(scorer), len(paths) > 1)):
        if "error" in record:
            failed.append({"file": path, **record["error"]})
        else:
            scores[path] = record["scores"]
    for row in rows:
        for side, column in zip("ab", AUDIO_COLUMNS):
            got = scores.get(str(folder / row.get(column, "")), {})
            for name, key in KEY_OF_NAME.items():
                row[score_column(name, side)] = "" if got.get(key) is None else str(got[key])
    return failed


def build_table(rows: Sequence[dict[str, str]], header: Sequence[str]) -> tuple[BattleTable, list[dict[str, str]]]:
    """Decisive battles with both clips' streams and likes; a `why` entry for every battle left out."""
    preference = next(c for c in PREFERENCE_COLUMNS if c in header)
    kept, skipped = [], []
    for i, row in enumerate(rows):
        ident = row.get(ID_COLUMN) or f"row {i + 2}"
        try:
            choice = Choice.parse(row.get(preference))
        except VoteRefused:
            skipped.append({ID_COLUMN: ident, "why": f"unknown preference {row.get(preference)!r}"})
            continue
        if row.get(LEFT_OUT_COLUMN):
            skipped.append({ID_COLUMN: ident, "why": f"left out of the leaderboard ({row[LEFT_OUT_COLUMN]})"})
        elif choice not in (Choice.A, Choice.B):
            skipped.append({ID_COLUMN: ident, "why": f"{choice.value} is not decisive"})
        elif any(math.isnan(_number(row.get(score_column(n, s)))) for n in ("streams", "likes") for s in "ab"):
            skipped.append({ID_COLUMN: ident, "why": "no scores for a clip"})
        elif _flag(row.get(INSTRUMENTAL_COLUMN)) is None and INSTRUMENTAL_COLUMN in header:
            skipped.append({ID_COLUMN: ident, "why": f"is_instrumental {row.get(INSTRUMENTAL_COLUMN)!r} "
                                                     "is not true or false"})
        else:
            kept.append((row, choice))
    sides = {s: {n: np.array([_number(r.get(score_column(n, s))) for r, _ in kept]) for n in NAMES} for s in "ab"}
    y = np.array([int(c is Choice.A) for _, c in kept], dtype=int)
    instrumental = np.array([bool(_flag(r.get(INSTRUMENTAL_COLUMN))) for r, _ in kept], dtype=bool)
    return BattleTable(sides["a"], sides["b"], y, instrumental), skipped


def evaluate_file(path: Path, settings: Settings, folds: int = CV_FOLDS, seed: int = CV_SEED,
                  models: Sequence[str] = LEARNED_MODELS, jobs: int = 1) -> dict[str, Any]:
    """The whole report as one JSON-able dict."""
    rows, header = read_rows(path)
    has_scores = all(score_column(n, s) in header for n in ("streams", "likes") for s in "ab")
    failed = [] if has_scores else score_audio(rows, path.parent, settings)
    if not has_scores:
        header = list(header) + [score_column(n, s) for n in NAMES for s in "ab"]
    table, skipped = build_table(rows, header)
    if len(table.y) == 0:
        raise ApexError(f"{path.name} has no decisive (A or B) battle with scores for both clips; "
                        "nothing to evaluate.", ErrorCode.BAD_REQUEST)
    notes = [] if INSTRUMENTAL_COLUMN in header else [NO_INSTRUMENTAL_NOTE]
    return {"battles": len(rows), "decisive_battles": int(len(table.y)),
            "instrumental_battles": int(table.instrumental.sum()), "a_preferred": int(table.y.sum()),
            "failed_files": failed, "skipped_battles": skipped, "notes": notes,
            "higher_wins_accuracy": higher_wins_accuracy(table),
            "table": [r.to_dict() for r in notebook_table(table, folds, seed, models, jobs)]}


def _fmt(value: object) -> str:
    return MISSING if value is None else f"{value:.3f}"


def render(report: Mapping[str, Any], fmt: str) -> str:
    """JSON, the table as csv, or the notebook's text layout."""
    if fmt == "json":
        return json.dumps(report, indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(TABLE_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(report["table"])
        return out.getvalue().rstrip("\n")
    acc = report["higher_wins_accuracy"]
    lines = [f"battles: {report['battles']}, decisive: {report['decisive_battles']} "
             f"(A preferred {report['a_preferred']}, instrumental {report['instrumental_battles']}), "
             f"failed files: {len(report['failed_files'])}", "",
             "higher score wins (accuracy): all seven z-scored " + _fmt(acc["all_seven_z"])
             + ", likes+streams z-scored " + _fmt(acc["likes_streams_z"]) + ", likes alone " + _fmt(acc["likes_raw"]),
             "", "rule rows predict that the clip with the LOWER score wins (as in the notebook)",
             f"{'Model':<24}" + "".join(f"{c:>17}" for c in TABLE_COLUMNS[1:-1]) + "  note"]
    for row in report["table"]:
        lines.append(f"{row['model']:<24}" + "".join(f"{_fmt(row[c]):>17}" for c in TABLE_COLUMNS[1:-1])
                     + f"  {row['note']}".rstrip())
    lines += [f"note: {n}" for n in report["notes"]]
    lines += [f"failed: {f['file']}: [{f['code']}] {f['message']}" for f in report["failed_files"]]
    return "\n".join(lines)


def run(args: argparse.Namespace, settings: Settings) -> int:
    report = evaluate_file(args.battles, settings, folds=args.folds, seed=args.seed, models=args.models,
                           jobs=args.jobs)
    text = render(report, args.format)
    if args.output is None:
        print(text)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n", encoding="utf-8")
    return EXIT_SOME_FAILED if report["failed_files"] else EXIT_OK
