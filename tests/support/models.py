"""Tiny models in the real published file formats, written by the independent re-statement in reference/.

Nothing here uses apex_demo: MERT folders follow the published MERT-v1-95M file
layout (reference/mert_v1_95m_files.json) and every head file holds tensors of the
authors' own apexMLP, saved the way train.py saves them or a Hub repo would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from reference.files import TINY, hub_state, tiny_mert_config, write_mert_folder, write_training_checkpoint

TINY_HIDDEN = TINY["hidden"]
TINY_MERT_CONFIG = tiny_mert_config()


def build_mert_folder(folder: Path, seed: int = 0, **config_overrides: Any) -> Path:
    """A tiny MERT-format model folder with random weights (config.json values overridable)."""
    hidden = int(config_overrides.pop("hidden_size", TINY_HIDDEN))
    return write_mert_folder(folder, seed, hidden, config_overrides)


def build_head_files(root: Path, seed: int = 1) -> dict[str, Path]:
    """Every head format, holding the same full head (plus a popularity-only, 3-shared-layer one).

    train:            best_model.pt exactly as train.py writes it (task full, shared 2, uncertainty loss)
    popularity:       the same for task popularity, shared 3
    bare:             the bare model_state dict
    hub_bin:          a repo folder with pytorch_model.bin, keys under "model.", plus mert.* tensors
    hub_safetensors:  a repo folder with model.safetensors, keys under "apex.", plus mert.* tensors
    models_only:      a repo folder that holds only models/best_model.pt (the GitHub layout)
    """
    root.mkdir(parents=True, exist_ok=True)
    paths = {"train": write_training_checkpoint(root / "best_model.pt", "full", 2, TINY_HIDDEN, seed),
             "popularity": write_training_checkpoint(root / "popularity_3shared.pt", "popularity", 3,
                                                     TINY_HIDDEN, seed + 1)}
    state = torch.load(paths["train"], weights_only=True)["model_state"]
    paths["bare"] = root / "bare_state.pt"
    torch.save(state, paths["bare"])
    paths["hub_bin"] = _repo_folder(root / "hub_bin")
    torch.save(hub_state(state, "model."), paths["hub_bin"] / "pytorch_model.bin")
    paths["hub_safetensors"] = _repo_folder(root / "hub_st")
    save_file(hub_state(state, "apex."), str(paths["hub_safetensors"] / "model.safetensors"))
    paths["models_only"] = _repo_folder(root / "github_layout")
    write_training_checkpoint(paths["models_only"] / "models" / "best_model.pt", "full", 2, TINY_HIDDEN, seed)
    return paths


def _repo_folder(folder: Path) -> Path:
    """A repo folder with the non-weights files a model repo carries (they must be ignored)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text("# test model repo\n")
    return folder
