"""The battle pool: which clips battle, read from a manifest, a folder or a Hub dataset.

Only audio files inside the pool's own folder become clips (symlinks are resolved first), so a
manifest can never make the app serve another file. A manifest is outside input: an entry that is
not an object, names no usable path (a NUL byte, an over-long name) or is refused for any other
reason is logged and skipped, and the rest still load; only a manifest that cannot be read at all
is an error. `private_paths` names every folder the web server must never serve from.
"""

from __future__ import annotations

import csv
import json
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from apex_demo.arena.blind import probe
from apex_demo.config import Settings
from apex_demo.errors import ApexError, ErrorCode

LOG = logging.getLogger(__name__)

DEFAULT_POOL_DIR = Path(__file__).resolve().parents[2] / "assets" / "arena"
MANIFEST_NAMES = ("manifest.json", "manifest.csv")
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3", ".m4a", ".opus", ".aiff", ".aif"})
MAX_ENTRY_TEXT = 4096             # characters of a manifest's file name or field
HUB_POOL_DIRNAME = "arena_pool"   # a Hub pool is downloaded here under data_dir, never served from


@dataclass(frozen=True)
class PoolClip:
    """One clip of the battle pool with the metadata shown after a vote."""

    clip_id: str
    path: Path
    system: str
    instrumental: bool | None = None
    prompt: str = ""
    licence: str = ""
    attribution: str = ""
    duration_s: float | None = None
    channels: int | None = None

    def to_public(self) -> dict[str, Any]:
        return {"clip_id": self.clip_id, "system": self.system, "instrumental": self.instrumental,
                "prompt": self.prompt, "licence": self.licence, "attribution": self.attribution}


def _as_bool(value: object) -> bool | None:
    if isinstance(value, bool) or value is None:
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "y"):
        return True
    if text in ("0", "false", "no", "n"):
        return False
    return None


def _contained_audio(path: Path, root: Path) -> tuple[Path, float, int]:
    """`path` resolved (symlinks followed), checked to be a readable audio file inside `root`;
    returns it with its duration and channel count. Anything else would let a manifest serve any file."""
    try:
        resolved, base = path.resolve(), root.resolve()
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        raise ApexError(f"{str(path)[:200]!r} is not a usable path ({exc})", ErrorCode.BAD_REQUEST) from None
    if not resolved.is_relative_to(base):
        raise ApexError(f"{path} is outside the pool folder {base}", ErrorCode.BAD_REQUEST)
    if not resolved.is_file() or resolved.suffix.lower() not in AUDIO_SUFFIXES:
        raise ApexError(f"{path} is not a regular audio file ({'/'.join(sorted(AUDIO_SUFFIXES))})",
                        ErrorCode.NOT_AUDIO)
    header = probe(resolved)
    return resolved, header.seconds, header.channels


def _entry_text(entry: Mapping[str, Any], key: str) -> str:
    """A manifest field as text (JSON may hold a number or anything else); over-long text is refused."""
    text = str(entry.get(key) or "")
    if len(text) > MAX_ENTRY_TEXT:
        raise ApexError(f"its {key!r} is longer than {MAX_ENTRY_TEXT} characters", ErrorCode.BAD_REQUEST)
    return text


def _clip_from_entry(entry: object, root: Path) -> PoolClip:
    if not isinstance(entry, Mapping):
        raise ApexError(f"an entry is a {type(entry).__name__}, not an object with 'file' and 'system'",
                        ErrorCode.BAD_REQUEST)
    if not entry.get("file") or not entry.get("system"):
        raise ApexError("it lacks 'file' or 'system'; every clip needs both.", ErrorCode.BAD_REQUEST)
    text = {key: _entry_text(entry, key) for key in ("file", "system", "id", "clip_id", "prompt", "licence",
                                                      "license", "attribution")}
    path, duration, channels = _contained_audio(root / text["file"], root)
    return PoolClip(clip_id=text["id"] or text["clip_id"] or Path(text["file"]).stem, path=path,
                    system=text["system"], duration_s=duration, channels=channels,
                    instrumental=_as_bool(entry.get("instrumental")),
                    prompt=text["prompt"], licence=text["licence"] or text["license"],
                    attribution=text["attribution"])


