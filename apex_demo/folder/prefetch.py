"""Everything before the encoder for one file, done ahead of time in worker processes.

One file's input side is: check it, hash it (the cache key), skip it when the results file
already holds that content for this model, look the key up in the embedding cache, and on a
miss decode, downmix, resample to 24 kHz and cut the 30 s segments (apex_demo.engine.audio).
A remote file (a URI) is copied to a private temporary file for the time of these steps.
`Scorer.iter_score` runs these steps in the calling thread; folder scoring (apex_demo.folder.pipeline)
runs them in worker processes for the next few files while the main process keeps the encoder busy.

Why processes, and why this shape:

- decoding is CPU work in libsndfile, ffmpeg and torchaudio; in a thread it would compete
  with the encoder's Python for the GIL, in a process it does not;
- "spawn" workers (not fork): the main process holds OpenMP/oneDNN thread pools and may hold
  CUDA, which a forked child must not touch; the workers import only this module's light
  dependencies (torch, torchaudio, soundfile; no transformers);
- a bounded window (one file per worker plus SPARE_PREFETCH) keeps memory bounded: a decoded
  10-minute song is ~58 MB of float32 segments;
- a worker never raises for a bad file: the failure comes back as the file's error record,
  in input order, like every other row;
- a worker that dies (a crash in a native decoder, the out-of-memory killer) breaks the whole
  pool: the pool is restarted, the file is retried alone in a fresh pool, and only a file that
  kills a worker on its own becomes an `internal_error` row; the other files are decoded again.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch

from apex_demo.engine import audio
from apex_demo.engine import EmbeddingCache, cached_entry, file_sha256
from apex_demo.folder.remote import is_remote, local_copy
from apex_demo.errors import ApexError, ErrorCode
from apex_demo.engine import error_record

LOGGER = logging.getLogger(__name__)

START_METHOD = "spawn"
SPARE_PREFETCH = 1        # files decoded ahead beyond one per worker
# Decoding processes when not set (APEX_DECODE_WORKERS / --decode-workers): one core stays with the encoder.
RESERVED_CORES = 1
MAX_AUTO_WORKERS = 8
WORKER_TORCH_THREADS = 1  # each worker resamples on one core; the encoder keeps the others
CRASH_MESSAGE = ("{file}: the decoding worker process died while reading this file (a crash in the "
                 "decoder, or the system ran out of memory). The other files were scored; convert this one "
                 "to WAV or FLAC and score it again.")


@dataclass(frozen=True)
class DecodeJob:
    """What a worker needs besides the file name (picklable: the cache pickles as its folder)."""

    max_seconds: float
    cache: EmbeddingCache | None
    key_of: Callable[[str], str] | None  # content sha256 -> cache key; None where no model is loaded (a Ray task)
    done: frozenset[str] = frozenset()   # sha256 of songs the results file already holds for this model


@dataclass
class Prepared:
    """One file ready for the encoder: its segments, or its cached layer means, or its error record, or
    a mark that the results file already holds it."""

    file: str
    sha256: str = ""
    key: str = ""
    meta: dict[str, Any] | None = None
    segments: np.ndarray | None = None  # [n, SEGMENT_SAMPLES] float32, still to encode
    cached: np.ndarray | None = None    # [n, 4, hidden] layer means from the cache
    error: dict[str, Any] | None = None  # the file's error record (batch.py writes it as its row)
    skipped: bool = False                # same content, same model: already in the results file


def prepare(file: str, job: DecodeJob) -> Prepared:
    """Check, hash, look up, and on a cache miss decode and segment one file (local, or a URI copied
    for the time of its decoding). Never raises."""
    try:
        if is_remote(file):
            with local_copy(file) as path:
                return _named(_safely(file, path, job), path, file)
        return _safely(file, Path(file), job)
    except ApexError as exc:  # the remote copy failed
        return Prepared(file, error=error_record(file, exc))


def _safely(file: str, path: Path, job: DecodeJob) -> Prepared:
    """prepare's steps; a failure after hashing keeps the hash (so a resumed run skips the same bytes)."""
    sha = ""
    try:
        audio.check_file(path)
        sha = file_sha256(path)
        return _prepare(file, path, sha, job)
    except ApexError as exc:
        return Prepared(file, sha, error=error_record(file, exc))
    except Exception as exc:  # noqa: BLE001 - a bug or a full memory: this file's row says so, the rest go on
        LOGGER.exception("unexpected error while decoding %s", file)
        return Prepared(file, sha, error=error_record(file, exc))


def _prepare(file: str, path: Path, sha: str, job: DecodeJob) -> Prepared:
    if sha in job.done:
        return Prepared(file, sha, skipped=True)
    key, entry = cached_entry(sha, job.cache, job.key_of)
    if entry is not None:
        return Prepared(file, sha, key, entry.meta, cached=entry.layer_means)
    wave, meta = audio.decode_song(path, job.max_seconds)
    segments = torch.stack([audio.segment(wave, i) for i in range(audio.segment_count(wave.numel()))])
    return Prepared(file, sha, key, meta, segments=segments.numpy())


