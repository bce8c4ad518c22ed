"""The authors' loop (reference/authors.py, which never imports apex_demo) run once per recording and
model in a test session: every tier that checks the engine against it shares its outputs.

The song embedding depends only on the MERT folder (the aggregator is the authors' seeded layer), so
it is kept per (MERT folder, recording bytes); a head is applied to it as APEX.predict does.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import torch

from reference.authors import APEX, apply_head, load_apex_head


class ReferenceRuns:
    """APEX(mert, head) as the authors' inference.py builds it, with its embeddings remembered."""

    def __init__(self) -> None:
        self._embeddings: dict[tuple[str, str], torch.Tensor] = {}

    @functools.cache  # noqa: B019 - one object per test session (a session fixture)
    def apex(self, mert: Path, head: Path) -> APEX:
        return APEX(mert, head)

    def embedding(self, mert: Path, head: Path, recording: Path) -> torch.Tensor:
        key = (str(mert), hashlib.sha256(recording.read_bytes()).hexdigest())
        if key not in self._embeddings:
            self._embeddings[key] = self.apex(mert, head).embedding(recording)
        return self._embeddings[key]

    def predict(self, mert: Path, head: Path, recording: Path) -> dict[str, float]:
        return apply_head(load_apex_head(head), self.embedding(mert, head, recording))

    def segment_count(self, mert: Path, head: Path, recording: Path) -> int:
        return self.apex(mert, head).segment_count(recording)
