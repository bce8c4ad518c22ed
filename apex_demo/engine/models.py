"""Load the models once: the one cached factory behind every Scorer of a process.

MERT and the head are built once per model choice (`ModelKey`) and shared by every Scorer that
uses them; a Scorer adds only cheap settings (cache folder, duration limit), so the app, the CLI
and the arena warm-up that ask with the same settings share one object. Nothing loads at import:
`get_scorer` loads on its first call.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from apex_demo.config import Settings
from apex_demo.engine.cache import EmbeddingCache
from apex_demo.engine.encoder import MertEncoder, load_encoder
from apex_demo.engine.head import LoadedHead, load_head
from apex_demo.engine.scoring import Scorer
from apex_demo.errors import ErrorCode, ModelError

AUTOCAST_DTYPES = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass(frozen=True)
class ModelKey:
    """The settings that decide which models are loaded (nothing else may cause a reload)."""

    mert: str
    mert_revision: str | None
    mert_file: str | None
    head: str
    head_revision: str | None
    head_file: str | None
    device: str
    precision: str
    fast: bool
    token: str | None

    @classmethod
    def from_settings(cls, s: Settings) -> "ModelKey":
        return cls(s.mert, s.mert_revision, s.mert_file, s.head, s.head_revision, s.head_file, s.device, s.precision,
                   s.fast, s.hf_token)


@dataclass(frozen=True)
class ScorerKey:
    """The loaded models plus the cheap per-scorer settings (cache folder, duration limit)."""

    models: ModelKey
    cache_dir: Path | None
    cache_max_mb: float
    max_seconds: float

    @classmethod
    def from_settings(cls, s: Settings) -> "ScorerKey":
        return cls(ModelKey.from_settings(s), s.cache_dir if s.use_cache else None, s.cache_max_mb, s.max_seconds)


def get_scorer(settings: Settings) -> Scorer:
    """The process-wide Scorer for these settings: models are loaded once, on first use."""
    with _factory_lock():
        return _build_scorer(ScorerKey.from_settings(settings))


@functools.cache
def _factory_lock() -> threading.Lock:
    return threading.Lock()


def load_scorer(settings: Settings | None = None) -> Scorer:
    """The Scorer for these settings (default: from the APEX_* environment variables), loading
    the models on first use; the library's way in (`from apex_demo import load_scorer`)."""
    return get_scorer(settings if settings is not None else Settings.from_env())


@functools.lru_cache(maxsize=8)
def _build_scorer(key: ScorerKey) -> Scorer:
    encoder, head = _load_models(key.models)
    cache = EmbeddingCache(key.cache_dir, key.cache_max_mb) if key.cache_dir is not None else None
    return Scorer(encoder, head, cache, key.max_seconds)


@functools.lru_cache(maxsize=2)
def _load_models(key: ModelKey) -> tuple[MertEncoder, LoadedHead]:
    """MERT and the head, built once per model choice and shared by every Scorer that uses them."""
    encoder = load_encoder(key.mert, key.mert_revision, key.device, key.token, AUTOCAST_DTYPES[key.precision],
                           fast=key.fast, filename=key.mert_file)
    head = load_head(key.head, key.head_revision, key.token, filename=key.head_file)
    if head.head.config.input_dim != encoder.hidden_size:
        raise ModelError(f"The APEX head {key.head} expects {head.head.config.input_dim}-d embeddings but the "
                         f"MERT encoder {key.mert} gives {encoder.hidden_size}-d. Use the head trained on "
                         "this encoder (MERT-v1-95M for amaai-lab/apex).", ErrorCode.HEAD_MISMATCH)
    return encoder, head
