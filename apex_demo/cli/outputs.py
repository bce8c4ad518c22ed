"""The --output guard every command that writes a file shares (`score`, `votes export`).

Checked before any work starts, so minutes of scoring or a live vote store never end in a traceback
or a destroyed input: a folder, one of the command's own inputs (an audio file being scored; the vote
database or SQLite's -wal/-shm files beside it, which a rewrite would leave "malformed") or a name that
says audio is refused, and a write that fails (full disk, no permission) gives the system's reason.
All of them are `output_unwritable`.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterable, Iterator

from apex_demo.errors import ApexError, ErrorCode
from apex_demo.folder import AUDIO_EXTENSIONS

FOLDER = "--output {output} is a folder; give a file name, e.g. {example}."
IS_INPUT = "--output {output} is {what} and would be overwritten; choose another name, e.g. {example}."
LOOKS_LIKE_AUDIO = ("--output {output} is named like an audio file ({suffix}), and whatever is there would be "
                    "replaced by text; choose another name, e.g. {example}.")
WRITE_FAILED = ("Could not write --output {output}: {reason}. Free some space, check the folder's permissions, "
                "or choose another --output.")


def check_output(output: Path, inputs: Iterable[str | Path], what: str, example: str) -> None:
    """Refuse an --output that is a folder, one of `inputs` (same path, a link to it, or a hard link;
    `what` says what they are), or named like audio. `example` is a file name to suggest instead."""
    if output.is_dir():
        raise ApexError(FOLDER.format(output=output, example=output / example), ErrorCode.OUTPUT_UNWRITABLE)
    target = os.path.realpath(output)
    for item in inputs:
        if os.path.realpath(item) == target or (output.exists() and _same_file(output, item)):
            raise ApexError(IS_INPUT.format(output=output, what=what, example=example), ErrorCode.OUTPUT_UNWRITABLE)
    if output.suffix.lower() in AUDIO_EXTENSIONS:
        raise ApexError(LOOKS_LIKE_AUDIO.format(output=output, suffix=output.suffix, example=example),
                        ErrorCode.OUTPUT_UNWRITABLE)


def _same_file(a: Path, b: str | Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


@contextlib.contextmanager
def output_errors(output: Path, example: str = "results.csv") -> Iterator[None]:
    """Writing --output failed (full disk, no permission, a folder in the way): a message, not a traceback."""
    try:
        yield
    except IsADirectoryError:
        raise ApexError(FOLDER.format(output=output, example=output / example), ErrorCode.OUTPUT_UNWRITABLE) from None
    except OSError as exc:
        raise ApexError(WRITE_FAILED.format(output=output, reason=exc.strerror or exc),
                        ErrorCode.OUTPUT_UNWRITABLE) from None
