"""The results file of a folder run: it grows row by row and resumes.

Why it is shaped like this: scoring a folder of takes on a small CPU takes
minutes to hours, so an interruption (Ctrl-C, a closed laptop, a killed Space)
must lose nothing already scored, and running the same command again must pick
up where it stopped without duplicate rows:

- CSV and JSONL rows are appended and flushed (fsync) one file at a time; a row
  cut off mid-write by a hard kill is dropped on the next run and redone.
- Parquet cannot be appended, so rows go to a JSONL sidecar
  (`results.parquet.partial.jsonl`) as they are made, and the parquet file is
  rewritten (atomically) from old rows + sidecar at the end; then the sidecar
  is removed. An interrupted run leaves the sidecar, which the next run reads.
- Every row carries the song's content hash (`sha256`) and the fingerprint of the model that made
  it (`model_id`, folder/identity.py). A song already in the output with the same bytes and the
  same model (scored or failed) is skipped, not scored again: its file is hashed, never decoded.
  So a moved folder costs nothing, while a re-exported take or a new model version is scored
  again. A row without a hash (from an older version, or a file that could not be read at all)
  marks its path as done, as before. Files already in the embedding cache cost no MERT time, so
  an interruption between the cache write and the row write is also cheap to redo.
- A file gets at most one row per run, even if an engine hands its record over twice (a Ray task
  retried after a worker died may repeat work the driver has already seen).

The records come from `progress.score_records` (one file at a time), from the folder pipeline
(apex_demo.folder.pipeline: decoding ahead in worker processes, segments of several songs per
encoder forward) or from the Ray job (apex_demo.folder.ray_job); one record per file, plus a
`skipped` marker for each file found done by its hash. This module alone decides what is done.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from apex_demo.csvsafe import escape_row, unescape_cell
from apex_demo.engine import flat_row
from apex_demo.errors import ApexError, ErrorCode
from apex_demo.folder.remote import is_remote

SIDECAR_SUFFIX = ".partial.jsonl"
SKIPPED = "skipped"  # the key of the marker an engine yields for a file whose hash says it is done


def _file_key(name: str) -> str:
    """Rows match files by absolute path, so `score songs/` and `score ./songs` resume each other (a URI
    as written)."""
    return name if is_remote(name) else os.path.abspath(name)


class RowWriter:
    """Appends one row at a time to CSV or JSONL, durable after each call."""

    def __init__(self, path: Path, fmt: str, fieldnames: list[str]) -> None:
        self.path, self.fmt, self.fieldnames = path, fmt, fieldnames
        path.parent.mkdir(parents=True, exist_ok=True)
        _drop_partial_last_line(path)
        new = not path.exists() or path.stat().st_size == 0
        if fmt == "csv" and not new:  # appending: keep the existing file's columns, whatever wrote it
            with path.open(newline="", encoding="utf-8") as handle:
                self.fieldnames = next(csv.reader(handle), fieldnames) or fieldnames
        self._handle = path.open("a", newline="", encoding="utf-8")
        self._csv = csv.DictWriter(self._handle, fieldnames=self.fieldnames, lineterminator="\n",
                                   extrasaction="ignore") if fmt == "csv" else None
        if self._csv is not None and new:
            self._csv.writeheader()
            self._sync()

    def write(self, row: dict[str, Any]) -> None:
        if self._csv is not None:
            self._csv.writerow(escape_row(row))
        else:
            self._handle.write(json.dumps(row) + "\n")
        self._sync()

    def _sync(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> "RowWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _drop_partial_last_line(path: Path) -> None:
    """A hard kill can leave half a row: cut the file back to its last complete line."""
    if not path.exists() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return
    path.write_bytes(data[: data.rfind(b"\n") + 1])


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows already in a CSV, JSONL or parquet results file (none if it does not exist)."""
    if not path.exists() or path.stat().st_size == 0:
        return []
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pandas as pd

            return pd.read_parquet(path).to_dict("records")
        _drop_partial_last_line(path)
        with path.open(newline="", encoding="utf-8") as handle:
            if suffix == ".jsonl":  # also the parquet sidecar (*.parquet.partial.jsonl)
                return [json.loads(line) for line in handle if line.strip()]
            return [{k: unescape_cell(v) for k, v in row.items()} for row in csv.DictReader(handle)]
    except (OSError, ValueError) as exc:
        raise ApexError(f"Cannot read the existing results file {path} to resume ({exc}). Move it away or "
                        "choose another --output.", ErrorCode.BAD_REQUEST) from None


