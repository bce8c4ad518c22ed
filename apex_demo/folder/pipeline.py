"""Folder scoring that keeps the encoder busy: decode ahead, batch segments across songs.

`score_folder` turns a list of files into their JSON records, in input order:

    files -> prefetch (worker processes: check, hash, cache lookup, decode, 30 s segments)
          -> encode_in_batches (segments of consecutive songs share one encoder forward)
          -> records (cache write, head, error records), one per file, in input order.

Why: on a GPU one forward of MERT-v1-95M over a 30 s segment takes milliseconds while
decoding an MP3 and resampling it takes a large part of a second; run one after the other,
the GPU waits for the CPU most of the time. With decoding in worker processes and several
segments per forward, the encoder rarely waits. On a CPU the encoder itself takes seconds
per segment and its kernels already use every core (apex_demo/fastpath.py runs a batch one
segment at a time), so batching there only groups the work; the default batch is 1 on CPU
(measured in docs/benchmark.md, "Folder scoring").

Every segment is exactly 30 s (the last one zero-padded, as the reference does), so a batch
needs no attention mask and each segment's numbers are those of a forward on its own (up to
float rounding of the batched kernels; tests/test_pipeline.py checks against the reference).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from apex_demo.folder.prefetch import DecodeJob, Prepared, WorkerPool, prefetch
from apex_demo.folder.results_file import SKIPPED
from apex_demo.engine import error_record
from apex_demo.engine import Scorer

LOGGER = logging.getLogger(__name__)

# Segments per encoder forward when not set (APEX_BATCH_SIZE / --batch-size), by device type.
DEFAULT_BATCH_SIZE = {"cpu": 1, "cuda": 8}
FALLBACK_BATCH_SIZE = 1

Encode = Callable[[torch.Tensor], torch.Tensor]  # [B, samples] -> [B, 4, hidden]


def batch_size_for(device: torch.device, asked: int | None) -> int:
    """The batch size asked for, else the device's default."""
    return asked if asked is not None else DEFAULT_BATCH_SIZE.get(device.type, FALLBACK_BATCH_SIZE)


def score_folder(scorer: Scorer, files: Sequence[str], batch_size: int, pool: WorkerPool | None = None,
                 done: frozenset[str] = frozenset()) -> Iterator[dict[str, Any]]:
    """One JSON record per file (scored or failed; a skip marker for a song in `done`, the sha256 of
    songs the results file already holds), in input order; see the module docstring.
    Files are decoded ahead by `pool` (prefetch.decoding_pool), or one by one in this process."""
    job = DecodeJob(scorer.max_seconds, scorer.cache, scorer.key_of, done)
    yield from records_of(scorer, prefetch(files, job, pool), batch_size)


def records_of(scorer: Scorer, items: Iterable[Prepared], batch_size: int) -> Iterator[dict[str, Any]]:
    """The record of every prepared file, in their order, segments encoded batch_size at a time across
    songs: the encoder side of folder scoring, here and in each Ray actor (folder.ray_job)."""
    for song in encode_in_batches(items, scorer.encoder.layer_means, batch_size):
        yield _record(scorer, song)


def _record(scorer: Scorer, song: "Song") -> dict[str, Any]:
    """The song's record, with its content hash; a failure here (a bug, a full disk) is this file's error
    row only."""
    prepared = song.prepared
    if prepared.skipped:
        return {"file": prepared.file, "sha256": prepared.sha256, SKIPPED: True}
    if song.error is not None:
        return {**song.error, "sha256": prepared.sha256}
    try:
        means = prepared.cached if prepared.cached is not None else song.layer_means()
        if prepared.cached is None:
            scorer.remember(prepared.key, means, prepared.meta or {})
        result = scorer.build_result(prepared.file, prepared.sha256, means, prepared.meta or {},
                                     cached=prepared.cached is not None)
        return {**result.to_record(), "sha256": prepared.sha256}
    except Exception as exc:  # noqa: BLE001 - reported, logged, never silent (as batch.score_records)
        LOGGER.exception("unexpected error while scoring %s", prepared.file)
        return {**error_record(prepared.file, exc), "sha256": prepared.sha256}


