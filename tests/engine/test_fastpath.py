"""The fast CPU runner gives the plain reference loop's numbers on real recordings."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F
import torchaudio
from transformers import HubertModel

from apex_demo.engine.encoder import MERT_LAYERS, hubert_config_from_mert, load_encoder
from apex_demo.engine.fastpath import (BACKEND_ATEN, BACKEND_ONEDNN, CpuMertRunner, bf16_available, cpu_runner_for,
                                onednn_available, unsupported_reason)
from apex_demo.engine.models import get_scorer
from tests.support.models import TINY_MERT_CONFIG, build_mert_folder
from reference.authors import SEGMENT_SEC, load_mert

SEG = SEGMENT_SEC * 24_000
CLIPS = ["Kevin_MacLeod_-_Vibe_Ace.ogg", "vocadito_10.wav"]  # 22.05 kHz mono (3 segments), 44.1 kHz
REL_TOL = 1e-5  # float rounding only: kernels sum in a different order
BF16_ABS_TOL = 0.1  # the approximate mode: bounded, but clearly not exact


def reference_segments(path: Path) -> torch.Tensor:
    """Decode, downmix, resample and cut exactly as the published loop does."""
    wave, sr = sf.read(str(path), dtype="float32")
    wave = wave.mean(axis=1) if wave.ndim > 1 else wave
    wave = torchaudio.functional.resample(torch.from_numpy(np.ascontiguousarray(wave)), sr, 24000)
    count = -(-wave.numel() // SEG)
    return F.pad(wave, (0, count * SEG - wave.numel())).view(count, SEG)


def reference_layer_means(model: HubertModel, segments: torch.Tensor) -> torch.Tensor:
    """One segment at a time, eager attention, all hidden states: the reference loop's step 4."""
    rows = []
    with torch.no_grad():
        for seg in segments:
            hs = model(seg.unsqueeze(0), output_hidden_states=True).hidden_states
            rows.append(torch.stack([hs[k][0].mean(dim=0) for k in MERT_LAYERS]))
    return torch.stack(rows)


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got - want).norm() / want.norm())


@pytest.fixture(scope="module")
def reference_model(tiny_mert_dir: Path) -> HubertModel:
    return load_mert(tiny_mert_dir)[1]


@pytest.fixture(scope="module")
def perturbed_model(reference_model: HubertModel) -> HubertModel:
    """The tiny model with random norm gains/biases, so a swapped or skipped norm shows up."""
    model = copy.deepcopy(reference_model)
    gen = torch.Generator().manual_seed(7)
    for module in model.modules():
        if isinstance(module, (torch.nn.LayerNorm, torch.nn.GroupNorm)):
            module.weight.data = 1 + 0.3 * torch.randn(module.weight.shape, generator=gen)
            module.bias.data = 0.3 * torch.randn(module.bias.shape, generator=gen)
    return model


@pytest.fixture(scope="module")
def clip_segments(audio_dir: Path) -> dict[str, torch.Tensor]:
    return {clip: reference_segments(audio_dir / clip) for clip in CLIPS}


@pytest.mark.slow
@pytest.mark.parametrize("clip", CLIPS)
def test_encoder_fast_path_equals_reference_loop(clip: str, tiny_mert_dir: Path, reference_model: HubertModel,
                                                 clip_segments: dict) -> None:
    encoder = load_encoder(str(tiny_mert_dir), device="cpu")
    assert encoder.cpu_runner is not None  # the app's CPU path really is the fast one
    segments = clip_segments[clip]
    got = torch.cat([encoder.layer_means(seg.unsqueeze(0)) for seg in segments])
    want = reference_layer_means(reference_model, segments)
    assert got.shape == want.shape == (len(segments), 4, 32)
    assert relative_error(got, want) < REL_TOL


