"""MERT-v1-95M as a transformers HubertModel: resolve, load, and embed 30 s segments.

MERT's remote code no longer runs on current transformers, but with MERT-v1's
config transformers' own HubertModel computes the same hidden states with the
same 211 state-dict keys (docs/reference.md, "Model files"). So we read
MERT's config.json, refuse configs that HubertModel cannot reproduce, and never
use trust_remote_code. On the CPU the fast runner (engine/fastpath.py) computes
from the checkpoint's tensors directly, so transformers is not even imported
there (about 2 s of start-up); CUDA and configs the runner cannot run build a
HubertModel.

The authors run MERT's feature extractor (Wav2Vec2FeatureExtractor, from
preprocessor_config.json) on every segment: its sampling rate must be 24 kHz, and
when it sets do_normalize each segment is scaled to zero mean and unit variance
exactly as that class does. MERT-v1-95M's file has do_normalize false (identity).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING, Mapping

import numpy as np
import torch

from apex_demo.engine import hub
from apex_demo.engine.fastpath import OPTIONAL_KEYS, CpuMertRunner, EncoderShape, choose_runner, expected_shapes, \
    unsupported_reason
from apex_demo.engine.modes import EXACT, EXACT_NOTE, ModeChoice, cuda_mode, plain_forward_mode
from apex_demo.engine.segments import SAMPLE_RATE
from apex_demo.engine.weights import read_checkpoint, state_mismatch
from apex_demo.errors import ErrorCode, ModelError

if TYPE_CHECKING:
    from transformers import HubertConfig, HubertModel

LOGGER = logging.getLogger(__name__)

MERT_LAYERS = (2, 5, 8, -1)  # hidden_states indices the APEX reference averages
CONFIG_FILE = "config.json"
PREPROCESSOR_FILE = "preprocessor_config.json"
ENV_VAR = "APEX_MERT"
FILE_ENV_VAR = "APEX_MERT_FILE"
FILE_FLAG = "--mert-file"
# transformers.Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm: (x - mean) / sqrt(var + 1e-7)
NORMALIZE_EPS = 1e-7
# MERT-only config values this path cannot reproduce: (key, value that is fine).
REQUIRED_VALUES: dict[str, Any] = {"feature_extractor_cqt": False, "deepnorm": False}
# Legacy weight-norm names (torch.nn.utils.weight_norm) -> parametrizations names.
LEGACY_RENAMES = {".weight_g": ".parametrizations.weight.original0",
                  ".weight_v": ".parametrizations.weight.original1"}


def hubert_config_from_mert(raw: dict[str, Any]) -> "HubertConfig":
    """Translate a MERT-style config.json into a HubertConfig.

    MERT-only keys are dropped; values that change the computation in ways
    HubertModel cannot express are refused with the reason.
    """
    from transformers import HubertConfig

    check_mert_config(raw)
    known = set(HubertConfig().to_dict())
    kwargs = {k: v for k, v in raw.items() if k in known and k not in ("model_type", "architectures",
                                                                         "auto_map", "transformers_version")}
    return HubertConfig(**kwargs)


def check_mert_config(raw: dict[str, Any]) -> None:
    """Refuse, with the reason, MERT config values HubertModel (and so this pipeline) cannot reproduce."""
    for key, fine in REQUIRED_VALUES.items():
        if raw.get(key, fine) != fine:
            raise ModelError(f"This MERT config sets {key}={raw[key]!r}, which the transformers "
                             f"HubertModel path cannot reproduce. Use MERT-v1-95M or another MERT-v1 "
                             f"checkpoint with {key}={fine!r}.", ErrorCode.UNSUPPORTED_CONFIG)
    relax = raw.get("attention_relax", -1.0)
    if relax is not None and float(relax) > 0:
        raise ModelError(f"This MERT config sets attention_relax={relax}, which HubertModel cannot "
                         "reproduce. Use a checkpoint with attention_relax=-1.", ErrorCode.UNSUPPORTED_CONFIG)


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


@dataclass(frozen=True)
class FeatureExtractorConfig:
    """What MERT's preprocessor_config.json asks of the input (absent file: the published defaults)."""

    sampling_rate: int = SAMPLE_RATE
    do_normalize: bool = False


