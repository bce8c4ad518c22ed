"""The results file of a folder run: rows as they go, resume after an interruption without duplicates, formula-
safe cells."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest
import soundfile as sf

from apex_demo.folder import results_file
from apex_demo.folder.inputs import find_audio
from apex_demo.folder.progress import score_records
from apex_demo.cli import main
from apex_demo.engine import audio
from apex_demo.engine.models import get_scorer

CLIPS = {"a/vocadito_10.wav": "vocadito_10.wav", "a/b/loop_garzul.flac": "loop_garzul.flac",
         "trumpet.ogg": "sorohanro_-_solo-trumpet-06.ogg"}


@pytest.fixture()
def song_dir(tmp_path: Path, audio_dir: Path) -> Path:
    """Real clips in nested folders, plus a broken 'audio' file and a non-audio file."""
    root = tmp_path / "songs"
    for rel, clip in CLIPS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(audio_dir / clip, root / rel)
    (root / "a" / "broken.mp3").write_bytes(b"this is not audio" * 10)
    (root / "notes.txt").write_text("not audio, not scored")
    return root


def cli_args(root: Path, output: Path, tiny_settings) -> list[str]:
    return ["score", str(root), "--recursive", "--output", str(output), "--mert", tiny_settings.mert,
            "--head", tiny_settings.head, "--device", "cpu"]


def score_to_file(files: list[str], output: Path, score: Callable[[str], dict]) -> results_file.BatchSummary:
    """The resumable writer under test (results_file.write_records) fed one file at a time by `score`,
    through score_records (the per-file scorer), with no progress bar."""
    return results_file.write_records(files, output,
                                      lambda todo, _done: score_records(todo, score, show_progress=False))


def csv_rows(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_find_audio_walks_folders(song_dir: Path) -> None:
    flat = find_audio([str(song_dir)], recursive=False)
    deep = find_audio([str(song_dir)], recursive=True)
    assert [Path(p).name for p in flat] == ["trumpet.ogg"]
    assert sorted(Path(p).name for p in deep) == ["broken.mp3", "loop_garzul.flac", "trumpet.ogg", "vocadito_10.wav"]


def test_cli_folder_to_csv(song_dir: Path, tmp_path: Path, tiny_settings, monkeypatch) -> None:
    monkeypatch.setenv("APEX_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "results.csv"
    assert main(cli_args(song_dir, out, tiny_settings)) == 1  # the broken file fails, the rest score
    rows = csv_rows(out)
    assert len(rows) == 4
    by_name = {Path(r["file"]).name: r for r in rows}
    assert by_name["broken.mp3"]["error_code"] == "not_audio" and not by_name["broken.mp3"]["coherence"]
    engine = get_scorer(tiny_settings.with_overrides(use_cache=False))
    for rel in CLIPS:
        want = engine.score_file(song_dir / rel).scores  # the engine on its own, file by file
        row = by_name[Path(rel).name]
        assert float(row["coherence"]) == pytest.approx(want.coherence, rel=1e-6)
        assert float(row["score_streams"]) == pytest.approx(want.score_streams, rel=1e-6)
    assert float(by_name["vocadito_10.wav"]["duration_s"]) == pytest.approx(9.1, abs=0.05)
    assert by_name["trumpet.ogg"]["mode"] == "exact"


def test_resume_after_interruption_without_duplicates(song_dir: Path, tmp_path: Path, tiny_settings,
                                                      monkeypatch) -> None:
    monkeypatch.setenv("APEX_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "results.csv"
    files = find_audio([str(song_dir)], recursive=True)
    scorer = get_scorer(tiny_settings)
    calls: list[str] = []

    def interrupted_after_two(path: str) -> dict:
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C in the middle of the third file
        calls.append(path)
        return scorer.score_file(path, display_name=path).to_record()

    with pytest.raises(KeyboardInterrupt):
        score_to_file(files, out, interrupted_after_two)
    first = csv_rows(out)
    assert [r["file"] for r in first] == calls  # nothing scored was lost
    with out.open("a") as handle:  # a hard kill mid-row leaves half a line behind
        handle.write(str(files[2]) + ",12.3,44100")

    broken_left = not any(c.endswith("broken.mp3") for c in calls)
    assert main(cli_args(song_dir, out, tiny_settings)) == int(broken_left)
    rows = csv_rows(out)
    assert sorted(r["file"] for r in rows) == sorted(files)  # every file exactly once
    assert rows[:2] == first  # the earlier rows are untouched
    assert main(cli_args(song_dir, out, tiny_settings)) == 0  # a third run has nothing left to do (no error rows)
    assert len(csv_rows(out)) == len(files)


def test_parquet_keeps_a_sidecar_until_complete(song_dir: Path, tmp_path: Path, tiny_settings) -> None:
    out = tmp_path / "results.parquet"
    sidecar = out.with_name(out.name + results_file.SIDECAR_SUFFIX)
    files = find_audio([str(song_dir)], recursive=True)
    scorer = get_scorer(tiny_settings)
    seen: list[str] = []

    def dies_on_third(path: str) -> dict:
        if len(seen) == 2:
            raise KeyboardInterrupt
        seen.append(path)
        return scorer.score_file(path, display_name=path).to_record()

    with pytest.raises(KeyboardInterrupt):
        score_to_file(files, out, dies_on_third)
    assert not out.exists()
    assert [json.loads(line)["file"] for line in sidecar.read_text().splitlines()] == seen

    rescored: list[str] = []

    def counting(path: str) -> dict:
        rescored.append(path)
        return scorer.score_file(path, display_name=path).to_record()

    summary = score_to_file(files, out, counting)
    assert summary.skipped == 2 and sorted(rescored) == sorted(set(files) - set(seen))
    frame = pd.read_parquet(out)
    assert sorted(frame["file"]) == sorted(files) and not sidecar.exists()
    assert frame["coherence"].notna().sum() == 3  # the broken file is a row with its error code


def test_appending_keeps_an_older_files_columns(tmp_path: Path) -> None:
    """A results.csv written before the `mode` column existed still gets aligned rows."""
    out = tmp_path / "old.csv"
    old_columns = [c for c in results_file.row_columns() if c != "mode"]
    out.write_text(",".join(old_columns) + "\n" + "done.wav" + "," * (len(old_columns) - 1) + "\n")
    record = {"file": "new.wav", "duration_s": 12.5, "sample_rate": 44100, "channels": 2,
              "scores": {"coherence": 3.25}, "segments": [{}], "model": {"mode": "exact"}}
    summary = score_to_file(["done.wav", "new.wav"], out, lambda p: record)
    assert (summary.scored, summary.skipped) == (1, 1)
    rows = csv_rows(out)
    assert list(rows[1]) == old_columns
    assert rows[1]["file"] == "new.wav" and rows[1]["coherence"] == "3.25" and rows[1]["channels"] == "2"


def test_csv_cells_are_formula_escaped_and_resume_still_matches(tmp_path: Path) -> None:
    name = "=HYPERLINK(evil).wav"  # as the user typed it, relative
    out = tmp_path / "rows.csv"
    record = {"file": name, "error": {"code": "not_audio", "message": "-not audio"}}
    calls = []
    score_to_file([name], out, lambda p: calls.append(p) or record)
    text = out.read_text()
    assert f"'{name}" in text and "'-not audio" in text
    summary = score_to_file([name], out, lambda p: calls.append(p) or record)
    assert calls == [name] and summary.skipped == 1  # the escaped row is recognised on resume


def test_done_means_same_bytes_and_same_model(song_dir: Path, tmp_path: Path, tiny_settings, tiny_heads,
                                              monkeypatch) -> None:
    """A moved folder is skipped by the songs' hashes (never decoded again); a re-exported take and
    another model are scored again; every row names its bytes' sha256 and its model."""
    out = tmp_path / "rows.jsonl"
    decoded: list[str] = []
    decode = audio.decode
    monkeypatch.setattr(audio, "decode", lambda path, limit: decoded.append(Path(path).name) or decode(path, limit))

    def score(folder: Path, head: Path) -> int:
        return main(["score", str(folder), "--recursive", "--output", str(out), "--mert", tiny_settings.mert,
                     "--head", str(head), "--device", "cpu", "--no-cache", "--decode-workers", "0"])

    assert score(song_dir, tiny_heads["train"]) == 1  # broken.mp3 is an error row
    first = [json.loads(line) for line in out.read_text().splitlines()]
    for row in first:  # the broken file's too: its bytes were read, so moving it costs nothing either
        assert row["sha256"] == hashlib.sha256(Path(row["file"]).read_bytes()).hexdigest()
    assert len({row["model_id"] for row in first}) == 1

    moved = tmp_path / "moved"
    shutil.copytree(song_dir, moved)
    decoded.clear()
    assert score(moved, tiny_heads["train"]) == 0  # nothing failed this time: broken.mp3 was skipped too
    assert decoded == [] and len(out.read_text().splitlines()) == len(first)  # hashed, skipped, not decoded

    take = moved / "a" / "vocadito_10.wav"
    wave, rate = sf.read(str(take), dtype="float32")
    sf.write(str(take), wave * 0.5, rate)  # re-exported 6 dB quieter, same name
    assert score(moved, tiny_heads["train"]) == 0
    assert decoded == ["vocadito_10.wav"]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows[-1]["file"] == str(take) and rows[-1]["sha256"] == hashlib.sha256(take.read_bytes()).hexdigest()

    decoded.clear()
    assert score(moved, tiny_heads["popularity"]) == 1  # another head: every song again, broken.mp3 included
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(decoded) == len(CLIPS) + 1 and len(rows) == len(first) + 1 + len(CLIPS) + 1
    assert rows[-1]["model_id"] != first[0]["model_id"]
