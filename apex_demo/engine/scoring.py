"""Audio file -> ScoreResult: the APEX reference pipeline, with a cache and partial results.

Flow: file -> audio (decode, downmix, 24 kHz, 30 s segments) -> encoder (four
layer means per segment) -> head.aggregate (segment embeddings) -> mean over
segments (song embedding) -> head (song scores; and per-segment scores).
A Scorer is built once per process by the factory in apex_demo.engine.models.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch

from apex_demo.engine import audio
from apex_demo.engine.cache import PIPELINE_VERSION, CacheEntry, EmbeddingCache, cache_key, look_up
from apex_demo.engine.encoder import MertEncoder
from apex_demo.engine.head import LoadedHead
from apex_demo.engine.result import ModelInfo, ScoreResult, SegmentScore
from apex_demo.engine.segments import segment_bounds
from apex_demo.errors import ScoringStopped

LOG = logging.getLogger(__name__)
STOPPED_LOG = "stopped scoring %s after %d segment(s): nobody is waiting for it any more"

Proceed = Callable[[], bool]


def check_proceed(proceed: Proceed | None, name: str, done: int) -> None:
    """Raise ScoringStopped (and log it) when `proceed` says nobody waits for `name` any more."""
    if proceed is not None and not proceed():
        LOG.info(STOPPED_LOG, name, done)
        raise ScoringStopped(name)


def last_result(results: Iterable[ScoreResult]) -> ScoreResult:
    """The complete result that ends a run of `iter_score(..., partial=False)`."""
    result = None
    for result in results:  # noqa: B007 (the last one is kept)
        pass
    assert result is not None and result.complete
    return result


class Scorer:
    """Scores files with one encoder and one head; safe to share between threads."""

    def __init__(self, encoder: MertEncoder, head: LoadedHead, cache: EmbeddingCache | None,
                 max_seconds: float) -> None:
        self.encoder = encoder
        self.head = head
        self.cache = cache
        self.max_seconds = max_seconds
        self.mode = encoder.mode
        self.model_info = ModelInfo(mert=encoder.source, head=head.source, mert_revision=encoder.revision,
                                    head_revision=head.revision, mode=self.mode, mode_note=encoder.choice.why)

    def score_file(self, path: str | Path, display_name: str | None = None, read_cache: bool = True,
                   proceed: Proceed | None = None) -> ScoreResult:
        """Score one file completely (raises AudioError/ModelError; ScoringStopped when `proceed` says no)."""
        return last_result(self.iter_score(path, display_name, partial=False, read_cache=read_cache, proceed=proceed))

    def iter_score(self, path: str | Path, display_name: str | None = None, partial: bool = True,
                   read_cache: bool = True, proceed: Proceed | None = None) -> Iterator[ScoreResult]:
        """Yield a partial result after each encoded segment (when `partial`), the complete one last.

        A cache hit yields the complete result at once. Callers that only want the
        final result pass partial=False, which skips re-applying the head per segment.
        With read_cache=False the file is encoded even when cached (the app does this for a
        visitor who did not score it before, so nobody learns what others analysed).
        `proceed()` (when given) is asked before decoding and before every segment; when it says no,
        ScoringStopped is raised, so at most the segment in work is encoded for nobody
        (the app stops a job whose visitor left, and background work that must give way).
        """
        path = Path(path)
        name = display_name if display_name is not None else str(path)
        check_proceed(proceed, name, 0)
        audio.check_file(path)
        sha, key, entry = look_up(path, self.cache if read_cache else None, self.key_of)
        if entry is not None:
            yield self.build_result(name, sha, entry.layer_means, entry.meta, cached=True)
            return
        wave, meta = audio.decode_song(path, self.max_seconds)
        total = audio.segment_count(wave.numel())
        means: list[np.ndarray] = []
        for index in range(total):
            check_proceed(proceed, name, index)
            means.append(self.encode_segment(audio.segment(wave, index)))
            if partial and index + 1 < total:
                yield self.build_result(name, sha, np.stack(means), meta, total, complete=False)
        stacked = np.stack(means)
        self.remember(key, stacked, meta)
        yield self.build_result(name, sha, stacked, meta)

    @property
    def key_of(self) -> Callable[[str], str]:
        """content sha256 -> this encoder's cache key (a picklable function, for decoding workers too)."""
        return functools.partial(cache_key, encoder=self.encoder.source, revision=self.encoder.revision,
                                 pipeline_version=PIPELINE_VERSION, numerics=self.encoder.numerics)

    def remember(self, key: str, layer_means: np.ndarray, meta: dict) -> None:
        """Keep a file's layer means in the embedding cache (when there is one)."""
        if self.cache is not None:
            self.cache.put(key, CacheEntry(layer_means, meta))

    def encode_segment(self, segment: torch.Tensor) -> np.ndarray:
        """One 30 s segment -> [4, hidden] layer means."""
        return self.encoder.layer_means(segment.unsqueeze(0))[0].numpy()

    def build_result(self, name: str, sha: str, layer_means: np.ndarray, meta: dict, total: int | None = None,
                     cached: bool = False, complete: bool = True) -> ScoreResult:
        """Aggregate, average and apply the head (the cheap part, redone for partial results).

        `total` is the number of segments the song has (default: all of them are in layer_means).
        """
        total = len(layer_means) if total is None else total
        seg_emb = self.head.aggregate(torch.from_numpy(layer_means))
        song_emb = seg_emb.mean(dim=0, keepdim=True)
        song_scores = self.head.predict(song_emb)[0]
        seg_scores = self.head.predict(seg_emb)
        duration = float(meta["duration_s"])
        segments = tuple(SegmentScore(i, *segment_bounds(i, duration), s) for i, s in enumerate(seg_scores))
        return ScoreResult(
            file=name, duration_s=duration, sample_rate=int(meta["sample_rate"]), channels=int(meta["channels"]),
            scores=song_scores, segments=segments, embedding=song_emb[0].numpy().copy(), model=self.model_info,
            warnings=audio.current_warnings(meta.get("warnings", []), duration), total_segments=total,
            cached=cached, complete=complete, sha256=sha)

