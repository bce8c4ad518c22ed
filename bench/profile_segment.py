"""Where the time of one 30 s segment goes in the project's CPU exact path, against this machine's peak.

    python bench/profile_segment.py [--repeats 2]

Writes a full-size MERT-v1-95M-shaped encoder (reference/files.py, random weights),
loads it the way `apex_demo score` does (get_scorer), warms up on one segment, then
runs torch.profiler over `Scorer.encode_segment` of one segment of real music
(assets/examples). Prints, per kind of kernel: time, share, the work it does
(multiply-adds counted from the config) and the rate reached, next to this machine's
measured peak: the best rate of one large fp32 GEMM through the same oneDNN kernel.
On a shared machine both the peak and the profile shrink with the load, so the
ratio is the figure to read.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "assets" / "examples" / "Brahms_-_Hungarian_Dance_No_5_excerpt.ogg"
SAMPLE_RATE, SEGMENT_SAMPLES = 24_000, 720_000
PEAK_ROWS = 2250  # frames of one 30 s segment: a GEMM of the transformer's real shape
PEAK_TRIES = 5
# profiler op name -> the part of MERT it is (names from torch 2.11's CPU kernels)
PARTS = {
    "mkldnn::_convolution_pointwise": "convolutions (feature extractor 6 layers + positional conv)",
    "mkldnn::_linear_pointwise": "linear GEMMs (q/k/v, out, feed-forward, projection, conv0)",
    "aten::_scaled_dot_product_flash_attention_for_cpu": "attention (flash SDPA)",
    "aten::native_layer_norm": "layer norms",
}


@dataclass(frozen=True)
class Work:
    """Floating-point operations (2 per multiply-add) of one segment, per part."""

    convolutions: float
    linears: float
    attention: float


def segment_work(config: dict) -> Work:
    """FLOPs of one 30 s segment from MERT's config (hand count, independent of the code profiled)."""
    frames = SEGMENT_SAMPLES
    conv_flops, channels_in = 0.0, 1
    lengths = []
    for index, (channels, kernel, stride) in enumerate(zip(config["conv_dim"], config["conv_kernel"],
                                                          config["conv_stride"])):
        frames = (frames - kernel) // stride + 1
        lengths.append(frames)
        if index > 0:  # conv0 runs as a GEMM (fastpath._first_conv), counted with the linears
            conv_flops += 2 * frames * channels * channels_in * kernel
        channels_in = channels
    hidden, inner, layers = config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"]
    group = hidden // config["num_conv_pos_embedding_groups"]
    conv_flops += 2 * frames * hidden * group * config["num_conv_pos_embeddings"]
    conv0 = 2 * lengths[0] * config["conv_dim"][0] * config["conv_kernel"][0]
    linear = conv0 + 2 * frames * config["conv_dim"][-1] * hidden + layers * 2 * frames * hidden * (4 * hidden + 2 * inner)
    attention = layers * 4 * frames * frames * hidden
    return Work(conv_flops, linear, attention)


def peak_gemm_gflops(hidden: int, inner: int) -> float:
    """Best rate of one [2250 x hidden] @ [hidden x inner] fp32 GEMM via oneDNN with a pre-packed weight."""
    x = torch.randn(PEAK_ROWS, hidden)
    w = torch.ops.mkldnn._reorder_linear_weight(torch.randn(inner, hidden), None)
    best = float("inf")
    for _ in range(PEAK_TRIES):
        start = time.perf_counter()
        torch.ops.mkldnn._linear_pointwise(x, w, None, "none", [], "")
        best = min(best, time.perf_counter() - start)
    return 2 * PEAK_ROWS * hidden * inner / best / 1e9


def one_segment() -> torch.Tensor:
    sys.path.insert(0, str(REPO))
    from apex_demo.engine import audio

    data, rate = sf.read(str(EXAMPLE), dtype="float32", always_2d=True)
    wave = audio.resample(np.ascontiguousarray(data.mean(axis=1)), rate)
    return audio.segment(wave, 0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=2, help="profiled segments (after one warm-up)")
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from torch.profiler import ProfilerActivity, profile

    from apex_demo.config import Settings
    from apex_demo.engine.models import get_scorer
    from reference.files import PUBLISHED_WIDTHS, write_mert_folder, write_training_checkpoint

    with tempfile.TemporaryDirectory(prefix="apex-profile-") as tmp:
        mert = write_mert_folder(Path(tmp) / "mert", hidden=PUBLISHED_WIDTHS["hidden"], widths=PUBLISHED_WIDTHS)
        head = write_training_checkpoint(Path(tmp) / "best_model.pt", input_dim=PUBLISHED_WIDTHS["hidden"])
        scorer = get_scorer(Settings(mert=str(mert), head=str(head), device="cpu", use_cache=False))
        config = scorer.encoder.model.config.to_dict()
        segment = one_segment()
        scorer.encode_segment(segment)  # warm-up: oneDNN primitive caches
        start = time.perf_counter()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(args.repeats):
                scorer.encode_segment(segment)
        wall = (time.perf_counter() - start) / args.repeats
    peak = peak_gemm_gflops(config["hidden_size"], config["intermediate_size"])
    work = segment_work(config)
    flops = {PARTS["mkldnn::_convolution_pointwise"]: work.convolutions,
             PARTS["mkldnn::_linear_pointwise"]: work.linears,
             PARTS["aten::_scaled_dot_product_flash_attention_for_cpu"]: work.attention}
    totals = {e.key: e.cpu_time_total / 1e6 / args.repeats for e in prof.key_averages()}
    print(f"one 30 s segment, exact CPU path: {wall:.2f} s wall (profiled, mean of {args.repeats}); "
          f"{(work.convolutions + work.linears + work.attention) / 1e9:.0f} GFLOP; peak fp32 GEMM here "
          f"{peak:.0f} GFLOP/s ({torch.get_num_threads()} threads)")
    print(f"{'part':62s} {'s':>6s} {'share':>6s} {'GFLOP':>6s} {'GFLOP/s':>8s} {'of peak':>7s}")
    accounted = 0.0
    for op, part in PARTS.items():
        seconds = totals.get(op, 0.0)
        accounted += seconds
        gflop = flops.get(part, 0.0) / 1e9
        rate = gflop / seconds if seconds and gflop else None
        print(f"{part:62s} {seconds:6.2f} {seconds / wall:6.0%} {gflop:6.0f} "
              f"{'' if rate is None else f'{rate:8.0f}':>8s} {'' if rate is None else f'{rate / peak:7.0%}':>7s}")
    print(f"{'everything else (means, GELU of conv0, copies, Python)':62s} {wall - accounted:6.2f} "
          f"{(wall - accounted) / wall:6.0%}")
    print("\ntop kernels by self CPU time:")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
    return 0


if __name__ == "__main__":
    sys.exit(main())
