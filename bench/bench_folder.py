"""Benchmark folder scoring: songs per minute for an N-file folder, the project against the published loop.

    python bench/bench_folder.py [--files 100] [--min-s 30] [--max-s 60] [--device cpu|cuda]
                                 [--batch-size N] [--rounds N] [--no-ray] [--quick] [--json PATH]

Each method is one fresh process over the whole folder, as a user runs it; with --rounds N every
method runs N times, interleaved (odd rounds in reverse order), and the table shows the median:

  (a) published loop   bench/run_reference.py eager over every file in turn, one process
                       (the authors' inference.py from reference/, never apex_demo);
  (b) project, serial  python -m apex_demo score DIR --output x.jsonl --decode-workers 0 --batch-size 1:
                       decode, then encode one segment at a time, file after file;
  (c) project pipeline the same command with the defaults: decoding in worker processes while the
                       encoder runs, and the device's default batch size (1 on CPU, 8 on CUDA);
  (d) pipeline, batch N only with --batch-size N: the pipeline with that many segments per forward;
  (e) Ray local        the same command with --engine ray and no --address: a local Ray started by the
                       command, decode tasks and one model actor (left out with --no-ray, or without Ray).

Songs per minute = files / whole-process wall time in minutes (start-up and model loading
included, for every method alike; the published loop's own loading time is printed apart).
max|d| is the largest score difference of a project row from (a) over all files; peak
RSS is the method's main process (wait4's ru_maxrss; decoding workers, Ray's processes and its
actor not included);
peak GPU memory is torch.cuda.max_memory_allocated inside the process, on CUDA.

The models are the MERT-v1-95M-shaped encoder (published config, random weights) and an
APEX head as train.py saves it, from reference/files.py (see bench_scoring.py). The files
are the repository's example recordings (assets/examples) looped and cut at different
offsets into FLAC files of --min-s to --max-s seconds, 44.1 kHz stereo, so decoding,
downmix and resampling are part of every method's work. The 1-minute load average is printed at
every process start: the machine is shared, and the load decides how far the numbers can be
trusted. --quick: tiny models and 5 files (a smoke run; timings meaningless; tests/bench/test_bench.py
runs it).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import soundfile as sf

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
from bench_scoring import (AESTHETIC_KEYS, POPULARITY_KEYS, PYTHON, SEGMENT_S, Models, child_env,  # noqa: E402
                           fmt, joined_examples, machine, run_process, write_models)

DEFAULT_FILES, QUICK_FILES = 100, 5
DEFAULT_MIN_S, DEFAULT_MAX_S = 30, 60
QUICK_MIN_S, QUICK_MAX_S = 10, 70  # several files of 2-3 segments, so batches span songs
LENGTH_STEP_S = 7    # file i lasts min_s + (i * LENGTH_STEP_S) mod (max_s - min_s + 1) seconds
OFFSET_STEP_S = 13   # and starts OFFSET_STEP_S * i seconds into the looped examples
REFERENCE_ID = "a"
SECONDS_PER_MINUTE = 60


@dataclass
class FolderRun:
    """One method's process over the whole folder."""

    key: str
    label: str
    wall_s: float
    peak_rss_mb: float
    loadavg_1m: float
    round: int = 0
    songs_per_minute: float = 0.0
    max_gpu_memory_mb: float | None = None
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # file name -> scores
    extra: dict[str, Any] = field(default_factory=dict)


# ----- inputs ----------------------------------------------------------------------------------
def file_lengths(count: int, min_s: int, max_s: int) -> list[int]:
    """Seconds of each file: spread over [min_s, max_s] in a fixed pattern."""
    span = max_s - min_s + 1
    return [min_s + (i * LENGTH_STEP_S) % span for i in range(count)]


def write_folder(folder: Path, lengths: list[int]) -> list[Path]:
    """FLAC files cut from the looped example recordings at different offsets."""
    joined, rate = joined_examples()
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, seconds in enumerate(lengths):
        start = (i * OFFSET_STEP_S * rate) % len(joined)
        clip = joined.take(range(start, start + seconds * rate), axis=0, mode="wrap")  # looped past the end
        paths.append(folder / f"song_{i:04d}.flac")
        sf.write(str(paths[-1]), clip, rate, subtype="PCM_16")
    return paths


# ----- methods ---------------------------------------------------------------------------------
def reference_run(models: Models, files: list[Path], device: str, env: dict[str, str], log: Path) -> FolderRun:
    command = [PYTHON, str(BENCH / "run_reference.py"), "eager", str(models.mert), str(models.head),
               *map(str, files), "--device", device]
    load = os.getloadavg()[0]
    wall, rss, stdout = run_process(command, env, log)
    out = json.loads(stdout)
    scores = {Path(item["file"]).name: item["scores"] for item in out["per_file"]}
    return FolderRun(REFERENCE_ID, "(a) published loop, one process", wall, rss, load,
                     max_gpu_memory_mb=out["max_gpu_memory_mb"], scores=scores,
                     extra={"import_s": out["import_s"], "load_s": out["load_s"], "score_s": out["score_s"]})


