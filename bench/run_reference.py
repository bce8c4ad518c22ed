"""One scoring run of the published APEX loop, as its own process (a worker of bench_scoring.py, bench_folder.py).

    python bench/run_reference.py eager|sdpa MERT_FOLDER HEAD_CHECKPOINT AUDIO [AUDIO ...] [--device cuda]

Prints one JSON object: the seven scores of the first file ("scores") and of every file in
turn ("per_file"), the attention that ran, how long loading and scoring took inside the
process, and on CUDA the peak GPU memory (torch.cuda.max_memory_allocated). It uses only reference/ (the
authors' inference.py re-stated), never apex_demo, so its numbers are an
independent baseline:

- eager: the loop as published (eager attention, as MERT's own code runs);
- sdpa:  the same loop with transformers' default attention (SDPA today), what
  anyone porting the loop now writes without asking for eager.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ATTENTION = {"eager": "eager", "sdpa": None}  # None: transformers' own default


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("attention", choices=sorted(ATTENTION))
    p.add_argument("mert", type=Path)
    p.add_argument("head", type=Path)
    p.add_argument("audio", type=Path, nargs="+", help="scored one after another, as the published loop does")
    p.add_argument("--device", default="cpu", help="torch device of MERT and the head (cpu, cuda)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO))  # reference/ from a plain checkout
    start = time.perf_counter()
    from reference.authors import APEX  # torch + transformers: start-up

    import torch

    imported = time.perf_counter()
    apex = APEX(args.mert, args.head, device=torch.device(args.device), attn_implementation=ATTENTION[args.attention])
    loaded = time.perf_counter()
    # inference.py's APEX.predict: decode, resample, segments, head; one file after the other
    per_file = [{"file": str(path), "scores": apex.predict(path)} for path in args.audio]
    done = time.perf_counter()
    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_initialized() else None
    print(json.dumps({"scores": per_file[0]["scores"], "per_file": per_file,
                      "attention": apex.mert.config._attn_implementation, "import_s": imported - start,
                      "load_s": loaded - imported, "score_s": done - loaded, "max_gpu_memory_mb": gpu_mb}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
