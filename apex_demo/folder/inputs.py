"""What a folder run scores: audio files found in folders, manifests and remote URIs, and whether the
output is a results file.

`python -m apex_demo score DIR [DIR|FILE|MANIFEST|URI ...] --recursive --output results.csv|.parquet|.jsonl`

A manifest is a list of songs: a `.txt` file with one path or URI per line (blank lines and lines
starting with `#` are left out), or a `.csv` file with a `file` column (a results file of an earlier
run is one). Relative entries are relative to the manifest's own folder. Remote URIs (s3://, gs://,
file://, ...) are listed and read through pyarrow's filesystems (folder.remote).
"""

from __future__ import annotations

import csv
import io
import posixpath
from pathlib import Path
from typing import Iterable

from apex_demo.engine import SNDFILE_EXTENSIONS
from apex_demo.errors import ApexError, ErrorCode
from apex_demo.folder.remote import is_remote, list_remote, read_text

# Containers that need ffmpeg, scored too when found in a folder.
FFMPEG_EXTENSIONS = frozenset({".m4a", ".aac", ".mp4", ".webm", ".wma", ".mka"})
AUDIO_EXTENSIONS = SNDFILE_EXTENSIONS | FFMPEG_EXTENSIONS
BATCH_SUFFIXES = (".csv", ".parquet", ".jsonl")
MANIFEST_SUFFIXES = (".txt", ".csv")
MANIFEST_COLUMN = "file"
MAX_MANIFEST_BYTES = 256 << 20  # about two million entries: far past any catalogue, short of a memory bomb


def find_audio(inputs: Iterable[str], recursive: bool) -> list[str]:
    """Expand folders (local or remote) and manifests into their audio files; keep files as given.

    Folders give their audio files sorted (sub-folders only with recursive); a manifest gives its
    entries in its own order, local folders among them expanded the same way (a manifest never names
    another manifest, and its remote entries are taken as files).
    """
    found: list[str] = []
    for item in inputs:
        if not is_manifest(item):
            found.extend(_expand(item, recursive))
            continue
        for entry in manifest_entries(item):  # remote entries are files: one listing call each would cost hours
            found.extend([entry] if is_remote(entry) else _expand(entry, recursive))
    return found


def _expand(item: str, recursive: bool) -> list[str]:
    """A folder's audio files, or the item itself."""
    if is_remote(item):
        listed = list_remote(item, recursive, AUDIO_EXTENSIONS)
        return [item] if listed is None else listed
    path = Path(item)
    if not path.is_dir():
        return [item]
    walker = path.rglob("*") if recursive else path.glob("*")
    return [str(p) for p in sorted(walker)
            if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS and not p.name.startswith(".")]


def is_manifest(item: str) -> bool:
    """A list of songs rather than a song: a .txt or .csv file (local or remote)."""
    if not item.lower().split("?", 1)[0].endswith(MANIFEST_SUFFIXES):
        return False
    return is_remote(item) or Path(item).is_file()


def manifest_entries(manifest: str) -> list[str]:
    """The paths and URIs a manifest lists, relative ones resolved against the manifest's folder."""
    text = _manifest_text(manifest)
    if manifest.lower().split("?", 1)[0].endswith(".csv"):
        rows = csv.DictReader(io.StringIO(text))
        if MANIFEST_COLUMN not in (rows.fieldnames or []):
            raise ApexError(f"{manifest}: a CSV manifest needs a '{MANIFEST_COLUMN}' column naming each song "
                            f"(its columns are {', '.join(rows.fieldnames or []) or 'none'}).", ErrorCode.BAD_REQUEST)
        entries = [(row.get(MANIFEST_COLUMN) or "").strip() for row in rows]
    else:
        entries = [line.strip() for line in text.splitlines()]
    return [_resolved(entry, manifest) for entry in entries if entry and not entry.startswith("#")]


def _manifest_text(manifest: str) -> str:
    if is_remote(manifest):
        text = read_text(manifest)
    else:
        path = Path(manifest)
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise ApexError(f"{manifest}: a manifest of {path.stat().st_size >> 20} MB is more than the "
                            f"{MAX_MANIFEST_BYTES >> 20} MB allowed; split it into several.", ErrorCode.BAD_REQUEST)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise ApexError(f"{manifest}: cannot read this manifest ({exc}); save it as UTF-8 text.",
                            ErrorCode.BAD_REQUEST) from None
    if "\x00" in text:
        raise ApexError(f"{manifest}: this manifest holds NUL bytes; it is not a text list of songs.",
                        ErrorCode.BAD_REQUEST)
    return text


def _resolved(entry: str, manifest: str) -> str:
    if is_remote(entry) or Path(entry).is_absolute():
        return entry
    if is_remote(manifest):
        base, _, query = manifest.partition("?")
        return posixpath.join(posixpath.dirname(base), entry) + (f"?{query}" if query else "")
    return str(Path(manifest).parent / entry)


def is_batch_output(output: Path | None, inputs: Iterable[str], recursive: bool) -> bool:
    """Batch mode (rows written as they go, resume): --output .parquet or .jsonl, or .csv for folder,
    manifest or remote inputs.

    A .csv output for a plain list of local files keeps the one-shot `--format csv` behaviour.
    """
    if output is None or output.suffix.lower() not in BATCH_SUFFIXES:
        return False
    return output.suffix.lower() != ".csv" or recursive or any(
        is_remote(item) or is_manifest(item) or Path(item).is_dir() for item in inputs)
