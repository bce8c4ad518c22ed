"""Model files in the published formats, written without apex_demo: MERT folders and APEX head checkpoints.

- `write_mert_folder`: config.json, preprocessor_config.json and pytorch_model.bin with the
  211 tensor names of MERT-v1-95M (legacy weight_g / weight_v), read from mert_v1_95m_files.json,
  at a small width so tests run fast.
- `write_training_checkpoint`: the dict train.py saves as best_model.pt, with real AdamW,
  CosineAnnealingLR and uncertainty-loss state from one actual training step.
- `hub_state`: the same head tensors under a prefix, next to MERT tensors (`mert.*`), as a
  Hub repo bundling both would hold them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from reference.authors import ALL_TASKS, POPULARITY_TASKS, UncertaintyWeightedLoss, apexMLP

PUBLISHED = Path(__file__).with_name("mert_v1_95m_files.json")
REAL_HIDDEN, REAL_INTERMEDIATE, REAL_CONV, POS_GROUPS = 768, 3072, 512, 16
TINY = {"hidden": 32, "intermediate": 64, "conv": 32, "heads": 2}
# The published MERT-v1-95M widths: write_mert_folder(..., hidden=768, widths=PUBLISHED_WIDTHS) for the full size.
PUBLISHED_WIDTHS = {"hidden": REAL_HIDDEN, "intermediate": REAL_INTERMEDIATE, "conv": REAL_CONV, "heads": 12}
# train.py's optimiser settings
LR, WEIGHT_DECAY, EPOCHS = 1e-4, 1e-4, 50


def published_mert_files() -> dict[str, Any]:
    """The documented config.json, preprocessor_config.json and tensor list of MERT-v1-95M."""
    return json.loads(PUBLISHED.read_text())


def tiny_mert_config(hidden: int = TINY["hidden"], widths: dict[str, int] = TINY, **overrides: Any) -> dict[str, Any]:
    """The published config.json with the widths scaled down (and any overrides)."""
    published = published_mert_files()["config.json"]
    config = dict(published, hidden_size=hidden, intermediate_size=widths["intermediate"],
                  conv_dim=[widths["conv"]] * len(published["conv_dim"]), num_attention_heads=widths["heads"],
                  _name_or_path=f"tiny-mert-{hidden}")
    config.update(overrides)
    return config


def write_mert_folder(folder: Path, seed: int = 0, hidden: int = TINY["hidden"],
                      config_overrides: dict[str, Any] | None = None,
                      preprocessor_overrides: dict[str, Any] | None = None,
                      weights_name: str = "pytorch_model.bin", widths: dict[str, int] = TINY) -> Path:
    """A MERT-format folder at a small width (the published layout with the widths scaled down).

    widths=PUBLISHED_WIDTHS (with hidden=768) writes the full-size published shapes, for the benchmark.
    """
    published = published_mert_files()
    sizes = {REAL_HIDDEN: hidden, REAL_INTERMEDIATE: widths["intermediate"], REAL_CONV: widths["conv"],
             REAL_HIDDEN // POS_GROUPS: hidden // POS_GROUPS}
    config = tiny_mert_config(hidden, widths, **(config_overrides or {}))
    gen = torch.Generator().manual_seed(seed)
    state = {name: _random_tensor(name, [sizes.get(d, d) for d in shape], gen)
             for name, shape in published["pytorch_model.bin"]}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    preprocessor = dict(published["preprocessor_config.json"], **(preprocessor_overrides or {}))
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2))
    torch.save(state, folder / weights_name)
    return folder


def _random_tensor(name: str, shape: list[int], gen: torch.Generator) -> torch.Tensor:
    """Values of a plausible scale: norms near 1, weights ~ 1/sqrt(fan-in), small biases."""
    if "norm" in name and name.endswith(".weight"):
        return 1.0 + 0.1 * torch.randn(shape, generator=gen)
    if name.endswith("weight_g"):
        return 1.0 + 0.1 * torch.rand(shape, generator=gen)
    if name.endswith(".bias") or name == "masked_spec_embed":
        return 0.05 * torch.randn(shape, generator=gen)
    fan_in = max(1, int(torch.tensor(shape[1:]).prod())) if len(shape) > 1 else shape[0]
    return torch.randn(shape, generator=gen) / fan_in ** 0.5


def random_apex(task: str, n_shared: int, input_dim: int, seed: int) -> apexMLP:
    """apexMLP with spread-out weights and non-trivial BatchNorm statistics, in eval mode."""
    torch.manual_seed(seed)
    model = apexMLP(task, n_shared, input_dim)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm1d):
                module.running_mean.copy_(0.2 * torch.randn(module.num_features, generator=gen))
                module.running_var.copy_(0.5 + 1.5 * torch.rand(module.num_features, generator=gen))
                module.weight.copy_(1.0 + 0.3 * torch.randn(module.num_features, generator=gen))
                module.bias.copy_(0.1 * torch.randn(module.num_features, generator=gen))
                module.num_batches_tracked.fill_(1234)
            elif isinstance(module, nn.Linear):
                module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * 1.5 / module.in_features ** 0.5)
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
    return model.eval()


def write_training_checkpoint(path: Path, task: str = "full", n_shared: int = 2, input_dim: int = TINY["hidden"],
                              seed: int = 1, loss: str = "uncertainty") -> Path:
    """best_model.pt exactly as train.py saves it (one real AdamW + CosineAnnealingLR step)."""
    model = random_apex(task, n_shared, input_dim, seed)
    tasks = POPULARITY_TASKS if task == "popularity" else ALL_TASKS
    uncertainty = UncertaintyWeightedLoss(tasks) if loss == "uncertainty" else None
    params = list(model.parameters()) + (list(uncertainty.parameters()) if uncertainty else [])
    optimizer = torch.optim.AdamW(params, lr=LR, weight_decay=WEIGHT_DECAY)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS)
    state_before = {k: v.clone() for k, v in model.state_dict().items()}
    preds = model(torch.randn(4, input_dim, generator=torch.Generator().manual_seed(seed)))
    raw_losses = {t: preds[t].pow(2).mean() for t in tasks}
    total = uncertainty(raw_losses) if uncertainty else sum(raw_losses.values())
    total.backward()
    optimizer.step()
    scheduler.step()
    model.load_state_dict(state_before)  # keep the spread-out test weights; optimiser state stays real
    checkpoint: dict[str, Any] = {
        "epoch": 17, "model_state": model.state_dict(), "optimizer_state": optimizer.state_dict(),
        "scheduler_state": scheduler.state_dict(), "val_loss": 0.4321,
        "val_task_losses": {t: 0.1 for t in tasks}, "train_loss": 0.5, "mode": "song", "task": task,
        "loss": loss, "shared": n_shared,
    }
    if uncertainty is not None:
        checkpoint["uncertainty_loss_state"] = uncertainty.state_dict()
        checkpoint["final_sigmas"] = uncertainty.get_sigmas()
        checkpoint["final_weights"] = uncertainty.get_weights()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return path


def hub_state(model_state: dict[str, torch.Tensor], prefix: str, hidden: int = TINY["hidden"]) -> dict[str, torch.Tensor]:
    """Head tensors under `prefix`, plus a few MERT tensors (`mert.*`) that a bundled repo carries."""
    state = {prefix + k: v.clone().contiguous() for k, v in model_state.items()}
    state["mert.encoder.layer_norm.weight"] = torch.ones(hidden)
    state["mert.feature_projection.projection.bias"] = torch.zeros(hidden)
    return state
