"""One frozen settings object, read from APEX_* environment variables.

Read once by the entry points (CLI, app) and passed down; library code never
reads the environment itself, so tests can build any Settings they need.
Every variable is documented in README.md ("Configuration").
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from apex_demo.errors import ApexError, ErrorCode

DEFAULT_MERT = "m-a-p/MERT-v1-95M"
DEFAULT_HEAD = "amaai-lab/apex"
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "fp16", "bf16")


def _default_cache_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / "apex_demo" if xdg else Path.home() / ".cache" / "apex_demo"


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the documented defaults."""

    mert: str = DEFAULT_MERT
    mert_revision: str | None = None
    head: str = DEFAULT_HEAD
    head_revision: str | None = None
    device: str = "auto"
    precision: str = "fp32"
    fast: bool = False
    cache_dir: Path = field(default_factory=_default_cache_dir)
    cache_max_mb: float = 1024.0
    use_cache: bool = True
    max_seconds: float = 600.0
    max_file_mb: float = 100.0
    data_dir: Path = Path("data")
    min_listen_s: float = 5.0
    arena_pool: str | None = None
    votes_repo: str | None = None
    hf_token: str | None = None
    vote_salt: str | None = None
    votes_per_minute: int = 30

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ApexError(f"APEX_DEVICE={self.device!r} is not valid; use one of {DEVICES}.",
                            ErrorCode.BAD_REQUEST)
        if self.precision not in PRECISIONS:
            raise ApexError(f"APEX_PRECISION={self.precision!r} is not valid; use one of {PRECISIONS}.",
                            ErrorCode.BAD_REQUEST)
        if self.max_seconds <= 0:
            raise ApexError("APEX_MAX_SECONDS must be a positive number of seconds.", ErrorCode.BAD_REQUEST)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Build settings from the environment (or a given mapping, for tests)."""
        env = os.environ if environ is None else environ

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def number(name: str, default: float) -> float:
            raw = text(name)
            if raw is None:
                return default
            try:
                return float(raw)
            except ValueError:
                raise ApexError(f"{name}={raw!r} is not a number; set it to e.g. {default:g}.",
                                ErrorCode.BAD_REQUEST) from None

        def flag(name: str) -> bool:
            return (text(name) or "0").lower() in ("1", "true", "yes", "on")

        base = cls()
        return cls(
            mert=text("APEX_MERT") or DEFAULT_MERT,
            mert_revision=text("APEX_MERT_REVISION"),
            head=text("APEX_HEAD") or DEFAULT_HEAD,
            head_revision=text("APEX_HEAD_REVISION"),
            device=(text("APEX_DEVICE") or "auto").lower(),
            precision=(text("APEX_PRECISION") or "fp32").lower(),
            fast=flag("APEX_FAST"),
            cache_dir=Path(text("APEX_CACHE_DIR") or base.cache_dir).expanduser(),
            cache_max_mb=number("APEX_CACHE_MAX_MB", base.cache_max_mb),
            use_cache=not flag("APEX_NO_CACHE"),
            max_seconds=number("APEX_MAX_SECONDS", base.max_seconds),
            max_file_mb=number("APEX_MAX_FILE_MB", base.max_file_mb),
            data_dir=Path(text("APEX_DATA_DIR") or base.data_dir).expanduser(),
            min_listen_s=number("APEX_MIN_LISTEN_S", base.min_listen_s),
            arena_pool=text("APEX_ARENA_POOL"),
            votes_repo=text("APEX_VOTES_REPO"),
            hf_token=text("HF_TOKEN"),
            vote_salt=text("APEX_VOTE_SALT"),
            votes_per_minute=int(number("APEX_VOTES_PER_MINUTE", base.votes_per_minute)),
        )

    def with_overrides(self, **changes: object) -> "Settings":
        """A copy with some fields replaced (CLI flags win over the environment)."""
        present: dict[str, Any] = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **present)
