"""What scoring returns: ScoreResult and its JSON record (the CLI/API contract).

The record shape is defined here once; the CLI (`--format json`), the `/score`
and `/compare` API endpoints and the UI's JSON download all use `to_record`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from apex_demo.scores import Scores


@dataclass(frozen=True)
class ScoreWarning:
    """Something the user should know about a result that was still scored."""

    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True)
class SegmentScore:
    """The head applied to one 30 s segment embedding."""

    index: int
    start_s: float
    end_s: float
    scores: Scores

    def to_record(self) -> dict[str, Any]:
        return {"index": self.index, "start_s": round(self.start_s, 3), "end_s": round(self.end_s, 3),
                "scores": self.scores.as_dict()}


@dataclass(frozen=True)
class ModelInfo:
    """Which models (and revisions) produced a result, and how they were run."""

    mert: str
    head: str
    mert_revision: str | None = None
    head_revision: str | None = None
    mode: str = "exact"  # "exact" (reference numerics) or "fast" (approximate, labelled)
    mode_note: str = ""  # why this mode runs and, for fast, its error against exact (engine/modes.py)

    def to_record(self) -> dict[str, Any]:
        return {"mert": self.mert, "head": self.head, "mert_revision": self.mert_revision,
                "head_revision": self.head_revision, "mode": self.mode, "mode_note": self.mode_note}


@dataclass(frozen=True)
class ScoreResult:
    """One song's APEX result.

    `complete` is False for the partial results yielded while segments are still
    being encoded (song scores then cover the segments done so far).
    """

    file: str
    duration_s: float
    sample_rate: int
    channels: int
    scores: Scores
    segments: tuple[SegmentScore, ...]
    embedding: np.ndarray
    model: ModelInfo
    warnings: tuple[ScoreWarning, ...] = ()
    total_segments: int = 0
    cached: bool = False
    complete: bool = True
    sha256: str = field(default="", compare=False)

    def to_record(self, with_embedding: bool = False) -> dict[str, Any]:
        """The JSON object of one input, as printed by `score --format json`."""
        record: dict[str, Any] = {
            "file": self.file,
            "duration_s": round(self.duration_s, 3),
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "scores": self.scores.as_dict(),
            "segments": [s.to_record() for s in self.segments],
            "model": self.model.to_record(),
            "warnings": [w.to_dict() for w in self.warnings],
        }
        if with_embedding:
            record["embedding"] = [float(x) for x in self.embedding]
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "ScoreResult":
        """A complete result back from its record (a shared result reopened; no embedding unless kept)."""
        segments = tuple(SegmentScore(s["index"], s["start_s"], s["end_s"], Scores.from_mapping(s["scores"]))
                         for s in record["segments"])
        return cls(file=record["file"], duration_s=record["duration_s"], sample_rate=record["sample_rate"],
                   channels=record["channels"], scores=Scores.from_mapping(record["scores"]), segments=segments,
                   embedding=np.asarray(record.get("embedding", []), dtype=np.float32),
                   model=ModelInfo(**record["model"]), warnings=tuple(ScoreWarning(**w) for w in record["warnings"]),
                   total_segments=len(segments))


def error_record(file: str, error: Exception) -> dict[str, Any]:
    """The JSON object for an input that could not be scored."""
    from apex_demo.errors import ApexError, ErrorCode

    if isinstance(error, ApexError):
        return {"file": file, "error": error.to_dict()}
    message = (f"{type(error).__name__}: {error}. This is not a problem with the file's format; retry, and "
               "report it if it happens again.")
    return {"file": file, "error": {"code": ErrorCode.INTERNAL.value, "message": message}}


def flat_row(record: dict[str, Any]) -> dict[str, Any]:
    """One CSV/table row for a JSON record (scored or failed): scores as columns."""
    from apex_demo.scores import SCORE_KEYS

    row: dict[str, Any] = {"file": record["file"]}
    error = record.get("error")
    row["duration_s"] = record.get("duration_s")
    row["sample_rate"] = record.get("sample_rate")
    row["channels"] = record.get("channels")
    scores = record.get("scores", {})
    for key in SCORE_KEYS:
        row[key] = scores.get(key)
    row["segments"] = len(record.get("segments", [])) if not error else None
    row["warnings"] = ";".join(w["code"] for w in record.get("warnings", []))
    row["error_code"] = error["code"] if error else ""
    row["error_message"] = error["message"] if error else ""
    row["mode"] = record.get("model", {}).get("mode", "")  # marks approximate (--fast) rows
    return row
