"""Folder scoring through the pipeline: decoding ahead in worker processes, segments of several songs per forward.

Expected scores come from the authors' loop re-stated in reference/ (one file at a time,
one segment per forward, eager attention; it never imports apex_demo), as in
tests/test_reference_equivalence.py: 1e-4 on the 1-5 scale, 1e-2 on 0-100.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from apex_demo.engine import audio
from apex_demo.folder.results_file import RowWriter
from apex_demo.cli import main
from apex_demo.config import Settings
from apex_demo.engine.encoder import MertEncoder
from apex_demo.folder.pipeline import encode_in_batches
from apex_demo.folder.prefetch import DecodeJob, Prepared, decoding_pool, prefetch
from apex_demo.scores import POPULARITY_KEYS
from apex_demo.engine.models import get_scorer
from tests.support.crashing_worker import prepare_or_die
from tests.support.models import build_mert_folder

# Named so that sorting puts the damaged file in the middle. Segments (30 s each, last one padded):
# vocadito 9.1 s -> 1, Vibe Ace 61.46 s -> 3, loop_garzul 1, outfoxing and the trumpet: whatever they have.
SONGS = {"1_vocadito.wav": "vocadito_10.wav", "2_vibe.ogg": "Kevin_MacLeod_-_Vibe_Ace.ogg",
         "4_garzul.flac": "loop_garzul.flac", "5_outfoxing.mp3": "outfoxing.mp3",
         "6_trumpet.ogg": "sorohanro_-_solo-trumpet-06.ogg"}
DAMAGED = "3_cut_off.flac"  # the first half of a FLAC file's bytes: its header promises twice what decodes
DAMAGED_CODE = "corrupt_audio"
AESTHETIC_TOL, POPULARITY_TOL = 1e-4, 1e-2
HIDDEN = 4  # width of the fake encoder's output in the unit tests


@pytest.fixture(scope="module")
def song_folder(tmp_path_factory: pytest.TempPathFactory, audio_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("pipeline") / "songs"
    root.mkdir()
    for name, clip in SONGS.items():
        shutil.copy(audio_dir / clip, root / name)
    whole = (audio_dir / "loop_garzul.flac").read_bytes()
    (root / DAMAGED).write_bytes(whole[: len(whole) // 2])
    return root


@pytest.fixture(scope="module")
def encoders(tmp_path_factory: pytest.TempPathFactory, tiny_mert_dir: Path) -> dict[str, Path]:
    """fast: the tiny MERT (the CPU runner of fastpath.py computes it, one segment at a time);
    plain: GELU "gelu_new", which the CPU runner refuses, so transformers' HubertModel runs each
    batch in one forward, as on CUDA."""
    plain = build_mert_folder(tmp_path_factory.mktemp("plain") / "plain-mert", hidden_act="gelu_new")
    return {"fast": tiny_mert_dir, "plain": plain}


@pytest.fixture(scope="module")
def oracle(song_folder: Path, encoders: dict[str, Path], tiny_heads: dict,
           reference_runs) -> dict[str, dict[str, dict]]:
    """{encoder: {file name: {"scores": ..., "segments": n}}} from the authors' loop, file by file."""
    head = tiny_heads["train"]
    return {kind: {name: {"scores": reference_runs.predict(folder, head, song_folder / name),
                          "segments": reference_runs.segment_count(folder, head, song_folder / name)}
                   for name in SONGS}
            for kind, folder in encoders.items()}


def score_folder_cli(folder: Path, output: Path, mert: Path, head: Path, *flags: str) -> int:
    return main(["score", str(folder), "--output", str(output), "--mert", str(mert), "--head", str(head),
                 "--device", "cpu", *flags])


def read_rows(path: Path) -> list[dict]:
    if path.suffix == ".csv":
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    return [json.loads(line) for line in path.read_text().splitlines()]


def assert_rows_match_oracle(rows: list[dict], folder: Path, expected: dict[str, dict]) -> None:
    """Every file once, in input (sorted) order; the damaged one an error row; the others the loop's scores."""
    assert [row["file"] for row in rows] == [str(folder / name) for name in sorted([*SONGS, DAMAGED])]
    for row in rows:
        name = Path(row["file"]).name
        if name == DAMAGED:
            assert row["error_code"] == DAMAGED_CODE and row["coherence"] in (None, "")
            continue
        assert not row["error_code"], row["error_message"]
        assert int(row["segments"]) == expected[name]["segments"]
        for key, want in expected[name]["scores"].items():
            tol = POPULARITY_TOL if key in POPULARITY_KEYS else AESTHETIC_TOL
            assert abs(float(row[key]) - want) < tol, (name, key)


