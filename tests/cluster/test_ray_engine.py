"""`apex-demo score ... --engine ray` on a local Ray (started once for the module): every song scores as
`apex-demo score FILE` scores it alone and as the authors' loop does, bad files become one error row each
with the engine's code, a killed model actor is restarted and every song comes out exactly once, and an
interrupted job resumes without scoring again what it had written."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import threading
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest

from apex_demo.cli import main
from apex_demo.config import Settings
from apex_demo.folder import results_file
from apex_demo.folder.identity import model_identity
from apex_demo.scores import SCORE_KEYS, OUTPUT_BY_KEY
from tests.support.cluster import (BAD, GOOD, NOT_AN_ENTRY, cache_entry_path, cli_record, open_when_read,
                                   reader_of, release, wait_closed_by, write_catalogue)

ray = pytest.importorskip("ray")
from apex_demo.folder import ray_job  # noqa: E402 - needs ray

TOL_1_5, TOL_0_100 = 1e-4, 1e-2  # the engine's bounds for identical numbers


@pytest.fixture(scope="module")
def local_ray(module_tiny_settings: Settings) -> Iterator[None]:
    """A local Ray as `--engine ray` starts it without --address (2 CPUs here), shipping the package."""
    assert ray_job.connect(None, module_tiny_settings)
    assert ray.cluster_resources()["CPU"] == os.cpu_count()
    yield
    ray.shutdown()


def ray_cli(inputs: list[Path | str], output: Path, settings: Settings, *flags: str) -> int:
    return main(["score", *map(str, inputs), "--engine", "ray", "--output", str(output), "--mert", settings.mert,
                 "--head", settings.head, "--device", "cpu", *flags])


@pytest.fixture(scope="module")
def catalogue_run(local_ray: None, module_tiny_settings: Settings, audio_dir: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> tuple[int, pd.DataFrame, Path, str]:
    """Six recordings and four bad files in a folder, plus a manifest naming one more song by a file:// URI,
    scored with three segments per forward: (exit code, rows by file, the folder, the URI)."""
    root = tmp_path_factory.mktemp("catalogue")
    folder = write_catalogue(root / "songs", audio_dir)
    elsewhere = write_catalogue(root / "bucket", audio_dir, good=("vocadito_10.wav",), bad=False)
    uri = f"file://{elsewhere}/vocadito_10.wav"
    (root / "manifest.txt").write_text(f"# songs kept elsewhere\n{uri}\n")
    out = root / "results.parquet"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("APEX_CACHE_DIR", str(root / "cache"))
        code = ray_cli([folder, root / "manifest.txt"], out, module_tiny_settings, "--batch-size", "3")
    return code, pd.read_parquet(out).set_index("file"), folder, uri


def assert_same_scores(row: pd.Series, scores: dict[str, float], who: str) -> None:
    for key in SCORE_KEYS:
        tol = TOL_0_100 if OUTPUT_BY_KEY[key].high > 5 else TOL_1_5
        assert abs(row[key] - scores[key]) <= tol, (who, row.name, key, row[key], scores[key])


def test_every_song_scores_as_the_cli_and_the_authors_loop_score_it_alone(catalogue_run, module_tiny_settings,
                                                                          tiny_mert_dir, tiny_heads,
                                                                          reference_runs) -> None:
    """Songs of 1 to 4 segments, four songs a call and three segments a forward: forwards hold the end of
    one song and the start of the next."""
    _, rows, folder, _ = catalogue_run
    for name in GOOD:
        row = rows.loc[str(folder / name)]
        alone = cli_record(folder / name, module_tiny_settings.mert, module_tiny_settings.head)
        assert_same_scores(row, alone["scores"], "apex-demo score FILE")
        assert_same_scores(row, reference_runs.predict(tiny_mert_dir, tiny_heads["train"], folder / name), "authors")
        assert row["segments"] == len(alone["segments"]) and row["duration_s"] == alone["duration_s"]
        assert row["sha256"] == hashlib.sha256((folder / name).read_bytes()).hexdigest()
        assert row["model_id"] == model_identity(module_tiny_settings) and row["mode"] == "exact"


def test_each_bad_file_is_one_error_row_with_the_engines_code_and_the_rest_score(catalogue_run) -> None:
    code, rows, folder, uri = catalogue_run
    assert code == 1  # some files failed, as `score` says with exit code 1
    assert list(rows.reset_index().columns) == results_file.row_columns()  # the single-machine columns
    assert sorted(rows.index) == sorted([str(folder / n) for n in (*GOOD, *BAD)] + [uri])  # each file once
    assert {Path(f).name: c for f, c in rows["error_code"].items() if c} == BAD
    assert rows.loc[[str(folder / n) for n in GOOD], "coherence"].notna().all()


def test_a_song_named_by_uri_is_read_through_its_filesystem(catalogue_run, module_tiny_settings) -> None:
    _, rows, folder, uri = catalogue_run
    alone = cli_record(folder / "vocadito_10.wav", module_tiny_settings.mert, module_tiny_settings.head)
    assert_same_scores(rows.loc[uri], alone["scores"], "the local copy, scored alone")


def test_a_killed_model_actor_is_restarted_and_every_song_comes_out_once(local_ray, module_tiny_settings: Settings,
                                                                         audio_dir: Path, tmp_path: Path) -> None:
    """The last song's cache entry is a gate (tests/support/cluster.py): the actor blocks inside the call
    that holds it; the test kills that process, and lets the restarted actor through."""
    from apex_demo.engine import get_scorer

    folder = write_catalogue(tmp_path / "songs", audio_dir, good=GOOD[:4], bad=False)
    gated = folder / sorted(GOOD[:4])[-1]
    settings = module_tiny_settings.with_overrides(cache_dir=tmp_path / "cache")
    key = get_scorer(settings).key_of(hashlib.sha256(gated.read_bytes()).hexdigest())
    gate = cache_entry_path(tmp_path / "cache", key)
    gate.parent.mkdir(parents=True)
    os.mkfifo(gate)
    readers: list[int] = []
    failures: list[BaseException] = []

    def gatekeeper() -> None:
        try:
            first = open_when_read(gate)
            readers.append(reader_of(gate))
            os.kill(readers[0], signal.SIGKILL)
            wait_closed_by(readers[0], gate)
            os.close(first)
            second = open_when_read(gate)
            readers.append(reader_of(gate))
            os.write(second, NOT_AN_ENTRY)
            os.close(second)
        except BaseException as exc:  # reported below, after the job was let through
            failures.append(exc)
            release(gate)

    keeper = threading.Thread(target=gatekeeper, daemon=True)
    keeper.start()
    out = tmp_path / "rows.jsonl"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("APEX_CACHE_DIR", str(tmp_path / "cache"))
        assert ray_cli([folder], out, settings) == 0
    keeper.join(timeout=1)
    assert not failures and len(readers) == 2 and readers[0] != readers[1]  # the gated call ran in a new actor process
    rows = pd.DataFrame([json.loads(line) for line in out.read_text().splitlines()]).set_index("file")
    assert sorted(rows.index) == sorted(str(folder / n) for n in GOOD[:4])  # every song exactly once
    assert rows["error_code"].isna().all() or (rows["error_code"] == "").all()
    alone = cli_record(gated, settings.mert, settings.head)
    assert_same_scores(rows.loc[str(gated)], alone["scores"], "apex-demo score FILE")


def test_an_interrupted_job_resumes_without_scoring_again_what_it_wrote(local_ray, module_tiny_settings,
                                                                        audio_dir: Path, tmp_path: Path,
                                                                        capsys) -> None:
    folder = write_catalogue(tmp_path / "songs", audio_dir, good=GOOD[:5], bad=False)
    files = sorted(str(p) for p in folder.iterdir())
    out = tmp_path / "results.parquet"
    model_id = model_identity(module_tiny_settings)

    def ctrl_c_after_two(todo: list[str], done: frozenset[str]) -> Iterator[dict]:
        with contextlib.closing(ray_job.score_on_ray(todo, module_tiny_settings, done)) as records:
            for count, record in enumerate(records):
                if count == 2:
                    raise KeyboardInterrupt
                yield record

    with pytest.raises(KeyboardInterrupt):
        results_file.write_records(files, out, ctrl_c_after_two, model_id)
    sidecar = out.with_name(out.name + results_file.SIDECAR_SUFFIX)
    first = pd.DataFrame([json.loads(line) for line in sidecar.read_text().splitlines()])
    assert len(first) == 2 and not out.exists()

    moved = tmp_path / "moved"  # the catalogue moved meanwhile: the same bytes, other paths
    folder.rename(moved)
    capsys.readouterr()
    assert ray_cli([moved], out, module_tiny_settings) == 0
    assert f"{out}: 3 scored, 0 failed, 2 already there" in capsys.readouterr().err
    rows = pd.read_parquet(out)
    assert len(rows) == 5 and rows["sha256"].is_unique  # every song once: two under their old paths
    kept = ["file", "sha256", "model_id", *SCORE_KEYS]
    assert rows[kept].iloc[:2].to_dict("records") == first[kept].to_dict("records")  # untouched, not rescored
    assert not sidecar.exists()


# ----- the plan: what the job asks of the cluster, computed by hand -------------------------------
SEGMENT_BYTES = 720_000 * 4  # 2.88 MB: 30 s at 24 kHz, float32


@pytest.mark.parametrize(("gpus", "nodes", "device", "actors", "with_gpu"),
                         [(0, 1, "auto", 1, False), (0, 3, "auto", 3, False), (8, 2, "auto", 8, True),
                          (8, 2, "cpu", 2, False)])
def test_one_actor_per_gpu_else_one_per_node(gpus, nodes, device, actors, with_gpu) -> None:
    plan = ray_job.Plan.of(Settings(device=device), gpus, nodes)
    assert (plan.actors, plan.gpus) == (actors, with_gpu)


def test_the_object_store_budget_holds_the_calls_in_flight_of_the_longest_songs() -> None:
    ten_minutes = 20 * SEGMENT_BYTES  # a 10-minute song (57.6 MB), whatever its source rate and channels
    assert ray_job.segments_for(600) == 20 and ray_job.segments_for(600.5) == 21
    one = ray_job.Plan.of(Settings(max_seconds=600), 0, 1)
    assert one.store_budget == 1 << 30  # 4 songs x 3 calls x 57.6 MB = 691 MB: the 1 GiB floor holds it
    eight = ray_job.Plan.of(Settings(max_seconds=600), 8, 1)
    assert eight.store_budget == 8 * 4 * 3 * ten_minutes


def test_a_file_whose_task_failed_for_good_gets_one_error_row_and_the_others_none(monkeypatch,
                                                                                module_tiny_settings) -> None:
    """The driver's last word, without a cluster: rows came back for two of three files (the third's task
    failed even after Ray's retries); the third gets exactly one internal_error record, the others none."""
    class Rows:
        def iter_rows(self):
            return iter([{"record": json.dumps({"file": name, "scores": {}})} for name in ("a.wav", "c.wav")])

    monkeypatch.setattr(ray_job, "connect", lambda address, settings: False)
    monkeypatch.setattr(ray_job, "plan_here", lambda settings: ray_job.Plan(1, False, ray_job.MIN_STORE_BUDGET))
    monkeypatch.setattr(ray_job, "dataset", lambda files, settings, done, plan: Rows())
    records = list(ray_job.score_on_ray(["a.wav", "b.wav", "c.wav"], module_tiny_settings))
    assert [r["file"] for r in records] == ["a.wav", "c.wav", "b.wav"]
    assert [r.get("error", {}).get("code") for r in records] == [None, None, "internal_error"]
