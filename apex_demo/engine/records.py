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
from apex_demo.engine.report import song_report, takes_report
from apex_demo.engine.result import ScoreResult

REPORT_KEY = "report"


def song_record(result: ScoreResult, with_embedding: bool = False) -> dict[str, Any]:
    """One song's record: its numbers and, under `report`, what they say."""
    return result.to_record(with_embedding) | {REPORT_KEY: song_report(result).to_record()}


def ranking_record(results: Sequence[ScoreResult], by: str = OVERALL_KEY) -> dict[str, Any]:
    """Several takes ranked by `by` (a score key or "overall"), labelled by their `file` names;
    raises ApexError when the model does not predict `by`."""
    return takes_report([(r.file, r.scores) for r in results], by).to_record()
