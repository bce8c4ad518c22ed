"""Benchmark what a user sees: each scoring method as its own fresh process, on the same recordings.

    python bench/bench_scoring.py [--rounds 3] [--quick] [--device cpu|cuda] [--cold-start] [--json PATH]

Methods (every run is a new Python process, as a user runs it):

  (a) published loop   bench/run_reference.py eager: the authors' inference.py (reference/authors.py),
                       transformers' HubertModel with eager attention, as MERT's own code runs;
  (b) stock SDPA       the same loop with transformers' default attention (SDPA), what anyone
                       porting the loop today writes;
  (c) project exact    python -m apex_demo score FILE --no-cache;
  (d) project fast     the same with --fast (bf16 where the CPU has bf16 kernels; labelled mode=fast).

The models are a MERT-v1-95M-shaped encoder (the published config and 211 tensors,
random weights: speed does not depend on the values) and an APEX head checkpoint as
train.py saves it, both written by reference/files.py (never by apex_demo or tests).
The recordings are the repository's own examples (assets/examples), joined and
looped to 30 s (1 segment), 120 s (4 segments) and 180 s (a 3-minute song).

Per 30 s of audio = (wall time on the 4-segment file - wall time on the 1-segment
file) / 3, so interpreter start-up, imports and model loading cancel out; they are
reported apart as "start+load". Every round runs all methods, in reversed order on
odd rounds; the table gives medians over rounds. Peak resident memory is each
process's own (wait4's ru_maxrss). Score differences are against (a) on the same
file. The time to the first result of a 3-minute song in the app's path
(Scorer.iter_score's first partial result) is measured against decode + one segment
by bench/first_result.py. The machine's load average is printed before and after:
on a shared machine it decides how far the numbers can be trusted.

Cold start: every round also starts the web app (`python app.py`, its own process, embedding
cache off) and times it from the start of the process to the first `/score` result on the
1-segment file (a gradio_client call sent as soon as the page answers, as a visitor arriving at a
freshly started Space), beside the 1-segment processes of (b) and (c), which do the same work:
start, load, decode, one segment. --cold-start runs only those three, interleaved, for a short
quiet window on a shared machine.

--quick writes tiny-width models instead (a smoke run of the whole harness, seconds per
process; its timings mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
EXAMPLES = REPO / "assets" / "examples"
PYTHON = sys.executable

SEGMENT_S = 30
SHORT_SEGMENTS, LONG_SEGMENTS = 1, 4  # per-30 s time = (long - short) / (LONG - SHORT)
SONG_S = 180  # the "3-minute song" of the time-to-first-result measurement
DEFAULT_ROUNDS = 3
MODEL_SEED, HEAD_SEED = 0, 1
FULL_HIDDEN = 768
AESTHETIC_KEYS = ("coherence", "musicality", "memorability", "clarity", "naturalness")  # 1-5
POPULARITY_KEYS = ("score_streams", "score_likes")  # 0-100
# Children must not pick up a user's APEX_* settings (e.g. APEX_FAST=1 would turn the exact row fast).
CHILD_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error", "TQDM_DISABLE": "1"}
REFERENCE_ID, STOCK_ID = "a", "b"
APP_LABEL = "(e) python app.py, first /score"


@dataclass(frozen=True)
class Method:
    """One way of scoring a file, run as its own process."""

    key: str
    label: str
    command: Callable[["Models", Path], list[str]]
    parse: Callable[[str], "Parsed"]


@dataclass(frozen=True)
class Models:
    """The model files every method reads, and where MERT runs (every method alike)."""

    mert: Path
    head: Path
    device: str = "cpu"


@dataclass(frozen=True)
class Parsed:
    """What a method's process printed: the seven scores and how it ran."""

    scores: dict[str, float]
    mode: str


@dataclass
class ProcessRun:
    """One timed process."""

    method: str
    segments: int
    round: int
    wall_s: float
    peak_rss_mb: float
    loadavg_1m: float
    scores: dict[str, float] = field(default_factory=dict)
    mode: str = ""


# ----- methods ---------------------------------------------------------------------------------
def reference_command(attention: str) -> Callable[[Models, Path], list[str]]:
    return lambda models, audio: [PYTHON, str(BENCH / "run_reference.py"), attention, str(models.mert),
                                  str(models.head), str(audio), "--device", models.device]


