"""Which model made a row of a results file: a short fingerprint of the settings that decide the numbers.

A results file resumes by content and model: a song is skipped when a row for the same bytes (sha256)
made by the same model is already there, so moving a catalogue costs nothing, while a re-exported
take or a new model version is scored again. The fingerprint is computed from the settings, before
any model is loaded (a Ray driver never loads one), over what changes the numbers: MERT and the head
(where and which file), their revisions, the precision, fast mode, and the engine's pipeline version.
The device is left out: exact mode gives the same numbers on a CPU and a GPU (docs/architecture.md).
A Hub model without a pinned revision is named by its id alone, so pin APEX_MERT_REVISION and
APEX_HEAD_REVISION when a long job may outlive an upload to the model's repo.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from apex_demo.config import Settings
from apex_demo.engine import PIPELINE_VERSION

IDENTITY_HEX = 16  # 64 bits: no two models of one catalogue collide


def model_identity(settings: Settings) -> str:
    """16 hex digits that change whenever the model, its numerics or the pipeline would change a score."""
    material = {"mert": _where(settings.mert), "mert_revision": settings.mert_revision,
                "mert_file": settings.mert_file, "head": _where(settings.head),
                "head_revision": settings.head_revision, "head_file": settings.head_file,
                "precision": settings.precision, "fast": settings.fast, "pipeline": PIPELINE_VERSION}
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:IDENTITY_HEX]


def _where(source: str) -> str:
    """A local model by its absolute path (`./m` and `/abs/m` are one model), a Hub id as written."""
    path = Path(source).expanduser()
    return str(path.resolve()) if path.exists() else source
