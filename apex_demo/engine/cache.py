"""Content-addressed cache of MERT layer means on disk, so a song is encoded once.

Keyed by the file's sha256 plus encoder id/revision, pipeline version and run
mode; stores the per-segment layer means (before the aggregator and head, so a
different head reuses them) with the audio facts needed to rebuild a result
without decoding. Writes are atomic; a corrupt entry is dropped and recomputed;
the folder is kept under a size bound by evicting least-recently-used entries.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

LOGGER = logging.getLogger(__name__)

ENTRY_SUFFIX = ".npz"
HASH_CHUNK_BYTES = 1 << 20
BYTES_PER_MB = 1024 * 1024
# Bump when anything before the cache (decode, resample, segmenting, MERT layers) changes: part of every
# cache key, and of the model identity a folder run writes beside each row (folder/identity.py).
PIPELINE_VERSION = "1"


@dataclass(frozen=True)
class CacheEntry:
    """What one encoded file leaves behind."""

    layer_means: np.ndarray  # [segments, 4, hidden] float32
    meta: dict[str, Any]  # duration_s, sample_rate, channels, warnings, ...


def file_sha256(path: Path) -> str:
    """Content hash of a file's bytes: the cache key's material (no decode needed) and a stable clip id."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(HASH_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def look_up(path: Path, cache: "EmbeddingCache | None", key_of: Callable[[str], str]) -> tuple[str, str,
                                                                                               "CacheEntry | None"]:
    """(content sha256, cache key, cached entry or None) of an existing file (audio.check_file first)."""
    sha = file_sha256(path)
    return (sha, *cached_entry(sha, cache, key_of))


def cached_entry(sha: str, cache: "EmbeddingCache | None",
                 key_of: Callable[[str], str] | None) -> tuple[str, "CacheEntry | None"]:
    """(cache key, cached entry or None) of the content `sha`; no key without `key_of` (where no model is
    loaded, as in a Ray decode task: the key binds the encoder in)."""
    key = key_of(sha) if key_of is not None else ""
    return key, cache.get(key) if cache is not None and key else None


def cache_key(content_sha256: str, encoder: str, revision: str | None, pipeline_version: str, numerics: str) -> str:
    """One stable name per (content, encoder, pipeline, numerics: see MertEncoder.numerics)."""
    material = "\n".join([content_sha256, encoder, revision or "", pipeline_version, numerics])
    return hashlib.sha256(material.encode()).hexdigest()


class EmbeddingCache:
    """A folder of .npz entries, bounded in total size."""

    def __init__(self, root: Path, max_mb: float) -> None:
        self.root = Path(root)
        self.max_bytes = int(max_mb * BYTES_PER_MB)
        self._lock = threading.Lock()

    def __reduce__(self) -> tuple[type, tuple[Path, float]]:
        """Pickled as its folder and bound (the lock is per process), so decoding workers can read it."""
        return (EmbeddingCache, (self.root, self.max_bytes / BYTES_PER_MB))

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}{ENTRY_SUFFIX}"

    def get(self, key: str) -> CacheEntry | None:
        """The entry, or None when absent or unreadable (a corrupt entry is deleted)."""
        path = self._path(key)
        if not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                entry = CacheEntry(np.array(data["layer_means"], dtype=np.float32),
                                   json.loads(str(data["meta"])))
            os.utime(path)  # mark as recently used for eviction
            return entry
        except Exception as exc:  # noqa: BLE001 - any damage means "recompute", never fatal
            LOGGER.warning("dropping unreadable cache entry %s (%s: %s)", path, type(exc).__name__, exc)
            path.unlink(missing_ok=True)
            return None

    def put(self, key: str, entry: CacheEntry) -> None:
        """Write atomically (temp file + rename) and evict old entries past the bound."""
        path = self._path(key)
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, layer_means=entry.layer_means.astype(np.float32),
                         meta=np.array(json.dumps(entry.meta)))
            os.replace(tmp, path)
        except OSError as exc:
            # A full or read-only disk must not stop scoring: the result is still returned.
            LOGGER.warning("could not write cache entry %s: %s (scoring continues uncached)", path, exc)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)  # never leave a half-written file outside the size bound
            return
        self._evict()

    def _evict(self) -> None:
        with self._lock:
            entries = []
            for p in self.root.glob(f"*/*{ENTRY_SUFFIX}"):
                try:
                    st = p.stat()
                except OSError:
                    continue
                entries.append((st.st_mtime, st.st_size, p))
            total = sum(size for _, size, _ in entries)
            for _, size, p in sorted(entries, key=lambda e: e[0]):
                if total <= self.max_bytes:
                    break
                p.unlink(missing_ok=True)
                total -= size