def project_command(*flags: str) -> Callable[[Models, Path], list[str]]:
    return lambda models, audio: [PYTHON, "-m", "apex_demo", "score", str(audio), "--no-cache", "--format", "json",
                                  "--device", models.device, "--mert", str(models.mert), "--head", str(models.head),
                                  *flags]


def parse_reference(stdout: str) -> Parsed:
    out = json.loads(stdout)
    return Parsed(out["scores"], "exact-" + out["attention"])


def parse_project(stdout: str) -> Parsed:
    record = json.loads(stdout)[0]
    if "error" in record:
        raise RuntimeError(f"apex_demo score failed: {record['error']}")
    return Parsed(record["scores"], record["model"]["mode"])


METHODS = (
    Method(REFERENCE_ID, "(a) published loop, eager", reference_command("eager"), parse_reference),
    Method(STOCK_ID, "(b) stock transformers SDPA", reference_command("sdpa"), parse_reference),
    Method("c", "(c) apex_demo score", project_command(), parse_project),
    Method("d", "(d) apex_demo score --fast", project_command("--fast"), parse_project),
)


# ----- inputs --------------------------------------------------------------------------------
def write_models(root: Path, quick: bool, device: str = "cpu") -> Models:
    """MERT folder + APEX checkpoint in the published formats (reference/files.py)."""
    sys.path.insert(0, str(REPO))
    from reference.files import PUBLISHED_WIDTHS, TINY, write_mert_folder, write_training_checkpoint

    hidden, widths = (TINY["hidden"], TINY) if quick else (FULL_HIDDEN, PUBLISHED_WIDTHS)
    mert = write_mert_folder(root / "mert", seed=MODEL_SEED, hidden=hidden, widths=widths)
    head = write_training_checkpoint(root / "best_model.pt", "full", 2, input_dim=hidden, seed=HEAD_SEED)
    return Models(mert, head, device)


