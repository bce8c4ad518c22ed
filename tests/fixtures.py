"""Tiny models in the real published file formats, built by the tests themselves.

- a MERT-format folder: MERT-style config.json (model_type mert_model, MERT-only
  keys), preprocessor_config.json, pytorch_model.bin with legacy weight_g/weight_v;
- APEX head checkpoints: the GitHub training dict, a Hub-style folder with a
  prefix and mert.* tensors (bin and safetensors), a bare state dict, and a
  popularity-only 3-shared-layer checkpoint; all with non-trivial BatchNorm stats.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import HubertModel

from apex_demo.encoder import LEGACY_RENAMES, hubert_config_from_mert
from apex_demo.head import ApexHead, HeadConfig
from apex_demo.scores import POPULARITY_KEYS, SCORE_KEYS

TINY_HIDDEN = 32
TINY_MERT_CONFIG = {
    "_name_or_path": "tiny-mert-for-tests",
    "architectures": ["MERTModel"],
    "auto_map": {"AutoConfig": "configuration_MERT.MERTConfig", "AutoModel": "modeling_MERT.MERTModel"},
    "model_type": "mert_model",
    "hidden_size": TINY_HIDDEN, "num_hidden_layers": 12, "num_attention_heads": 2, "intermediate_size": 64,
    "hidden_act": "gelu", "hidden_dropout": 0.1, "activation_dropout": 0.0, "attention_dropout": 0.1,
    "feat_proj_dropout": 0.1, "feat_proj_layer_norm": True, "final_dropout": 0.1, "layerdrop": 0.1,
    "conv_dim": [32] * 7, "conv_kernel": [10, 3, 3, 3, 3, 2, 2], "conv_stride": [5, 2, 2, 2, 2, 2, 2],
    "conv_bias": False, "feat_extract_norm": "group", "feat_extract_activation": "gelu",
    "do_stable_layer_norm": False, "layer_norm_eps": 1e-5, "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16, "mask_time_prob": 0.05, "mask_time_length": 10,
    "initializer_range": 0.02, "vocab_size": 32,
    # MERT-only keys the HubertConfig path ignores
    "feature_extractor_cqt": False, "feature_extractor_cqt_bins": 336, "deepnorm": False,
    "attention_relax": -1.0, "sample_rate": 24000, "transformers_version": "4.25.1",
}
PREPROCESSOR_CONFIG = {"do_normalize": False, "feature_extractor_type": "Wav2Vec2FeatureExtractor",
                       "feature_size": 1, "padding_side": "right", "padding_value": 0,
                       "return_attention_mask": True, "sampling_rate": 24000}
LEGACY = {new: old for old, new in LEGACY_RENAMES.items()}  # current weight-norm names -> legacy ones


def build_mert_folder(folder: Path, seed: int = 0, config: dict | None = None) -> Path:
    """Write a tiny MERT-format model folder with random weights."""
    folder.mkdir(parents=True, exist_ok=True)
    raw = dict(TINY_MERT_CONFIG if config is None else config)
    torch.manual_seed(seed)
    model = HubertModel(hubert_config_from_mert(raw)).eval()
    state = {}
    for key, value in model.state_dict().items():
        for new, old in LEGACY.items():
            if key.endswith(new):
                key = key[: -len(new)] + old
        state[key] = value.clone()
    (folder / "config.json").write_text(json.dumps(raw, indent=2))
    (folder / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR_CONFIG, indent=2))
    torch.save(state, folder / "pytorch_model.bin")
    return folder


def random_head_state(config: HeadConfig, seed: int) -> dict[str, torch.Tensor]:
    """A head state dict with spread-out outputs and non-trivial BatchNorm statistics."""
    gen = torch.Generator().manual_seed(seed)
    head = ApexHead(config)
    state = {}
    for key, value in head.state_dict().items():
        if key.endswith("running_mean"):
            value = torch.randn(value.shape, generator=gen) * 0.2
        elif key.endswith("running_var"):
            value = torch.rand(value.shape, generator=gen) * 1.5 + 0.5
        elif key.endswith("num_batches_tracked"):
            value = torch.tensor(1234)
        elif key.endswith("weight") and value.ndim == 1:  # BatchNorm gamma
            value = 1.0 + 0.3 * torch.randn(value.shape, generator=gen)
        elif value.ndim == 2:
            value = torch.randn(value.shape, generator=gen) * (1.5 / value.shape[1] ** 0.5)
        else:
            value = 0.1 * torch.randn(value.shape, generator=gen)
        state[key] = value
    return state


def tiny_head_config(shared: int = 2, popularity_only: bool = False) -> HeadConfig:
    shared_dims = (64, 48, 32) if shared == 3 else (64, 32)
    outputs = POPULARITY_KEYS if popularity_only else SCORE_KEYS
    return HeadConfig(input_dim=TINY_HIDDEN, shared_dims=shared_dims, branch_dims=(16, 8), outputs=outputs)


def training_checkpoint(state: dict[str, torch.Tensor], task: str, shared: int) -> dict:
    """The GitHub repo's models/best_model.pt layout."""
    return {"model_state": state, "task": task, "shared": shared, "mode": "song", "epoch": 17,
            "val_loss": 0.4321, "optimizer_state": {"state": {}, "param_groups": [{"lr": 0.001, "params": [0]}]}}


def build_head_files(root: Path, seed: int = 1) -> dict[str, Path]:
    """Every head checkpoint format, holding the same full head (plus a popularity-only one)."""
    root.mkdir(parents=True, exist_ok=True)
    state = random_head_state(tiny_head_config(), seed)
    paths = {"train": root / "best_model.pt", "bare": root / "bare_state.pt",
             "hub_bin": root / "hub_bin", "hub_safetensors": root / "hub_st",
             "popularity": root / "popularity_3shared.pt"}
    torch.save(training_checkpoint(state, "full", 2), paths["train"])
    torch.save(state, paths["bare"])
    hub_state = {f"model.{k}": v for k, v in state.items()}
    hub_state["mert.encoder.layer_norm.weight"] = torch.ones(TINY_HIDDEN)  # excluded in real repos; ignored
    for key in ("hub_bin", "hub_safetensors"):
        paths[key].mkdir(exist_ok=True)
        (paths[key] / "config.json").write_text(json.dumps({"model_type": "apex", "task": "full", "n_shared": 2}))
    torch.save(hub_state, paths["hub_bin"] / "pytorch_model.bin")
    save_file({k: v.contiguous() for k, v in hub_state.items()}, str(paths["hub_safetensors"] / "model.safetensors"))
    pop_state = random_head_state(tiny_head_config(shared=3, popularity_only=True), seed + 1)
    torch.save(training_checkpoint(pop_state, "popularity", 3), paths["popularity"])
    return paths
