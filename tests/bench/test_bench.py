"""Smoke test of bench/bench_scoring.py: a --quick run, as its own process, gives the full table.

The bench runs every method (the published loop, stock SDPA, `apex_demo score` exact and
--fast) as separate processes on tiny-width models; the exact rows' scores must agree with
the published loop's within float rounding. Those numbers come from separate processes (the
reference ones from reference/, never apex_demo), so the agreement is a real check. No
timing is asserted: on a loaded machine the quick run's timings mean nothing.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.support import REPO

BENCH = REPO / "bench" / "bench_scoring.py"
# The four methods and the table's columns, as docs/benchmark.md lists them.
METHOD_LABELS = ("(a) published loop, eager", "(b) stock transformers SDPA", "(c) apex_demo score",
                 "(d) apex_demo score --fast")
HEADER_COLUMNS = ("method", "mode", "s/30s", "start+load s", "vs (a)", "vs (b)", "max|d| 1-5", "max|d| 0-100",
                  "peak RSS MiB")
ROW_FIELDS = ("s_per_30s", "startup_and_load_s", "speedup_vs_a", "speedup_vs_b", "max_abs_diff_1_5",
              "max_abs_diff_0_100", "peak_rss_mb", "mode")
APP_LABEL = "(e) python app.py, first /score"
FIRST_RESULT_FIELDS = ("first_result_s", "first_result_warm_s", "decode_s", "segment_s", "load_s")
EXACT_TOL_1_5 = 1e-4  # the engine's "identical numbers" bound on the 1-5 scale
EXACT_TOL_0_100 = 100 / 4 * EXACT_TOL_1_5  # the same sigmoid deviation on the 0-100 scale (scale 100 vs 4)
SONG_S = 180.0  # the 3-minute song of the first-result measurement
BENCH_TIMEOUT_S = 1500  # 9 fresh processes; on a heavily shared 2-core machine each can take a minute


def run_bench(script: Path, out: Path, *flags: str) -> tuple[str, dict]:
    """A bench script as its own process, without the user's APEX_* settings: (its table, its --json)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APEX_")}
    done = subprocess.run([sys.executable, str(script), *flags, "--json", str(out)],
                          capture_output=True, text=True, cwd=REPO, env=dict(env, HF_HUB_OFFLINE="1"),
                          timeout=BENCH_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout, json.loads(out.read_text())


def assert_table(stdout: str, columns: tuple[str, ...], labels: tuple[str, ...]) -> None:
    """The printed table has every column in its header line and one row per method, in order."""
    header = next(line for line in stdout.splitlines() if line.startswith("method"))
    for column in columns:
        assert column in header
    table_rows = [line for line in stdout.splitlines() if line.startswith("(")]
    assert [row[:len(label)] for row, label in zip(table_rows, labels)] == list(labels)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    return run_bench(BENCH, tmp_path_factory.mktemp("bench") / "bench.json", "--quick", "--rounds", "1")


@pytest.mark.slow
@pytest.mark.timeout(BENCH_TIMEOUT_S + 60)
def test_quick_bench_prints_every_method_and_column(quick_run: tuple[str, dict]) -> None:
    stdout, result = quick_run
    assert_table(stdout, HEADER_COLUMNS, METHOD_LABELS)
    assert [row["method"] for row in result["rows"]] == list(METHOD_LABELS)
    for row in result["rows"]:
        assert set(ROW_FIELDS) <= set(row)
        assert row["peak_rss_mb"] > 0
    assert "load average" in stdout
    # every method ran once on the 1- and once on the 4-segment file, each in its own process
    assert sorted((r["method"], r["segments"]) for r in result["runs"]) == sorted(
        (key, n) for key in "abcd" for n in (1, 4))


@pytest.mark.slow
@pytest.mark.timeout(BENCH_TIMEOUT_S + 60)
def test_quick_bench_exact_rows_match_the_published_loop(quick_run: tuple[str, dict]) -> None:
    rows = {row["key"]: row for row in quick_run[1]["rows"]}
    for key in ("b", "c"):  # stock SDPA and apex_demo exact, each against (a) on the same files
        assert rows[key]["max_abs_diff_1_5"] <= EXACT_TOL_1_5, rows[key]
        assert rows[key]["max_abs_diff_0_100"] <= EXACT_TOL_0_100, rows[key]
    assert rows["c"]["mode"] == "exact"
    assert rows["d"]["mode"] in ("fast", "exact")  # exact where the CPU has no bf16 kernels (fastpath.py)


@pytest.mark.slow
@pytest.mark.timeout(BENCH_TIMEOUT_S + 60)
def test_quick_bench_reports_time_to_first_result_of_a_3_minute_song(quick_run: tuple[str, dict]) -> None:
    first = quick_run[1]["first_result"]
    assert set(FIRST_RESULT_FIELDS) <= set(first)
    assert first["duration_s"] == pytest.approx(SONG_S, abs=0.01)
    assert all(first[name] > 0 for name in FIRST_RESULT_FIELDS)
    assert "time to first result" in quick_run[0]


@pytest.mark.slow
@pytest.mark.timeout(BENCH_TIMEOUT_S + 60)
def test_quick_bench_times_the_cold_start_of_the_app_against_the_stock_loop(quick_run: tuple[str, dict]) -> None:
    stdout, result = quick_run
    assert [row["method"] for row in result["cold_start"]] == [METHOD_LABELS[1], METHOD_LABELS[2], APP_LABEL]
    assert all(row["first_score_s"] > 0 for row in result["cold_start"]) and "cold start" in stdout
    (app,) = result["app_runs"]  # one round: the app started once, as its own process, and served /score
    assert 0 < app["page_up_s"] < app["first_score_s"] and app["mode"] == "exact"
    published = next(r["scores"] for r in result["runs"] if r["method"] == "a" and r["segments"] == 1)
    for key, value in app["scores"].items():  # the app's first score is the published loop's, same file
        assert abs(value - published[key]) <= (EXACT_TOL_0_100 if key.startswith("score_") else EXACT_TOL_1_5)


# ----- bench/bench_folder.py ------------------------------------------------------------------
FOLDER_BENCH = REPO / "bench" / "bench_folder.py"
FOLDER_LABELS = ("(a) published loop, one process", "(b) project, serial (no workers, batch 1)",
                 "(c) project pipeline, defaults", "(d) project pipeline, batch 3",
                 *(("(e) Ray local (--engine ray)",) if importlib.util.find_spec("ray") else ()))
FOLDER_COLUMNS = ("method", "songs/min", "wall s", "vs (a)", "max|d| 1-5", "max|d| 0-100", "peak RSS MiB",
                  "peak GPU MiB")
QUICK_FILES = 5  # bench_folder.py --quick: five files of 10-70 s


@pytest.fixture(scope="module")
def quick_folder_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    return run_bench(FOLDER_BENCH, tmp_path_factory.mktemp("folder-bench") / "bench.json", "--quick",
                     "--batch-size", "3")


@pytest.mark.slow
@pytest.mark.timeout(BENCH_TIMEOUT_S + 60)
def test_quick_folder_bench_prints_songs_per_minute_for_every_method(quick_folder_run: tuple[str, dict]) -> None:
    stdout, result = quick_folder_run
    assert_table(stdout, FOLDER_COLUMNS, FOLDER_LABELS)
    assert [run["label"] for run in result["runs"]] == [row["label"] for row in result["rows"]] == list(FOLDER_LABELS)
    assert result["meta"]["files"] == QUICK_FILES and "load average" in stdout
    for run in result["runs"]:
        assert run["songs_per_minute"] > 0 and run["peak_rss_mb"] > 0
        assert len(run["scores"]) == QUICK_FILES  # every file scored, by every method


@pytest.mark.slow
@pytest.mark.timeout(BENCH_TIMEOUT_S + 60)
def test_quick_folder_bench_project_rows_match_the_published_loop(quick_folder_run: tuple[str, dict]) -> None:
    runs = quick_folder_run[1]["runs"]
    reference = runs[0]["scores"]
    for run in runs[1:]:
        for name, scores in run["scores"].items():
            for key, value in scores.items():
                tol = EXACT_TOL_0_100 if key in ("score_streams", "score_likes") else EXACT_TOL_1_5
                assert abs(value - reference[name][key]) <= tol, (run["label"], name, key)
