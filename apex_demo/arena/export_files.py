"""Vote export files for the web page: built once per store version, in the background, one at a time.

With 100,000 votes an export is tens of megabytes. Built per click (every vote loaded under the
store's lock, the whole file as one string, then Gradio's copy of it), eight visitors at once held
gigabytes and stalled every other request for minutes. Here a format's file is written once per
store version (votes and flags: `VoteStore.version`), streamed row by row from a snapshot on a
connection of its own (`VoteReader`: the store's lock is never held, memory stays flat) by a
background thread that builds one file at a time; every visitor who asks meanwhile waits for that
same build and gets the same file, which Gradio then serves in ranges from disk.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from concurrent.futures import Future, TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping

from apex_demo.arena.export import export_votes
from apex_demo.arena.records import Vote
from apex_demo.arena.store import VoteStore
from apex_demo.errors import ApexError, ErrorCode

LOG = logging.getLogger(__name__)

EXPORT_WAIT_S = 240.0      # a request waits this long for a build before it is told to come back
STOP_CHECK_ROWS = 1000     # a build checks whether the app is stopping this often
STILL_BUILDING = ("The vote export is still being prepared ({votes} votes); press the button again in a "
                  "minute. Other visitors' downloads share the same file, so it is only built once.")


class ExportStopped(Exception):
    """The app is stopping: a build in progress ends without a file."""


@dataclass(frozen=True)
class ExportFile:
    """One built export: the store version it holds and where it is."""

    version: tuple[int, int]
    path: Path

    def covers(self, version: tuple[int, int]) -> bool:
        """Whether it holds at least the votes and flags of `version` (both only ever grow)."""
        return all(have >= want for have, want in zip(self.version, version)) and self.path.is_file()


class ExportFiles:
    """The latest export file of each format, rebuilt in the background when the store has changed.

    `names` maps a format to the file name visitors download; files live in `folder` (made again if
    something removed it), the previous build of a format is kept until the next one replaces it.
    """

    def __init__(self, store: VoteStore, folder: Path, names: Mapping[str, str],
                 stop: threading.Event | None = None) -> None:
        self._store, self._folder, self._names = store, folder, dict(names)
        self._stop = stop or threading.Event()
        self._lock = threading.Lock()            # guards _latest and _pending
        self._one_at_a_time = threading.Lock()   # builds never run side by side
        self._latest: dict[str, ExportFile] = {}
        self._pending: dict[str, Future[ExportFile]] = {}

    def file(self, fmt: str, wait_s: float = EXPORT_WAIT_S) -> Path:
        """The current export in `fmt`, built now in the background if the store changed since the last
        one (waiting up to `wait_s`; ApexError(busy) after that, the build goes on)."""
        version = self._store.version()
        with self._lock:
            latest = self._latest.get(fmt)
            if latest is not None and latest.covers(version):
                return latest.path
            future = self._pending.get(fmt)
            if future is None:
                future = self._pending[fmt] = Future()
                threading.Thread(target=self._run, args=(fmt, future), name=f"apex-export-{fmt}", daemon=True).start()
        try:
            return future.result(timeout=wait_s).path
        except FutureTimeout:
            raise ApexError(STILL_BUILDING.format(votes=version[0]), ErrorCode.BUSY) from None

    def _run(self, fmt: str, future: "Future[ExportFile]") -> None:
        try:
            with self._one_at_a_time:
                built = self._build(fmt)
        except BaseException as exc:  # handed to every waiting visitor (a failing store: its own message)
            with self._lock:
                self._pending.pop(fmt, None)
            future.set_exception(exc)
            if not isinstance(exc, (ApexError, ExportStopped)):
                LOG.exception("building the %s vote export failed", fmt)
            return
        with self._lock:
            previous = self._latest.get(fmt)
            self._latest[fmt] = built
            self._pending.pop(fmt, None)
        if previous is not None:
            shutil.rmtree(previous.path.parent, ignore_errors=True)  # Gradio serves its own copy of a returned file
        future.set_result(built)

    def _build(self, fmt: str) -> ExportFile:
        """Stream one snapshot of the store into a new file (written under a temporary name, then renamed)."""
        self._folder.mkdir(parents=True, exist_ok=True)
        with self._store.reader() as votes:
            target = Path(tempfile.mkdtemp(prefix=f"{fmt}-{votes.version[0]}-", dir=self._folder)) / self._names[fmt]
            partial = target.with_name(target.name + ".partial")
            try:
                with partial.open("w", encoding="utf-8", newline="") as handle:
                    export_votes(self._until_stopped(votes), fmt, handle)
                os.replace(partial, target)
            except BaseException:
                shutil.rmtree(target.parent, ignore_errors=True)
                raise
            return ExportFile(votes.version, target)

    def _until_stopped(self, votes: Iterable[Vote]) -> Iterator[Vote]:
        for i, vote in enumerate(votes):
            if i % STOP_CHECK_ROWS == 0 and self._stop.is_set():
                raise ExportStopped("the app is stopping")
            yield vote
