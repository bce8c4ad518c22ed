"""The vote export: every vote as CSV (formula-safe cells) or JSONL, one object per line."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone
from typing import Any, Iterable, TextIO

from apex_demo.arena.records import VOTE_COLUMNS, Vote
from apex_demo.csvsafe import escape_row
from apex_demo.errors import ApexError, ErrorCode
from apex_demo.scores import SCORE_KEYS

EXPORT_FORMATS = ("csv", "jsonl")
CSV_COLUMNS: tuple[str, ...] = (
    tuple(c for c in VOTE_COLUMNS if c not in ("scores_a", "scores_b"))
    + ("voted_at_utc",)
    + tuple(f"a_{k}" for k in SCORE_KEYS) + tuple(f"b_{k}" for k in SCORE_KEYS)
)


def _csv_row(vote: Vote) -> dict[str, Any]:
    record = vote.to_record()
    row = {c: record[c] for c in VOTE_COLUMNS if c not in ("scores_a", "scores_b")}
    row["voted_at_utc"] = datetime.fromtimestamp(vote.voted_at, timezone.utc).isoformat(timespec="seconds")
    for side, scores in (("a", vote.scores_a), ("b", vote.scores_b)):
        for key in SCORE_KEYS:
            row[f"{side}_{key}"] = (scores or {}).get(key)
    return escape_row(row)


def export_votes(votes: Iterable[Vote], fmt: str, out: TextIO) -> int:
    """Write votes as CSV (formula-escaped) or JSONL; returns the number written."""
    if fmt not in EXPORT_FORMATS:
        raise ApexError(f"unknown export format {fmt!r}; use one of {EXPORT_FORMATS}.", ErrorCode.BAD_REQUEST)
    count = 0
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for vote in votes:
            writer.writerow(_csv_row(vote))
            count += 1
    else:
        for vote in votes:
            out.write(json.dumps(vote.to_record(), ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    return count

