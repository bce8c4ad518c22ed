"""`doctor`: load both models from the configured sources, say what was found, and score a probe.

The first run on the real files anywhere (a Space, a laptop) should say at once
whether they work and, if not, exactly why. Every fact is collected into a
DoctorReport; a failure is recorded as a problem, never raised, so the report
always shows how far the checks got.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import math
import platform
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from apex_demo.engine.cache import file_sha256
from apex_demo.config import Settings
from apex_demo.errors import ApexError
from apex_demo.engine.hub import snapshot_revision
from apex_demo.scores import OUTPUT_BY_KEY

PACKAGES = ("torch", "torchaudio", "transformers", "huggingface_hub", "gradio", "soundfile")
PROBE_SECONDS = 2.0
PROBE_RATE = 44_100
PROBE_TONE_HZ = 440.0
SHA_PREFIX = 12


@dataclass(frozen=True)
class FileFact:
    """One model file that was read."""

    role: str
    name: str
    path: str
    size_bytes: int
    sha256_prefix: str
    revision: str | None


@dataclass
class DoctorReport:
    """Everything `doctor` found; `problems` is empty when all is well."""

    versions: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str | None] = field(default_factory=dict)
    files: list[FileFact] = field(default_factory=list)
    mert: dict[str, Any] = field(default_factory=dict)
    head: dict[str, Any] = field(default_factory=dict)
    runtime: dict[str, str] = field(default_factory=dict)
    probe: dict[str, float] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # worth knowing, not a failure (e.g. votes lost on restart)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"ok": self.ok}


def run_doctor(settings: Settings) -> DoctorReport:
    """Resolve and load the models through the app's one factory, describe them, score a probe."""
    from apex_demo.engine.models import get_scorer  # the engine is heavy: imported only when checking

    report = DoctorReport(versions=package_versions(),
                          sources={"mert": settings.mert, "mert_revision": settings.mert_revision,
                                   "mert_file": settings.mert_file, "head": settings.head,
                                   "head_revision": settings.head_revision, "head_file": settings.head_file})
    report.notes += [note for note in (settings.storage_note(),) if note is not None]
    try:
        scorer = get_scorer(dataclasses.replace(settings, use_cache=False))
    except ApexError as exc:
        report.problems.append(f"[{exc.code.value}] {exc.message}")
        return report
    describe_models(report, scorer)
    check_probe(report, scorer)
    return report


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def describe_models(report: DoctorReport, scorer: Any) -> None:
    """Files, MERT config summary, head layout, device and mode of a loaded Scorer."""
    encoder, head = scorer.encoder, scorer.head
    report.files = [file_fact("mert", p) for p in encoder.files]
    if head.path is not None:
        report.files.append(file_fact("head", head.path))
    shape = encoder.shape
    report.mert = {"hidden_size": shape.hidden_size, "layers": shape.num_hidden_layers,
                   "attention_heads": shape.num_attention_heads,
                   "sampling_rate": encoder.features.sampling_rate, "do_normalize": encoder.features.do_normalize}
    cfg = head.head.config
    report.head = {"task": cfg.task, "input_dim": cfg.input_dim, "shared": list(cfg.shared_dims),
                   "branch": list(cfg.branch_dims), "outputs": list(cfg.outputs),
                   "aggregator": "from the checkpoint" if head.aggregator_from_checkpoint
                   else "seeded Conv1d (torch.manual_seed(42)), as the reference",
                   "checkpoint": {k: v for k, v in head.metadata.items() if k in ("epoch", "val_loss", "mode", "loss")}}
    runner = encoder.cpu_runner
    report.runtime = {"device": str(encoder.device), "mode": scorer.mode, "numerics": encoder.numerics,
                      "cpu_backend": runner.backend if runner is not None else "transformers forward",
                      "why": encoder.choice.why}


def file_fact(role: str, path: Path) -> FileFact:
    return FileFact(role, path.name, str(path), path.stat().st_size, file_sha256(path)[:SHA_PREFIX],
                    snapshot_revision(path))


def check_probe(report: DoctorReport, scorer: Any) -> None:
    """Score a 2 s tone through the whole pipeline; every output must be finite and inside its range."""
    t = np.arange(int(PROBE_SECONDS * PROBE_RATE)) / PROBE_RATE
    tone = (0.3 * np.sin(2 * np.pi * PROBE_TONE_HZ * t)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="apex_doctor_") as folder:
        path = Path(folder) / "probe.wav"
        sf.write(path, np.stack([tone, tone], axis=1), PROBE_RATE)
        try:
            result = scorer.score_file(path, display_name="probe.wav")
        except ApexError as exc:
            report.problems.append(f"probe: [{exc.code.value}] {exc.message}")
            return
    report.probe = result.scores.as_dict()
    for key, value in report.probe.items():
        spec = OUTPUT_BY_KEY[key]
        if not (math.isfinite(value) and spec.low <= value <= spec.high):
            report.problems.append(f"probe: {key} = {value} is outside {spec.low}-{spec.high}; the weights "
                                   "are broken or do not belong together.")


def describe_loaded(scorer: Any) -> DoctorReport:
    """The facts of models already loaded (for the About tab): no reload, no probe."""
    report = DoctorReport(versions=package_versions())
    describe_models(report, scorer)
    return report


def public_summary(report: DoctorReport) -> str:
    """Markdown for visitors: file names, sizes, hashes and revisions, never a server path."""
    rows = [f"| {f.role} | `{f.name}` | {f.size_bytes / 1e6:.1f} MB | `{f.sha256_prefix}` | {f.revision or '-'} |"
            for f in report.files]
    head, mert = report.head, report.mert
    return "\n".join([
        "| model | file | size | sha256 | revision |", "|---|---|---|---|---|", *rows, "",
        f"- **MERT**: {mert.get('hidden_size')}-d, {mert.get('layers')} layers, "
        f"{mert.get('sampling_rate')} Hz input, normalised input: {'yes' if mert.get('do_normalize') else 'no'}",
        f"- **Head**: task {head.get('task')}, shared layers {head.get('shared')}, "
        f"{len(head.get('outputs', []))} outputs, aggregator: {head.get('aggregator')}",
        f"- **Runtime**: {report.runtime.get('device')}, mode {report.runtime.get('mode')}; "
        + ", ".join(f"{k} {v}" for k, v in report.versions.items()),
    ])


def format_report(report: DoctorReport) -> str:
    """The report as plain text lines, for the terminal and the About tab."""
    lines = ["versions: " + ", ".join(f"{k} {v}" for k, v in report.versions.items()),
             "sources:  " + ", ".join(f"{k}={v}" for k, v in report.sources.items() if v)]
    for f in report.files:
        lines.append(f"file:     {f.role} {f.name}  {f.size_bytes / 1e6:.1f} MB  sha256 {f.sha256_prefix}"
                     f"{'  revision ' + f.revision if f.revision else ''}  ({f.path})")
    for title, facts in (("mert", report.mert), ("head", report.head), ("runtime", report.runtime),
                         ("probe", {k: round(v, 3) for k, v in report.probe.items()})):
        if facts:
            lines.append(f"{title + ':':<10}" + ", ".join(f"{k} {v}" for k, v in facts.items()))
    lines += [f"NOTE:     {n}" for n in report.notes]
    lines += [f"PROBLEM:  {p}" for p in report.problems]
    lines.append("doctor: all checks passed" if report.ok else "doctor: FAILED (see PROBLEM lines)")
    return "\n".join(lines)