class Song:
    """One prepared file on its way through the encoder: which of its segments are done."""

    def __init__(self, prepared: Prepared) -> None:
        self.prepared = prepared
        self.error: dict[str, Any] | None = prepared.error
        count = len(prepared.segments) if prepared.segments is not None else 0
        self._means: list[np.ndarray | None] = [None] * count
        self._left = count

    @property
    def to_encode(self) -> int:
        """Segments this song sends to the encoder (0 for a cache hit or an error)."""
        return len(self._means)

    @property
    def done(self) -> bool:
        return self.error is not None or self._left == 0

    def segment(self, index: int) -> np.ndarray:
        assert self.prepared.segments is not None
        return self.prepared.segments[index]

    def set_means(self, index: int, means: np.ndarray) -> None:
        self._means[index] = means
        self._left -= 1
        if self._left == 0:
            self.prepared.segments = None  # the decoded audio is no longer needed: free it now

    def fail(self, exc: Exception) -> None:
        LOGGER.error("encoding %s failed: %s: %s", self.prepared.file, type(exc).__name__, exc)
        self.error = error_record(self.prepared.file, exc)
        self.prepared.segments = None

    def layer_means(self) -> np.ndarray:
        """[segments, 4, hidden], once done."""
        return np.stack(self._means)  # type: ignore[arg-type]


def encode_in_batches(items: Iterable[Prepared], encode: Encode, batch_size: int) -> Iterator[Song]:
    """Every item as a finished Song, in input order; segments go to `encode` batch_size at a time.

    A batch may hold the end of one song and the start of the next. Songs without segments
    to encode (cache hits, errors) pass through in their place in the order.
    """
    waiting: deque[Song] = deque()           # not yet handed out, in input order
    queue: deque[tuple[Song, int]] = deque()  # (song, segment index) not yet encoded
    for item in items:
        song = Song(item)
        waiting.append(song)
        queue.extend((song, index) for index in range(song.to_encode))
        while len(queue) >= batch_size:
            batch_size = _encode_next(queue, batch_size, encode)
            yield from _finished(waiting)
        yield from _finished(waiting)
    while queue:
        batch_size = _encode_next(queue, batch_size, encode)
        yield from _finished(waiting)


def _encode_next(queue: deque[tuple[Song, int]], batch_size: int, encode: Encode) -> int:
    """Encode the next batch from the queue; the batch size to go on with (halved after a failed batch)."""
    batch = [queue.popleft() for _ in range(min(batch_size, len(queue)))]
    if encode_batch(batch, encode) or len(batch) == 1:
        return batch_size
    smaller = max(1, batch_size // 2)
    LOGGER.warning("continuing with %d segments per forward instead of %d", smaller, batch_size)
    return smaller


def _finished(waiting: deque[Song]) -> Iterator[Song]:
    """Hand out the songs at the front of the order that are finished."""
    while waiting and waiting[0].done:
        yield waiting.popleft()


def encode_batch(batch: list[tuple[Song, int]], encode: Encode) -> bool:
    """One forward over the batch's segments, results back to their songs; False when that forward failed.

    If the forward fails (e.g. out of GPU memory at this batch size), each segment is retried
    alone, so only a song whose own segment fails becomes an error row.
    """
    batch = [(song, index) for song, index in batch if song.error is None]
    if not batch:
        return True
    try:
        means = encode(torch.from_numpy(np.stack([song.segment(index) for song, index in batch])))
    except Exception as exc:  # noqa: BLE001 - narrowed down below, then reported per file
        if len(batch) == 1:
            batch[0][0].fail(exc)
            return False
        LOGGER.warning("a forward over %d segments failed (%s: %s); retrying them one at a time", len(batch),
                       type(exc).__name__, exc)
        for one in batch:
            encode_batch([one], encode)
        return False
    for (song, index), row in zip(batch, means):
        song.set_means(index, row.numpy())
    return True
