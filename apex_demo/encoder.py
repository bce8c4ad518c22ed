"""MERT-v1-95M as a transformers HubertModel: resolve, load, and embed 30 s segments.

MERT's remote code no longer runs on current transformers, but with MERT-v1's
config transformers' own HubertModel computes the same hidden states with the
same 211 state-dict keys (../shared/APEX_SPEC.md, "Model files"). So we read
MERT's config.json into a HubertConfig, refuse configs that HubertModel cannot
reproduce, and never use trust_remote_code.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import HubertConfig, HubertModel

from apex_demo import hub
from apex_demo.errors import ErrorCode, ModelError
from apex_demo.fastpath import CpuMertRunner, cpu_runner_for
from apex_demo.weights import WEIGHT_FILES, read_checkpoint, state_mismatch

LOGGER = logging.getLogger(__name__)

MERT_LAYERS = (2, 5, 8, -1)  # hidden_states indices the APEX reference averages
CONFIG_FILE = "config.json"
ENV_VAR = "APEX_MERT"
# MERT-only config values this path cannot reproduce: (key, value that is fine).
REQUIRED_VALUES: dict[str, Any] = {"feature_extractor_cqt": False, "deepnorm": False}
# Legacy weight-norm names (torch.nn.utils.weight_norm) -> parametrizations names.
LEGACY_RENAMES = {".weight_g": ".parametrizations.weight.original0",
                  ".weight_v": ".parametrizations.weight.original1"}
OPTIONAL_KEYS = frozenset({"masked_spec_embed"})  # training-only, unused in eval


def hubert_config_from_mert(raw: dict[str, Any]) -> HubertConfig:
    """Translate a MERT-style config.json into a HubertConfig.

    MERT-only keys are dropped; values that change the computation in ways
    HubertModel cannot express are refused with the reason.
    """
    for key, fine in REQUIRED_VALUES.items():
        if raw.get(key, fine) != fine:
            raise ModelError(f"This MERT config sets {key}={raw[key]!r}, which the transformers "
                             f"HubertModel path cannot reproduce. Use MERT-v1-95M or another MERT-v1 "
                             f"checkpoint with {key}={fine!r}.", ErrorCode.UNSUPPORTED_CONFIG)
    relax = raw.get("attention_relax", -1.0)
    if relax is not None and float(relax) > 0:
        raise ModelError(f"This MERT config sets attention_relax={relax}, which HubertModel cannot "
                         "reproduce. Use a checkpoint with attention_relax=-1.", ErrorCode.UNSUPPORTED_CONFIG)
    known = set(HubertConfig().to_dict())
    kwargs = {k: v for k, v in raw.items() if k in known and k not in ("model_type", "architectures",
                                                                         "auto_map", "transformers_version")}
    return HubertConfig(**kwargs)


def rename_legacy_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Map old weight-norm tensor names (weight_g/weight_v) to the current ones."""
    renamed = {}
    for key, value in state.items():
        for old, new in LEGACY_RENAMES.items():
            if key.endswith(old):
                key = key[: -len(old)] + new
                break
        renamed[key] = value
    return renamed


