"""Is there a faster exact attention for MERT's shape on this CPU than torch's flash SDPA?

    python bench/attention_variants.py [--repeats 5]

Attention is 27 % of a 30 s segment's time and runs at about 60 % of the machine's fp32 GEMM
peak (bench/profile_segment.py), the lowest rate of any part. This times one layer's attention
at the real shape (12 heads x 2250 frames x 64) two ways: `scaled_dot_product_attention` (what
the project and stock transformers use) and attention by query chunks through plain GEMMs and
softmax (scores for C queries at a time, so they stay in cache instead of the eager path's full
2250 x 2250 matrices). Prints the best time of each, its rate, and its largest difference from SDPA.
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

import torch
import torch.nn.functional as F

HEADS, FRAMES, HEAD_DIM = 12, 2250, 64  # MERT-v1-95M on one 30 s segment (75 frames per second)
CHUNKS = (64, 128, 256, 512)
FLOP = 4 * FRAMES * FRAMES * HEAD_DIM * HEADS  # q @ k^T and p @ v, 2 FLOP per multiply-add


def chunked(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, chunk: int) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v, `chunk` queries at a time."""
    out = torch.empty_like(q)
    keys = k.transpose(-1, -2) * HEAD_DIM ** -0.5
    for start in range(0, FRAMES, chunk):
        scores = torch.matmul(q[:, :, start:start + chunk], keys)
        torch.matmul(torch.softmax(scores, dim=-1), v, out=out[:, :, start:start + chunk])
    return out


def best_seconds(run: Callable[[], torch.Tensor], repeats: int) -> float:
    run()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.manual_seed(0)
    q, k, v = (torch.randn(1, HEADS, FRAMES, HEAD_DIM) for _ in range(3))
    reference = F.scaled_dot_product_attention(q, k, v)
    variants: dict[str, Callable[[], torch.Tensor]] = {"flash SDPA": lambda: F.scaled_dot_product_attention(q, k, v)}
    variants.update({f"GEMM chunks of {c}": (lambda c=c: chunked(q, k, v, c)) for c in CHUNKS})
    print(f"one layer's attention, {HEADS} x {FRAMES} x {HEAD_DIM}, {torch.get_num_threads()} threads, "
          f"{FLOP / 1e9:.1f} GFLOP")
    for name, run in variants.items():
        seconds = best_seconds(run, args.repeats)
        error = (run() - reference).abs().max().item()
        print(f"{name:20s} {seconds * 1000:7.1f} ms {FLOP / seconds / 1e9:7.1f} GFLOP/s  max|d| {error:.1e}")


if __name__ == "__main__":
    main()
