"""What a folder run scores: audio files found in folders, and whether the output is a results file.

`python -m apex_demo score DIR [DIR|FILE ...] --recursive --output results.csv|results.parquet|results.jsonl`
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from apex_demo.engine import SNDFILE_EXTENSIONS

# Containers that need ffmpeg, scored too when found in a folder.
FFMPEG_EXTENSIONS = frozenset({".m4a", ".aac", ".mp4", ".webm", ".wma", ".mka"})
AUDIO_EXTENSIONS = SNDFILE_EXTENSIONS | FFMPEG_EXTENSIONS
BATCH_SUFFIXES = (".csv", ".parquet", ".jsonl")


def find_audio(inputs: Iterable[str], recursive: bool) -> list[str]:
    """Expand folders into their audio files (sorted; sub-folders only with recursive); keep files as given."""
    found: list[str] = []
    for item in inputs:
        path = Path(item)
        if not path.is_dir():
            found.append(item)
            continue
        walker = path.rglob("*") if recursive else path.glob("*")
        found.extend(str(p) for p in sorted(walker)
                     if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith("."))
    return found


def is_batch_output(output: Path | None, inputs: Iterable[str], recursive: bool) -> bool:
    """Batch mode (rows written as they go, resume): --output .parquet or .jsonl, or .csv for folder inputs.

    A .csv output for a plain list of files keeps the one-shot `--format csv` behaviour.
    """
    if output is None or output.suffix.lower() not in BATCH_SUFFIXES:
        return False
    return output.suffix.lower() != ".csv" or recursive or any(Path(item).is_dir() for item in inputs)
