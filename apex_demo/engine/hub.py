"""One resolver for model sources: a file, a local folder, or a Hugging Face Hub repo id.

Hub downloads go to the standard Hugging Face cache (HF_HOME / HF_HUB_CACHE),
which is what Spaces' `preload_from_hub` fills, so a Space starts warm: a repo
already in the cache is used without any network call.

Weights files are found by listing the folder or repo, not by guessing one
name: the authors' GitHub checkpoint is `models/best_model.pt`, Hub repos use
`model.safetensors` or `pytorch_model.bin`, and forks name theirs freely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, TypeVar

import huggingface_hub
from huggingface_hub import errors as hub_errors

from apex_demo.errors import ErrorCode, ModelError

REPO_ID_PATTERN = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
LIBRARY_NAME = "apex_demo"
# Weight files taken first, in this order, when present (safetensors loads without pickle).
PREFERRED_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
# Otherwise the one file with the first of these suffixes that is present (top level or under models/).
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
WEIGHT_SUBFOLDERS = ("", "models/")
SNAPSHOT_MARKER = "snapshots"
MAX_LISTED = 20  # files named in an error message
LISTING_KEY = "files"  # Source.listing holds one entry: the repo's file list

# Picks the wanted file among a folder's or repo's files (paths relative to its root); None: none fits.
Chooser = Callable[[list[str]], "str | None"]
T = TypeVar("T")


@dataclass(frozen=True)
class Source:
    """Where a model comes from, and how the user picks it (for error messages)."""

    spec: str  # file, folder or Hub repo id
    revision: str | None
    what: str  # e.g. "APEX head"
    env_var: str  # e.g. "APEX_HEAD"
    file_env_var: str  # e.g. "APEX_HEAD_FILE": picks one weights file in a folder or repo
    file_flag: str  # e.g. "--head-file"
    token: str | None = None
    # The Hub repo's file list, asked for once and kept for this Source's lookups (one model load asks for
    # config.json, preprocessor_config.json and the weights: one listing, not three). Each load makes its
    # own Source, so a new load sees the repo as it is then.
    listing: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def at(self) -> str:
        return f"{self.spec}@{self.revision}" if self.revision else self.spec


def is_repo_id(source: str) -> bool:
    """True for 'owner/name' strings that are not an existing local path."""
    return bool(REPO_ID_PATTERN.match(source)) and not Path(source).expanduser().exists()


def choose_weights_file(files: Iterable[str], source: Source) -> str | None:
    """The weights file to load among a folder's or repo's files (paths relative to its root).

    model.safetensors, then pytorch_model.bin, then the single file with the first
    weight suffix present (top level or under models/); None when nothing fits.
    Two candidates with that suffix is an error that names the setting that picks one.
    """
    names = sorted(set(files))
    for name in PREFERRED_WEIGHTS:
        if name in names:
            return name
    placed = [n for n in names if any(n.startswith(d) and "/" not in n[len(d):] for d in WEIGHT_SUBFOLDERS)]
    for suffix in WEIGHT_SUFFIXES:
        found = [n for n in placed if n.endswith(suffix)]
        if len(found) == 1:
            return found[0]
        if found:
            raise ModelError(
                f"{source.what} {source.at} holds several weights files ({', '.join(found)}); pick one with "
                f"{source.file_env_var}=NAME (or {source.file_flag} NAME).", ErrorCode.MODEL_NOT_FOUND)
    return None


def resolve_weights(source: Source, filename: str | None = None) -> Path:
    """Local path of the weights file of `source` (a file, a folder or a Hub repo id).

    `filename` (relative to the folder or repo) overrides the automatic choice.
    """
    path = Path(source.spec).expanduser()
    if path.is_file():
        return path
    if filename:
        return resolve_file(source, file_named(filename), f"{filename} (set by {source.file_env_var})")
    return resolve_file(source, lambda files: choose_weights_file(files, source),
                        f"a weights file ({', '.join(PREFERRED_WEIGHTS)} or one *{', *'.join(WEIGHT_SUFFIXES)} "
                        "at the top or under models/)")


def resolve_file(source: Source, choose: Chooser, wanted: str) -> Path:
    """Local path of the file `choose` picks in a folder or Hub repo; `wanted` describes it for errors."""
    path = Path(source.spec).expanduser()
    if path.is_dir():
        files = _list_files(path)
        chosen = choose(files)
        if chosen is None:
            raise _not_there(source, wanted, files)
        return path / chosen
    if not is_repo_id(source.spec):
        raise ModelError(f"{source.what} {source.spec!r} is neither an existing file or folder nor a Hugging Face "
                         f"Hub repo id (owner/name). Fix {source.env_var} (or the matching CLI flag).",
                         ErrorCode.MODEL_NOT_FOUND)
    return _from_hub(source, choose, wanted)


def file_named(name: str) -> Chooser:
    """A chooser for one fixed file name (e.g. config.json, or models/best_model.pt)."""
    wanted = name.strip("/")
    return lambda files: wanted if wanted in files else None


def _list_files(root: Path) -> list[str]:
    """Every file under a folder or cached snapshot, as paths relative to it."""
    return [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]


def _not_there(source: Source, wanted: str, files: list[str]) -> ModelError:
    names = sorted(files)
    shown = ", ".join(names[:MAX_LISTED]) + (f", ... (+{len(names) - MAX_LISTED} more)"
                                             if len(names) > MAX_LISTED else "")
    return ModelError(f"{source.what} {source.at} has no {wanted}; it holds: {shown or 'nothing'}. Point "
                      f"{source.env_var} at the right folder or repo, or pick a weights file with "
                      f"{source.file_env_var} (or {source.file_flag}).", ErrorCode.MODEL_NOT_FOUND)


def _from_hub(source: Source, choose: Chooser, wanted: str) -> Path:
    """A file of a Hub repo: from the local cache when it is there (no network), else downloaded."""
    snapshot = _cached_snapshot(source)
    if snapshot is not None:
        chosen = choose(_list_files(snapshot))
        if chosen is not None:
            return snapshot / chosen
    files = _repo_files(source)
    chosen = choose(files)
    if chosen is None:
        raise _not_there(source, wanted, files)
    local = _hub_call(source, lambda: huggingface_hub.hf_hub_download(
        source.spec, chosen, revision=source.revision, token=source.token, library_name=LIBRARY_NAME), chosen)
    return Path(local)


def _repo_files(source: Source) -> list[str]:
    """The Hub repo's files at the source's revision, listed once per Source (see Source.listing)."""
    if LISTING_KEY not in source.listing:
        source.listing[LISTING_KEY] = tuple(_hub_call(source, lambda: huggingface_hub.list_repo_files(
            source.spec, revision=source.revision, token=source.token)))
    return list(source.listing[LISTING_KEY])


def _cached_snapshot(source: Source) -> Path | None:
    """The repo's snapshot folder in the local Hugging Face cache, or None when it is not cached."""
    try:
        folder = huggingface_hub.snapshot_download(source.spec, revision=source.revision, token=source.token,
                                                   local_files_only=True)
    except (hub_errors.LocalEntryNotFoundError, hub_errors.HfHubHTTPError, OSError, ValueError):
        return None
    return Path(folder) if isinstance(folder, str) else None


