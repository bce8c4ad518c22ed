"""Time to the first result in the app's path, as its own process (a worker of bench_scoring.py).

    python bench/first_result.py MERT_FOLDER HEAD_CHECKPOINT AUDIO

The app shows the first segment's scores from the first partial result of
`Scorer.iter_score`. This worker loads the models once (as the app does at
start), then times on one song:

- first_result_s: iter_score's first yield on the first song the process scores (cold kernels);
- first_result_warm_s: the same again, kernels warm;
- decode_s: decode + downmix + resample of the whole file (what must happen before segment 1);
- segment_s: encoding one 30 s segment alone (warm);
- hash_s: the file's sha256 (the cache key), the one step the app path adds before decoding.

The warm figures are medians of REPEATS interleaved repeats: single timings on a shared
2-core machine move by more than the overhead being measured. first_result_warm -
(decode + segment) is the overhead the app path adds before the user sees anything.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
REPEATS = 3


def seconds(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def first_yield_s(scorer: object, path: Path) -> float:
    """Seconds until iter_score yields its first (partial) result."""
    start = time.perf_counter()
    results = scorer.iter_score(path)  # type: ignore[attr-defined]
    next(results)
    elapsed = time.perf_counter() - start
    results.close()
    return elapsed


def decode(path: Path, max_seconds: float) -> tuple:
    """What the app does before segment 1: decode, downmix, resample the whole file."""
    from apex_demo.engine import audio

    decoded = audio.decode(path, max_seconds)
    return decoded, audio.resample(decoded.samples, decoded.sample_rate)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mert", type=Path)
    p.add_argument("head", type=Path)
    p.add_argument("audio", type=Path)
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from apex_demo.engine import audio
    from apex_demo.engine.cache import file_sha256
    from apex_demo.config import Settings
    from apex_demo.engine.models import get_scorer

    settings = Settings(mert=str(args.mert), head=str(args.head), device=args.device, use_cache=False)
    start = time.perf_counter()
    scorer = get_scorer(settings)
    load_s = time.perf_counter() - start
    cold = first_yield_s(scorer, args.audio)
    decoded, wave = decode(args.audio, settings.max_seconds)
    timings: dict[str, list[float]] = {"decode_s": [], "segment_s": [], "hash_s": [], "first_result_warm_s": []}
    for _ in range(REPEATS):
        timings["decode_s"].append(seconds(lambda: decode(args.audio, settings.max_seconds)))
        timings["segment_s"].append(seconds(lambda: scorer.encode_segment(audio.segment(wave, 0))))
        timings["hash_s"].append(seconds(lambda: file_sha256(args.audio)))
        timings["first_result_warm_s"].append(first_yield_s(scorer, args.audio))
    medians = {name: statistics.median(values) for name, values in timings.items()}
    print(json.dumps({"load_s": load_s, "first_result_s": cold, **medians, "repeats": REPEATS,
                      "duration_s": decoded.duration_s, "mode": scorer.mode}))  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    sys.exit(main())
