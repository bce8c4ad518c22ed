"""The JSON records of scored songs, with their verdicts: what the CLI, the API, the page and the MCP tools give.

One place builds them, so the command line's `--format json`, `/score`, `/compare`, the Analyze
tab's JSON download and the MCP tools cannot disagree: a song's record is `ScoreResult.to_record()`
(the numbers) plus `report`, the verdicts of `song_report(result).to_record()` (overall score,
readings, strongest and weakest dimension, advice, the weakest part, the caveat); a set of takes
adds `takes_report(...).to_record()` (the ranking, with takes about the same sharing a rank).
"""

from __future__ import annotations

from typing import Any, Sequence

from apex_demo.engine.ranking import OVERALL_KEY
from apex_demo.engine.report import not_judged, song_report, takes_report
from apex_demo.engine.result import ScoreResult

REPORT_KEY = "report"


def song_record(result: ScoreResult, with_embedding: bool = False, vocals: bool | None = None) -> dict[str, Any]:
    """One song's record: its numbers and, under `report`, what they say (`vocals`: whether the song
    has vocals, when someone said so; it decides which dimensions and tips apply)."""
    return result.to_record(with_embedding) | {REPORT_KEY: song_report(result, vocals).to_record()}


def ranking_record(results: Sequence[ScoreResult], by: str = OVERALL_KEY) -> dict[str, Any]:
    """Several takes ranked by `by` (a score key or "overall"), labelled by their `file` names;
    raises ApexError when the model does not predict `by`. Takes too short or silent to judge are
    listed apart, unranked, with the reason."""
    unjudged = {r.file: reason for r in results if (reason := not_judged(r)) is not None}
    return takes_report([(r.file, r.scores) for r in results], by, unjudged).to_record()