@pytest.mark.slow
@pytest.mark.parametrize("backend", [BACKEND_ONEDNN, BACKEND_ATEN])
def test_both_backends_and_any_hidden_state_index(backend: str, perturbed_model: HubertModel,
                                                  clip_segments: dict) -> None:
    if backend == BACKEND_ONEDNN and not onednn_available():
        pytest.skip("this torch build has no oneDNN")
    segments = clip_segments[CLIPS[0]][:2]
    runner = CpuMertRunner(perturbed_model, (0, 1, 7, -1), use_onednn=backend == BACKEND_ONEDNN)
    assert runner.backend == backend
    got = runner.layer_means(segments)  # a batch of two, too
    with torch.no_grad():
        hs = perturbed_model(segments, output_hidden_states=True).hidden_states
    want = torch.stack([hs[k].mean(dim=1) for k in (0, 1, 7, -1)], dim=1)
    assert relative_error(got, want) < REL_TOL


def test_silent_segment_matches(perturbed_model: HubertModel) -> None:
    """All-zero input: the folded GroupNorm must give the reference's beta-only output, not NaN."""
    silence = torch.zeros(1, SEG)
    got = CpuMertRunner(perturbed_model, MERT_LAYERS).layer_means(silence)
    want = reference_layer_means(perturbed_model, silence)
    assert torch.isfinite(got).all() and float(want.abs().max()) > 0.1
    assert relative_error(got, want) < REL_TOL


def test_unsupported_config_falls_back_to_plain_forward(tmp_path: Path, clip_segments: dict) -> None:
    raw = dict(TINY_MERT_CONFIG, do_stable_layer_norm=True)  # same tensor names, pre-norm transformer
    folder = build_mert_folder(tmp_path / "stable-ln", do_stable_layer_norm=True)
    assert "do_stable_layer_norm" in (unsupported_reason(hubert_config_from_mert(raw)) or "")
    encoder = load_encoder(str(folder), device="cpu")
    assert encoder.cpu_runner is None
    segment = clip_segments[CLIPS[1]][:1]
    want = reference_layer_means(load_mert(folder)[1], segment)
    assert relative_error(encoder.layer_means(segment), want) < REL_TOL


@pytest.mark.slow
@pytest.mark.skipif(not bf16_available(), reason="CPU without bf16 kernels: fast mode runs exact fp32")
def test_fast_mode_is_bf16_labelled_and_close(tiny_settings, audio_dir: Path, reference_model: HubertModel,
                                              clip_segments: dict) -> None:
    runner = cpu_runner_for(reference_model, MERT_LAYERS, approximate=True)
    assert runner is not None
    segments = clip_segments[CLIPS[1]]
    got, want = runner.layer_means(segments), reference_layer_means(reference_model, segments)
    assert got.dtype == torch.float32
    result = get_scorer(dataclasses.replace(tiny_settings, fast=True)).score_file(audio_dir / CLIPS[1])
    if runner.dtype == torch.float32:
        pytest.skip("this CPU's bf16 kernels failed the load-time self-check, so fast mode runs exact fp32 "
                    "(the fallback itself is tested in test_fast_mode_self_check_falls_back_when_bf16_is_off)")
    assert runner.dtype == torch.bfloat16
    assert 0 < float((got - want).abs().max()) < BF16_ABS_TOL
    assert result.model.mode == "fast"
    exact = get_scorer(tiny_settings).score_file(audio_dir / CLIPS[1])
    assert exact.model.mode == "exact"


@pytest.mark.skipif(not bf16_available(), reason="CPU without bf16 kernels: fast mode runs exact fp32")
def test_fast_mode_self_check_falls_back_when_bf16_is_off(reference_model: HubertModel, monkeypatch,
                                                          caplog) -> None:
    from apex_demo.engine import fastpath

    monkeypatch.setattr(fastpath, "fast_mode_deviation", lambda *a: 0.001)
    assert cpu_runner_for(reference_model, MERT_LAYERS, approximate=True).dtype == torch.bfloat16
    monkeypatch.setattr(fastpath, "fast_mode_deviation", lambda *a: 0.3)
    with caplog.at_level("WARNING"):
        runner = cpu_runner_for(reference_model, MERT_LAYERS, approximate=True)
    assert runner.dtype == torch.float32 and "deviate 0.300" in caplog.text
