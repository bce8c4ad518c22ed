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

from apex_demo.engine import fastpath
from apex_demo.engine.encoder import MERT_LAYERS, hubert_config_from_mert, load_encoder
from apex_demo.engine.fastpath import (BACKEND_ATEN, BACKEND_ONEDNN, EncoderShape, bf16_available, choose_runner,
                                       expected_shapes, onednn_available, runner_for_model, unsupported_reason)
from apex_demo.engine.models import get_scorer
from apex_demo.engine.modes import FAST_ERROR, Probe
from tests.support.models import TINY_MERT_CONFIG, build_mert_folder
from reference.authors import SEGMENT_SEC, load_mert
from reference.files import published_mert_files

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
    runner = runner_for_model(perturbed_model, (0, 1, 7, -1), use_onednn=backend == BACKEND_ONEDNN)
    assert runner.backend == backend
    got = runner.layer_means(segments)  # a batch of two, too
    with torch.no_grad():
        hs = perturbed_model(segments, output_hidden_states=True).hidden_states
    want = torch.stack([hs[k].mean(dim=1) for k in (0, 1, 7, -1)], dim=1)
    assert relative_error(got, want) < REL_TOL


def test_silent_segment_matches(perturbed_model: HubertModel) -> None:
    """All-zero input: the folded GroupNorm must give the reference's beta-only output, not NaN."""
    silence = torch.zeros(1, SEG)
    got = runner_for_model(perturbed_model, MERT_LAYERS).layer_means(silence)
    want = reference_layer_means(perturbed_model, silence)
    assert torch.isfinite(got).all() and float(want.abs().max()) > 0.1
    assert relative_error(got, want) < REL_TOL


def test_unsupported_config_falls_back_to_plain_forward(tmp_path: Path, clip_segments: dict) -> None:
    raw = dict(TINY_MERT_CONFIG, do_stable_layer_norm=True)  # same tensor names, pre-norm transformer
    folder = build_mert_folder(tmp_path / "stable-ln", do_stable_layer_norm=True)
    shape = EncoderShape.from_json(raw)
    assert shape is not None and "do_stable_layer_norm" in (unsupported_reason(shape) or "")
    encoder = load_encoder(str(folder), device="cpu", fast=True)
    assert encoder.cpu_runner is None and encoder.model is not None
    assert encoder.mode == "exact" and "do_stable_layer_norm" in encoder.choice.why
    segment = clip_segments[CLIPS[1]][:1]
    want = reference_layer_means(load_mert(folder)[1], segment)
    assert relative_error(encoder.layer_means(segment), want) < REL_TOL


@pytest.mark.parametrize("config", [TINY_MERT_CONFIG, published_mert_files()["config.json"]], ids=["tiny", "published"])
def test_the_runner_reads_exactly_hubert_models_tensors(config: dict) -> None:
    """The tensors the CPU runner reads (and the loader checks a checkpoint against) are transformers'
    own HubertModel state dict for the same config, names and shapes."""
    with torch.device("meta"):
        model = HubertModel(hubert_config_from_mert(config))
    want = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    shape = EncoderShape.from_json(config)
    assert shape is not None and shape == EncoderShape.from_config(model.config)
    assert expected_shapes(shape) == want


def test_the_cpu_path_never_imports_transformers(tiny_mert_dir: Path) -> None:
    """About 2 s of start-up: loading and running MERT on the CPU needs no transformers model code."""
    import os
    import subprocess
    import sys

    code = ("import sys, torch; from apex_demo.engine.encoder import load_encoder; "
            f"e = load_encoder({str(tiny_mert_dir)!r}, device='cpu'); e.layer_means(torch.zeros(1, 48000)); "
            "print(e.cpu_runner is not None, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert out.stdout.split() == ["True", "False"]


@pytest.mark.skipif(not bf16_available(), reason="CPU without bf16 kernels: a bf16 runner cannot be built here")
@pytest.mark.parametrize("fast_s, deviation, expected", [(0.5, 0.001, "fast"),    # faster and close: fast
                                                         (1.2, 0.001, "exact"),   # slower: exact
                                                         (0.95, 0.001, "exact"),  # not faster by 1.1x: exact
                                                         (0.5, 0.3, "exact")])    # faster but off: exact
def test_fast_mode_runs_only_where_the_probe_finds_it_faster(fast_s: float, deviation: float, expected: str,
                                                              reference_model: HubertModel, monkeypatch) -> None:
    monkeypatch.setattr(fastpath, "probe_both", lambda exact, reduced: Probe(1.0, fast_s, deviation, 3.0))
    runner, choice = choose_runner(reference_model.state_dict(), EncoderShape.from_config(reference_model.config),
                                   MERT_LAYERS, fast=True)
    assert choice.mode == expected
    assert runner.dtype == (torch.bfloat16 if expected == "fast" else torch.float32)
    assert (FAST_ERROR in choice.why) == (expected == "fast")


def test_fast_mode_on_a_cpu_without_bf16_kernels_runs_exact(reference_model: HubertModel, monkeypatch) -> None:
    monkeypatch.setattr(fastpath, "bf16_available", lambda: False)
    monkeypatch.setattr(fastpath, "probe_both", lambda *a: pytest.fail("no probe without bf16 kernels"))
    runner, choice = choose_runner(reference_model.state_dict(), EncoderShape.from_config(reference_model.config),
                                   MERT_LAYERS, fast=True)
    assert runner.dtype == torch.float32 and choice.mode == "exact" and "no bf16 kernels" in choice.why


@pytest.mark.slow
@pytest.mark.skipif(not bf16_available(), reason="CPU without bf16 kernels: fast mode runs exact fp32")
def test_the_real_probe_decides_and_bf16_stays_close(tiny_settings, audio_dir: Path, reference_model: HubertModel,
                                                      clip_segments: dict) -> None:
    """Whatever this machine's probe decides, the result says it, and bf16 (when it runs) is close to exact."""
    runner, choice = choose_runner(reference_model.state_dict(), EncoderShape.from_config(reference_model.config),
                                   MERT_LAYERS, fast=True)
    result = get_scorer(dataclasses.replace(tiny_settings, fast=True)).score_file(audio_dir / CLIPS[1])
    assert result.model.mode in ("exact", "fast") and result.model.mode_note.startswith(result.model.mode + ":")
    if choice.mode == "exact":
        pytest.skip(f"this CPU's probe chose exact ({choice.why})")
    segments = clip_segments[CLIPS[1]]
    got, want = runner.layer_means(segments), reference_layer_means(reference_model, segments)
    assert got.dtype == torch.float32 and 0 < float((got - want).abs().max()) < BF16_ABS_TOL