def feature_extractor_config(raw: dict[str, Any] | None, where: str) -> FeatureExtractorConfig:
    """Read preprocessor_config.json; refuse a sampling rate the 24 kHz pipeline cannot give it."""
    if raw is None:
        return FeatureExtractorConfig()
    rate = raw.get("sampling_rate", SAMPLE_RATE)
    if rate != SAMPLE_RATE:
        raise ModelError(f"{where} sets sampling_rate={rate!r}, but APEX cuts 30 s segments at {SAMPLE_RATE} Hz "
                         "(MERT-v1). Use a MERT-v1 model whose preprocessor_config.json says 24000.",
                         ErrorCode.UNSUPPORTED_CONFIG)
    return FeatureExtractorConfig(SAMPLE_RATE, bool(raw.get("do_normalize", False)))


def normalize_segments(segments: torch.Tensor) -> torch.Tensor:
    """Zero mean, unit variance per segment, as Wav2Vec2FeatureExtractor(do_normalize=True) computes it."""
    rows = [torch.from_numpy(_normalize_row(row.numpy())) for row in segments.float().cpu()]
    return torch.stack(rows)


def _normalize_row(x: np.ndarray) -> np.ndarray:
    return ((x - x.mean()) / np.sqrt(x.var() + NORMALIZE_EPS)).astype(np.float32)


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
    """A loaded MERT encoder that turns one 30 s segment into four layer means.

    On the CPU (configs the fast runner supports) only `cpu_runner` computes and `model` is None;
    on CUDA, or for a config only transformers can run, `model` is the HubertModel.
    """

    model: "HubertModel | None"
    device: torch.device
    source: str
    revision: str | None
    shape: EncoderShape
    autocast_dtype: torch.dtype | None = None
    features: FeatureExtractorConfig = FeatureExtractorConfig()
    files: tuple[Path, ...] = ()  # the config and weights files read (for `doctor`)
    cpu_runner: CpuMertRunner | None = None  # same numbers as the model, faster on CPU (engine/fastpath.py)
    choice: ModeChoice = ModeChoice(EXACT, EXACT_NOTE)  # the mode that runs and why (engine/modes.py)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def hidden_size(self) -> int:
        return self.shape.hidden_size

    @property
    def mode(self) -> str:
        """"exact" (reference numerics) or "fast" (reduced precision), as actually run, not as asked."""
        return "exact" if self._precision == "exact" else "fast"

    @property
    def numerics(self) -> str:
        """What arithmetic MERT runs with, e.g. "exact", "fast-cpu-bfloat16", "fast-cuda-float16".

        Part of the embedding cache key, so results of one reduced precision are never served
        for another.
        """
        if self.features.do_normalize:
            return "normalized-" + self._precision
        return self._precision

    @property
    def _precision(self) -> str:
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
        if self.features.do_normalize:
            segments = normalize_segments(segments)
        with self.lock:
            return self._layer_means(segments)

    @torch.inference_mode()
    def _layer_means(self, segments: torch.Tensor) -> torch.Tensor:
        if self.cpu_runner is not None:
            return self.cpu_runner.layer_means(segments)
        assert self.model is not None
        inputs = segments.to(self.device, torch.float32)
        # cuDNN convolutions default to TF32 on recent GPUs; exact mode must keep fp32 numerics.
        with torch.backends.cudnn.flags(enabled=True, allow_tf32=False), \
                torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
            out = self.model(inputs, output_hidden_states=True)
        means = [out.hidden_states[k].float().mean(dim=1) for k in MERT_LAYERS]
        return torch.stack(means, dim=1).cpu()


