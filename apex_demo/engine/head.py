"""The APEX head: a plain nn.Module with the authors' module tree, built from the checkpoint's shapes.

Module names are the authors' (AMAAI-Lab/apex train.py / inference.py: `apexMLP`
holds `shared`, a Sequential of SharedBlocks whose layers live in `.block`, and
one TaskBranch per output whose layers live in `.branch`), so a checkpoint's
`model_state` loads with strict names:

    shared.<i>.block.<j>.*                  Linear / BatchNorm of shared layer i
    branch_<output>.branch.<i>.block.<j>.*  Linear / BatchNorm of branch layer i (i = 0, 1)
    branch_<output>.branch.2.*              the final Linear(64, 1)

Reads the GitHub training checkpoint (a dict with `model_state`, `task`, `shared`,
optimizer and scheduler state, ...), a bare state dict, or a Hub file whose keys
carry any prefix (`model.`, `module.`, `apex.`, ...) next to MERT's `mert.*`
tensors, which are ignored. Widths come from the tensors, so both published
trunks (768-512-256 and 768-512-384-256) and popularity-only heads load.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from apex_demo.engine import hub
from apex_demo.errors import ErrorCode, ModelError
from apex_demo.scores import AESTHETIC_KEYS, OUTPUT_BY_KEY, POPULARITY_KEYS, SCORE_KEYS, Scores
from apex_demo.engine.weights import describe_keys, read_checkpoint, state_mismatch

LOGGER = logging.getLogger(__name__)

ENV_VAR = "APEX_HEAD"
FILE_ENV_VAR = "APEX_HEAD_FILE"
FILE_FLAG = "--head-file"
SHARED_DROPOUT = 0.3
BRANCH_DROPOUT = 0.1
NUM_LAYER_MEANS = 4
# The reference's untrained Conv1d(4, 1, 1) made right after torch.manual_seed(42)
# (identical on torch 2.6, 2.11, 2.13): used when a checkpoint carries no aggregator.
SEEDED_AGGREGATOR_WEIGHT = (0.3822692632675171, 0.4150039553642273, -0.11713624000549316, 0.45930564403533936)
SEEDED_AGGREGATOR_BIAS = -0.10955178737640381
# A head tensor name, with any prefix before it: group 1 is the authors' name.
HEAD_KEY = re.compile(r"(?:^|\.)((?:shared\.\d+\.block\.\d+|branch_[a-z_]+\.branch\.\d+(?:\.block\.\d+)?|aggregator)"
                      r"\.(?:weight|bias|running_mean|running_var|num_batches_tracked))$")
SHARED_LINEAR = re.compile(r"^shared\.(\d+)\.block\.0\.weight$")
BRANCH_LINEAR = re.compile(r"^branch_([a-z_]+)\.branch\.(\d+)(?:\.block\.0)?\.weight$")
LAYOUT_HELP = ("the authors' layout (AMAAI-Lab/apex train.py): shared.<i>.block.0.weight, ..., "
               "branch_score_streams.branch.0.block.0.weight, branch_score_streams.branch.2.weight, "
               "optionally under one prefix such as model. or module.")


class Block(nn.Module):
    """Linear -> BatchNorm -> GELU -> Dropout in `.block` (the authors' SharedBlock / BranchBlock)."""

    def __init__(self, d_in: int, d_out: int, dropout: float) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Linear(d_in, d_out), nn.BatchNorm1d(d_out), nn.GELU(), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class Branch(nn.Module):
    """One output's layers in `.branch` (the authors' TaskBranch); output = sigmoid(x) * scale + shift."""

    def __init__(self, dims: tuple[int, ...], scale: float, shift: float) -> None:
        super().__init__()
        layers: list[nn.Module] = [Block(a, b, BRANCH_DROPOUT) for a, b in zip(dims, dims[1:])]
        layers.append(nn.Linear(dims[-1], 1))
        self.branch = nn.Sequential(*layers)
        self.scale = scale
        self.shift = shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.branch(x)).squeeze(-1) * self.scale + self.shift


@dataclass(frozen=True)
class HeadConfig:
    """Shapes of an APEX head, as read from its checkpoint."""

    input_dim: int = 768
    shared_dims: tuple[int, ...] = (512, 256)
    branch_dims: tuple[int, ...] = (128, 64)
    outputs: tuple[str, ...] = SCORE_KEYS

    @property
    def task(self) -> str:
        return "full" if set(AESTHETIC_KEYS) <= set(self.outputs) else "popularity"


