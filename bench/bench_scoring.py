"""Benchmark: the published APEX reference loop vs this project's scoring pipeline.

    python bench/bench_scoring.py [--audio FILE] [--runs 3] [--device auto|cpu|cuda] [--output bench/results.json]

Builds a MERT-v1-95M-shaped encoder (the real config, random weights: speed does
not depend on the weights) and an APEX head with the published shapes (random,
with non-trivial BatchNorm statistics), writes them in the published file
formats to a temporary folder, then scores one real recording (>= 90 s) in this
process, interleaving the methods run by run so that other load on the machine
hits them alike:

- reference: the loop exactly as published (eager attention, one 30 s segment
  at a time, all hidden states, per-layer means, seeded aggregator, head);
- project:   `get_scorer(settings).iter_score(path)` as the app runs it (models loaded once), cache off;
- fast:      the same with Settings(fast=True) (bf16 on CPU / autocast on CUDA);
- on CUDA also precision fp16 and bf16 (autocast) rows.

For each: wall seconds per 30 s of audio (median over --runs after a warm-up on
the first segment), time to the first segment's scores, peak resident memory (VmHWM, reset
before each run; on CUDA peak allocated GPU memory too), the ratio
reference/method, and the largest absolute difference of the seven song outputs
and of the 768-d song embedding from the reference. Prints one table and writes
it as JSON (bench/results*.json are git-ignored).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # runnable as a plain script from a checkout

from apex_demo.config import DEVICES, Settings  # noqa: E402
from apex_demo.encoder import resolve_device  # noqa: E402
from apex_demo.head import HeadConfig  # noqa: E402
from apex_demo.scores import AESTHETIC_KEYS, POPULARITY_KEYS  # noqa: E402
from apex_demo.scoring import Scorer, get_scorer  # noqa: E402
from tests.fixtures import build_mert_folder, random_head_state, training_checkpoint  # noqa: E402
from tests.reference_loop import load_reference_mert, reference_head, reference_segment_embeddings  # noqa: E402

DEFAULT_AUDIO = REPO.parent / "shared" / "audio" / "outfoxing.mp3"
MIN_AUDIO_S = 90.0
SEGMENT_S = 30.0
# MERT-v1-95M's config.json (../shared/APEX_SPEC.md, "Model files"), MERT-only keys included.
MERT_CONFIG = {
    "model_type": "mert_model", "architectures": ["MERTModel"], "hidden_size": 768, "num_hidden_layers": 12,
    "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu", "conv_dim": [512] * 7,
    "conv_kernel": [10, 3, 3, 3, 3, 2, 2], "conv_stride": [5, 2, 2, 2, 2, 2, 2], "conv_bias": False,
    "feat_extract_norm": "group", "feat_extract_activation": "gelu", "feat_proj_layer_norm": True,
    "do_stable_layer_norm": False, "layer_norm_eps": 1e-5, "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16, "feature_extractor_cqt": False, "deepnorm": False,
    "attention_relax": -1.0, "sample_rate": 24000,
}


# ----- models in the published formats (the same builders as the test fixtures) -------------
def write_models(root: Path, seed: int = 0) -> tuple[Path, Path]:
    """A MERT-format folder (real MERT-v1-95M config, random weights) and an APEX training checkpoint."""
    mert = build_mert_folder(root / "mert-v1-95m-random", seed=seed, config=MERT_CONFIG)
    head = root / "apex_best_model.pt"
    torch.save(training_checkpoint(random_head_state(HeadConfig(), seed + 1), "full", 2), head)
    return mert, head


# ----- the reference loop, as published (timed) -----------------------------------------------
def reference_run(path: Path, model: torch.nn.Module, head_state: dict, device: torch.device,
                  first_only: bool = False) -> dict:
    """APEX inference.py step by step; returns scores, embedding and the time to the first segment's scores."""
    start = time.perf_counter()
    embeddings, first = [], None
    for embedding in reference_segment_embeddings(path, model, device):
        embeddings.append(embedding)
        if first is None:
            scores = reference_head(embeddings[0][0], head_state)  # the first segment's scores
            first = time.perf_counter() - start
            if first_only:
                return {"scores": scores, "embedding": embeddings[0][0].numpy(), "first_s": first}
    embedding = torch.stack(embeddings).mean(dim=0)[0]
    return {"scores": reference_head(embedding, head_state), "embedding": embedding.numpy(), "first_s": first}


