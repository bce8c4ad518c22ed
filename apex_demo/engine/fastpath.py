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

The optional fast mode (`approximate=True`) runs the GEMMs and convolutions in
bfloat16 (oneDNN's AVX512_BF16 kernels; attention and the layer means stay
fp32): about 1.4x faster again, with deviations of about 1e-2 (measured in
bench/bench_scoring.py), so results are labelled mode "fast" and cached separately.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from transformers import HubertConfig, HubertModel

LOGGER = logging.getLogger(__name__)

# Fast-mode self-check: bf16 must stay within this relative deviation of the exact forward on a
# short probe, else the exact path runs. Measured here (AMD, AVX512_BF16): about 0.005; one Intel
# Xeon's bf16 kernels gave about 0.25 on the test model, which this check turns into a fallback.
FAST_MODE_MAX_REL_DEVIATION = 0.05
PROBE_SAMPLES = 48_000  # 2 s at 24 kHz
PROBE_SEED = 1234
GELU = "gelu"  # the only activation the fused kernels reproduce exactly (erf GELU)
BACKEND_ONEDNN = "onednn"
BACKEND_ATEN = "aten"


def onednn_available() -> bool:
    """True when this torch build has the oneDNN fused CPU ops used below."""
    ops = torch.ops.mkldnn
    return bool(torch.backends.mkldnn.is_available()) and all(
        hasattr(ops, name) for name in ("_linear_pointwise", "_convolution_pointwise", "_reorder_linear_weight"))


def bf16_available() -> bool:
    """True when oneDNN has native bfloat16 kernels on this CPU (AVX512_BF16 / AMX)."""
    return onednn_available() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def cpu_runner_for(model: HubertModel, hidden_state_indices: Sequence[int],
                   approximate: bool = False) -> "CpuMertRunner | None":
    """The fast CPU runner for this model, or None when only the plain forward can reproduce it.

    approximate=True asks for the bf16 fast mode; where the CPU lacks bf16 kernels
    the exact runner is used instead (bf16 emulation would be slower, not faster).
    """
    reason = unsupported_reason(model.config)
    if reason is not None:
        LOGGER.info("MERT runs through the plain HubertModel forward: %s", reason)
        return None
    if approximate and not bf16_available():
        LOGGER.warning("fast mode: this CPU has no bf16 kernels; running the exact fp32 path")
        approximate = False
    if approximate:
        runner = CpuMertRunner(model, hidden_state_indices, dtype=torch.bfloat16)
        deviation = fast_mode_deviation(model, runner, hidden_state_indices)
        if deviation <= FAST_MODE_MAX_REL_DEVIATION:
            return runner
        LOGGER.warning("fast mode: this CPU's bf16 kernels deviate %.3f (relative) from the exact forward, "
                       "over the %.3f allowed; running the exact fp32 path", deviation, FAST_MODE_MAX_REL_DEVIATION)
    return CpuMertRunner(model, hidden_state_indices, dtype=torch.float32)


def release_layer_weights(model: HubertModel) -> None:
    """Free the transformer layers' tensors of `model` once a CpuMertRunner has been built from it.

    Why: the runner keeps its own pre-packed copies of every layer's GEMM weights (and
    shares the small norms and biases), so the model's own copies would only sit in
    memory: about 340 MB for MERT-v1-95M, which made `score` peak above the stock
    transformers loop. The layers move to the meta device: the model keeps its config,
    feature extractor and encoder norms, but can no longer run its own forward.
    """
    model.encoder.layers.to_empty(device="meta")


@torch.inference_mode()
def fast_mode_deviation(model: HubertModel, runner: "CpuMertRunner", hidden_state_indices: Sequence[int]) -> float:
    """max |fast - exact| / max |exact| of the layer means on a fixed 2 s noise probe.

    bf16 kernels differ between CPUs; checking on this machine, at load time,
    is the only way to know that the labelled-approximate mode is still close.
    """
    probe = torch.randn(1, PROBE_SAMPLES, generator=torch.Generator().manual_seed(PROBE_SEED)) * 0.1
    hidden = model(probe, output_hidden_states=True).hidden_states
    exact = torch.stack([hidden[k].float().mean(dim=1) for k in hidden_state_indices], dim=1)
    got = runner.layer_means(probe)
    return float((got - exact).abs().max() / exact.abs().max().clamp_min(1e-12))


