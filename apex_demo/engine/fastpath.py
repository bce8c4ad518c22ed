"""A faster CPU forward for MERT that gives the reference loop's numbers.

Why this exists: on a small x86 CPU the reference loop (transformers' HubertModel,
eager attention, all 13 hidden states kept) spends most of its time in
kernels that are far from the machine's peak (measured in docs/performance.md):

- PyTorch's default fp32 GEMM (MKL) runs its AVX2 code path on AMD CPUs, about
  half the FLOP/s that oneDNN's AVX-512 kernels reach on the same cores;
- eager attention materialises a 12 x T x T score matrix per layer and walks it
  four times (matmul, scale, softmax, matmul), while the fused flash-attention
  kernel behind `scaled_dot_product_attention` streams it in blocks;
- the feature-extractor convolutions run in channels-first layout with separate
  GroupNorm and GELU passes over a 512 x 144 000 activation.

`CpuMertRunner` runs the same arithmetic from the model's own weights, in
time-major (channels-last) layout, with oneDNN linear/convolution kernels
(pre-packed weights, GELU and residual adds fused into the GEMM epilogue),
flash SDPA, the first layer's GroupNorm folded into its convolution (exact
statistics from the 10 x 10 input covariance, in float64), and the per-layer
time means taken on the fly instead of keeping every hidden state. Only fp32
arithmetic; results differ from the reference by float rounding (about 1e-6
relative), which the tests and bench/bench_scoring.py check.

It handles exactly the MERT-v1 / HuBERT-base shape of model (group-norm feature
extractor, post-layer-norm transformer, GELU); `unsupported_reason` says why
another config falls back to the plain HubertModel forward.

It is built from the checkpoint's tensors and the config's numbers (`EncoderShape`), not from
a transformers HubertModel: importing transformers' model code costs about 2 s of start-up
(its import chain pulls in torch._dynamo, sympy and scipy), which the CPU path never needs.
`expected_shapes` states the HubertModel state dict the runner reads (tests/engine/test_fastpath.py
holds it against transformers' own).

The optional fast mode runs the GEMMs and convolutions in bfloat16 (oneDNN's AVX512_BF16/AMX
kernels; attention and the layer means stay fp32). Whether it is faster depends on the CPU (it was
slower than exact on the Intel Xeon of docs/benchmark.md), so `choose_runner` times both on a short
probe at load and runs bf16 only where it is measurably faster and close to exact
(apex_demo/engine/modes.py decides and words it).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F

from apex_demo.engine.modes import ModeChoice, Probe, decide_cpu_mode

if TYPE_CHECKING:  # transformers is imported only where a HubertModel is built (encoder.py's fallback)
    from transformers import HubertModel

LOGGER = logging.getLogger(__name__)

PROBE_SAMPLES = 72_000  # 3 s at 24 kHz: long enough for the GEMM shapes to time like a part's
PROBE_SEED = 1234
PROBE_REPEATS = 2  # timed passes of each path, after one untimed pass (oneDNN builds its kernels then)
GELU = "gelu"  # the only activation the fused kernels reproduce exactly (erf GELU)
BACKEND_ONEDNN = "onednn"
BACKEND_ATEN = "aten"
GROUP_NORM_EPS = 1e-5  # torch.nn.GroupNorm's default, which HuBERT's first conv layer uses
OPTIONAL_KEYS = frozenset({"masked_spec_embed"})  # training-only, unused in eval
POS_CONV = "encoder.pos_conv_embed.conv"
WEIGHT_G = ".parametrizations.weight.original0"  # weight norm (dim 2): magnitude
WEIGHT_V = ".parametrizations.weight.original1"  # and direction


@dataclass(frozen=True)
class EncoderShape:
    """The numbers of a MERT/HuBERT config the runner reads (config.json names)."""

    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    conv_dim: tuple[int, ...]
    conv_kernel: tuple[int, ...]
    conv_stride: tuple[int, ...]
    num_conv_pos_embeddings: int
    num_conv_pos_embedding_groups: int
    layer_norm_eps: float
    feat_extract_norm: str
    do_stable_layer_norm: bool
    conv_bias: bool
    hidden_act: str
    feat_extract_activation: str
    feat_proj_layer_norm: bool
    conv_pos_batch_norm: bool

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> "EncoderShape | None":
        """From config.json, or None when it leaves a value to transformers' defaults (then the
        HubertModel path reads it, defaults and all)."""
        if any(f.name not in raw for f in fields(cls)):
            return None
        return cls.of(raw.get)

    @classmethod
    def from_config(cls, config: Any) -> "EncoderShape":
        """From a transformers HubertConfig (every value present)."""
        return cls.of(lambda name: getattr(config, name, False))

    @classmethod
    def of(cls, value: Callable[[str], Any]) -> "EncoderShape":
        kinds = {f.name: f.type for f in fields(cls)}
        converted: dict[str, Any] = {}
        for name, kind in kinds.items():
            raw = value(name)
            converted[name] = (tuple(int(x) for x in raw) if "tuple" in str(kind) else
                               int(raw) if kind in (int, "int") else float(raw) if kind in (float, "float") else
                               bool(raw) if kind in (bool, "bool") else str(raw))
        return cls(**converted)


def onednn_available() -> bool:
    """True when this torch build has the oneDNN fused CPU ops used below."""
    ops = torch.ops.mkldnn
    return bool(torch.backends.mkldnn.is_available()) and all(
        hasattr(ops, name) for name in ("_linear_pointwise", "_convolution_pointwise", "_reorder_linear_weight"))


def bf16_available() -> bool:
    """True when oneDNN has native bfloat16 kernels on this CPU (AVX512_BF16 / AMX)."""
    return onednn_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def unsupported_reason(shape: EncoderShape) -> str | None:
    """Why this runner cannot reproduce HubertModel for this config (None when it can)."""
    checks = {
        "feat_extract_norm must be 'group'": shape.feat_extract_norm == "group",
        "do_stable_layer_norm must be false": not shape.do_stable_layer_norm,
        "conv_bias must be false": not shape.conv_bias,
        "activations must be erf GELU": shape.hidden_act == GELU and shape.feat_extract_activation == GELU,
        "feat_proj_layer_norm must be true": shape.feat_proj_layer_norm,
        "positional conv must use weight norm": not shape.conv_pos_batch_norm,
        "hidden_size must split evenly into heads": shape.hidden_size % shape.num_attention_heads == 0,
    }
    failed = [text for text, ok in checks.items() if not ok]
    return "; ".join(failed) if failed else None


def expected_shapes(shape: EncoderShape) -> dict[str, tuple[int, ...]]:
    """Every tensor of the HubertModel state dict this config makes, with its shape (weight norm
    under its parametrization names); `masked_spec_embed` (OPTIONAL_KEYS) may be absent."""
    hidden, inner, dims = shape.hidden_size, shape.intermediate_size, shape.conv_dim
    out: dict[str, tuple[int, ...]] = {"masked_spec_embed": (hidden,)}
    for i, (width, kernel) in enumerate(zip(dims, shape.conv_kernel)):
        out[f"feature_extractor.conv_layers.{i}.conv.weight"] = (width, dims[i - 1] if i else 1, kernel)
    out["feature_extractor.conv_layers.0.layer_norm.weight"] = out["feature_extractor.conv_layers.0.layer_norm.bias"] \
        = (dims[0],)
    out["feature_projection.layer_norm.weight"] = out["feature_projection.layer_norm.bias"] = (dims[-1],)
    out["feature_projection.projection.weight"], out["feature_projection.projection.bias"] = (hidden, dims[-1]), (hidden,)
    kernel, groups = shape.num_conv_pos_embeddings, shape.num_conv_pos_embedding_groups
    out[POS_CONV + WEIGHT_G], out[POS_CONV + WEIGHT_V] = (1, 1, kernel), (hidden, hidden // groups, kernel)
    out[POS_CONV + ".bias"] = (hidden,)
    out["encoder.layer_norm.weight"] = out["encoder.layer_norm.bias"] = (hidden,)
    for n in range(shape.num_hidden_layers):
        layer = f"encoder.layers.{n}."
        for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
            out[f"{layer}attention.{name}.weight"], out[f"{layer}attention.{name}.bias"] = (hidden, hidden), (hidden,)
        for norm in ("layer_norm", "final_layer_norm"):
            out[f"{layer}{norm}.weight"] = out[f"{layer}{norm}.bias"] = (hidden,)
        out[f"{layer}feed_forward.intermediate_dense.weight"] = (inner, hidden)
        out[f"{layer}feed_forward.intermediate_dense.bias"] = (inner,)
        out[f"{layer}feed_forward.output_dense.weight"] = (hidden, inner)
        out[f"{layer}feed_forward.output_dense.bias"] = (hidden,)
    return out


def choose_runner(state: Mapping[str, torch.Tensor], shape: EncoderShape, hidden_state_indices: Sequence[int],
                  fast: bool) -> tuple["CpuMertRunner", ModeChoice]:
    """The CPU runner to use and why: exact fp32, or bf16 when `fast` was asked for and a timed probe
    of both on this machine, at load, found bf16 faster and close to exact (engine/modes.py)."""
    exact = CpuMertRunner(state, shape, hidden_state_indices)
    if not fast:
        return exact, decide_cpu_mode(False, bf16=False, probe=None)
    if not bf16_available():
        return exact, decide_cpu_mode(True, bf16=False, probe=None)
    reduced = CpuMertRunner(state, shape, hidden_state_indices, dtype=torch.bfloat16)
    choice = decide_cpu_mode(True, bf16=True, probe=probe_both(exact, reduced))
    LOGGER.info("MERT on the CPU: %s", choice.why)
    return (reduced if choice.mode == "fast" else exact), choice


@torch.inference_mode()
def probe_both(exact: "CpuMertRunner", reduced: "CpuMertRunner") -> Probe:
    """Both runners on a fixed 3 s noise probe, interleaved: the best of PROBE_REPEATS timed passes
    each, and max |bf16 - exact| / max |exact| of the layer means.

    bf16 kernels and their speed differ between CPUs; measuring here, at load, is the only way to
    know that the labelled-approximate mode is both faster and still close.
    """
    probe = torch.randn(1, PROBE_SAMPLES, generator=torch.Generator().manual_seed(PROBE_SEED)) * 0.1
    want, got = exact.layer_means(probe), reduced.layer_means(probe)  # untimed: oneDNN builds its kernels
    times: dict[str, list[float]] = {"exact": [], "fast": []}
    for _ in range(PROBE_REPEATS):
        for name, runner in (("exact", exact), ("fast", reduced)):
            start = time.perf_counter()
            runner.layer_means(probe)
            times[name].append(time.perf_counter() - start)
    deviation = float((got - want).abs().max() / want.abs().max().clamp_min(1e-12))
    return Probe(exact_s=min(times["exact"]), fast_s=min(times["fast"]), deviation=deviation,
                 seconds=PROBE_SAMPLES / 24_000)


def runner_for_model(model: "HubertModel", hidden_state_indices: Sequence[int], **options: Any) -> "CpuMertRunner":
    """The runner for a loaded transformers HubertModel (tests compare the two)."""
    return CpuMertRunner(model.state_dict(), EncoderShape.from_config(model.config), hidden_state_indices, **options)


@dataclass(frozen=True)
class _Norm:
    weight: torch.Tensor
    bias: torch.Tensor
    eps: float

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, self.eps)


@dataclass(frozen=True)
class _Layer:
    """One post-LN transformer layer's weights (q, k and v stacked into one GEMM)."""

    qkv_w: torch.Tensor
    qkv_b: torch.Tensor
    out_w: torch.Tensor
    out_b: torch.Tensor
    norm1: _Norm
    ff_in_w: torch.Tensor
    ff_in_b: torch.Tensor
    ff_out_w: torch.Tensor
    ff_out_b: torch.Tensor
    norm2: _Norm
    scale: float


