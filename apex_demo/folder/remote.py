"""Files named by URI (s3://, gs://, hdfs://, file://, ...): listed and read through pyarrow's filesystems.

A label's catalogue usually lives in object storage, not on the machine that scores it. The engine
decodes local files only (libsndfile and ffmpeg read paths), so a remote file is copied, streamed in
blocks, into a private temporary folder for the time of its decoding and removed right after; the
copy is bounded (MAX_REMOTE_BYTES) before a byte is read. pyarrow is already a dependency (Parquet
output), and its filesystems are what Ray Data itself reads with; credentials come from the usual
places (AWS_* variables, instance roles, gcloud), never from this package.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
from pathlib import Path
from typing import IO, Iterator

from apex_demo.errors import ApexError, AudioError, ErrorCode
from apex_demo.tempfiles import owned_prefix

URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
REMOTE_PREFIX = "apex_remote_"
COPY_BLOCK_BYTES = 1 << 20
# The largest remote file copied for decoding: a 10-minute 96 kHz 24-bit stereo WAV is 346 MB; anything
# past this bound would be refused by the decoder's own budget (audio.MAX_DECODED_SAMPLES) anyway.
MAX_REMOTE_BYTES = 1 << 30


def is_remote(item: str) -> bool:
    """Whether `item` is a URI with a scheme (s3://bucket/x.mp3) rather than a local path."""
    return bool(URI.match(item))


def _filesystem(uri: str):  # -> tuple[pyarrow.fs.FileSystem, str]
    """pyarrow's filesystem for the URI's scheme and the path inside it; an unusable URI is the user's to fix."""
    from pyarrow import fs

    try:
        return fs.FileSystem.from_uri(uri)
    except (ValueError, OSError) as exc:
        raise ApexError(f"{uri}: cannot open this location ({exc}). Check the URI and your credentials for it.",
                        ErrorCode.BAD_REQUEST) from None


def _prefix(uri: str, path: str) -> str:
    """What precedes the filesystem path in the URI (s3://, hdfs://host:8020), to name the files listed."""
    bare = uri.split("?", 1)[0].rstrip("/")
    stripped = path.rstrip("/")
    return bare[: len(bare) - len(stripped)] if stripped and bare.endswith(stripped) else bare.split("://")[0] + "://"


def _query(uri: str) -> str:
    return "?" + uri.split("?", 1)[1] if "?" in uri else ""


def list_remote(uri: str, recursive: bool, suffixes: frozenset[str]) -> list[str] | None:
    """The files under a remote folder whose names end in `suffixes` (sorted, hidden ones left out),
    or None when the URI names a file."""
    from pyarrow import fs

    filesystem, path = _filesystem(uri)
    try:
        if filesystem.get_file_info(path).type != fs.FileType.Directory:
            return None
        infos = filesystem.get_file_info(fs.FileSelector(path, recursive=recursive))
    except OSError as exc:
        raise ApexError(f"{uri}: cannot list this folder ({exc}). Check the URI and your credentials for it.",
                        ErrorCode.BAD_REQUEST) from None
    prefix, query = _prefix(uri, path), _query(uri)
    return sorted(prefix + info.path + query for info in infos
                  if info.type == fs.FileType.File and not info.base_name.startswith(".")
                  and Path(info.base_name).suffix.lower() in suffixes)


def read_text(uri: str) -> str:
    """A small remote text file (a manifest), read whole."""
    filesystem, path = _filesystem(uri)
    try:
        with filesystem.open_input_stream(path) as handle:
            return handle.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ApexError(f"{uri}: cannot read this file ({exc}).", ErrorCode.BAD_REQUEST) from None


@contextlib.contextmanager
def local_copy(uri: str) -> Iterator[Path]:
    """The remote file copied into a private temporary folder (same file name), removed on leaving.

    Raises AudioError with the engine's codes: file_not_found, empty_file, too_large.
    """
    from pyarrow import fs

    filesystem, path = _filesystem(uri)
    try:
        info = filesystem.get_file_info(path)
    except OSError as exc:
        raise AudioError(f"{uri}: cannot read this file ({exc}). Check the URI and your credentials.",
                         ErrorCode.FILE_NOT_FOUND) from None
    if info.type != fs.FileType.File:
        raise AudioError(f"{uri}: file not found (or not a file). Check the URI and try again.",
                         ErrorCode.FILE_NOT_FOUND)
    if info.size is not None and info.size > MAX_REMOTE_BYTES:
        raise AudioError(f"{uri}: {info.size >> 20} MB is more than the {MAX_REMOTE_BYTES >> 20} MB a song may "
                         "take. Trim it, or re-export it compressed (FLAC, MP3).", ErrorCode.TOO_LARGE)
    folder = Path(tempfile.mkdtemp(prefix=owned_prefix(REMOTE_PREFIX)))
    try:
        target = folder / (info.base_name or "audio")
        try:
            with filesystem.open_input_stream(path) as source, target.open("wb") as sink:
                _copy_bounded(source, sink, uri)
        except OSError as exc:
            raise AudioError(f"{uri}: reading it failed midway ({exc}). Try again.", ErrorCode.FILE_NOT_FOUND) from None
        yield target
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _copy_bounded(source: IO[bytes], sink: IO[bytes], uri: str) -> None:
    """Copy block by block, stopping past MAX_REMOTE_BYTES (a size the listing did not know, or lied about)."""
    copied = 0
    while block := source.read(COPY_BLOCK_BYTES):
        copied += len(block)
        if copied > MAX_REMOTE_BYTES:
            raise AudioError(f"{uri}: more than the {MAX_REMOTE_BYTES >> 20} MB a song may take. Trim it, or "
                             "re-export it compressed (FLAC, MP3).", ErrorCode.TOO_LARGE)
        sink.write(block)
