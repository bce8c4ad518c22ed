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
- Files already in the output (scored or failed) are skipped; files already in
  the embedding cache cost no MERT time, so an interruption between the cache
  write and the row write is also cheap to redo.

The records themselves come from `progress.score_records` (one file at a time) or from the
folder pipeline (apex_demo.folder.pipeline: decoding ahead in worker processes, segments
of several songs per encoder forward); either way one record per file, in input order.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from apex_demo.csvsafe import escape_row, unescape_cell
from apex_demo.engine import flat_row
from apex_demo.errors import ApexError, ErrorCode

SIDECAR_SUFFIX = ".partial.jsonl"


def _file_key(name: str) -> str:
    """Rows match files by absolute path, so `score songs/` and `score ./songs` resume each other."""
    return os.path.abspath(name)


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


RecordStream = Callable[[list[str]], Iterable[dict[str, Any]]]


def write_records(files: list[str], output: Path, records: RecordStream) -> BatchSummary:
    """Write one durable row per file into `output`, skipping files already there.

    `records(todo)` yields one JSON record (see ScoreResult.to_record, result.error_record) per
    file of `todo`, in that order: per file (score_records) or through the folder pipeline.
    """
    fmt = output.suffix.lower().lstrip(".")
    sidecar = output.with_name(output.name + SIDECAR_SUFFIX) if fmt == "parquet" else None
    row_file = sidecar if sidecar is not None else output
    done = {_file_key(str(r["file"])) for r in read_rows(output) + (read_rows(sidecar) if sidecar else [])}
    todo = [f for f in dict.fromkeys(files) if _file_key(f) not in done]
    summary = BatchSummary(skipped=len(files) - len(todo))
    stream = iter(records(todo))
    try:
        with RowWriter(row_file, "csv" if fmt == "csv" else "jsonl", row_columns()) as writer:
            for record in stream:
                writer.write(flat_row(record))
                summary.failed += "error" in record
                summary.scored += "error" not in record
    finally:
        getattr(stream, "close", lambda: None)()  # a generator: stop its decoding workers now (Ctrl-C)
    if sidecar is not None:
        _finish_parquet(output, sidecar)
    return summary


def row_columns() -> list[str]:
    return list(flat_row({"file": ""}))


def _finish_parquet(output: Path, sidecar: Path) -> None:
    """Old parquet rows + sidecar rows -> parquet (written to a temp name, then renamed); drop the sidecar."""
    import pandas as pd

    rows = read_rows(output) + read_rows(sidecar)
    frame = pd.DataFrame(rows, columns=row_columns())
    tmp = output.with_name(output.name + ".tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, output)
    sidecar.unlink(missing_ok=True)
