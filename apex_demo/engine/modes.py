"""Exact or fast: which arithmetic MERT runs with, why, and how far fast mode is from exact.

Fast mode is offered only where it is faster: on a CPU it is bf16, which is faster on some CPUs and
slower on others (it was slower than exact fp32 on the Intel Xeon of docs/benchmark.md), so the
choice is made at model load from a timed probe of both paths on this machine
(`fastpath.choose_runner`); on CUDA it is half-precision (fp16) autocast, which uses the GPU's
tensor cores. Every result carries the mode that ran and, in `mode_note`, why and (for fast) its
error against exact, in the words below: the one statement of that error, for the docs, the page,
the command line and the API alike.
"""

from __future__ import annotations

from dataclasses import dataclass

EXACT = "exact"
FAST = "fast"
# Fast mode must beat exact by this factor on the probe (timing noise on a shared machine is about 5 %).
FAST_MIN_SPEEDUP = 1.1
# ... and keep the layer means within this relative deviation of exact (one Intel Xeon's bf16 kernels gave
# about 0.25 on the test model; AVX512_BF16 on an AMD EPYC about 0.005).
FAST_MAX_REL_DEVIATION = 0.05
FAST_ERROR = ("fast-mode scores differ from exact ones by up to about 0.01 on the 1-5 scales and 0.1 on the "
              "0-100 scales (bf16 on a CPU: measured 0.0084 and 0.063, docs/benchmark.md)")
EXACT_NOTE = "exact: the reference arithmetic (fp32); scores match the published loop within 1e-4"
NOT_ASKED = EXACT_NOTE
NO_BF16 = "exact: fast mode was asked for, but this CPU has no bf16 kernels, so it would be slower"
SLOWER = ("exact: fast mode was asked for, but bf16 was not faster on this CPU at load ({fast:.2f} s against "
          "{exact:.2f} s exact on a {seconds:g} s probe)")
DEVIATES = ("exact: fast mode was asked for, but this CPU's bf16 kernels deviate {deviation:.3f} (relative) from "
            "exact on a {seconds:g} s probe, over the {limit:g} allowed")
FAST_CPU = "fast: bf16, {speedup:.1f}x the exact speed on this CPU at load ({fast:.2f} s against {exact:.2f} s); "
FAST_CUDA = "fast: fp16 autocast on CUDA (bench/gpu_check.sh measures its error there); on a CPU, "
NO_RUNNER = "exact: fast mode was asked for, but the fast CPU runner cannot run this model ({reason})"


@dataclass(frozen=True)
class Probe:
    """Both CPU paths timed on the same probe at load (best of the timed passes)."""

    exact_s: float
    fast_s: float
    deviation: float  # max |fast - exact| / max |exact| of the layer means
    seconds: float    # the probe's length of audio


@dataclass(frozen=True)
class ModeChoice:
    """The mode that runs ("exact" or "fast") and why, in words (with fast mode's error against exact)."""

    mode: str
    why: str


def decide_cpu_mode(asked: bool, bf16: bool, probe: Probe | None) -> ModeChoice:
    """Fast (bf16) only when asked for, available, measured faster by FAST_MIN_SPEEDUP and close to exact."""
    if not asked:
        return ModeChoice(EXACT, NOT_ASKED)
    if not bf16 or probe is None:
        return ModeChoice(EXACT, NO_BF16)
    if probe.deviation > FAST_MAX_REL_DEVIATION:
        return ModeChoice(EXACT, DEVIATES.format(deviation=probe.deviation, seconds=probe.seconds,
                                                 limit=FAST_MAX_REL_DEVIATION))
    if probe.fast_s * FAST_MIN_SPEEDUP > probe.exact_s:
        return ModeChoice(EXACT, SLOWER.format(fast=probe.fast_s, exact=probe.exact_s, seconds=probe.seconds))
    return ModeChoice(FAST, FAST_CPU.format(speedup=probe.exact_s / probe.fast_s, fast=probe.fast_s,
                                            exact=probe.exact_s) + FAST_ERROR)


def cuda_mode(asked: bool) -> ModeChoice:
    """On CUDA fast mode is fp16 autocast (tensor cores); exact keeps fp32 (no TF32)."""
    return ModeChoice(FAST, FAST_CUDA + FAST_ERROR) if asked else ModeChoice(EXACT, EXACT_NOTE)


def plain_forward_mode(asked: bool, reason: str) -> ModeChoice:
    """A config only transformers' own forward can run: exact, whatever was asked."""
    return ModeChoice(EXACT, NO_RUNNER.format(reason=reason)) if asked else ModeChoice(EXACT, EXACT_NOTE)