@pytest.mark.parametrize(("kind", "batch_size", "workers"), [
    ("fast", 1, 0), ("fast", 3, 0), ("fast", 8, 0), ("fast", 3, 2),
    ("plain", 1, 0), ("plain", 3, 0), ("plain", 8, 2),
])
def test_folder_scores_equal_the_published_loop(kind: str, batch_size: int, workers: int, song_folder: Path,
                                                encoders: dict, tiny_heads: dict, oracle: dict,
                                                tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    code = score_folder_cli(song_folder, out, encoders[kind], tiny_heads["train"], "--no-cache",
                            "--batch-size", str(batch_size), "--decode-workers", str(workers))
    assert code == 1  # the damaged file failed; the others were scored
    assert_rows_match_oracle(read_rows(out), song_folder, oracle[kind])


def test_plain_encoder_really_runs_transformers_batched(encoders: dict, tiny_heads: dict, tmp_path: Path) -> None:
    """The premise of the "plain" rows above: no CPU runner, so a batch is one HubertModel forward."""
    settings = Settings(mert=str(encoders["plain"]), head=str(tiny_heads["train"]), device="cpu",
                        cache_dir=tmp_path / "cache")
    assert get_scorer(settings).encoder.cpu_runner is None


@pytest.mark.slow
def test_interrupted_run_resumes_without_losing_or_repeating_rows(song_folder: Path, encoders: dict,
                                                                  tiny_heads: dict, oracle: dict, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APEX_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "results.csv"
    write = RowWriter.write
    written: list[str] = []

    def ctrl_c_on_third_row(self: RowWriter, row: dict) -> None:
        if len(written) == 2:
            raise KeyboardInterrupt
        written.append(row["file"])
        write(self, row)

    flags = ("--batch-size", "3", "--decode-workers", "2")
    with monkeypatch.context() as patch:
        patch.setattr(RowWriter, "write", ctrl_c_on_third_row)
        with pytest.raises(KeyboardInterrupt):
            score_folder_cli(song_folder, out, encoders["fast"], tiny_heads["train"], *flags)
    first = read_rows(out)
    assert [row["file"] for row in first] == written == [str(song_folder / n) for n in sorted(SONGS)[:2]]
    assert score_folder_cli(song_folder, out, encoders["fast"], tiny_heads["train"], *flags) == 1
    rows = read_rows(out)
    assert rows[:2] == first
    assert_rows_match_oracle(rows, song_folder, oracle["fast"])


def test_cache_hits_skip_decoding_and_the_encoder(song_folder: Path, encoders: dict, tiny_heads: dict,
                                                  oracle: dict, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("APEX_CACHE_DIR", str(tmp_path / "cache"))
    args = (encoders["fast"], tiny_heads["train"], "--decode-workers", "0", "--batch-size", "3")
    assert score_folder_cli(song_folder, tmp_path / "first.jsonl", *args) == 1
    decode, decoded = audio.decode, []

    def recording_decode(path: Path, max_seconds: float) -> audio.DecodedAudio:
        decoded.append(Path(path).name)
        return decode(path, max_seconds)

    def no_encoder(*_: object) -> None:
        raise AssertionError("MERT ran although every scorable file is in the cache")

    monkeypatch.setattr(audio, "decode", recording_decode)
    monkeypatch.setattr(MertEncoder, "layer_means", no_encoder)
    assert score_folder_cli(song_folder, tmp_path / "again.jsonl", *args) == 1
    assert decoded == [DAMAGED]  # failures are not cached: only the damaged file is read again
    assert_rows_match_oracle(read_rows(tmp_path / "again.jsonl"), song_folder, oracle["fast"])


def test_decoding_workers_start_before_the_models_load(song_folder: Path, encoders: dict[str, Path],
                                                        tiny_heads: dict, tmp_path: Path, monkeypatch) -> None:
    """A spawned worker needs about 2 s to start (it imports torch): folder scoring starts its workers
    first, so that happens while the models load. Counted from multiprocessing's own list of this
    process's children at the moment the CLI asks for the models."""
    import multiprocessing

    import apex_demo.engine as engine  # the face the CLI takes get_scorer from

    before = {child.pid for child in multiprocessing.active_children()}  # another test's pools are not ours
    children_at_load: list[int] = []
    real = engine.get_scorer
    monkeypatch.setattr(engine, "get_scorer",
                        lambda settings: children_at_load.append(
                            len({child.pid for child in multiprocessing.active_children()} - before))
                        or real(settings))
    flags = ("--no-cache", "--decode-workers", "2", "--batch-size", "1")
    assert score_folder_cli(song_folder, tmp_path / "rows.jsonl", encoders["fast"], tiny_heads["train"], *flags) == 1
    assert children_at_load == [2]
    assert len(read_rows(tmp_path / "rows.jsonl")) == len(SONGS) + 1  # every file, the damaged one as an error row


@pytest.mark.slow
def test_a_worker_that_dies_costs_only_its_own_file(song_folder: Path, tmp_path: Path) -> None:
    crash = tmp_path / "crash.wav"
    shutil.copy(song_folder / "1_vocadito.wav", crash)
    files = [str(song_folder / "1_vocadito.wav"), str(crash), str(song_folder / "2_vibe.ogg"),
             str(song_folder / DAMAGED)]
    job = DecodeJob(max_seconds=600, cache=None, key_of=str)
    with decoding_pool(2, work=prepare_or_die) as pool:
        items = list(prefetch(files, job, pool))
    assert [item.file for item in items] == files
    assert items[1].error is not None and items[1].error["error"]["code"] == "internal_error"
    assert "worker process died" in items[1].error["error"]["message"]
    assert items[3].error is not None and items[3].error["error"]["code"] == DAMAGED_CODE
    assert [item.segments.shape for item in (items[0], items[2])] == [(1, audio.SEGMENT_SAMPLES),
                                                                      (3, audio.SEGMENT_SAMPLES)]


# ----- batching, with a fake encoder whose output is known by hand -----------------------------
def song_with(value_base: int, segments: int) -> Prepared:
    """A prepared song whose segment i is filled with value_base + i."""
    values = np.arange(value_base, value_base + segments, dtype=np.float32)
    return Prepared(f"song{value_base}", segments=np.repeat(values[:, None], 8, axis=1))


def failed_song(name: str) -> Prepared:
    return Prepared(name, error={"file": name, "error": {"code": "not_audio", "message": "not audio"}})


class FakeEncoder:
    """[B, samples] -> [B, 4, HIDDEN] filled with each segment's first sample; remembers batch sizes."""

    def __init__(self, poison: float | None = None) -> None:
        self.batches: list[int] = []
        self.poison = poison

    def __call__(self, segments: torch.Tensor) -> torch.Tensor:
        if self.poison is not None and bool((segments[:, 0] == self.poison).any()):
            raise RuntimeError("this segment breaks the encoder")
        self.batches.append(len(segments))
        return segments[:, :1, None].expand(-1, 4, HIDDEN).clone()


def test_segments_of_several_songs_share_a_forward_and_come_back_to_their_song() -> None:
    items = [song_with(10, 1), song_with(20, 3), failed_song("bad"), song_with(30, 1), song_with(40, 2)]
    encode = FakeEncoder()
    songs = list(encode_in_batches(items, encode, batch_size=3))
    assert encode.batches == [3, 3, 1]  # 1 + 3 + 1 + 2 = 7 segments, three at a time
    assert [song.prepared.file for song in songs] == ["song10", "song20", "bad", "song30", "song40"]
    assert songs[2].error is not None
    for song, base, count in zip([songs[i] for i in (0, 1, 3, 4)], (10, 20, 30, 40), (1, 3, 1, 2)):
        expected = np.arange(base, base + count, dtype=np.float32)[:, None, None] * np.ones((1, 4, HIDDEN))
        np.testing.assert_array_equal(song.layer_means(), expected)


def test_a_segment_that_breaks_the_encoder_fails_only_its_song() -> None:
    items = [song_with(10, 2), song_with(20, 2), song_with(30, 1)]
    encode = FakeEncoder(poison=21.0)  # the second segment of the second song
    songs = list(encode_in_batches(items, encode, batch_size=4))
    assert [song.error is not None for song in songs] == [False, True, False]
    assert songs[1].error["error"]["code"] == "internal_error"
    np.testing.assert_array_equal(songs[0].layer_means()[:, 0, 0], [10, 11])
    np.testing.assert_array_equal(songs[2].layer_means()[:, 0, 0], [30])


def test_after_a_batch_too_big_for_the_encoder_the_run_goes_on_with_half() -> None:
    """Like running out of GPU memory at batch 4 but not at 2: nothing fails, later batches are halved."""
    class SmallEncoder(FakeEncoder):
        def __call__(self, segments: torch.Tensor) -> torch.Tensor:
            if len(segments) > 2:
                raise RuntimeError("CUDA out of memory (simulated)")
            return super().__call__(segments)

    encode = SmallEncoder()
    songs = list(encode_in_batches([song_with(10, 3), song_with(20, 4)], encode, batch_size=4))
    assert [song.error for song in songs] == [None, None]
    assert encode.batches == [1, 1, 1, 1, 2, 1]  # 4 failed -> its 4 alone; then 2 at a time: 2, then the last 1
    np.testing.assert_array_equal(songs[1].layer_means()[:, 0, 0], [20, 21, 22, 23])
