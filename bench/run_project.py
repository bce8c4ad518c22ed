"""`python -m apex_demo ARGS...` as its own process, plus what only the process itself can report.

    python bench/run_project.py score FOLDER --output results.jsonl [flags...]

A worker of bench_folder.py: runs the project's CLI unchanged (apex_demo.cli.main), then
prints one JSON object with its exit code and, when CUDA was used, the peak GPU memory
(torch.cuda.max_memory_allocated), which no outside process can read.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(REPO))
    from apex_demo.cli import main as cli

    code = cli(argv)
    import torch

    gpu_mb = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_initialized() else None
    print(json.dumps({"exit_code": code, "max_gpu_memory_mb": gpu_mb}))
    return 0


if __name__ == "__main__":  # guarded: the decoding workers (spawn) import this file again
    sys.exit(main(sys.argv[1:]))