def joined_examples() -> tuple[np.ndarray, int]:
    """The example recordings (assets/examples) joined end to end: ([frames, channels] float32, sample rate)."""
    clips = [sf.read(str(path), dtype="float32", always_2d=True) for path in sorted(EXAMPLES.glob("*.ogg"))]
    rates = {rate for _, rate in clips}
    if len(rates) != 1:
        raise SystemExit(f"assets/examples must share one sample rate to be joined; found {sorted(rates)}")
    channels = max(data.shape[1] for data, _ in clips)
    return np.concatenate([np.repeat(data, channels // data.shape[1], axis=1) for data, _ in clips]), rates.pop()


def write_recordings(root: Path) -> dict[int, Path]:
    """The example recordings joined and looped: {seconds: FLAC file}; shorter files are prefixes of longer."""
    joined, rate = joined_examples()
    lengths = {SEGMENT_S * SHORT_SEGMENTS, SEGMENT_S * LONG_SEGMENTS, SONG_S}
    needed = max(lengths) * rate
    looped = np.tile(joined, (-(-needed // len(joined)), 1))
    files = {}
    for seconds in sorted(lengths):
        files[seconds] = root / f"example_{seconds}s.flac"
        sf.write(str(files[seconds]), looped[: seconds * rate], rate, subtype="PCM_16")
    return files


# ----- running -------------------------------------------------------------------------------
def child_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APEX_")}
    env.update(CHILD_ENV, XDG_CACHE_HOME=str(root / "cache"), PYTHONPATH=str(REPO))
    return env


def run_process(command: list[str], env: dict[str, str], log: Path) -> tuple[float, float, str]:
    """(wall seconds, peak resident MiB, stdout) of one fresh process; stderr goes to `log`."""
    with tempfile.TemporaryFile("w+") as out, log.open("a") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, cwd=REPO, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not all children's
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stdout = out.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with exit code {proc.returncode}; see {log}")
    return wall, usage.ru_maxrss / 1024, stdout  # ru_maxrss is in KiB on Linux


def run_rounds(methods: tuple[Method, ...], models: Models, files: dict[int, Path], rounds: int,
               env: dict[str, str], log: Path,
               lengths: tuple[int, ...] = (SHORT_SEGMENTS, LONG_SEGMENTS)) -> tuple[list[ProcessRun], list[dict[str, float]]]:
    """Every method on the 1- and 4-segment files each round, and the app's cold start (first in
    forward rounds, last in reversed ones); odd rounds run in reverse order."""
    jobs: list[tuple[Method | None, int]] = [(None, SHORT_SEGMENTS)]  # None: the app's cold start
    jobs += [(m, n) for m in methods for n in lengths]
    runs, apps = [], []
    for round_ in range(rounds):
        for method, segments in (jobs if round_ % 2 == 0 else jobs[::-1]):
            if method is None:
                apps.append(app_first_score(models, files[segments * SEGMENT_S], env, log, round_))
                continue
            load = os.getloadavg()[0]
            wall, rss, stdout = run_process(method.command(models, files[segments * SEGMENT_S]), env, log)
            parsed = method.parse(stdout)
            runs.append(ProcessRun(method.key, segments, round_, wall, rss, load, parsed.scores, parsed.mode))
            print(f"round {round_} {method.label:30s} {segments} seg {wall:7.1f} s {rss:6.0f} MiB "
                  f"(load {load:.1f})", file=sys.stderr, flush=True)
    return runs, apps


APP_START_TIMEOUT_S = 600.0
APP_POLL_S = 0.1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def app_first_score(models: Models, audio: Path, env: dict[str, str], log: Path, round_: int) -> dict[str, float]:
    """`python app.py` as its own process: seconds from its start until the page answers, and until the
    first `/score` result on `audio` (sent as soon as the page answers), then the app is stopped."""
    import httpx
    from gradio_client import Client, handle_file

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    app_env = dict(env, APEX_MERT=str(models.mert), APEX_HEAD=str(models.head), APEX_DEVICE=models.device, APEX_NO_CACHE="1",
                   APEX_DATA_DIR=str(log.parent / f"app_data_{round_}"), GRADIO_ANALYTICS_ENABLED="False")
    load = os.getloadavg()[0]
    with log.open("a") as err:
        start = time.perf_counter()
        proc = subprocess.Popen([PYTHON, "app.py", "--port", str(port)], stdout=err, stderr=err, cwd=REPO, env=app_env)
        try:
            page_up = _wait_for_page(url, proc, start, httpx)
            record = Client(url, verbose=False).predict(handle_file(str(audio)), api_name="/score")
            first = time.perf_counter() - start
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    print(f"round {round_} {'(e) python app.py, first /score':30s} 1 seg {first:7.1f} s (page up {page_up:.1f} s, "
          f"load {load:.1f})", file=sys.stderr, flush=True)
    return {"round": round_, "page_up_s": page_up, "first_score_s": first, "loadavg_1m": load,
            "mode": record["model"]["mode"], "scores": record["scores"]}


def _wait_for_page(url: str, proc: subprocess.Popen, start: float, httpx: Any) -> float:
    while time.perf_counter() - start < APP_START_TIMEOUT_S:
        if proc.poll() is not None:
            raise SystemExit(f"python app.py exited with {proc.returncode} before serving")
        try:
            if httpx.get(url, timeout=5).status_code == 200:
                return time.perf_counter() - start
        except httpx.HTTPError:
            pass
        time.sleep(APP_POLL_S)
    raise SystemExit(f"python app.py did not answer within {APP_START_TIMEOUT_S:.0f} s")


def cold_start(runs: list[ProcessRun], rows: list[dict[str, Any]], apps: list[dict[str, float]]) -> list[dict[str, Any]]:
    """The cold-start rows: (b) and (c) from their 1-segment processes (medians; start+load when the
    per-30 s rows were measured too), (e) the app's first /score."""
    by_key = {row["key"]: row for row in rows}
    out = []
    for method in (m for m in METHODS if m.key in (STOCK_ID, "c")):
        walls = [r.wall_s for r in runs if r.method == method.key and r.segments == SHORT_SEGMENTS]
        out.append({"method": method.label, "first_score_s": statistics.median(walls), "first_score_s_rounds": walls,
                    "startup_and_load_s": by_key[method.key]["startup_and_load_s"] if method.key in by_key else None})
    out.append({"method": APP_LABEL, "first_score_s": statistics.median(a["first_score_s"] for a in apps),
                "first_score_s_rounds": [a["first_score_s"] for a in apps],
                "page_up_s": statistics.median(a["page_up_s"] for a in apps)})
    return out


def first_result(models: Models, song: Path, env: dict[str, str], log: Path) -> dict[str, float]:
    """bench/first_result.py on the 3-minute song: the app path's first partial result."""
    command = [PYTHON, str(BENCH / "first_result.py"), str(models.mert), str(models.head), str(song), "--device",
               models.device]
    wall, rss, stdout = run_process(command, env, log)
    return dict(json.loads(stdout), process_wall_s=wall, peak_rss_mb=rss)


# ----- summary -------------------------------------------------------------------------------
def max_abs_diff(runs: list[ProcessRun], reference: list[ProcessRun], keys: tuple[str, ...]) -> float:
    """Largest |score - reference score| over the same file in the same round."""
    ref = {(r.round, r.segments): r.scores for r in reference}
    return max(abs(r.scores[k] - ref[(r.round, r.segments)][k]) for r in runs for k in keys)


def per_30s(runs: list[ProcessRun]) -> list[float]:
    """Per round: (long - short) / (LONG - SHORT) segments."""
    by_round: dict[int, dict[int, float]] = {}
    for r in runs:
        by_round.setdefault(r.round, {})[r.segments] = r.wall_s
    return [(w[LONG_SEGMENTS] - w[SHORT_SEGMENTS]) / (LONG_SEGMENTS - SHORT_SEGMENTS) for w in by_round.values()]


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator and denominator and numerator > 0 and denominator > 0 else None


def summarise(methods: tuple[Method, ...], runs: list[ProcessRun]) -> list[dict[str, Any]]:
    by_method = {m.key: [r for r in runs if r.method == m.key] for m in methods}
    reference = by_method[REFERENCE_ID]
    rows = []
    for method in methods:
        own = by_method[method.key]
        seconds = statistics.median(per_30s(own))
        short = statistics.median(r.wall_s for r in own if r.segments == SHORT_SEGMENTS)
        rows.append({
            "key": method.key, "method": method.label, "mode": own[-1].mode,
            "s_per_30s": seconds, "s_per_30s_rounds": per_30s(own),
            "startup_and_load_s": short - seconds * SHORT_SEGMENTS,
            "wall_s_1_segment": short,
            "wall_s_4_segments": statistics.median(r.wall_s for r in own if r.segments == LONG_SEGMENTS),
            "max_abs_diff_1_5": max_abs_diff(own, reference, AESTHETIC_KEYS),
            "max_abs_diff_0_100": max_abs_diff(own, reference, POPULARITY_KEYS),
            "peak_rss_mb": max(r.peak_rss_mb for r in own if r.segments == LONG_SEGMENTS),
        })
    base = {row["key"]: row["s_per_30s"] for row in rows}
    for row in rows:
        row["speedup_vs_a"] = ratio(base[REFERENCE_ID], row["s_per_30s"])
        row["speedup_vs_b"] = ratio(base[STOCK_ID], row["s_per_30s"])
    return rows


def machine() -> dict[str, Any]:
    import torch
    import transformers

    cpu = ""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        cpu = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name")), "")
    except OSError:
        pass
    return {"cpu": cpu or platform.processor(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "transformers": transformers.__version__, "python": platform.python_version()}


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def render_head(meta: dict[str, Any]) -> list[str]:
    m = meta["machine"]
    return [f"{meta['size']} MERT-v1-95M-shaped encoder, {meta['rounds']} round(s), {m['cpu']} x{m['cpus']} "
            f"(torch {m['torch']}, {m['torch_threads']} threads, transformers {m['transformers']}, device "
            f"{meta['device']})",
            f"load average (1 min) before {meta['loadavg_before']:.2f}, after {meta['loadavg_after']:.2f}, "
            f"at process starts {meta['loadavg_min']:.2f}-{meta['loadavg_max']:.2f}"]


def render_cold_start(cold: list[dict[str, Any]]) -> list[str]:
    header = f"{'cold start (30 s file, fresh process)':40s} {'first score s':>13s} {'start+load s':>12s} {'page up s':>9s}"
    lines = ["", header, "-" * len(header)]
    for row in cold:
        lines.append(f"{row['method']:40s} {row['first_score_s']:13.1f} "
                     f"{fmt(row.get('startup_and_load_s'), '12.1f'):>12s} {fmt(row.get('page_up_s'), '9.1f'):>9s}")
    lines.append("first score: from the process's start to the scores of the 1-segment file (CLI and stock loop: "
                 "the whole process; app: to the first /score reply); start+load: that minus one segment (s/30s).")
    return lines


def render(rows: list[dict[str, Any]], first: dict[str, float], meta: dict[str, Any],
           cold: list[dict[str, Any]]) -> str:
    lines = render_head(meta) + [""]
    header = (f"{'method':30s} {'mode':18s} {'s/30s':>7s} {'start+load s':>12s} {'vs (a)':>7s} {'vs (b)':>7s} "
              f"{'max|d| 1-5':>10s} {'max|d| 0-100':>12s} {'peak RSS MiB':>12s}")
    lines += [header, "-" * len(header)]
    for r in rows:
        lines.append(f"{r['method']:30s} {r['mode']:18s} {r['s_per_30s']:7.2f} {r['startup_and_load_s']:12.1f} "
                     f"{fmt(r['speedup_vs_a'], '6.2f') + 'x':>7s} {fmt(r['speedup_vs_b'], '6.2f') + 'x':>7s} "
                     f"{r['max_abs_diff_1_5']:10.1e} {r['max_abs_diff_0_100']:12.1e} {r['peak_rss_mb']:12.0f}")
    lines += ["", "s/30s: median over rounds of (4-segment - 1-segment wall time) / 3, whole fresh process; "
                  "vs (x): how many times faster than (x); max|d|: largest score difference from (a) on the same "
                  "file; peak RSS: the 4-segment process's own.",
              f"time to first result, {SONG_S // 60}-minute song, app path (Scorer.iter_score, models loaded): "
              f"{first['first_result_s']:.2f} s first song, {first['first_result_warm_s']:.2f} s warm; decode "
              f"{first['decode_s']:.2f} s + one segment {first['segment_s']:.2f} s = "
              f"{first['decode_s'] + first['segment_s']:.2f} s; file hash {first['hash_s']:.3f} s "
              f"(warm figures: medians of {first['repeats']}; model load {first['load_s']:.1f} s)"]
    return "\n".join(lines + render_cold_start(cold))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=DEFAULT_ROUNDS, help="rounds of every method (medians over them)")
    p.add_argument("--quick", action="store_true", help="tiny-width models: a smoke run, timings meaningless")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where MERT runs, for every method")
    p.add_argument("--cold-start", action="store_true", help="only the cold starts: (b), (c) and the app on the "
                                                             "1-segment file")
    p.add_argument("--json", type=Path, help="also write the table and every run as JSON here")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    meta: dict[str, Any] = {"size": "tiny (--quick)" if args.quick else "full-size", "rounds": args.rounds,
                            "device": args.device,
                            "command": " ".join(["python", "bench/bench_scoring.py", *(argv or sys.argv[1:])]),
                            "machine": machine(), "loadavg_before": os.getloadavg()[0]}
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="apex-bench-") as tmp:
        root = Path(tmp)
        models, files = write_models(root, args.quick, args.device), write_recordings(root)
        env, log = child_env(root), root / "stderr.log"
        try:
            if args.cold_start:  # the three cold starts only, on the 1-segment file: minutes, not a quarter hour
                cold_methods = tuple(m for m in METHODS if m.key in (STOCK_ID, "c"))
                runs, apps = run_rounds(cold_methods, models, files, args.rounds, env, log, (SHORT_SEGMENTS,))
            else:
                runs, apps = run_rounds(METHODS, models, files, args.rounds, env, log)
                first = first_result(models, files[SONG_S], env, log)
        except SystemExit:
            sys.stderr.write(log.read_text()[-4000:] if log.exists() else "")
            raise
    meta["loadavg_after"] = os.getloadavg()[0]
    loads = [r.loadavg_1m for r in runs] + [a["loadavg_1m"] for a in apps]
    meta["loadavg_min"], meta["loadavg_max"] = min(loads), max(loads)
    rows = [] if args.cold_start else summarise(METHODS, runs)
    cold = cold_start(runs, rows, apps)
    if args.cold_start:
        print("\n".join(render_head(meta) + render_cold_start(cold)))
        first = {}
    else:
        print(render(rows, first, meta, cold))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"meta": meta, "rows": rows, "first_result": first, "cold_start": cold,
                                         "app_runs": apps, "runs": [asdict(r) for r in runs]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
