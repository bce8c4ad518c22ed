"""The authors' head classes and inference loop, re-stated with their names (AMAAI-Lab/apex).

Two deliberate differences, both for tiny test encoders: apexMLP takes the
embedding width (`input_dim`, 768 in the paper), and MERT is transformers'
HubertModel loaded with `from_pretrained` and eager attention (MERT's remote
code no longer runs on current transformers; with MERT-v1's config HubertModel
computes the same hidden states). Everything else follows inference.py: the
feature extractor call on every segment, hidden states [2, 5, 8, -1], the Conv1d
made right after torch.manual_seed(42), the plain mean over segments.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Iterator

import soundfile as sf
import torch
import torch.nn as nn
import torchaudio.functional as TAF
from transformers import HubertModel, Wav2Vec2FeatureExtractor

LAYER_INDICES = [2, 5, 8, -1]
SEGMENT_SEC = 30
SEED = 42
EAGER = "eager"  # the attention the published loop runs (MERT's remote code is eager)
POPULARITY_TASKS = ["score_streams", "score_likes"]
SONGEVAL_TASKS = ["coherence", "musicality", "memorability", "clarity", "naturalness"]
ALL_TASKS = POPULARITY_TASKS + SONGEVAL_TASKS


class SharedBlock(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Linear(in_dim, out_dim), nn.BatchNorm1d(out_dim), nn.GELU(), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class BranchBlock(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, dropout: float, use_bn: bool = True) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(in_dim, out_dim)]
        if use_bn:
            layers.append(nn.BatchNorm1d(out_dim))
        layers += [nn.GELU(), nn.Dropout(dropout)]
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


class TaskBranch(nn.Module):
    def __init__(self, scale: float, shift: float) -> None:
        super().__init__()
        self.branch = nn.Sequential(BranchBlock(256, 128, dropout=0.1, use_bn=True),
                                    BranchBlock(128, 64, dropout=0.1, use_bn=True),
                                    nn.Linear(64, 1))
        self.scale = scale
        self.shift = shift

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.branch(x)) * self.scale + self.shift


class apexMLP(nn.Module):  # noqa: N801 - the authors' name
    def __init__(self, task: str, n_shared: int, input_dim: int = 768) -> None:
        super().__init__()
        self.task = task
        if n_shared == 2:
            self.shared = nn.Sequential(SharedBlock(input_dim, 512, dropout=0.3), SharedBlock(512, 256, dropout=0.3))
        elif n_shared == 3:
            self.shared = nn.Sequential(SharedBlock(input_dim, 512, dropout=0.3), SharedBlock(512, 384, dropout=0.3),
                                        SharedBlock(384, 256, dropout=0.3))
        else:
            raise ValueError(f"n_shared must be 2 or 3, got {n_shared}")
        self.branch_score_streams = TaskBranch(scale=100, shift=0)
        self.branch_score_likes = TaskBranch(scale=100, shift=0)
        if task == "full":
            self.branch_coherence = TaskBranch(scale=4, shift=1)
            self.branch_musicality = TaskBranch(scale=4, shift=1)
            self.branch_memorability = TaskBranch(scale=4, shift=1)
            self.branch_clarity = TaskBranch(scale=4, shift=1)
            self.branch_naturalness = TaskBranch(scale=4, shift=1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        shared = self.shared(x)
        tasks = ALL_TASKS if self.task == "full" else POPULARITY_TASKS
        return {t: getattr(self, f"branch_{t}")(shared).squeeze(1) for t in tasks}


class UncertaintyWeightedLoss(nn.Module):
    """train.py's learned task weighting: sum of loss_t / (2 sigma_t^2) + log sigma_t."""

    def __init__(self, tasks: list[str]) -> None:
        super().__init__()
        self.log_sigmas = nn.ParameterDict({t.replace("-", "_"): nn.Parameter(torch.zeros(1)) for t in tasks})

    def forward(self, losses: dict[str, torch.Tensor]) -> torch.Tensor:
        total = torch.zeros(())
        for t, loss in losses.items():
            log_sigma = self.log_sigmas[t.replace("-", "_")]
            total = total + (1 / (2 * torch.exp(log_sigma) ** 2)) * loss + log_sigma
        return total.sum()

    def get_weights(self) -> dict[str, float]:
        return {t.replace("_", "-"): float(1 / (torch.exp(self.log_sigmas[t].detach()) ** 2)) for t in self.log_sigmas}

    def get_sigmas(self) -> dict[str, float]:
        return {t.replace("_", "-"): float(torch.exp(self.log_sigmas[t].detach())) for t in self.log_sigmas}