def snapshot_revision(path: Path) -> str | None:
    """The commit a file in the Hugging Face cache belongs to (…/snapshots/<commit>/…), else None."""
    parts = path.parts
    if SNAPSHOT_MARKER in parts:
        index = parts.index(SNAPSHOT_MARKER)
        if index + 1 < len(parts):
            return parts[index + 1]
    return None


def _hub_call(source: Source, call: Callable[[], T], filename: str | None = None) -> T:
    """Run one Hub call, turning each failure into a ModelError that says what to do."""
    at = source.at + (f" ({filename})" if filename else "")
    try:
        return call()
    except (hub_errors.RemoteEntryNotFoundError, hub_errors.EntryNotFoundError):
        raise ModelError(f"{source.what} repo {source.at} has no file {filename!r}. Check the name "
                         f"({source.file_env_var}) or the repo id.", ErrorCode.MODEL_NOT_FOUND) from None
    except (hub_errors.LocalEntryNotFoundError, hub_errors.OfflineModeIsEnabled):
        raise ModelError(
            f"Cannot reach the Hugging Face Hub to get {source.what} {at}, and it is not in the local cache. "
            f"Check the connection (and HF_HUB_OFFLINE), or copy the model elsewhere with "
            f"`hf download {source.spec} --local-dir DIR` and set {source.env_var}=DIR.",
            ErrorCode.HUB_UNREACHABLE) from None
    except hub_errors.RevisionNotFoundError:
        raise ModelError(f"{source.what} repo {source.spec} has no revision {source.revision!r}. Use an existing "
                         f"branch, tag or commit.", ErrorCode.MODEL_NOT_FOUND) from None
    except (hub_errors.RepositoryNotFoundError, hub_errors.GatedRepoError):
        raise ModelError(
            f"{source.what} {source.spec!r} was not found on the Hugging Face Hub (or it is private/gated: set "
            f"HF_TOKEN). Check the id, or set {source.env_var} to a local folder.", ErrorCode.MODEL_NOT_FOUND) from None
    except (hub_errors.HfHubHTTPError, OSError) as exc:
        raise ModelError(f"Cannot get {source.what} {at} from the Hugging Face Hub: {exc}. Retry later, or set "
                         f"{source.env_var} to a local copy.", ErrorCode.HUB_UNREACHABLE) from None
