"""Batch scoring of folders into a results file that grows row by row and resumes.

`python -m apex_demo score DIR [DIR|FILE ...] --recursive --output results.csv|results.parquet|results.jsonl`

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

The records themselves come from `score_records` (one file at a time) or from the
folder pipeline (apex_demo/pipeline.py: decoding ahead in worker processes, segments
of several songs per encoder forward); either way one record per file, in input order.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from tqdm import tqdm

from apex_demo.audio import SNDFILE_EXTENSIONS
from apex_demo.csvsafe import escape_row, unescape_cell
from apex_demo.errors import ApexError, ErrorCode
from apex_demo.result import error_record, flat_row

LOGGER = logging.getLogger(__name__)

# Containers that need ffmpeg, scored too when found in a folder.
FFMPEG_EXTENSIONS = frozenset({".m4a", ".aac", ".mp4", ".webm", ".wma", ".mka"})
AUDIO_EXTENSIONS = SNDFILE_EXTENSIONS | FFMPEG_EXTENSIONS
BATCH_SUFFIXES = (".csv", ".parquet", ".jsonl")
SIDECAR_SUFFIX = ".partial.jsonl"
PROGRESS_DESC = "scoring"


def find_audio(inputs: Iterable[str], recursive: bool) -> list[str]:
    """Expand folders into their audio files (sorted; sub-folders only with recursive); keep files as given."""
    found: list[str] = []
    for item in inputs:
        path = Path(item)
        if not path.is_dir():
            found.append(item)
            continue
        walker = path.rglob("*") if recursive else path.glob("*")
        found.extend(str(p) for p in sorted(walker)
                     if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith("."))
    return found


def is_batch_output(output: Path | None, inputs: Iterable[str], recursive: bool) -> bool:
    """Batch mode (rows written as they go, resume): --output .parquet or .jsonl, or .csv for folder inputs.

    A .csv output for a plain list of files keeps the one-shot `--format csv` behaviour.
    """
    if output is None or output.suffix.lower() not in BATCH_SUFFIXES:
        return False
    return output.suffix.lower() != ".csv" or recursive or any(Path(item).is_dir() for item in inputs)


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


def score_records(files: Sequence[str], score: Callable[[str], dict[str, Any]],
                  show_progress: bool = True) -> Iterator[dict[str, Any]]:
    """One record per file, in order; a file that fails becomes an error record and the rest go on.

    Unexpected exceptions (a bug, a full disk, out of memory) are logged with their traceback and
    reported as `internal_error` for that file only: one bad file never loses the others' results.
    """
    bar = progress_bar(files, len(files), show_progress)
    for path in bar:
        bar.set_postfix_str(Path(path).name[-40:], refresh=False)
        try:
            yield score(path)
        except ApexError as exc:
            yield error_record(path, exc)
        except Exception as exc:  # noqa: BLE001 - see docstring: reported, logged, never silent
            LOGGER.exception("unexpected error while scoring %s", path)
            yield error_record(path, exc)


def with_progress(records: Iterable[dict[str, Any]], total: int, show_progress: bool = True
                  ) -> Iterator[dict[str, Any]]:
    """The records unchanged, with a progress bar (files done, ETA) that names the last file finished."""
    with progress_bar(None, total, show_progress) as bar:
        for record in records:
            bar.set_postfix_str(Path(str(record["file"])).name[-40:], refresh=False)
            bar.update()
            yield record


def progress_bar(items: Iterable[str] | None, total: int, show_progress: bool) -> tqdm:
    """tqdm on stderr, off when not wanted (and, by tqdm's rule, when stderr is not a terminal)."""
    return tqdm(items, total=total, desc=PROGRESS_DESC, unit="file", file=sys.stderr,
                disable=not show_progress or None, dynamic_ncols=True)


def _finish_parquet(output: Path, sidecar: Path) -> None:
    """Old parquet rows + sidecar rows -> parquet (written to a temp name, then renamed); drop the sidecar."""
    import pandas as pd

    rows = read_rows(output) + read_rows(sidecar)
    frame = pd.DataFrame(rows, columns=row_columns())
    tmp = output.with_name(output.name + ".tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, output)
    sidecar.unlink(missing_ok=True)