def resolve_device(device: str) -> torch.device:
    """'auto' picks CUDA when available; asking for CUDA without one is a clear error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelError("--device cuda was asked for, but no CUDA GPU is available to PyTorch here. "
                         "Use --device cpu (or auto).", ErrorCode.DEVICE_UNAVAILABLE)
    return torch.device(device)


@dataclass
class MertEncoder:
    """A loaded MERT encoder that turns one 30 s segment into four layer means."""

    model: HubertModel
    device: torch.device
    source: str
    revision: str | None
    autocast_dtype: torch.dtype | None = None
    # Same numbers, ~3x faster on CPU (apex_demo/fastpath.py); None on CUDA or for configs it cannot run.
    cpu_runner: CpuMertRunner | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def mode(self) -> str:
        """"exact" (reference numerics) or "fast" (reduced precision), as actually run, not as asked."""
        return "exact" if self.numerics == "exact" else "fast"

    @property
    def numerics(self) -> str:
        """What arithmetic MERT runs with, e.g. "exact", "fast-cpu-bfloat16", "fast-cuda-float16".

        Part of the embedding cache key, so results of one reduced precision are never served
        for another.
        """
        if self.cpu_runner is not None and self.cpu_runner.dtype != torch.float32:
            return f"fast-cpu-{str(self.cpu_runner.dtype).removeprefix('torch.')}"
        if self.autocast_dtype is not None:
            return f"fast-{self.device.type}-{str(self.autocast_dtype).removeprefix('torch.')}"
        return "exact"

    def layer_means(self, segments: torch.Tensor) -> torch.Tensor:
        """[B, samples] -> [B, 4, hidden]: time-mean of hidden_states[2, 5, 8, -1], fp32 on CPU.

        One forward at a time per model (the lock): the CPU or GPU is the bottleneck, and
        several Scorers may share this encoder.
        """
        with self.lock:
            return self._layer_means(segments)

    @torch.inference_mode()
    def _layer_means(self, segments: torch.Tensor) -> torch.Tensor:
        if self.cpu_runner is not None:
            return self.cpu_runner.layer_means(segments)
        inputs = segments.to(self.device, torch.float32)
        # cuDNN convolutions default to TF32 on recent GPUs; exact mode must keep fp32 numerics.
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=False), \
                torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
            out = self.model(inputs, output_hidden_states=True)
        means = [out.hidden_states[k].float().mean(dim=1) for k in MERT_LAYERS]
        return torch.stack(means, dim=1).cpu()


def load_encoder(source: str, revision: str | None = None, device: str = "auto",
                 token: str | None = None, autocast_dtype: torch.dtype | None = None,
                 fast: bool = False) -> MertEncoder:
    """Resolve MERT (Hub id or folder), build a HubertModel from its config, load its weights.

    `fast` (or a reduced autocast_dtype) selects the approximate mode: bf16 on CPU,
    bf16 autocast on CUDA unless autocast_dtype says otherwise.
    """
    if Path(source).expanduser().is_file():
        raise ModelError(f"MERT source {source} is a file; point {ENV_VAR} (or --mert) at a folder with "
                         "config.json and the weights, or at a Hub repo id.", ErrorCode.MODEL_NOT_FOUND)
    config_path = hub.resolve_file(source, [CONFIG_FILE], revision, "MERT encoder", ENV_VAR, token)
    weights_path = hub.resolve_file(source, WEIGHT_FILES, revision, "MERT encoder", ENV_VAR, token)
    try:
        raw = json.loads(config_path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"MERT config {config_path} is not valid JSON ({exc}). Re-download it.",
                         ErrorCode.UNSUPPORTED_CONFIG) from None
    config = hubert_config_from_mert(raw)
    model = HubertModel(config)
    _load_weights(model, weights_path)
    target = resolve_device(device)
    model.to(target).eval()
    LOGGER.info("loaded MERT encoder %s (%s) on %s", source, weights_path.name, target)
    if target.type == "cuda":
        return MertEncoder(model, target, source, revision, autocast_dtype or (torch.bfloat16 if fast else None))
    runner = cpu_runner_for(model, MERT_LAYERS, approximate=fast or autocast_dtype is not None)
    return MertEncoder(model, target, source, revision, None, runner)


def _load_weights(model: HubertModel, path: Path) -> None:
    """Load a MERT state dict strictly, naming any missing or unexpected tensors."""
    state = read_checkpoint(path, "MERT encoder")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path} is not a plain MERT state dict of tensors.", ErrorCode.WEIGHTS_MISMATCH)
    state = rename_legacy_keys(state)
    mismatch = state_mismatch(model.state_dict(), state, optional=OPTIONAL_KEYS)
    if mismatch:
        raise ModelError(f"MERT weights {path} do not match its config.json ({mismatch}). Use the config and "
                         "weights of the same MERT-v1 checkpoint.", ErrorCode.WEIGHTS_MISMATCH)
    model.load_state_dict(state, strict=False)
