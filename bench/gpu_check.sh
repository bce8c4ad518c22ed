#!/usr/bin/env bash
# The GPU checks, in one run, for a machine with a CUDA GPU (run from the repository root):
#   bash bench/gpu_check.sh [OUT_DIR]          (default OUT_DIR: gpu_check/, or $OUT when set)
# 1. the CUDA tests (tests/gpu: the exact path against the authors' loop, within the CPU's bounds;
#    fast mode is fp16 autocast and says so; the folder pipeline's batches);
# 2. the benchmark rows on CUDA: per 30 s, the published loop against the project, each method a fresh
#    process (bench/bench_scoring.py --device cuda), with the app's cold start;
# 3. folder throughput in songs per minute (bench/bench_folder.py --device cuda --batch-size 16), with
#    every method's peak GPU memory (torch.cuda.max_memory_allocated);
# and writes OUT_DIR/gpu_check.json: the GPU, the tests' outcome, both benchmarks' JSON.
# Offline: every model it runs is written by reference/files.py (random weights, published shapes).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${1:-${OUT:-gpu_check}}"
mkdir -p "$out"
py="${PYTHON:-.venv/bin/python}"
[ -x "$py" ] || py=python3
export HF_HUB_OFFLINE=1 TQDM_DISABLE=1
unset $(env | grep -o '^APEX_[A-Z_]*') 2>/dev/null

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$out/gpu.txt" 2>&1
"$py" -m pytest tests/gpu -q -p no:cacheprovider -rs > "$out/tests_gpu.txt" 2>&1
tests_rc=$?
"$py" bench/bench_scoring.py --device cuda --rounds "${ROUNDS:-2}" --json "$out/bench_scoring.json" \
  > "$out/bench_scoring.txt" 2> "$out/bench_scoring.log"
scoring_rc=$?
"$py" bench/bench_folder.py --device cuda --batch-size 16 --files "${FILES:-40}" --json "$out/bench_folder.json" \
  > "$out/bench_folder.txt" 2> "$out/bench_folder.log"
folder_rc=$?

"$py" - "$out" "$tests_rc" "$scoring_rc" "$folder_rc" <<'PY'
import json, sys
from pathlib import Path

out, tests_rc, scoring_rc, folder_rc = Path(sys.argv[1]), *map(int, sys.argv[2:])

def read_json(name):
    path = out / name
    return json.loads(path.read_text()) if path.exists() else None

tests = (out / "tests_gpu.txt").read_text().strip().splitlines()
folder = read_json("bench_folder.json")
summary = {
    "gpu": (out / "gpu.txt").read_text().strip(),
    "cuda_tests": {"exit_code": tests_rc, "summary": tests[-1] if tests else ""},
    "bench_scoring": {"exit_code": scoring_rc, "result": read_json("bench_scoring.json")},
    "bench_folder": {"exit_code": folder_rc, "result": folder},
    "peak_gpu_memory_mb": {run["label"]: run.get("max_gpu_memory_mb") for run in (folder or {}).get("runs", [])},
    "songs_per_minute": {run["label"]: run.get("songs_per_minute") for run in (folder or {}).get("runs", [])},
}
(out / "gpu_check.json").write_text(json.dumps(summary, indent=2))
print(json.dumps({k: summary[k] for k in ("gpu", "cuda_tests", "songs_per_minute", "peak_gpu_memory_mb")}, indent=2))
sys.exit(max(tests_rc, scoring_rc, folder_rc))
PY