def load_mert(folder: Path, device: torch.device = torch.device("cpu"),
              attn_implementation: str | None = EAGER) -> tuple[Wav2Vec2FeatureExtractor, HubertModel]:
    """The processor and MERT as the authors load them, through transformers' own from_pretrained.

    attn_implementation=None is transformers' own default (SDPA today): what someone porting
    the loop now gets without asking; the benchmark's "stock" baseline.
    """
    processor = Wav2Vec2FeatureExtractor.from_pretrained(str(folder))
    kwargs = {} if attn_implementation is None else {"attn_implementation": attn_implementation}
    mert = HubertModel.from_pretrained(str(folder), **kwargs).to(device).eval()
    return processor, mert


def load_apex_head(checkpoint_path: Path) -> apexMLP:
    """inference.py's checkpoint handling: task and n_shared from the dict, strict load of model_state."""
    checkpoint = torch.load(str(checkpoint_path), map_location="cpu", weights_only=True)
    state = checkpoint["model_state"]
    model = apexMLP(task=checkpoint.get("task", "full"), n_shared=checkpoint.get("shared", 2),
                    input_dim=state["shared.0.block.0.weight"].shape[1])
    model.load_state_dict(state)
    return model.eval()


@torch.no_grad()
def apply_head(model: apexMLP, embedding: torch.Tensor) -> dict[str, float]:
    """One embedding ([D]) -> {task: score}, as APEX.predict reads the model's outputs."""
    preds = model(embedding.unsqueeze(0))
    return {task: float(preds[task].squeeze().cpu()) for task in preds}


class APEX:
    """inference.py's APEX class: MERT + seeded aggregator + the checkpoint's apexMLP."""

    def __init__(self, mert_folder: Path, checkpoint_path: Path,
                 device: torch.device = torch.device("cpu"), attn_implementation: str | None = EAGER) -> None:
        self.device = device
        self.processor, self.mert = load_mert(mert_folder, device, attn_implementation)
        self.target_sr = self.processor.sampling_rate
        torch.manual_seed(SEED)
        self.aggregator = nn.Conv1d(in_channels=len(LAYER_INDICES), out_channels=1, kernel_size=1).to(device)
        self.aggregator.eval()
        self.model = load_apex_head(checkpoint_path).to(device)

    def load_audio(self, audio_path: Path) -> torch.Tensor:
        waveform, sr = sf.read(str(audio_path), dtype="float32")
        waveform = torch.from_numpy(waveform)
        if len(waveform.shape) > 1 and waveform.shape[1] > 1:
            waveform = waveform.mean(dim=1)
        waveform = waveform.to(self.device)
        if sr != self.target_sr:
            waveform = TAF.resample(waveform, sr, self.target_sr)
        return waveform

    @torch.no_grad()
    def segment_embeddings(self, waveform: torch.Tensor) -> Iterator[torch.Tensor]:
        """Each 30 s segment's embedding ([D], on the CPU), in order."""
        segment_len = SEGMENT_SEC * self.target_sr
        for start in range(0, waveform.shape[0], segment_len):
            segment = waveform[start:start + segment_len]
            if segment.shape[0] < segment_len:
                segment = torch.nn.functional.pad(segment, (0, segment_len - segment.shape[0]))
            inputs = self.processor(segment.cpu().numpy(), sampling_rate=self.target_sr, return_tensors="pt")
            inputs = {k: v.to(self.device) for k, v in inputs.items()}
            outputs = self.mert(**inputs, output_hidden_states=True)
            all_hidden = torch.stack([outputs.hidden_states[i].mean(dim=1) for i in LAYER_INDICES]).squeeze(1)
            yield self.aggregator(all_hidden.unsqueeze(0)).squeeze().cpu()

    @torch.no_grad()
    def embedding(self, audio_path: Path) -> torch.Tensor:
        """Song embedding: the plain mean of the segment embeddings."""
        return torch.stack(list(self.segment_embeddings(self.load_audio(audio_path)))).mean(dim=0)

    def head(self, embedding: torch.Tensor) -> dict[str, float]:
        return apply_head(self.model, embedding.to(self.device))

    def predict(self, audio_path: Path) -> dict[str, float]:
        return self.head(self.embedding(audio_path))

    def segment_count(self, audio_path: Path) -> int:
        return math.ceil(self.load_audio(audio_path).shape[0] / (SEGMENT_SEC * self.target_sr))