def project_run(key: str, label: str, models: Models, folder: Path, device: str, flags: list[str],
                env: dict[str, str], log: Path) -> FolderRun:
    output = folder.parent / f"results_{key}.jsonl"
    output.unlink(missing_ok=True)  # a fresh run each round: an existing results file would be resumed
    command = [PYTHON, str(BENCH / "run_project.py"), "score", str(folder), "--output", str(output), "--no-cache",
               "--device", device, "--mert", str(models.mert), "--head", str(models.head), *flags]
    load = os.getloadavg()[0]
    wall, rss, stdout = run_process(command, env, log)
    out = json.loads(stdout.strip().splitlines()[-1])
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    failed = [row for row in rows if row["error_code"]]
    if out["exit_code"] != 0 or failed:
        raise SystemExit(f"{label}: exit code {out['exit_code']}, failed rows {failed[:3]}; see {log}")
    scores = {Path(row["file"]).name: {k: row[k] for k in (*AESTHETIC_KEYS, *POPULARITY_KEYS)} for row in rows}
    return FolderRun(key, label, wall, rss, load, max_gpu_memory_mb=out["max_gpu_memory_mb"], scores=scores)


def methods(batch_size: int | None, ray: bool) -> list[tuple[str, str, list[str]]]:
    """(key, label, extra CLI flags) of the project rows."""
    rows = [("b", "(b) project, serial (no workers, batch 1)", ["--decode-workers", "0", "--batch-size", "1"]),
            ("c", "(c) project pipeline, defaults", [])]
    if batch_size is not None:
        rows.append(("d", f"(d) project pipeline, batch {batch_size}", ["--batch-size", str(batch_size)]))
    if ray:
        rows.append(("e", "(e) Ray local (--engine ray)", ["--engine", "ray"]))
    return rows


# ----- summary ---------------------------------------------------------------------------------
def max_abs_diff(run: FolderRun, reference: FolderRun, keys: tuple[str, ...]) -> float:
    return max(abs(run.scores[name][k] - reference.scores[name][k]) for name in reference.scores for k in keys)


def medians(runs: list[FolderRun]) -> list[dict[str, Any]]:
    """One row per method, in the order of the first round: median songs/min and wall time over rounds,
    the worst max|d| from the first round's (a) over every run, the highest peak RSS."""
    reference = runs[0]
    rows = []
    for key in dict.fromkeys(run.key for run in runs):
        mine = [run for run in runs if run.key == key]
        rows.append({"key": key, "label": mine[0].label,
                     "songs_per_minute": statistics.median(r.songs_per_minute for r in mine),
                     "wall_s": statistics.median(r.wall_s for r in mine),
                     "per_round": [round(r.songs_per_minute, 2) for r in sorted(mine, key=lambda r: r.round)],
                     "loads": [round(r.loadavg_1m, 2) for r in sorted(mine, key=lambda r: r.round)],
                     "max_abs_diff_1_5": max(max_abs_diff(r, reference, AESTHETIC_KEYS) for r in mine),
                     "max_abs_diff_0_100": max(max_abs_diff(r, reference, POPULARITY_KEYS) for r in mine),
                     "peak_rss_mb": max(r.peak_rss_mb for r in mine),
                     "max_gpu_memory_mb": max((r.max_gpu_memory_mb for r in mine if r.max_gpu_memory_mb is not None),
                                              default=None)})
    return rows


