"""Several takes in one job (the Compare tab and `/compare`): how many may be compared, and each take's
result or the error that says why it has none.

A bug or an out-of-memory on one take must not lose the others, so `score_one` turns any failure
into that take's ApexError; only a visitor who left (ScoringStopped) ends the whole job.
"""

from __future__ import annotations

import filecmp
import os
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import gradio as gr

from apex_demo.engine import ScoreResult
from apex_demo.errors import ApexError, ErrorCode, ScoringStopped
from apex_demo.ui.common import LOG, UNEXPECTED_ERROR, display_name, get_scorer
from apex_demo.ui.context import AppContext
from apex_demo.ui.guards.abandoned import visitor_still_here

if TYPE_CHECKING:  # the engine (and torch) load with the models, not with the page
    from apex_demo.engine import Scorer

MIN_TAKES = 2
MAX_TAKES = 10
TOO_FEW = f"Upload at least {MIN_TAKES} takes to compare (you can select several files at once)."
TOO_MANY = f"Compare at most {MAX_TAKES} takes at a time; you uploaded {{count}}."


def count_problem(paths: Sequence[str]) -> str | None:
    """Why this many uploads cannot be compared, or None."""
    if len(paths) < MIN_TAKES:
        return TOO_FEW
    if len(paths) > MAX_TAKES:
        return TOO_MANY.format(count=len(paths))
    return None


def distinct_takes(paths: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the uploads with each file once, in order; the repeats left out). A file chosen again arrives as
    the same upload, or as a byte-identical copy: only files of equal size are compared byte for byte."""
    kept: list[str] = []
    repeated: list[str] = []
    for path in paths:
        if any(_same_file(path, other) for other in kept):
            repeated.append(path)
        else:
            kept.append(path)
    return kept, repeated


def _same_file(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        return os.path.getsize(a) == os.path.getsize(b) and filecmp.cmp(a, b, shallow=False)
    except OSError:  # a vanished upload is reported when it is scored
        return False


def check_count(paths: Sequence[str] | None) -> list[str]:
    """The uploaded paths, or a raised gr.Error when there are too few or too many (API endpoints)."""
    paths = list(paths or [])
    problem = count_problem(paths)
    if problem:
        raise gr.Error(problem, print_exception=False)
    return paths


def score_one(scorer: "Scorer", path: str, name: str, proceed: Callable[[], bool]) -> ScoreResult | ApexError:
    """One take's result, or the ApexError that says why it has none: a bug or an out-of-memory on
    one take must not lose the others. Raises ScoringStopped when `proceed` says the visitor left."""
    try:
        return scorer.score_file(path, name, proceed=proceed)
    except ApexError as exc:
        return exc
    except ScoringStopped:
        raise
    except Exception as exc:  # noqa: BLE001 - reported as this take's error, the others still count
        LOG.exception("unexpected error while scoring %s", name)
        return ApexError(UNEXPECTED_ERROR.format(kind=type(exc).__name__), ErrorCode.INTERNAL)


def score_each(ctx: AppContext, paths: Sequence[str],
               progress: gr.Progress | None = None) -> Iterator[tuple[str, ScoreResult | ApexError]]:
    """Score uploads one by one, yielding (name, result) or (name, the ApexError it raised).
    Raises ScoringStopped, between two segments, once the client has left (ui/abandoned.py)."""
    still_here = visitor_still_here()
    scorer = get_scorer(ctx, progress)
    for i, path in enumerate(paths):
        name = display_name(path)
        if progress is not None:
            progress((i, len(paths)), desc=f"Scoring {name}", unit="takes")
        yield name, score_one(scorer, path, name, still_here)
