"""A plain, step-by-step re-statement of the published APEX scoring loop.

Deliberately independent of apex_demo's encoder/head code: it builds MERT from
the folder by hand (eager attention), and applies the head functionally from
the raw state-dict tensors. Tests compare the app's numbers against this.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf
import torch
import torch.nn.functional as F
import torchaudio
from transformers import HubertConfig, HubertModel

SEG = 720_000
AGG_W = [0.3822692632675171, 0.4150039553642273, -0.11713624000549316, 0.45930564403533936]
AGG_B = -0.10955178737640381
SCALES = {"score_streams": (100.0, 0.0), "score_likes": (100.0, 0.0), "coherence": (4.0, 1.0),
          "musicality": (4.0, 1.0), "memorability": (4.0, 1.0), "clarity": (4.0, 1.0), "naturalness": (4.0, 1.0)}


def load_reference_mert(folder: Path) -> HubertModel:
    raw = json.loads((folder / "config.json").read_text())
    allowed = set(HubertConfig().to_dict()) - {"model_type", "architectures", "transformers_version"}
    config = HubertConfig(**{k: v for k, v in raw.items() if k in allowed})
    config._attn_implementation = "eager"
    model = HubertModel(config)
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    state = {k.replace(".weight_g", ".parametrizations.weight.original0")
              .replace(".weight_v", ".parametrizations.weight.original1"): v for k, v in state.items()}
    model.load_state_dict(state, strict=False)
    return model.eval()


def reference_segment_embeddings(path: Path, model: HubertModel,
                                 device: torch.device = torch.device("cpu")) -> Iterator[torch.Tensor]:
    """The published loop, yielding each 30 s segment's embedding ([1, D], on the CPU) as it is made."""
    wave, sr = sf.read(str(path), dtype="float32")
    if wave.ndim > 1:
        wave = wave.mean(axis=1)
    wave = torchaudio.functional.resample(torch.from_numpy(np.ascontiguousarray(wave)), sr, 24000)
    torch.manual_seed(42)
    aggregator = torch.nn.Conv1d(4, 1, 1)
    assert aggregator.weight.flatten().tolist() == AGG_W and aggregator.bias.item() == AGG_B
    aggregator = aggregator.to(device)
    with torch.no_grad():
        for i in range(math.ceil(len(wave) / SEG)):
            seg = wave[i * SEG:(i + 1) * SEG]
            if len(seg) < SEG:
                seg = F.pad(seg, (0, SEG - len(seg)))
            hs = model(seg.unsqueeze(0).to(device), output_hidden_states=True).hidden_states
            layers = torch.stack([hs[k].mean(dim=1) for k in (2, 5, 8, -1)], dim=1)  # [1, 4, D]
            yield aggregator(layers).squeeze(1).cpu()


def reference_embedding(path: Path, model: HubertModel) -> torch.Tensor:
    """Song embedding: the plain mean of the segment embeddings ([D])."""
    return torch.stack(list(reference_segment_embeddings(path, model))).mean(dim=0)[0]


def _block(x: torch.Tensor, sd: dict, prefix: str) -> torch.Tensor:
    x = F.linear(x, sd[f"{prefix}.block.0.weight"], sd[f"{prefix}.block.0.bias"])
    x = F.batch_norm(x, sd[f"{prefix}.block.1.running_mean"], sd[f"{prefix}.block.1.running_var"],
                     sd[f"{prefix}.block.1.weight"], sd[f"{prefix}.block.1.bias"], training=False, eps=1e-5)
    return F.gelu(x)


def reference_head(embedding: torch.Tensor, sd: dict) -> dict[str, float]:
    x = embedding.unsqueeze(0)
    n_shared = len({k.split(".")[1] for k in sd if k.startswith("shared.")})
    for i in range(n_shared):
        x = _block(x, sd, f"shared.{i}")
    out = {}
    for key, (scale, shift) in SCALES.items():
        if f"branch_{key}.2.weight" not in sd:
            continue
        h = _block(_block(x, sd, f"branch_{key}.0"), sd, f"branch_{key}.1")
        h = F.linear(h, sd[f"branch_{key}.2.weight"], sd[f"branch_{key}.2.bias"])
        out[key] = float(torch.sigmoid(h)[0, 0] * scale + shift)
    return out