@dataclass
class BatchSummary:
    """What one batch run did."""

    scored: int = 0
    failed: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class Done:
    """What the output already holds for one model: read once, before any scoring."""

    paths: frozenset[str]     # _file_key of rows without a content hash
    contents: frozenset[str]  # sha256 of the songs this model already scored or failed

    @classmethod
    def of(cls, rows: Iterable[dict[str, Any]], model_id: str) -> "Done":
        paths, contents = set(), set()
        for row in rows:
            sha = _text(row.get("sha256"))
            if not sha:
                paths.add(_file_key(str(row["file"])))
            elif _text(row.get("model_id")) == model_id:
                contents.add(sha)
        return cls(frozenset(paths), frozenset(contents))

    def todo(self, files: Sequence[str]) -> list[str]:
        """The files to hand to an engine (it skips those whose content is done, after hashing them)."""
        return [f for f in dict.fromkeys(files) if _file_key(f) not in self.paths]


def _text(value: Any) -> str:
    """A cell as text: '' for a missing value (a NaN from pandas, a None, an empty CSV cell)."""
    return value if isinstance(value, str) else ""


RecordStream = Callable[[list[str], frozenset[str]], Iterable[dict[str, Any]]]


def write_records(files: list[str], output: Path, records: RecordStream, model_id: str = "") -> BatchSummary:
    """Write one durable row per file into `output`, skipping files already there.

    `records(todo, done_contents)` yields one JSON record (see ScoreResult.to_record,
    result.error_record; with the file's "sha256" where it was read) per file of `todo`, in any
    order, or a `{"file", SKIPPED: True}` marker for a file whose sha256 is in `done_contents`.
    """
    fmt = output.suffix.lower().lstrip(".")
    sidecar = output.with_name(output.name + SIDECAR_SUFFIX) if fmt == "parquet" else None
    row_file = sidecar if sidecar is not None else output
    done = Done.of(read_rows(output) + (read_rows(sidecar) if sidecar else []), model_id)
    todo = done.todo(files)
    summary = BatchSummary(skipped=len(files) - len(todo))
    written: set[str] = set()
    stream = iter(records(todo, done.contents))
    try:
        with RowWriter(row_file, "csv" if fmt == "csv" else "jsonl", row_columns()) as writer:
            for record in stream:
                key = _file_key(str(record["file"]))
                if key in written:
                    continue
                written.add(key)
                if record.get(SKIPPED):
                    summary.skipped += 1
                    continue
                writer.write(row_of(record, model_id))
                summary.failed += "error" in record
                summary.scored += "error" not in record
    finally:
        getattr(stream, "close", lambda: None)()  # a generator: stop its decoding workers now (Ctrl-C)
    if sidecar is not None:
        _finish_parquet(output, sidecar)
    return summary


def row_of(record: dict[str, Any], model_id: str) -> dict[str, Any]:
    """A record's row: the flat row (engine.flat_row), the song's content hash and the model's fingerprint."""
    return {**flat_row(record), "sha256": record.get("sha256", ""), "model_id": model_id}


def row_columns() -> list[str]:
    return list(row_of({"file": ""}, ""))


def _finish_parquet(output: Path, sidecar: Path) -> None:
    """Old parquet rows + sidecar rows -> parquet (written to a temp name, then renamed); drop the sidecar."""
    import pandas as pd

    rows = read_rows(output) + read_rows(sidecar)
    frame = pd.DataFrame(rows, columns=row_columns())
    tmp = output.with_name(output.name + ".tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, output)
    sidecar.unlink(missing_ok=True)