class ApexHead(nn.Module):
    """Shared trunk + one branch per output, named as in the authors' apexMLP."""

    def __init__(self, config: HeadConfig) -> None:
        super().__init__()
        self.config = config
        dims = (config.input_dim, *config.shared_dims)
        self.shared = nn.Sequential(*(Block(a, b, SHARED_DROPOUT) for a, b in zip(dims, dims[1:])))
        for key in config.outputs:
            spec = OUTPUT_BY_KEY[key]
            self.add_module(f"branch_{key}", Branch((dims[-1], *config.branch_dims), spec.scale, spec.shift))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """[B, input_dim] -> {output key: [B]} on each output's own scale."""
        shared = self.shared(x)
        return {key: getattr(self, f"branch_{key}")(shared) for key in self.config.outputs}


def seeded_aggregator() -> nn.Conv1d:
    """The reference's fixed 4 -> 1 layer combiner, from the spec's constants."""
    conv = nn.Conv1d(NUM_LAYER_MEANS, 1, 1)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(SEEDED_AGGREGATOR_WEIGHT).view(1, NUM_LAYER_MEANS, 1))
        conv.bias.fill_(SEEDED_AGGREGATOR_BIAS)
    return conv


@dataclass
class LoadedHead:
    """A ready head plus the aggregator that combines MERT's four layer means."""

    head: ApexHead
    aggregator: nn.Conv1d
    source: str
    revision: str | None
    aggregator_from_checkpoint: bool
    path: Path | None = None  # the weights file read
    metadata: dict[str, Any] = field(default_factory=dict)  # non-tensor entries of a training checkpoint

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.head.config.outputs

    @torch.inference_mode()
    def aggregate(self, layer_means: torch.Tensor) -> torch.Tensor:
        """[N, 4, D] layer means -> [N, D] segment embeddings."""
        return self.aggregator(layer_means.float()).squeeze(1)

    @torch.inference_mode()
    def predict(self, embeddings: torch.Tensor) -> list[Scores]:
        """[N, D] embeddings -> one Scores per row."""
        out = self.head(embeddings.float())
        return [Scores.from_mapping({k: float(out[k][i]) for k in self.outputs}) for i in range(len(embeddings))]


def load_head(source: str, revision: str | None = None, token: str | None = None,
              filename: str | None = None) -> LoadedHead:
    """Resolve the head (file, folder or Hub id), read it in any format, build and load it.

    `filename` picks the weights file inside a folder or Hub repo (else it is chosen by hub.choose_weights_file).
    """
    path = hub.resolve_weights(hub.Source(source, revision, "APEX head", ENV_VAR, FILE_ENV_VAR, FILE_FLAG, token),
                               filename)
    raw = read_checkpoint(path, "APEX head")
    state, meta = split_checkpoint(raw, str(path))
    head_state, aggregator_state = canonical_head_state(state, str(path))
    config = infer_config(head_state, str(path))
    _check_metadata(meta, config, path)
    head = ApexHead(config)
    _load_strict(head, head_state, str(path))
    aggregator = seeded_aggregator()
    if aggregator_state:
        _load_strict(aggregator, aggregator_state, str(path) + " (aggregator)")
    head.eval()
    aggregator.eval()
    LOGGER.info("loaded APEX head %s: task=%s shared=%s", source, config.task, config.shared_dims)
    return LoadedHead(head, aggregator, source, revision, bool(aggregator_state), path, meta)


def _check_metadata(meta: dict[str, Any], config: HeadConfig, path: Path) -> None:
    """A training checkpoint's `shared` and `task` must agree with its tensors."""
    found = {"shared": len(config.shared_dims), "task": config.task}
    for field_name, actual in found.items():
        said = meta.get(field_name)
        if said is not None and str(said) != str(actual):
            raise ModelError(f"{path}: the checkpoint says {field_name}={said} but its tensors are {field_name}="
                             f"{actual}. The file is inconsistent; re-export it.", ErrorCode.HEAD_MISMATCH)