def _read_manifest(manifest: Path) -> list[PoolClip]:
    """Every entry that names an audio file inside the manifest's folder; each other entry is
    refused with a log line saying why, and the rest still load."""
    try:
        if manifest.suffix == ".json":
            data = json.loads(manifest.read_text(encoding="utf-8"))
            entries = data["clips"] if isinstance(data, dict) else data
        else:
            with manifest.open(newline="", encoding="utf-8") as handle:
                entries = list(csv.DictReader(handle))
        if not isinstance(entries, list):
            raise ValueError(f"its clips are a {type(entries).__name__}, not a list")
    except (OSError, ValueError, KeyError, TypeError, csv.Error) as exc:
        raise ApexError(f"the arena manifest {manifest} cannot be read ({type(exc).__name__}: {exc}); fix it or "
                        "point APEX_ARENA_POOL elsewhere.", ErrorCode.BAD_REQUEST) from exc
    clips = []
    for entry in entries:
        try:
            clips.append(_clip_from_entry(entry, manifest.parent))
        except ApexError as exc:
            LOG.warning("arena manifest %s: entry %.300r refused: %s", manifest, entry, exc.message)
    return clips


def _scan_folder(folder: Path) -> list[PoolClip]:
    """No manifest: every audio file is a clip; its system is its sub-folder's name."""
    clips = []
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in AUDIO_SUFFIXES:
            try:
                resolved, duration, channels = _contained_audio(path, folder)
            except ApexError as exc:
                LOG.warning("arena pool file refused: %s", exc.message)
                continue
            rel = path.relative_to(folder)
            system = rel.parts[0] if len(rel.parts) > 1 else "unknown"
            clips.append(PoolClip(clip_id=str(rel.with_suffix("")), path=resolved, system=system,
                                  duration_s=duration, channels=channels))
    return clips


def _resolve_pool_dir(source: str | None, token: str | None, private_dir: Path | None) -> Path:
    if not source:
        return DEFAULT_POOL_DIR
    local = Path(source).expanduser()
    if local.exists():
        return local.parent if local.is_file() else local
    if source.count("/") == 1:
        import huggingface_hub  # only for a Hub-hosted pool

        target = (private_dir or Path(tempfile.mkdtemp(prefix="apex_arena_pool_"))) / source.replace("/", "--")
        try:  # local_dir: real files in a private folder, not links into the shared Hub cache
            return Path(huggingface_hub.snapshot_download(repo_id=source, repo_type="dataset", token=token,
                                                          local_dir=target))
        except Exception as exc:
            raise ApexError(f"cannot download the arena pool dataset {source!r} ({type(exc).__name__}: {exc}); "
                            "point APEX_ARENA_POOL at a local folder instead.", ErrorCode.HUB_UNREACHABLE) from exc
    raise ApexError(f"APEX_ARENA_POOL={source!r} is neither a folder, a manifest file nor a Hub dataset id.",
                    ErrorCode.BAD_REQUEST)


def load_pool(source: str | None = None, token: str | None = None,
              private_dir: Path | None = None) -> list[PoolClip]:
    """Clips from a manifest (JSON/CSV), a folder of per-system sub-folders, or a Hub dataset
    (downloaded into `private_dir`). Only audio files inside the pool's folder are clips."""
    root = _resolve_pool_dir(source, token, private_dir)
    given = Path(source).expanduser() if source else None
    if given is not None and given.is_file():
        clips = _read_manifest(given)
    else:
        manifest = next((root / n for n in MANIFEST_NAMES if (root / n).is_file()), None)
        clips = _read_manifest(manifest) if manifest else _scan_folder(root)
    if len(clips) < 2:
        raise ApexError(f"the arena pool at {root} has {len(clips)} playable clips; it needs at least 2. "
                        "Set APEX_ARENA_POOL to a folder or manifest with more.", ErrorCode.ARENA_EMPTY)
    ids = [c.clip_id for c in clips]
    if len(set(ids)) != len(ids):
        raise ApexError(f"the arena pool at {root} has duplicate clip ids.", ErrorCode.BAD_REQUEST)
    return clips


def private_paths(settings: Settings) -> list[str]:
    """Folders the web server must never serve from (Gradio's `blocked_paths`): the pool, its
    manifest, the vote data and the Hugging Face cache. Battles reach browsers only as blind
    copies (apex_demo.arena.blind), which Gradio serves from its own cache."""
    from huggingface_hub import constants  # light: paths only

    paths = [DEFAULT_POOL_DIR, Path(settings.data_dir).expanduser(), Path(constants.HF_HOME),
             Path(constants.HF_HUB_CACHE)]
    if settings.arena_pool and Path(settings.arena_pool).expanduser().exists():
        local = Path(settings.arena_pool).expanduser()
        paths.append(local.parent if local.is_file() else local)
    return [str(p.resolve()) for p in paths]