def render(runs: list[FolderRun], meta: dict[str, Any]) -> str:
    m = meta["machine"]
    rows = medians(runs)
    lines = [f"{meta['size']} encoder, {meta['files']} files ({meta['segments']} segments, "
             f"{meta['audio_minutes']:.1f} min of audio, {meta['min_s']}-{meta['max_s']} s each), device "
             f"{meta['device']}, {meta['rounds']} round(s) interleaved, {m['cpu']} x{m['cpus']} "
             f"(torch {m['torch']}, {m['torch_threads']} threads)",
             f"load average (1 min) before {meta['loadavg_before']:.2f}, after {meta['loadavg_after']:.2f}, at "
             f"process starts {', '.join(f'{r.loadavg_1m:.2f}' for r in runs)}", ""]
    header = (f"{'method':44s} {'songs/min':>9s} {'wall s':>8s} {'vs (a)':>7s} {'max|d| 1-5':>10s} "
              f"{'max|d| 0-100':>12s} {'peak RSS MiB':>12s} {'peak GPU MiB':>12s}  per round (load at start)")
    lines += [header, "-" * len(header)]
    for row in rows:
        rounds = ", ".join(f"{v:.2f} ({load:.1f})" for v, load in zip(row["per_round"], row["loads"]))
        lines.append(f"{row['label']:44s} {row['songs_per_minute']:9.2f} {row['wall_s']:8.1f} "
                     f"{row['songs_per_minute'] / rows[0]['songs_per_minute']:6.2f}x "
                     f"{row['max_abs_diff_1_5']:10.1e} {row['max_abs_diff_0_100']:12.1e} {row['peak_rss_mb']:12.0f} "
                     f"{fmt(row['max_gpu_memory_mb'], '12.0f'):>12s}  {rounds}")
    extra = runs[0].extra
    lines += ["", "songs/min: files / whole-process wall time (start-up and loading included), median over rounds; "
                  "max|d|: largest score difference from (a) over all files and rounds.",
              f"(a) inside its process, first round: import {extra['import_s']:.1f} s, load {extra['load_s']:.1f} s, "
              f"scoring {extra['score_s']:.1f} s = {meta['files'] / extra['score_s'] * SECONDS_PER_MINUTE:.2f} "
              "songs/min without start-up"]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, help=f"files in the folder (default {DEFAULT_FILES}; --quick {QUICK_FILES})")
    p.add_argument("--min-s", type=int, help=f"shortest file in seconds (default {DEFAULT_MIN_S})")
    p.add_argument("--max-s", type=int, help=f"longest file in seconds (default {DEFAULT_MAX_S})")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where MERT runs, for every method")
    p.add_argument("--batch-size", type=int, help="also run the pipeline with this many segments per forward")
    p.add_argument("--rounds", type=int, default=1, help="run every method this many times, interleaved (odd "
                                                         "rounds in reverse order); the table shows medians")
    p.add_argument("--no-ray", action="store_true", help="leave out (e), the Ray row (left out anyway without Ray)")
    p.add_argument("--quick", action="store_true", help="tiny models, 5 files: a smoke run, timings meaningless")
    p.add_argument("--json", type=Path, help="also write every run as JSON here")
    args = p.parse_args(argv)
    args.files = args.files or (QUICK_FILES if args.quick else DEFAULT_FILES)
    args.min_s = args.min_s or (QUICK_MIN_S if args.quick else DEFAULT_MIN_S)
    args.max_s = args.max_s or (QUICK_MAX_S if args.quick else DEFAULT_MAX_S)
    if args.files < 1 or not 1 <= args.min_s <= args.max_s or (args.batch_size is not None and args.batch_size < 1) \
            or args.rounds < 1:
        p.error("--files, --rounds and --batch-size must be at least 1, and 1 <= --min-s <= --max-s")
    args.ray = not args.no_ray and importlib.util.find_spec("ray") is not None
    return args


def run_all(args: argparse.Namespace, root: Path, files: list[Path], models: Models) -> list[FolderRun]:
    """Every method once a round, each a fresh process; odd rounds run the methods in reverse order."""
    env, log = child_env(root), root / "stderr.log"
    jobs: list[tuple[str, str, list[str] | None]] = [(REFERENCE_ID, "", None), *methods(args.batch_size, args.ray)]
    runs = []
    try:
        for round_ in range(args.rounds):
            for key, label, flags in (jobs if round_ % 2 == 0 else jobs[::-1]):
                if flags is None:
                    run = reference_run(models, files, args.device, env, log)
                else:
                    run = project_run(key, label, models, files[0].parent, args.device, flags, env, log)
                run.round = round_
                runs.append(run)
                print(f"round {round_}: {run.label}: {run.wall_s:.1f} s (load {run.loadavg_1m:.2f})",
                      file=sys.stderr, flush=True)
    except SystemExit:
        sys.stderr.write(log.read_text()[-4000:] if log.exists() else "")
        raise
    for run in runs:
        run.songs_per_minute = len(files) / run.wall_s * SECONDS_PER_MINUTE
    return sorted(runs, key=lambda r: (r.round, [job[0] for job in jobs].index(r.key)))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    lengths = file_lengths(args.files, args.min_s, args.max_s)
    meta: dict[str, Any] = {"size": "tiny (--quick)" if args.quick else "full-size MERT-v1-95M-shaped",
                            "files": args.files, "rounds": args.rounds, "min_s": args.min_s, "max_s": args.max_s, "device": args.device,
                            "segments": sum(math.ceil(s / SEGMENT_S) for s in lengths),
                            "audio_minutes": sum(lengths) / SECONDS_PER_MINUTE, "machine": machine(),
                            "loadavg_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="apex-folder-bench-") as tmp:
        root = Path(tmp)
        models = write_models(root, args.quick)
        runs = run_all(args, root, write_folder(root / "songs", lengths), models)
    meta["loadavg_after"] = os.getloadavg()[0]
    print(render(runs, meta))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": meta, "rows": medians(runs), "runs": [asdict(r) for r in runs]},
                                        indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