def project_run(path: Path, scorer: Scorer, first_only: bool = False) -> dict:
    """The app's path: scorer.iter_score (models already loaded, as in the app), first yield = first scores."""
    start, first, result = time.perf_counter(), None, None
    for result in scorer.iter_score(path):
        first = first if first is not None else time.perf_counter() - start
        if first_only:
            return {"scores": result.scores.as_dict(), "embedding": np.asarray(result.embedding), "first_s": first}
    assert result is not None and result.complete
    return {"scores": result.scores.as_dict(), "embedding": np.asarray(result.embedding), "first_s": first,
            "mode": result.model.mode}


# ----- measurement helpers --------------------------------------------------------------------
def reset_peak_rss() -> None:
    """Linux: writing 5 to clear_refs resets VmHWM, so each run gets its own peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def proc_status_mb(field: str) -> float | None:
    """VmHWM (peak resident) or VmRSS (resident now) of this process, in MiB (Linux only)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def timed(fn: Callable[[], dict], device: torch.device) -> dict:
    reset_peak_rss()
    before = proc_status_mb("VmRSS")
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
        out["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    out["wall_s"] = time.perf_counter() - start
    out["rss_peak_mb"] = proc_status_mb("VmHWM")
    out["rss_added_mb"] = None if before is None or out["rss_peak_mb"] is None else out["rss_peak_mb"] - before
    return out


def machine() -> dict:
    def lscpu_model() -> str:
        try:
            text = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
            return next((ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("Model name")), "")
        except OSError:
            return platform.processor()
    info = {"cpu": lscpu_model(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform()}
    import transformers
    info["transformers"] = transformers.__version__
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def loadavg() -> float | None:
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else None


# ----- main -----------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--audio", type=Path, default=DEFAULT_AUDIO, help=f"a recording of at least {MIN_AUDIO_S:.0f} s")
    p.add_argument("--runs", type=int, default=3, help="timed runs per method after one warm-up (median)")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.add_argument("--output", type=Path, default=REPO / "bench" / "results.json")
    p.add_argument("--no-fast", action="store_true", help="skip the approximate-mode rows")
    return p.parse_args(argv)


def method_settings(args: argparse.Namespace, mert: Path, head: Path, device: torch.device) -> dict[str, Settings]:
    base = Settings(mert=str(mert), head=str(head), device=device.type, use_cache=False, max_seconds=3600)
    methods = {"project": base}
    if not args.no_fast:
        methods["project --fast"] = dataclasses.replace(base, fast=True)
        if device.type == "cuda":
            methods["project fp16 autocast"] = dataclasses.replace(base, precision="fp16")
            methods["project bf16 autocast"] = dataclasses.replace(base, precision="bf16")
    return methods


def summarise(name: str, runs: list[dict], ref_runs: list[dict], ref_out: dict, audio_s: float) -> dict:
    walls = [r["wall_s"] for r in runs]
    ref_walls = [r["wall_s"] for r in ref_runs]
    ref_median = statistics.median(ref_walls)
    last = runs[-1]
    median = statistics.median(walls)
    return {
        "method": name, "mode": last.get("mode", "reference"),
        "wall_s_runs": walls, "wall_s_median": median, "wall_s_min": min(walls),
        "s_per_30s_audio": median / (audio_s / SEGMENT_S),
        "first_segment_s": statistics.median(r["first_s"] for r in runs),
        "rss_peak_mb": max((r["rss_peak_mb"] or 0) for r in runs) or None,
        "rss_added_mb": max((r["rss_added_mb"] or 0) for r in runs) or None,
        "gpu_peak_mb": max((r.get("gpu_peak_mb", 0) for r in runs), default=0) or None,
        "ratio_vs_reference": ref_median / median,
        # per round ref_i / method_i (run back to back), then the median: robust to load that drifts
        "ratio_pairwise_median": statistics.median(r / m for r, m in zip(ref_walls, walls)),
        "first_segment_s_runs": [r["first_s"] for r in runs],
        "max_abs_diff_outputs": max(abs(last["scores"][k] - ref_out["scores"][k]) for k in ref_out["scores"]),
        "max_abs_diff_aesthetic_1_5": max(abs(last["scores"][k] - ref_out["scores"][k]) for k in AESTHETIC_KEYS),
        "max_abs_diff_popularity_0_100": max(abs(last["scores"][k] - ref_out["scores"][k]) for k in POPULARITY_KEYS),
        "max_abs_diff_embedding": float(np.abs(last["embedding"] - ref_out["embedding"]).max()),
        "scores": last["scores"],
    }


def print_table(rows: list[dict], meta: dict) -> None:
    print(f"\n{meta['audio']} ({meta['audio_s']:.1f} s, {meta['segments']} segments) on {meta['device']}: "
          f"{meta['machine']['cpu']} x{meta['machine']['cpus']}, torch {meta['machine']['torch']}"
          + (f", {meta['machine']['gpu']}" if "gpu" in meta["machine"] else ""))
    head = f"{'method':24s} {'mode':9s} {'s/30s audio':>11s} {'1st seg s':>9s} {'peak RSS MB':>11s} {'+MB':>6s} " \
           f"{'ratio':>6s} {'pairw.':>6s} {'max|d| 1-5':>10s} {'max|d| 0-100':>12s} {'max|d| emb':>10s}"
    print(head + "\n" + "-" * len(head))
    for r in rows:
        print(f"{r['method']:24s} {r['mode']:9s} {r['s_per_30s_audio']:11.2f} {r['first_segment_s']:9.2f} "
              f"{(r['rss_peak_mb'] or float('nan')):11.0f} {(r['rss_added_mb'] or float('nan')):6.0f} "
              f"{r['ratio_vs_reference']:6.2f} {r['ratio_pairwise_median']:6.2f} "
              f"{r['max_abs_diff_aesthetic_1_5']:10.2e} {r['max_abs_diff_popularity_0_100']:12.2e} "
              f"{r['max_abs_diff_embedding']:10.2e}")
    print(f"(median of {meta['runs']} runs after a warm-up, interleaved; peak RSS is the whole process, which "
          f"holds every method's models; +MB = rise during the run; load average {meta['loadavg_start']:.1f} -> "
          f"{meta['loadavg_end']:.1f})")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = resolve_device(args.device)
    audio_s = sf.info(str(args.audio)).duration
    if audio_s < MIN_AUDIO_S:
        raise SystemExit(f"{args.audio} is {audio_s:.0f} s long; the bench needs at least {MIN_AUDIO_S:.0f} s")
    load_start = loadavg()
    with tempfile.TemporaryDirectory(prefix="apex-bench-") as tmp:
        mert, head = write_models(Path(tmp))
        reference_model = load_reference_mert(mert).to(device)  # eager attention, as published
        head_state = torch.load(head, weights_only=True)["model_state"]
        methods = {"reference": functools.partial(reference_run, args.audio, reference_model, head_state, device)}
        for name, settings in method_settings(args, mert, head, device).items():
            # get_scorer keeps only 2 scorers; hold each one here, as the app holds its one for its lifetime
            methods[name] = functools.partial(project_run, args.audio, get_scorer(settings))
        runs: dict[str, list[dict]] = {name: [] for name in methods}
        for round_ in range(args.runs + 1):  # round 0 warms up on the first segment (kernel caches, packing)
            for name, fn in methods.items():
                out = timed(functools.partial(fn, first_only=round_ == 0), device)
                print(f"round {round_} {name:24s} {out['wall_s']:7.2f} s", file=sys.stderr, flush=True)
                if round_ > 0:
                    runs[name].append(out)
    ref_out = runs["reference"][-1]
    rows = [summarise(name, rs, runs["reference"], ref_out, audio_s) for name, rs in runs.items()]
    meta = {"audio": args.audio.name, "audio_s": audio_s, "segments": math.ceil(audio_s / SEGMENT_S),
            "device": str(device), "runs": args.runs, "machine": machine(),
            "loadavg_start": load_start, "loadavg_end": loadavg()}
    print_table(rows, meta)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