def load_encoder(source: str, revision: str | None = None, device: str = "auto",
                 token: str | None = None, autocast_dtype: torch.dtype | None = None,
                 fast: bool = False, filename: str | None = None) -> MertEncoder:
    """Resolve MERT (Hub id or folder), read its config and weights, and make the encoder.

    `fast` (or a reduced autocast_dtype) asks for the approximate mode: on the CPU bf16 where a
    probe at load finds it faster (engine/modes.py), on CUDA fp16 autocast unless autocast_dtype
    says otherwise.
    """
    if Path(source).expanduser().is_file():
        raise ModelError(f"MERT source {source} is a file; point {ENV_VAR} (or --mert) at a folder with "
                         "config.json and the weights, or at a Hub repo id.", ErrorCode.MODEL_NOT_FOUND)
    where = hub.Source(source, revision, "MERT encoder", ENV_VAR, FILE_ENV_VAR, FILE_FLAG, token)
    config_path = hub.resolve_file(where, hub.file_named(CONFIG_FILE), CONFIG_FILE)
    raw = _read_json(config_path)
    check_mert_config(raw)
    preprocessor_path = _optional_file(where, PREPROCESSOR_FILE)
    features = feature_extractor_config(_read_json(preprocessor_path) if preprocessor_path else None,
                                        f"{source} {PREPROCESSOR_FILE}")
    weights_path = hub.resolve_weights(where, filename)  # after the small files: a bad config fails fast
    files = _present(config_path, preprocessor_path, weights_path)
    target = resolve_device(device)
    approximate = fast or autocast_dtype is not None
    shape = EncoderShape.from_json(raw)
    if target.type == "cpu" and shape is not None and unsupported_reason(shape) is None:
        state = _read_state(weights_path, expected_shapes(shape))
        runner, choice = choose_runner(state, shape, MERT_LAYERS, approximate)
        LOGGER.info("loaded MERT encoder %s (%s) for the CPU runner", source, weights_path.name)
        return MertEncoder(None, target, source, revision, shape, None, features, files, runner, choice)
    model = _hubert_model(hubert_config_from_mert(raw), weights_path)
    model.to(target).eval()
    shape = EncoderShape.from_config(model.config)
    LOGGER.info("loaded MERT encoder %s (%s) on %s", source, weights_path.name, target)
    if target.type == "cuda":
        dtype = autocast_dtype or (torch.float16 if fast else None)
        return MertEncoder(model, target, source, revision, shape, dtype, features, files,
                           choice=cuda_mode(dtype is not None))
    return MertEncoder(model, target, source, revision, shape, None, features, files,
                       choice=plain_forward_mode(approximate, unsupported_reason(shape) or "its config leaves "
                                                 "values to transformers' defaults"))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"MERT file {path} is not valid JSON ({exc}). Re-download it.",
                         ErrorCode.UNSUPPORTED_CONFIG) from None
    if not isinstance(raw, dict):
        raise ModelError(f"MERT file {path} is not a JSON object. Re-download it.", ErrorCode.UNSUPPORTED_CONFIG)
    return raw


def _present(*paths: Path | None) -> tuple[Path, ...]:
    return tuple(p for p in paths if p is not None)


def _optional_file(where: hub.Source, name: str) -> Path | None:
    """A small file of the model that may be absent (older copies have no preprocessor_config.json)."""
    try:
        return hub.resolve_file(where, hub.file_named(name), name)
    except ModelError as exc:
        if exc.code is ErrorCode.MODEL_NOT_FOUND:
            return None
        raise


def _hubert_model(config: "HubertConfig", weights_path: Path) -> "HubertModel":
    """A transformers HubertModel holding the checkpoint's weights (CUDA; configs the CPU runner cannot run).

    Allocated on the meta device, then filled: every tensor is overwritten by the checkpoint (strictly;
    the optional ones are zeroed), so the random initialisation HubertModel(config) would run is skipped.
    """
    from transformers import HubertModel

    with torch.device("meta"):
        model = HubertModel(config)
    model = model.to_empty(device="cpu")
    expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    state = _read_state(weights_path, expected)
    model.load_state_dict(state, strict=False)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name not in state:  # an optional, training-only tensor (OPTIONAL_KEYS): not left uninitialised
                tensor.zero_()
    return model


def _read_state(path: Path, expected: Mapping[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    """A MERT state dict (legacy weight-norm names renamed), refused unless it fits `expected` exactly,
    naming any missing, unexpected or mis-shaped tensors."""
    state = read_checkpoint(path, "MERT encoder")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{path} is not a plain MERT state dict of tensors.", ErrorCode.WEIGHTS_MISMATCH)
    state = rename_legacy_keys(state)
    meta = {name: torch.empty(size, device="meta") for name, size in expected.items()}
    mismatch = state_mismatch(meta, state, optional=OPTIONAL_KEYS)
    if mismatch:
        raise ModelError(f"MERT weights {path} do not match its config.json ({mismatch}). Use the config and "
                         "weights of the same MERT-v1 checkpoint.", ErrorCode.WEIGHTS_MISMATCH)
    return state
