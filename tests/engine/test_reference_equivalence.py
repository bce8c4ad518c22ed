"""The CLI's scores and embedding equal the authors' loop (reference/authors.py), on real recordings.

The oracle never imports apex_demo: it loads MERT with transformers' own
from_pretrained (eager attention), runs the feature extractor on every segment,
and applies the authors' apexMLP loaded from each checkpoint as their inference.py
does. Bounds: 1e-4 on the 1-5 scale, 1e-2 on 0-100, 1e-5 relative on the embedding.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from apex_demo.cli import main
from apex_demo.scores import AESTHETIC_KEYS, POPULARITY_KEYS
from reference.authors import APEX, apply_head, load_apex_head
from tests.support.models import build_mert_folder

# mono+stereo, 22.05+44.1 kHz, WAV/FLAC/OGG/MP3, and two files over 60 s (several segments)
CLIPS = ["vocadito_10.wav", "loop_garzul.flac", "Kevin_MacLeod_-_Vibe_Ace.ogg", "outfoxing.mp3"]
HEADS = ["train", "popularity", "hub_bin", "hub_safetensors", "models_only"]
AESTHETIC_TOL = 1e-4
POPULARITY_TOL = 1e-2
EMBEDDING_REL_TOL = 1e-5


def run_cli(clips: list[Path], mert: Path, head: Path, out: Path) -> list[dict]:
    code = main(["score", *map(str, clips), "--mert", str(mert), "--head", str(head), "--format", "json",
                 "--with-embedding", "--device", "cpu", "--output", str(out)])
    assert code == 0
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


@pytest.fixture(scope="module")
def cli_records(audio_dir: Path, tiny_mert_dir: Path, tiny_heads: dict, tmp_path_factory,
                monkeypatch_module) -> dict[str, list]:
    """One CLI run per head format; MERT's work is shared through the embedding cache."""
    out = tmp_path_factory.mktemp("cli")
    monkeypatch_module.setenv("APEX_CACHE_DIR", str(out / "cache"))
    return {fmt: run_cli([audio_dir / c for c in CLIPS], tiny_mert_dir, tiny_heads[fmt], out / f"{fmt}.json")
            for fmt in HEADS}


@pytest.fixture(scope="module")
def oracle_embeddings(audio_dir: Path, tiny_mert_dir: Path, tiny_heads: dict,
                      reference_runs) -> dict[str, torch.Tensor]:
    return {clip: reference_runs.embedding(tiny_mert_dir, tiny_heads["train"], audio_dir / clip) for clip in CLIPS}


def assert_close(record: dict, embedding: torch.Tensor, expected: dict[str, float]) -> None:
    emb = np.asarray(record["embedding"], dtype=np.float64)
    ref = embedding.numpy().astype(np.float64)
    assert emb.shape == ref.shape == (32,)
    assert np.linalg.norm(emb - ref) / np.linalg.norm(ref) < EMBEDDING_REL_TOL
    assert set(record["scores"]) == set(expected)
    for key in expected:
        tol = POPULARITY_TOL if key in POPULARITY_KEYS else AESTHETIC_TOL
        assert abs(record["scores"][key] - expected[key]) < tol, key


@pytest.mark.parametrize("fmt", HEADS)
@pytest.mark.parametrize("clip", CLIPS)
def test_cli_matches_the_authors_loop(clip: str, fmt: str, cli_records: dict, oracle_embeddings: dict,
                                      tiny_heads: dict) -> None:
    record = next(r for r in cli_records[fmt] if r["file"].endswith(clip))
    checkpoint = tiny_heads["popularity"] if fmt == "popularity" else tiny_heads["train"]
    expected = apply_head(load_apex_head(checkpoint), oracle_embeddings[clip])
    assert_close(record, oracle_embeddings[clip], expected)


def test_do_normalize_is_applied_as_the_feature_extractor_does(audio_dir: Path, tiny_heads: dict,
                                                              tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("APEX_CACHE_DIR", str(tmp_path / "cache"))
    folder = build_mert_folder(tmp_path / "normalizing-mert")
    config = json.loads((folder / "preprocessor_config.json").read_text())
    (folder / "preprocessor_config.json").write_text(json.dumps({**config, "do_normalize": True}))
    clip = audio_dir / "vocadito_10.wav"
    [record] = run_cli([clip], folder, tiny_heads["train"], tmp_path / "out.json")
    apex = APEX(folder, tiny_heads["train"])
    assert apex.processor.do_normalize  # the oracle really normalises (transformers' own extractor)
    embedding = apex.embedding(clip)
    assert_close(record, embedding, apex.head(embedding))
    plain = APEX(build_mert_folder(tmp_path / "plain-mert"), tiny_heads["train"]).embedding(clip)
    assert float((plain - embedding).norm() / plain.norm()) > 10 * EMBEDDING_REL_TOL  # so skipping it would fail


def test_records_follow_the_contract(cli_records: dict, audio_dir: Path) -> None:
    records = cli_records["train"]
    assert [r["file"] for r in records] == [str(audio_dir / c) for c in CLIPS]  # input order, as given
    vibe = records[2]
    assert vibe["sample_rate"] == 22050 and vibe["channels"] == 1
    assert vibe["duration_s"] == pytest.approx(61.46, abs=0.01)
    assert [s["index"] for s in vibe["segments"]] == [0, 1, 2]
    assert [(s["start_s"], s["end_s"]) for s in vibe["segments"]] == [(0, 30), (30, 60), (60, vibe["duration_s"])]
    flac = records[1]
    assert flac["channels"] == 2 and flac["sample_rate"] == 44100 and len(flac["segments"]) == 1
    assert set(cli_records["popularity"][0]["scores"]) == set(POPULARITY_KEYS)
    assert set(records[0]["scores"]) == set(POPULARITY_KEYS) | set(AESTHETIC_KEYS)
    assert records[0]["model"]["mert"].endswith("tiny-mert")
