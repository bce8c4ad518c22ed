"""Typed errors with a stable machine code and a message that says what to do.

Every layer raises these; only the UI turns them into `gr.Error`, and the CLI
turns them into `{"error": {"code", "message"}}` records. Codes are part of the
public contract (CLI JSON, API responses): never rename one.
"""

from __future__ import annotations

from enum import Enum
from typing import Mapping


class ErrorCode(str, Enum):
    """Stable error codes. The value is what clients see."""

    # Audio input
    FILE_NOT_FOUND = "file_not_found"
    EMPTY_FILE = "empty_file"
    NOT_AUDIO = "not_audio"
    CORRUPT_AUDIO = "corrupt_audio"
    ZERO_LENGTH = "zero_length"
    NON_FINITE = "non_finite_samples"
    TOO_LONG = "too_long"
    FFMPEG_MISSING = "ffmpeg_missing"
    UNSUPPORTED_SAMPLE_RATE = "unsupported_sample_rate"
    TOO_MANY_CHANNELS = "too_many_channels"
    TOO_LARGE = "too_large"
    TOO_MUCH_AUDIO = "too_much_audio"  # several files in one job: over the job's total length
    # Models
    HUB_UNREACHABLE = "hub_unreachable"
    MODEL_NOT_FOUND = "model_not_found"
    UNSUPPORTED_CONFIG = "unsupported_config"
    WEIGHTS_MISMATCH = "weights_mismatch"
    HEAD_MISMATCH = "head_mismatch"
    DEVICE_UNAVAILABLE = "device_unavailable"
    # Arena / votes
    VOTE_REFUSED = "vote_refused"
    ARENA_EMPTY = "arena_empty"
    VOTE_STORE_UNAVAILABLE = "vote_store_unavailable"
    # Anything else the user can fix by changing their input
    BAD_REQUEST = "bad_request"
    BAD_SETTING = "bad_setting"
    OUTPUT_UNWRITABLE = "output_unwritable"
    BUSY = "busy"
    # A bug or an environment failure (disk, memory): reported per file, never fatal for the others
    INTERNAL = "internal_error"


class ApexError(Exception):
    """Base class: a failure the user can act on.

    `code` is stable for clients; `message` is for people and says what to do.
    """

    default_code: ErrorCode = ErrorCode.BAD_REQUEST

    def __init__(self, message: str, code: ErrorCode | None = None, *,
                 details: Mapping[str, float] | None = None) -> None:
        super().__init__(message)
        self.code: ErrorCode = code or self.default_code
        self.message = message
        self.details: dict[str, float] = dict(details or {})  # numbers a UI may word differently

    def to_dict(self) -> dict[str, str]:
        """The JSON shape used by the CLI and the API."""
        return {"code": self.code.value, "message": self.message}


class AudioError(ApexError):
    """The audio file cannot be scored as it is."""

    default_code = ErrorCode.CORRUPT_AUDIO


class ModelError(ApexError):
    """A model could not be resolved, read or loaded."""

    default_code = ErrorCode.MODEL_NOT_FOUND


class VoteError(ApexError):
    """An arena vote or battle request was refused by the server-side rules."""

    default_code = ErrorCode.VOTE_REFUSED


class ScoringStopped(Exception):
    """Raised by the Scorer between two segments when the caller's `proceed` check says stop. Not an
    ApexError: nobody is waiting for a message (the visitor left, or the app is shutting down)."""
