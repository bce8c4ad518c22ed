"""The CLI's scores and embedding equal a plain re-statement of the reference loop, on real recordings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from apex_demo.cli import main
from apex_demo.scores import AESTHETIC_KEYS, POPULARITY_KEYS
from tests.reference_loop import load_reference_mert, reference_embedding, reference_head

# mono+stereo, 22.05+44.1 kHz, WAV/FLAC/OGG/MP3, and two files over 60 s (several segments)
CLIPS = ["vocadito_10.wav", "loop_garzul.flac", "Kevin_MacLeod_-_Vibe_Ace.ogg", "outfoxing.mp3"]
AESTHETIC_TOL = 1e-4
POPULARITY_TOL = 1e-4 * 25  # the same relative tolerance on the 0-100 scale
EMBEDDING_REL_TOL = 1e-5


@pytest.fixture(scope="module")
def cli_records(audio_dir: Path, tiny_mert_dir: Path, tiny_heads: dict, tmp_path_factory, monkeypatch_module) -> list:
    out = tmp_path_factory.mktemp("cli") / "scores.json"
    monkeypatch_module.setenv("APEX_CACHE_DIR", str(out.parent / "cache"))
    code = main(["score", *[str(audio_dir / c) for c in CLIPS], "--mert", str(tiny_mert_dir),
                 "--head", str(tiny_heads["train"]), "--format", "json", "--with-embedding",
                 "--device", "cpu", "--output", str(out)])
    assert code == 0
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def reference_model(tiny_mert_dir: Path):
    return load_reference_mert(tiny_mert_dir)


@pytest.mark.parametrize("clip", CLIPS)
def test_cli_matches_reference_loop(clip: str, cli_records: list, reference_model, audio_dir: Path,
                                    tiny_heads: dict) -> None:
    record = next(r for r in cli_records if r["file"].endswith(clip))
    expected_emb = reference_embedding(audio_dir / clip, reference_model)
    state = torch.load(tiny_heads["train"], weights_only=True)["model_state"]
    expected = reference_head(expected_emb, state)

    emb = np.asarray(record["embedding"], dtype=np.float64)
    ref = expected_emb.numpy().astype(np.float64)
    assert emb.shape == ref.shape == (32,)
    assert np.linalg.norm(emb - ref) / np.linalg.norm(ref) < EMBEDDING_REL_TOL
    assert set(record["scores"]) == set(expected)
    for key in AESTHETIC_KEYS:
        assert abs(record["scores"][key] - expected[key]) < AESTHETIC_TOL, key
    for key in POPULARITY_KEYS:
        assert abs(record["scores"][key] - expected[key]) < POPULARITY_TOL, key


def test_records_follow_the_contract(cli_records: list, audio_dir: Path) -> None:
    assert [r["file"] for r in cli_records] == [str(audio_dir / c) for c in CLIPS]  # input order, as given
    vibe = cli_records[2]
    assert vibe["sample_rate"] == 22050 and vibe["channels"] == 1
    assert vibe["duration_s"] == pytest.approx(61.46, abs=0.01)
    assert [s["index"] for s in vibe["segments"]] == [0, 1, 2]
    assert [(s["start_s"], s["end_s"]) for s in vibe["segments"]] == [(0, 30), (30, 60), (60, vibe["duration_s"])]
    flac = cli_records[1]
    assert flac["channels"] == 2 and flac["sample_rate"] == 44100 and len(flac["segments"]) == 1
    for record in cli_records:
        assert set(record) >= {"file", "duration_s", "sample_rate", "channels", "scores", "segments", "model",
                               "embedding"}
        assert 0 <= record["scores"]["score_streams"] <= 100
        assert all(1 <= record["scores"][k] <= 5 for k in AESTHETIC_KEYS)
        assert record["model"]["mert"].endswith("tiny-mert")