def split_checkpoint(raw: Any, where: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Separate the tensors from metadata for each known checkpoint format."""
    if not isinstance(raw, dict):
        raise ModelError(f"{where} is not an APEX head checkpoint (got {type(raw).__name__}, expected a "
                         "dict of tensors or a training checkpoint with 'model_state').", ErrorCode.HEAD_MISMATCH)
    for nested in ("model_state", "state_dict", "model_state_dict"):
        if isinstance(raw.get(nested), dict):
            meta = {k: v for k, v in raw.items() if not isinstance(v, (dict, torch.Tensor))}
            return raw[nested], meta
    return raw, {}


def canonical_head_state(state: dict[str, Any], where: str) -> tuple[dict[str, torch.Tensor],
                                                                    dict[str, torch.Tensor]]:
    """Strip any prefix from head tensor names; split off the aggregator; ignore MERT tensors."""
    head: dict[str, torch.Tensor] = {}
    aggregator: dict[str, torch.Tensor] = {}
    ignored = []
    for key, value in state.items():
        match = HEAD_KEY.search(key) if isinstance(value, torch.Tensor) else None
        if match is None or key.startswith("mert.") or ".mert." in key:
            ignored.append(key)
            continue
        name = match.group(1)
        target = aggregator if name.startswith("aggregator.") else head
        name = name.removeprefix("aggregator.")
        if name in target:
            raise ModelError(f"{where}: two tensors map to {name!r} (different prefixes). Keep one head "
                             "per checkpoint.", ErrorCode.HEAD_MISMATCH)
        target[name] = value
    if not head:
        raise ModelError(f"{where} holds no APEX head tensors; expected {LAYOUT_HELP} It holds: "
                         f"{describe_keys(ignored)}", ErrorCode.HEAD_MISMATCH)
    unknown = [k for k in ignored if not (k.startswith("mert.") or ".mert." in k)]
    if unknown:
        LOGGER.warning("%s: ignoring %d tensors that are not part of the APEX head: %s",
                       where, len(unknown), describe_keys(unknown))
    return head, aggregator


def infer_config(state: dict[str, torch.Tensor], where: str) -> HeadConfig:
    """Read input width, shared layers, branch widths and outputs from tensor shapes."""
    shared = sorted((int(m.group(1)), tuple(state[k].shape)) for k in state if (m := SHARED_LINEAR.match(k)))
    branches: dict[str, list[tuple[int, tuple[int, ...]]]] = {}
    for key in state:
        if m := BRANCH_LINEAR.match(key):
            branches.setdefault(m.group(1), []).append((int(m.group(2)), tuple(state[key].shape)))
    unknown = sorted(set(branches) - set(SCORE_KEYS))
    missing_pop = [k for k in POPULARITY_KEYS if k not in branches]
    aesthetics = [k for k in AESTHETIC_KEYS if k in branches]
    if not shared or unknown or missing_pop or 0 < len(aesthetics) < len(AESTHETIC_KEYS):
        raise ModelError(
            f"{where} does not look like an APEX head: shared layers {[i for i, _ in shared]}, branches "
            f"{sorted(branches)} (unknown: {unknown}, missing popularity: {missing_pop}; expected "
            f"{list(POPULARITY_KEYS)} and optionally all of {list(AESTHETIC_KEYS)}, in {LAYOUT_HELP}). Keys: "
            f"{describe_keys(list(state))}", ErrorCode.HEAD_MISMATCH)
    first_branch = sorted(branches[POPULARITY_KEYS[0]])
    return HeadConfig(input_dim=shared[0][1][1], shared_dims=tuple(s[0] for _, s in shared),
                      branch_dims=tuple(s[0] for _, s in first_branch[:-1]),
                      outputs=tuple(k for k in SCORE_KEYS if k in branches))


def _load_strict(module: nn.Module, state: dict[str, torch.Tensor], where: str) -> None:
    """load_state_dict that names every missing, unexpected or mis-shaped tensor."""
    expected = module.state_dict()
    state = dict(state)
    for key, value in expected.items():  # older exports drop BatchNorm's step counter
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value
    mismatch = state_mismatch(expected, state)
    if mismatch:
        raise ModelError(f"{where} does not match the APEX head built from its shapes ({mismatch}).",
                         ErrorCode.HEAD_MISMATCH)
    module.load_state_dict(state, strict=True)
