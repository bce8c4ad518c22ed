"""Read a weights file (safetensors or a torch pickle) safely into a dict of tensors."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Collection, Mapping

import torch
from safetensors.torch import load_file as load_safetensors

from apex_demo.errors import ErrorCode, ModelError


def read_checkpoint(path: Path, what: str) -> Any:
    """Load a checkpoint file without executing code (safetensors, or torch with weights_only)."""
    try:
        if path.suffix == ".safetensors":
            return load_safetensors(str(path), device="cpu")
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file gets the same actionable message
        raise ModelError(f"Cannot read {what} weights {path}: {type(exc).__name__}: {exc}. The file may "
                         "be incomplete (re-download it) or not a PyTorch/safetensors checkpoint.",
                         ErrorCode.WEIGHTS_MISMATCH) from None


def describe_keys(keys: list[str], limit: int = 12) -> str:
    """A short, readable list of tensor names for error messages."""
    shown = ", ".join(sorted(keys)[:limit])
    more = len(keys) - limit
    return shown + (f", ... (+{more} more)" if more > 0 else "")


def state_mismatch(expected: Mapping[str, torch.Tensor], state: Mapping[str, torch.Tensor],
                   optional: Collection[str] = ()) -> str | None:
    """None when `state` fits `expected` exactly; else which tensors are missing, unexpected or mis-shaped."""
    missing = [k for k in expected if k not in state and k not in optional]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
             if k in state and state[k].shape != v.shape]
    parts = [f"{label}: {describe_keys(keys)}" for label, keys in
             (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)) if keys]
    return "; ".join(parts) or None
