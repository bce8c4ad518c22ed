"""One record per file, with a progress bar: scored one after another here, or passed through from the
folder pipeline (apex_demo.folder.pipeline)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from tqdm import tqdm

from apex_demo.engine import error_record
from apex_demo.errors import ApexError

LOGGER = logging.getLogger(__name__)

PROGRESS_DESC = "scoring"


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
