"""The embedding cache: bounded in size, a full or read-only disk never stops scoring, no temp file left behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from apex_demo.engine.cache import CacheEntry, EmbeddingCache


def test_cache_is_bounded(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, max_mb=0.05)  # about 51 kB
    big = np.zeros((3, 4, 768), np.float32)  # about 37 kB each
    for i in range(4):
        cache.put(f"{i:064x}", CacheEntry(big, {"i": i}))
    kept = list(tmp_path.glob("*/*.npz"))
    assert len(kept) == 1 and cache.get(f"{3:064x}") is not None and cache.get(f"{0:064x}") is None


def test_unwritable_cache_does_not_stop_scoring(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cache = EmbeddingCache(blocker / "sub", max_mb=10)
    cache.put("ab" * 32, CacheEntry(np.zeros((1, 4, 2), np.float32), {}))
    assert cache.get("ab" * 32) is None


def test_failed_cache_write_leaves_no_temp_file(tmp_path: Path, monkeypatch) -> None:
    cache = EmbeddingCache(tmp_path, max_mb=10)

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    cache.put("cd" * 32, CacheEntry(np.zeros((1, 4, 2), np.float32), {}))
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