def _named(prepared: Prepared, local: Path, uri: str) -> Prepared:
    """A remote file's error names its URI, not the temporary copy the engine read."""
    if prepared.error is not None:
        message = prepared.error["error"]["message"].replace(str(local), uri)
        prepared.error = {**prepared.error, "error": {**prepared.error["error"], "message": message}}
    return prepared


Work = Callable[[str, DecodeJob], Prepared]


def workers_for(asked: int | None, cores: int | None = None) -> int:
    """The decoding workers asked for, else every core but the encoder's, at least one, at most MAX_AUTO_WORKERS."""
    if asked is not None:
        return asked
    cores = cores if cores is not None else (os.cpu_count() or 1)
    return max(1, min(MAX_AUTO_WORKERS, cores - RESERVED_CORES))


@contextlib.contextmanager
def decoding_pool(workers: int, work: Work = prepare) -> Iterator["WorkerPool | None"]:
    """`workers` decoding processes, started at once so that they import torch while the caller loads
    its models (a spawned worker takes about 2 s to start); None for workers=0, or where processes
    cannot be started (then files are prepared in this process). Closed on leaving."""
    pool = _pool_or_none(workers, work)
    try:
        yield pool
    finally:
        if pool is not None:
            pool.close()


def prefetch(files: Iterable[str], job: DecodeJob, pool: "WorkerPool | None" = None) -> Iterator[Prepared]:
    """Each file prepared, in input order: the next files ahead of time by `pool`'s worker processes
    (with the pool's work), or, without a pool, each in this process when it is asked for (no
    overlap, no start-up cost)."""
    if pool is None:
        yield from (prepare(file, job) for file in files)
        return
    yield from _in_order(pool, job, iter(files), pool.workers + SPARE_PREFETCH)


def _pool_or_none(workers: int, work: Work) -> "WorkerPool | None":
    """The worker pool, booting, or None for workers=0 or where processes cannot be started."""
    if workers == 0:
        return None
    try:
        return WorkerPool(workers, work).boot()
    except (OSError, NotImplementedError) as exc:  # e.g. no POSIX semaphores in a locked-down sandbox
        LOGGER.warning("cannot start decoding worker processes (%s); decoding in the main process", exc)
        return None


def _in_order(pool: "WorkerPool", job: DecodeJob, files: Iterator[str], window: int) -> Iterator[Prepared]:
    """Keep `window` files in the pool; hand them out in input order."""
    pending: deque[tuple[str, Future[Prepared]]] = deque()
    while True:
        while len(pending) < window and (file := next(files, None)) is not None:
            pending.append((file, pool.submit(file, job)))
        if not pending:
            return
        file, future = pending.popleft()
        prepared, restarted = pool.result(file, future, job)
        if restarted:  # the old pool's unfinished futures died with it
            pending = deque((f, fut if _succeeded(fut) else pool.submit(f, job)) for f, fut in pending)
        yield prepared


def _succeeded(future: Future[Prepared]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None


def _started() -> None:
    """A worker's first task: nothing; submitting one per worker makes the pool start every process now."""


def _init_worker() -> None:
    """Ctrl-C is the main process's to handle (it keeps the finished rows); one torch thread per worker."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(WORKER_TORCH_THREADS)


class WorkerPool:
    """A spawn process pool for `work`, restarted when a worker dies."""

    def __init__(self, workers: int, work: Work) -> None:
        self.workers, self._work = workers, work
        self._executor = self._start()

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context(START_METHOD),
                                   initializer=_init_worker)

    def boot(self) -> "WorkerPool":
        """Start every worker process now, without waiting for them (a pool starts its processes only
        as work is submitted)."""
        for _ in range(self.workers):
            self._executor.submit(_started)
        return self

    def submit(self, file: str, job: DecodeJob) -> Future[Prepared]:
        return self._executor.submit(self._work, file, job)

    def result(self, file: str, future: Future[Prepared], job: DecodeJob) -> tuple[Prepared, bool]:
        """(the prepared file, whether the pool had to be restarted to get it)."""
        try:
            return future.result(), False
        except BrokenProcessPool:
            self._restart()
            return self._alone(file, job), True

    def _alone(self, file: str, job: DecodeJob) -> Prepared:
        """Retry one file by itself in a fresh pool: if that pool breaks too, this file is the culprit."""
        try:
            return self.submit(file, job).result()
        except BrokenProcessPool:
            LOGGER.error("a decoding worker died on %s; recorded as an error, the other files go on", file)
            self._restart()
            return Prepared(file, error=error_record(file, ApexError(CRASH_MESSAGE.format(file=file),
                                                                     ErrorCode.INTERNAL)))

    def _restart(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = self._start()

    def close(self) -> None:
        """Stop now: files not started are dropped (Ctrl-C, or the consumer stopped early)."""
        self._executor.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> "WorkerPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
