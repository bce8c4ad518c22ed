"""The app's one `@spaces.GPU` function: every scoring entry point's model work runs inside it.

On ZeroGPU hardware (a Hugging Face Space with `SPACES_ZERO_GPU` set) the `spaces` package hands a
GPU to a decorated function only while it runs, in a worker process forked from the app, and
crosses the arguments and every yielded value to and from that worker by pickling. So:

- one generator function, `GpuSlot._encode`, does the scoring of one file (decode, MERT, head)
  for Analyze, Compare, `/score`, `/compare`, the MCP tools, the arena warm-up and
  bring-your-own scoring; they all reach it through `GpuScorer`, which has the Scorer's
  `score_file` / `iter_score` and so slots in wherever a Scorer was used;
- its argument is a small picklable `ScoreJob` (paths, flags), never the scorer or a callback:
  the worker finds the models in the memory it inherited from the app (loaded once, before
  launch, as ZeroGPU requires: `AppContext.start`);
- the visitor-left check (`proceed`) runs in the app between two yielded parts; stopping the
  generator there makes the worker stop after the part in work (`spaces` sets its stop event
  when the consumer closes the generator);
- the GPU time asked for (`gpu_seconds`) is computed from the audio's header, so a 10-minute song
  does not hit the 60 s default and a 20 s clip does not wait in line for a long slot.

Off ZeroGPU `spaces.GPU` returns the function unchanged (spaces/zero/decorator.py: `_GPU` returns
`task` when `Config.zero_gpu` is false), so the same code scores identically on a CPU Space, a
GPU Space and a laptop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generator, Iterator

import spaces

from apex_demo.engine import ScoreResult, audio, check_proceed, last_result, segments
from apex_demo.errors import ApexError

# What one file costs on a ZeroGPU slice: the worker's start (forking, moving ~380 MB of weights to
# the GPU) and decoding on its CPU, then each 30 s part. MERT-v1-95M encodes a 30 s part in well under
# a second on the H200 slices ZeroGPU hands out; the margin covers a cold worker and a slow decode.
GPU_BASE_S = 20
GPU_PER_SEGMENT_S = 3
GPU_MIN_S = GPU_BASE_S + GPU_PER_SEGMENT_S


@dataclass(frozen=True)
class ScoreJob:
    """One file to score, as it crosses to the GPU worker (pickled: plain values only)."""

    path: str
    name: str | None  # the name results carry (None: the path, as Scorer.iter_score does)
    max_seconds: float
    read_cache: bool = True


def gpu_seconds(job: ScoreJob) -> int:
    """Seconds of GPU to ask ZeroGPU for: a base plus a part's worth per 30 s part, from the file's header.

    Called by `spaces` with the decorated function's own arguments, before a GPU is scheduled. A
    header that does not give the length counts as the length limit; a file that cannot be scored
    asks for the minimum (the scoring inside then raises the same error, in the visitor's words).
    """
    try:
        segments = audio.probe(Path(job.path), job.max_seconds).segments(job.max_seconds)
    except ApexError:
        segments = 1
    return _seconds_for_parts(segments)


def seconds_for_audio(seconds: float) -> int:
    """`gpu_seconds` for a song of this length (what the docs and tests state)."""
    return _seconds_for_parts(math.ceil(seconds / segments.SEGMENT_SECONDS))


def _seconds_for_parts(parts: int) -> int:
    return GPU_BASE_S + GPU_PER_SEGMENT_S * max(1, parts)


class GpuSlot:
    """The app's one `@spaces.GPU` function, bound to the scorer its models live in.

    `scorer_of()` returns the loaded engine Scorer (in the GPU worker: the copy it inherited);
    `max_seconds` is the length limit (APEX_MAX_SECONDS), for the GPU time a file without a length
    in its header asks for.
    """

    def __init__(self, scorer_of: Callable[[], Any], max_seconds: float) -> None:
        self._scorer_of = scorer_of
        self.max_seconds = max_seconds
        self.run: Callable[[ScoreJob], Generator[ScoreResult, None, None]] = \
            spaces.GPU(duration=gpu_seconds)(self._encode)

    def _encode(self, job: ScoreJob) -> Generator[ScoreResult, None, None]:
        """Partial results part by part, the complete one last (what `Scorer.iter_score` yields)."""
        yield from self._scorer_of().iter_score(job.path, job.name, partial=True, read_cache=job.read_cache)


class GpuScorer:
    """A Scorer whose model work runs in the app's GpuSlot; everything else passes through.

    The same `score_file` / `iter_score` as `apex_demo.engine.Scorer`, so the tabs, the API, the
    arena and the private-cache view use it unchanged.
    """

    def __init__(self, scorer: Any, slot: GpuSlot) -> None:
        self._scorer, self._slot = scorer, slot

    def iter_score(self, path: str | Path, display_name: str | None = None, partial: bool = True,
                   read_cache: bool = True, proceed: Callable[[], bool] | None = None) -> Iterator[ScoreResult]:
        """Partial results (when `partial`) and the complete one last; ScoringStopped once `proceed` says no
        (asked before the GPU is requested and after every part)."""
        name = display_name if display_name is not None else str(path)
        check_proceed(proceed, name, 0)
        job = ScoreJob(str(path), display_name, self._slot.max_seconds, read_cache)
        results = self._slot.run(job)
        try:
            for result in results:
                if result.complete:
                    yield result
                    return
                if partial:
                    yield result
                check_proceed(proceed, name, len(result.segments))
        finally:
            results.close()  # on ZeroGPU this tells the worker to stop after the part in work

    def score_file(self, path: str | Path, display_name: str | None = None, read_cache: bool = True,
                   proceed: Callable[[], bool] | None = None) -> ScoreResult:
        """The complete result (raises AudioError/ModelError; ScoringStopped when `proceed` says no)."""
        return last_result(self.iter_score(path, display_name, partial=False, read_cache=read_cache, proceed=proceed))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._scorer, name)


def on_zero_gpu() -> bool:
    """True on ZeroGPU hardware, where the models must load in the main thread before launch."""
    return bool(spaces.config.Config.zero_gpu)
