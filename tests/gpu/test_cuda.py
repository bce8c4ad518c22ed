"""The CUDA path gives the CPU path's numbers (runs only where PyTorch sees a GPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from apex_demo.scores import AESTHETIC_KEYS, POPULARITY_KEYS
from apex_demo.engine.models import get_scorer

pytestmark = pytest.mark.gpu  # skipped, with the reason, where PyTorch sees no CUDA GPU (tests/conftest.py)
CLIPS = ["vocadito_10.wav", "Kevin_MacLeod_-_Vibe_Ace.ogg"]


@pytest.mark.parametrize("clip", CLIPS)
def test_cuda_exact_matches_cpu(clip: str, tiny_settings, audio_dir: Path) -> None:
    cpu = get_scorer(tiny_settings.with_overrides(use_cache=False)).score_file(audio_dir / clip)
    gpu_scorer = get_scorer(tiny_settings.with_overrides(device="cuda", use_cache=False))
    assert gpu_scorer.encoder.device.type == "cuda" and gpu_scorer.mode == "exact"
    gpu = gpu_scorer.score_file(audio_dir / clip)
    for key in AESTHETIC_KEYS:
        assert abs(getattr(gpu.scores, key) - getattr(cpu.scores, key)) < 1e-4, key
    for key in POPULARITY_KEYS:
        assert abs(getattr(gpu.scores, key) - getattr(cpu.scores, key)) < 1e-2, key
    rel = np.linalg.norm(gpu.embedding - cpu.embedding) / np.linalg.norm(cpu.embedding)
    assert rel < 1e-4
    print(f"{clip}: max |gpu-cpu| on 1-5 = "
          f"{max(abs(getattr(gpu.scores, k) - getattr(cpu.scores, k)) for k in AESTHETIC_KEYS):.2e}, "
          f"embedding rel {rel:.2e}")


def test_cuda_fast_mode_is_labelled(tiny_settings, audio_dir: Path) -> None:
    scorer = get_scorer(tiny_settings.with_overrides(device="cuda", fast=True, use_cache=False))
    result = scorer.score_file(audio_dir / CLIPS[0])
    assert scorer.mode == "fast" and result.model.mode == "fast"


def test_cuda_folder_pipeline_batches_give_the_cpu_numbers(tiny_settings, audio_dir: Path) -> None:
    """Segments of several songs in one CUDA forward (batch 8), decoding in workers: each song's scores as on CPU."""
    from apex_demo.folder.pipeline import score_folder
    from apex_demo.folder.prefetch import decoding_pool

    files = [str(audio_dir / clip) for clip in (*CLIPS, "loop_garzul.flac", "outfoxing.mp3")]
    cpu = get_scorer(tiny_settings.with_overrides(use_cache=False))
    gpu = get_scorer(tiny_settings.with_overrides(device="cuda", use_cache=False))
    with decoding_pool(2) as pool:
        records = list(score_folder(gpu, files, batch_size=8, pool=pool))
    assert [record["file"] for record in records] == files
    for path, record in zip(files, records):
        want = cpu.score_file(path)
        assert len(record["segments"]) == len(want.segments)
        for key in AESTHETIC_KEYS:
            assert abs(record["scores"][key] - getattr(want.scores, key)) < 1e-4, (path, key)
        for key in POPULARITY_KEYS:
            assert abs(record["scores"][key] - getattr(want.scores, key)) < 1e-2, (path, key)


REFERENCE_CLIPS = ["vocadito_10.wav", "outfoxing.mp3"]  # one part, and four parts of an MP3


@pytest.mark.parametrize("clip", REFERENCE_CLIPS)
def test_cuda_exact_matches_the_authors_loop(clip: str, tiny_settings, tiny_mert_dir: Path, tiny_heads: dict,
                                             audio_dir: Path, reference_runs) -> None:
    """The same bounds as the CPU path's (tests/engine/test_reference_equivalence.py): 1e-4 on 1-5,
    1e-2 on 0-100, 1e-5 relative on the embedding, against reference/authors.py (on the CPU)."""
    scorer = get_scorer(tiny_settings.with_overrides(device="cuda", use_cache=False))
    result = scorer.score_file(audio_dir / clip)
    want = reference_runs.predict(tiny_mert_dir, tiny_heads["train"], audio_dir / clip)
    for key in AESTHETIC_KEYS:
        assert abs(getattr(result.scores, key) - want[key]) <= 1e-4, key
    for key in POPULARITY_KEYS:
        assert abs(getattr(result.scores, key) - want[key]) <= 1e-2, key
    embedding = reference_runs.embedding(tiny_mert_dir, tiny_heads["train"], audio_dir / clip).reshape(-1).numpy()
    assert np.linalg.norm(result.embedding - embedding) / np.linalg.norm(embedding) <= 1e-5


def test_cuda_fast_mode_is_half_precision_and_says_so(tiny_settings, audio_dir: Path) -> None:
    from apex_demo.engine.modes import FAST_ERROR

    scorer = get_scorer(tiny_settings.with_overrides(device="cuda", fast=True, use_cache=False))
    assert scorer.encoder.numerics == "fast-cuda-float16"
    note = scorer.score_file(audio_dir / REFERENCE_CLIPS[0]).model.mode_note
    assert note.startswith("fast: fp16 autocast on CUDA") and FAST_ERROR in note