def _norm(state: Mapping[str, torch.Tensor], prefix: str, eps: float) -> _Norm:
    return _Norm(state[prefix + ".weight"].detach(), state[prefix + ".bias"].detach(), eps)


class CpuMertRunner:
    """Time means of selected hidden states of a HubertModel, computed fast on the CPU.

    Built from the model's state dict (`state`, HubertModel's names) and config numbers (`shape`).
    `hidden_state_indices` uses HubertModel's `hidden_states` numbering: 0 is the transformer
    input, k the output of layer k, negative counts from the end.
    """

    def __init__(self, state: Mapping[str, torch.Tensor], shape: EncoderShape, hidden_state_indices: Sequence[int],
                 use_onednn: bool | None = None, dtype: torch.dtype = torch.float32) -> None:
        reason = unsupported_reason(shape)
        if reason is not None:
            raise ValueError(f"CpuMertRunner cannot reproduce this HubertModel: {reason}")
        n_layers = shape.num_hidden_layers
        self.indices = tuple(i % (n_layers + 1) for i in hidden_state_indices)
        self.backend = BACKEND_ONEDNN if (onednn_available() if use_onednn is None else use_onednn) else BACKEND_ATEN
        if dtype != torch.float32 and self.backend != BACKEND_ONEDNN:
            raise ValueError("reduced precision needs the oneDNN backend")
        self.dtype = dtype
        self.heads = shape.num_attention_heads
        eps = shape.layer_norm_eps
        convs = "feature_extractor.conv_layers."
        self.conv0_w = state[convs + "0.conv.weight"].detach()[:, 0, :].contiguous()       # [C, k0]
        self.conv0_ks = (shape.conv_kernel[0], shape.conv_stride[0])
        self.group_norm = _norm(state, convs + "0.layer_norm", GROUP_NORM_EPS)
        self.convs = [(self._conv_weight(state[f"{convs}{i}.conv.weight"]), stride)
                      for i, stride in enumerate(shape.conv_stride[1:], start=1)]
        self.proj_norm = _norm(state, "feature_projection.layer_norm", eps)
        self.proj_w = self._linear_weight(state["feature_projection.projection.weight"])
        self.proj_b = self._vector(state["feature_projection.projection.bias"])
        # weight norm evaluated once, not per forward (torch's own kernel, as the parametrization runs it)
        pos_weight = torch._weight_norm(state[POS_CONV + WEIGHT_V], state[POS_CONV + WEIGHT_G], 2)
        self.pos_w = self._conv_weight(pos_weight)
        self.pos_b = self._vector(state[POS_CONV + ".bias"])
        self.pos_pad = shape.num_conv_pos_embeddings // 2
        self.pos_groups = shape.num_conv_pos_embedding_groups
        self.enc_norm = _norm(state, "encoder.layer_norm", eps)
        scale = (shape.hidden_size // shape.num_attention_heads) ** -0.5
        self.layers = [self._layer(state, f"encoder.layers.{n}.", eps, scale) for n in range(n_layers)]

    # ----- weight preparation -------------------------------------------------
    def _vector(self, bias: torch.Tensor) -> torch.Tensor:
        return bias.detach().to(self.dtype)

    def _linear_weight(self, weight: torch.Tensor) -> torch.Tensor:
        """oneDNN: pre-pack into its blocked layout once (saves a reorder per call)."""
        weight = weight.detach().to(self.dtype).contiguous()
        return torch.ops.mkldnn._reorder_linear_weight(weight, None) if self.backend == BACKEND_ONEDNN else weight

    def _conv_weight(self, weight: torch.Tensor) -> torch.Tensor:
        """[out, in/groups, k] -> oneDNN's 2-D channels-last form [out, in/groups, 1, k]."""
        weight = weight.detach().to(self.dtype, copy=True)
        if self.backend == BACKEND_ONEDNN:
            return weight.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        return weight

    def _layer(self, state: Mapping[str, torch.Tensor], prefix: str, eps: float, scale: float) -> _Layer:
        att, ff = prefix + "attention.", prefix + "feed_forward."
        qkv_w = torch.cat([state[f"{att}{n}_proj.weight"] for n in "qkv"])
        qkv_b = torch.cat([state[f"{att}{n}_proj.bias"] for n in "qkv"])
        return _Layer(self._linear_weight(qkv_w), self._vector(qkv_b), self._linear_weight(state[att + "out_proj.weight"]),
                      self._vector(state[att + "out_proj.bias"]), _norm(state, prefix + "layer_norm", eps),
                      self._linear_weight(state[ff + "intermediate_dense.weight"]),
                      self._vector(state[ff + "intermediate_dense.bias"]),
                      self._linear_weight(state[ff + "output_dense.weight"]), self._vector(state[ff + "output_dense.bias"]),
                      _norm(state, prefix + "final_layer_norm", eps), scale)

    # ----- kernels --------------------------------------------------------------
    def _linear(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, gelu: bool = False) -> torch.Tensor:
        if self.backend == BACKEND_ONEDNN:
            return torch.ops.mkldnn._linear_pointwise(x, w, b, GELU if gelu else "none", [],
                                                      "none" if gelu else "")
        y = F.linear(x, w, b)
        return F.gelu(y) if gelu else y

    def _linear_add(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """residual + x @ w.T + b, the add fused into the GEMM on oneDNN."""
        if self.backend == BACKEND_ONEDNN:
            return torch.ops.mkldnn._linear_pointwise.binary(x, residual, w, b, "add")
        return residual + F.linear(x, w, b)

    def _conv_gelu(self, h: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None, stride: int,
                   pad: int = 0, groups: int = 1) -> torch.Tensor:
        """GELU(conv1d) on a time-major [T, C] tensor; returns time-major [T', C_out]."""
        if self.backend == BACKEND_ONEDNN:
            x = h.unsqueeze(0).unsqueeze(0).permute(0, 3, 1, 2)          # [1, C, 1, T], channels-last view
            y = torch.ops.mkldnn._convolution_pointwise(x, w, b, [0, pad], [1, stride], [1, 1], groups,
                                                        GELU, [], "none")
            return y[0, :, 0, :].T                                        # [T', C_out], contiguous
        y = F.conv1d(h.T.unsqueeze(0), w, b, stride=stride, padding=pad, groups=groups)
        return F.gelu(y[0]).T

    # ----- forward --------------------------------------------------------------
    def _first_conv(self, wave: torch.Tensor) -> torch.Tensor:
        """conv0 + GroupNorm(C groups) + GELU as one GEMM.

        GroupNorm with one channel per group normalises each channel over time;
        for a bias-free conv those statistics follow exactly from the input
        patches' mean m and covariance S (mean_c = w_c.m, var_c = w_c' S w_c),
        computed in float64, so the normalisation folds into the weights.
        """
        kernel, stride = self.conv0_ks
        patches = wave.unfold(0, kernel, stride)                        # [T0, k0] view
        p64 = patches.double()
        mean = p64.mean(0)
        centred = p64 - mean
        cov = centred.T @ centred / patches.shape[0]
        w64 = self.conv0_w.double()
        var = ((w64 @ cov) * w64).sum(1)
        gain = self.group_norm.weight.double() / torch.sqrt(var + self.group_norm.eps)
        weight = (w64 * gain[:, None]).to(self.dtype)
        bias = (self.group_norm.bias.double() - (w64 @ mean) * gain).to(self.dtype)
        return self._linear(patches.to(self.dtype).contiguous(), weight, bias, gelu=True)    # [T0, C]

    def _attention(self, h: torch.Tensor, layer: _Layer) -> torch.Tensor:
        frames, width = h.shape
        head_dim = width // self.heads
        # fp32 even in bf16 mode: the CPU flash kernel is faster in fp32 than in bf16 (measured), and exact-er
        qkv = self._linear(h, layer.qkv_w, layer.qkv_b).float().view(1, frames, 3, self.heads, head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)                             # each [1, H, T, D]: 4-D for flash SDPA
        out = F.scaled_dot_product_attention(q, k, v, scale=layer.scale)
        return out[0].transpose(0, 1).reshape(frames, width).to(self.dtype)

    def _segment(self, wave: torch.Tensor) -> torch.Tensor:
        h = self._first_conv(wave)
        for weight, stride in self.convs:
            h = self._conv_gelu(h, weight, None, stride)
        h = self._linear(self.proj_norm(h), self.proj_w, self.proj_b)
        pos = self._conv_gelu(h, self.pos_w, self.pos_b, 1, self.pos_pad, self.pos_groups)[: h.shape[0]]
        h = self.enc_norm(h + pos)
        means = {0: h.mean(0, dtype=torch.float32)} if 0 in self.indices else {}
        for number, layer in enumerate(self.layers, start=1):
            h = layer.norm1(self._linear_add(self._attention(h, layer), layer.out_w, layer.out_b, h))
            ff = self._linear(h, layer.ff_in_w, layer.ff_in_b, gelu=True)
            h = layer.norm2(self._linear_add(ff, layer.ff_out_w, layer.ff_out_b, h))
            if number in self.indices:
                means[number] = h.mean(0, dtype=torch.float32)
            if number >= max(self.indices):
                break
        return torch.stack([means[i] for i in self.indices])

    @torch.inference_mode()
    def layer_means(self, segments: torch.Tensor) -> torch.Tensor:
        """[B, samples] float32 -> [B, len(indices), hidden], one segment at a time.

        Segments run one by one: batching gains nothing on a CPU GEMM already at
        full width, and one at a time gives the first scores soonest.
        """
        segments = segments.to(torch.float32)
        return torch.stack([self._segment(wave.contiguous()) for wave in segments])
