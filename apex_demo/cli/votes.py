"""`votes export|stats`: the arena's raw votes (CSV/JSONL), the data release (Parquet, optionally pushed to a
Hub dataset) and the votes' statistics as a table.

Reads the local store under APEX_DATA_DIR directly (never the Hub, never creating
an empty store by accident), so it is safe to run next to a live app: SQLite WAL
lets this reader work while the app writes. The store holds other replicas' votes
too once the app has pulled them. `stats` answers from the running app's
background snapshot (leaderboard.json) when it counts every vote in the store, so
it is instant even with 100,000 votes; otherwise (or with --fresh) it computes.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

from apex_demo.arena import (CV_FOLDS, CV_SEED, DATASET_FORMAT, DB_FILENAME, EXPORT_FORMATS, MIN_CLIP_VOTES,
                             MIN_DECISIVE_VOTES, MIN_SYSTEM_VOTES, SNAPSHOT_FILENAME, Vote, VoteStore, compute_board,
                             export_votes, format_auc, push_dataset, read_snapshot, store_files, write_dataset)
from apex_demo.cli.exits import EXIT_OK
from apex_demo.cli.outputs import check_output, output_errors
from apex_demo.config import Settings
from apex_demo.errors import ApexError, ErrorCode
from apex_demo.scores import OUTPUT_BY_KEY

STATS_FORMATS = ("table", "json")
MISSING = "-"
SOURCE_SNAPSHOT = "(the running app's statistics, computed {time} in the background; --fresh recomputes)"
SOURCE_COMPUTED = "(computed now from the vote store)"
EXPORT_SUFFIX = {"csv": "csv", "jsonl": "jsonl", "dataset": "parquet"}  # the file each format is


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("votes", help="export arena votes or show their statistics", description=__doc__)
    actions = p.add_subparsers(dest="votes_command", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="write every vote as CSV or JSONL, or the data release as Parquet")
    export.add_argument("--format", choices=(*EXPORT_FORMATS, DATASET_FORMAT), default="csv",
                        help="output format (default: csv); dataset: the documented release as Parquet "
                             "(docs/arena-data.md), which `eval` reads back; it needs --output FILE.parquet")
    export.add_argument("--output", type=Path, help="write to this file instead of standard output")
    export.add_argument("--push-to", metavar="OWNER/NAME",
                        help="with --format dataset: also upload the release to this (private) Hub dataset "
                             "(needs HF_TOKEN with write access)")
    stats = actions.add_parser("stats", help="model agreement and the Bradley-Terry leaderboards")
    stats.add_argument("--format", choices=STATS_FORMATS, default="table", help="output format (default: table)")
    stats.add_argument("--min-votes", type=int, default=None,
                       help=f"battles an item needs to be ranked (default: {MIN_SYSTEM_VOTES} for a system, "
                            f"{MIN_CLIP_VOTES} for a clip)")
    stats.add_argument("--fresh", action="store_true",
                       help="recompute now instead of reading the running app's snapshot (slow with many votes)")
    p.set_defaults(func=run)


def open_existing_store(settings: Settings) -> VoteStore:
    """The local store; an error (not a new empty file) when there is none yet."""
    path = Path(settings.data_dir) / DB_FILENAME
    if not path.is_file():
        raise ApexError(f"no vote store at {path}; run the app first or set APEX_DATA_DIR to the folder "
                        "that holds votes.sqlite3.", ErrorCode.FILE_NOT_FOUND)
    return VoteStore(path)


def board_dict(settings: Settings, store: VoteStore, min_votes: int | None, fresh: bool) -> tuple[dict[str, Any], str]:
    """The statistics as a dict and where they come from: the running app's snapshot when it
    counts exactly the votes in the store (instant, even with 100,000 votes), else computed now."""
    count = store.count()
    snapshot = read_snapshot(Path(settings.data_dir) / SNAPSHOT_FILENAME)
    if not fresh and min_votes is None and snapshot and snapshot.get("stored_votes") == count:
        stamp = datetime.fromtimestamp(snapshot["computed_at"], timezone.utc).isoformat(timespec="seconds")
        return snapshot, SOURCE_SNAPSHOT.format(time=stamp)
    board = compute_board(store.votes(), store.remote_count(), min_votes=min_votes,
                          signed_in_only=settings.arena_signed_in_only)
    return board.to_dict(), SOURCE_COMPUTED


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.votes_command == "export" and args.output is not None:  # before the store is even opened
        check_output(args.output, store_files(Path(settings.data_dir)), "one of the vote store's own files",
                     export_example(args.format))
    store = open_existing_store(settings)
    try:
        if args.votes_command == "export" and args.format == DATASET_FORMAT:
            return _release(store.votes(), args.output, args.push_to, settings)
        if args.votes_command == "export":
            return _export(store, args.format, args.output)
        stats, source = board_dict(settings, store, args.min_votes, args.fresh)
    finally:
        store.close()
    if args.format == "json":
        print(json.dumps(stats, indent=2))
    else:
        print(render_stats_table(stats, source) + "\n" + render_excluded(stats.get("excluded") or {}))
    return EXIT_OK


def render_excluded(excluded: dict) -> str:
    """Votes kept in the store but left out of the statistics above, and why."""
    lines = ["", "left out of the statistics above (still stored and exported):"]
    lines += [f"  {n} flagged: {flag}" for flag, n in sorted(excluded.get("flagged", {}).items())]
    if excluded.get("signed_in_only"):
        lines.append(f"  {excluded.get('not_signed_in', 0)} not signed in (APEX_ARENA_SIGNED_IN_ONLY is set)")
    return "\n".join(lines) if len(lines) > 2 else "\n".join(lines[:1] + ["left out of the statistics: none"])


def _export(store: VoteStore, fmt: str, output: Path | None) -> int:
    """Every vote, streamed from one snapshot of the store (memory does not grow with the votes)."""
    with store.reader() as votes:
        if output is None:
            export_votes(votes, fmt, sys.stdout)
            return EXIT_OK
        with output_errors(output, export_example(fmt)):
            output.parent.mkdir(parents=True, exist_ok=True)
            with output.open("w", encoding="utf-8", newline="") as handle:
                count = export_votes(votes, fmt, handle)
    print(f"wrote {count} votes to {output}", file=sys.stderr)
    return EXIT_OK


def export_example(fmt: str) -> str:
    """An --output name to suggest for `fmt` (in the messages of the output guard)."""
    return f"votes.{EXPORT_SUFFIX.get(fmt, fmt)}"


def _release(votes: Sequence[Vote], output: Path | None, push_to: str | None, settings: Settings) -> int:
    """The data release: Parquet at `output`, then the Hub dataset when asked."""
    if output is None or output.suffix.lower() != ".parquet":
        raise ApexError("--format dataset writes Parquet: give --output FILE.parquet.", ErrorCode.BAD_REQUEST)
    with output_errors(output, export_example(DATASET_FORMAT)):
        output.parent.mkdir(parents=True, exist_ok=True)
        count = write_dataset(votes, output, settings.vote_salt)
    print(f"wrote {count} votes to {output}", file=sys.stderr)
    if push_to:
        print(f"pushed to {push_dataset(output, count, push_to, settings.hf_token)}", file=sys.stderr)
    return EXIT_OK


def _pct(p: Mapping[str, Any]) -> str:
    if p["rate"] is None:
        return f"{MISSING} (n=0)"
    return f"{100 * p['rate']:5.1f}%  [{100 * p['low']:.1f}, {100 * p['high']:.1f}]  ({p['k']}/{p['n']})"


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], out: list[str]) -> None:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for row in cells:
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


def _board(title: str, rows: Sequence[Mapping[str, Any]], out: list[str]) -> None:
    out.append("")
    out.append(title)
    if not rows:
        out.append("  (nothing listed yet: too few votes)")
        return
    _table(["rank", "item", "rating", "95% CI", "votes", "W-T-L"],
           [[r.get("tier") or r["rank"], r["item"], f"{r['rating']:.0f}", f"{r['ci_low']:.0f}-{r['ci_high']:.0f}", r["votes"],
             f"{r['wins']}-{r['ties']}-{r['losses']}"] for r in rows], out)


def _learned(learned: Mapping[str, Any], out: list[str]) -> None:
    out.append("")
    if learned["auc"] is None:
        out.append(f"learned model: {learned['decisive_votes']} decisive votes with scores; "
                   f"{learned['needed']} more needed (it needs {MIN_DECISIVE_VOTES})")
        return
    picks = "the learned model" if learned["learned_model_picks"] else "the fixed rule"
    out.append(f"learned model ({learned['decisive_votes']} decisive votes, logistic regression on standardised "
               f"score differences, {CV_FOLDS}-fold CV, seed {CV_SEED}): out-of-fold AUC "
               f"{format_auc(learned['auc'])} [{format_auc(learned['auc_low'])}, {format_auc(learned['auc_high'])}]; "
               "fixed rule AUC "
               f"{format_auc(learned['fixed_rule_auc'])}; the arena's pick uses {picks}")
    _table(["score", "coefficient", "higher wins", "AUC", "lower wins", "AUC"],
           [[r["label"], f"{learned['coefficients'][r['key']]:+.3f}", _pct(r["higher_wins"]),
             format_auc(r["higher_wins_auc"]), _pct(r["lower_wins"]), format_auc(r["lower_wins_auc"])]
            for r in learned["rules"]], out)


def render_stats_table(stats: Mapping[str, Any], source: str = "") -> str:
    """Plain-text report for a terminal, from the statistics' JSON form."""
    counts = "  ".join(f"{k}={v}" for k, v in stats["choice_counts"].items())
    out = [f"votes: {stats['total_votes']}  {counts}  (from other replicas or earlier runs: "
           f"{stats.get('votes_from_elsewhere', 0)})"]
    if source:
        out.append(source)
    out += [f"model agrees with decisive votes: {_pct(stats['agreement'])}",
            f"({stats['model_pick_definition']})", "", "agreement of each score alone:"]
    _table(["score", "agreement [95% CI] (k/n)"],
           [[OUTPUT_BY_KEY[k].label, _pct(p)] for k, p in stats["per_score_agreement"].items()], out)
    _learned(stats["learned_model"], out)
    least = stats.get("min_votes") or {}
    shared = "shared ranks: 95% intervals overlap"
    for key, title in (("systems", "systems"), ("systems_instrumental", "systems, instrumental battles"),
                       ("systems_vocal", "systems, battles with vocals"), ("clips", "clips")):
        if key in stats:
            kind = "clips" if key == "clips" else "systems"
            _board(f"{title} (Bradley-Terry, 95% bootstrap CI; ranked from {least.get(kind, '?')} votes; {shared}):",
                   stats[key], out)
    return "\n".join(out)