def unsupported_reason(config: HubertConfig) -> str | None:
    """Why this runner cannot reproduce HubertModel for `config` (None when it can)."""
    checks = {
        "feat_extract_norm must be 'group'": config.feat_extract_norm == "group",
        "do_stable_layer_norm must be false": not config.do_stable_layer_norm,
        "conv_bias must be false": not config.conv_bias,
        "activations must be erf GELU": config.hidden_act == GELU and config.feat_extract_activation == GELU,
        "feat_proj_layer_norm must be true": bool(config.feat_proj_layer_norm),
        "positional conv must use weight norm": not getattr(config, "conv_pos_batch_norm", False),
        "hidden_size must split evenly into heads": config.hidden_size % config.num_attention_heads == 0,
    }
    failed = [text for text, ok in checks.items() if not ok]
    return "; ".join(failed) if failed else None


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


def _norm(module: torch.nn.Module) -> _Norm:
    return _Norm(module.weight.detach(), module.bias.detach(), float(module.eps))


class CpuMertRunner:
    """Time means of selected hidden states of a HubertModel, computed fast on the CPU.

    `hidden_state_indices` uses HubertModel's `hidden_states` numbering: 0 is the
    transformer input, k the output of layer k, negative counts from the end.
    """

    def __init__(self, model: HubertModel, hidden_state_indices: Sequence[int],
                 use_onednn: bool | None = None, dtype: torch.dtype = torch.float32) -> None:
        config = model.config
        reason = unsupported_reason(config)
        if reason is not None:
            raise ValueError(f"CpuMertRunner cannot reproduce this HubertModel: {reason}")
        n_layers = config.num_hidden_layers
        self.indices = tuple(i % (n_layers + 1) for i in hidden_state_indices)
        self.backend = BACKEND_ONEDNN if (onednn_available() if use_onednn is None else use_onednn) else BACKEND_ATEN
        if dtype != torch.float32 and self.backend != BACKEND_ONEDNN:
            raise ValueError("reduced precision needs the oneDNN backend")
        self.dtype = dtype
        self.heads = config.num_attention_heads
        convs = model.feature_extractor.conv_layers
        self.conv0_w = convs[0].conv.weight.detach()[:, 0, :].contiguous()       # [C, k0]
        self.conv0_ks = (config.conv_kernel[0], config.conv_stride[0])
        self.group_norm = convs[0].layer_norm
        self.convs = [(self._conv_weight(layer.conv.weight), stride)
                      for layer, stride in zip(convs[1:], config.conv_stride[1:])]
        projection = model.feature_projection
        self.proj_norm = _norm(projection.layer_norm)
        self.proj_w = self._linear_weight(projection.projection.weight)
        self.proj_b = self._vector(projection.projection.bias)
        pos = model.encoder.pos_conv_embed
        self.pos_w = self._conv_weight(pos.conv.weight)     # weight norm evaluated once, not per forward
        self.pos_b = self._vector(pos.conv.bias)
        self.pos_pad = config.num_conv_pos_embeddings // 2
        self.pos_groups = config.num_conv_pos_embedding_groups
        self.enc_norm = _norm(model.encoder.layer_norm)
        self.layers = [self._layer(layer) for layer in model.encoder.layers]

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

    def _layer(self, layer: torch.nn.Module) -> _Layer:
        att, ff = layer.attention, layer.feed_forward
        qkv_w = torch.cat([att.q_proj.weight, att.k_proj.weight, att.v_proj.weight]).detach()
        qkv_b = torch.cat([att.q_proj.bias, att.k_proj.bias, att.v_proj.bias]).detach()
        return _Layer(self._linear_weight(qkv_w), self._vector(qkv_b), self._linear_weight(att.out_proj.weight),
                      self._vector(att.out_proj.bias), _norm(layer.layer_norm),
                      self._linear_weight(ff.intermediate_dense.weight), self._vector(ff.intermediate_dense.bias),
                      self._linear_weight(ff.output_dense.weight), self._vector(ff.output_dense.bias),
                      _norm(layer.final_layer_norm), float(att.scaling))

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
