"""`votes export|stats`: the arena's raw votes (CSV/JSONL) and their statistics as a table.

Reads the local store under APEX_DATA_DIR directly (never the Hub, never creating
an empty store by accident), so it is safe to run next to a live app: SQLite WAL
lets this reader work while the app writes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

from apex_demo.analysis import (MIN_VOTES_LISTED, MODEL_PICK_DEFINITION, ArenaStats, Proportion, RatingRow,
                                arena_stats)
from apex_demo.config import Settings
from apex_demo.errors import ApexError, ErrorCode
from apex_demo.scores import OUTPUT_BY_KEY
from apex_demo.votes import (DB_FILENAME, EXPORT_FORMATS, Vote, VoteStore, counts_for_leaderboard,
                             excluded_summary, export_votes)

STATS_FORMATS = ("table", "json")
MISSING = "-"


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("votes", help="export arena votes or show their statistics", description=__doc__)
    actions = p.add_subparsers(dest="votes_command", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="write every vote as CSV or JSONL")
    export.add_argument("--format", choices=EXPORT_FORMATS, default="csv", help="output format (default: csv)")
    export.add_argument("--output", type=Path, help="write to this file instead of standard output")
    stats = actions.add_parser("stats", help="model agreement and the Bradley-Terry leaderboards")
    stats.add_argument("--format", choices=STATS_FORMATS, default="table", help="output format (default: table)")
    stats.add_argument("--min-votes", type=int, default=MIN_VOTES_LISTED,
                       help=f"battles an item needs to be listed (default: {MIN_VOTES_LISTED})")
    p.set_defaults(func=run)


def open_existing_store(settings: Settings) -> VoteStore:
    """The local store; an error (not a new empty file) when there is none yet."""
    path = Path(settings.data_dir) / DB_FILENAME
    if not path.is_file():
        raise ApexError(f"no vote store at {path}; run the app first or set APEX_DATA_DIR to the folder "
                        "that holds votes.sqlite3.", ErrorCode.FILE_NOT_FOUND)
    return VoteStore(path)


def run(args: argparse.Namespace, settings: Settings) -> int:
    store = open_existing_store(settings)
    try:
        votes = store.votes()
    finally:
        store.close()
    if args.votes_command == "export":
        return _export(votes, args.format, args.output)
    only = settings.arena_signed_in_only
    stats = arena_stats([v for v in votes if counts_for_leaderboard(v, only)], min_votes=args.min_votes)
    excluded = excluded_summary(votes, only)
    if args.format == "json":
        print(json.dumps({**stats.to_dict(), "excluded": excluded}, indent=2))
    else:
        print(render_stats_table(stats) + "\n" + render_excluded(excluded))
    return 0


def render_excluded(excluded: dict) -> str:
    """Votes kept in the store but left out of the statistics above, and why."""
    lines = ["", "left out of the statistics above (still stored and exported):"]
    lines += [f"  {n} flagged: {flag}" for flag, n in sorted(excluded["flagged"].items())]
    if excluded["signed_in_only"]:
        lines.append(f"  {excluded['not_signed_in']} not signed in (APEX_ARENA_SIGNED_IN_ONLY is set)")
    return "\n".join(lines) if len(lines) > 2 else "\n".join(lines[:1] + ["left out of the statistics: none"])


def _export(votes: Sequence[Vote], fmt: str, output: Path | None) -> int:
    if output is None:
        export_votes(votes, fmt, sys.stdout)
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8", newline="") as handle:
        count = export_votes(votes, fmt, handle)
    print(f"wrote {count} votes to {output}", file=sys.stderr)
    return 0


def _pct(p: Proportion) -> str:
    if p.rate is None:
        return f"{MISSING} (n=0)"
    return f"{100 * p.rate:5.1f}%  [{100 * p.low:.1f}, {100 * p.high:.1f}]  ({p.k}/{p.n})"  # type: ignore[operator]


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]], out: list[str]) -> None:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for row in cells:
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())


def _board(title: str, rows: Sequence[RatingRow], out: list[str]) -> None:
    out.append("")
    out.append(title)
    if not rows:
        out.append("  (nothing listed yet: too few votes)")
        return
    _table(["rank", "item", "rating", "95% CI", "votes", "W-T-L"],
           [[r.rank, r.item, f"{r.rating:.0f}", f"{r.ci_low:.0f}-{r.ci_high:.0f}", r.votes,
             f"{r.wins}-{r.ties}-{r.losses}"] for r in rows], out)


def render_stats_table(stats: ArenaStats) -> str:
    """Plain-text report for a terminal."""
    out = [f"votes: {stats.total_votes}  " + "  ".join(f"{k}={v}" for k, v in stats.choice_counts.items()),
           f"model agrees with decisive votes: {_pct(stats.agreement)}",
           f"({MODEL_PICK_DEFINITION})", "", "agreement of each score alone:"]
    _table(["score", "agreement [95% CI] (k/n)"],
           [[OUTPUT_BY_KEY[k].label, _pct(p)] for k, p in stats.per_score.items()], out)
    _board("systems (Bradley-Terry, 95% bootstrap CI):", stats.systems, out)
    _board("clips (Bradley-Terry, 95% bootstrap CI):", stats.clips, out)
    return "\n".join(out)
