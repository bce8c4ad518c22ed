"""One frozen settings object, read from APEX_* environment variables.

Read once by the entry points (CLI, app) and passed down; library code never
reads the environment itself, so tests can build any Settings they need.
Every variable is documented in docs/configuration.md.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

from apex_demo.errors import ApexError, ErrorCode

DEFAULT_MERT = "m-a-p/MERT-v1-95M"
DEFAULT_HEAD = "amaai-lab/apex"
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "fp16", "bf16")


@dataclass(frozen=True)
class Bound:
    """What a numeric setting may be: finite, above (or at) `low` and at most `high`.

    Every setting has an upper bound: a value far past anything useful (a minimum listening time of
    1e308 s, a million decoding processes) is a typo or an attack, and is refused at start with the
    range instead of failing later in a way nobody can trace back to the setting.
    """

    env: str
    low: float
    low_allowed: bool
    unit: str
    high: float
    whole: bool = False  # counts (workers, batch sizes) must be whole numbers

    def problem(self, value: float) -> str | None:
        """Why `value` is refused, or None when it is fine."""
        if not math.isfinite(value):
            return "is not a finite number"
        if self.whole and not value.is_integer():
            return "is not a whole number"
        if value < self.low or (value == self.low and not self.low_allowed):
            return f"must be {'at least' if self.low_allowed else 'more than'} {self.low:g}"
        if value > self.high:
            return f"must be at most {self.high:g}"
        return None


# Every numeric setting, by Settings field; checked whenever a Settings is made (start, CLI, tests).
# Upper bounds: the largest value any real use needs, with room to spare. Audio longer than 4 h cannot be
# decoded within the per-file budget even at the lowest accepted rate (57.6 M samples at 4 kHz).
NUMBER_BOUNDS = {
    "cache_max_mb": Bound("APEX_CACHE_MAX_MB", 0.0, True, "megabytes", high=1_048_576.0),   # 1 TiB
    "max_seconds": Bound("APEX_MAX_SECONDS", 0.0, False, "seconds", high=14_400.0),       # 4 h
    "max_file_mb": Bound("APEX_MAX_FILE_MB", 0.0, False, "megabytes", high=4096.0),
    "compare_max_seconds": Bound("APEX_COMPARE_MAX_SECONDS", 0.0, False, "seconds", high=36_000.0),  # 10 h
    "min_listen_s": Bound("APEX_MIN_LISTEN_S", 0.0, True, "seconds", high=600.0),
    "arena_loudness_lufs": Bound("APEX_ARENA_LOUDNESS", -36.0, True, "LUFS (integrated loudness of every blind copy)",
                                 high=-9.0),
    "votes_per_minute": Bound("APEX_VOTES_PER_MINUTE", 0.0, True, "votes a minute (0 turns the limit off)",
                              high=10_000.0),
    "batch_size": Bound("APEX_BATCH_SIZE", 1.0, True, "30 s segments per encoder forward", high=1024.0, whole=True),
    "decode_workers": Bound("APEX_DECODE_WORKERS", 0.0, True, "processes (0 decodes in the main process)",
                            high=256.0, whole=True),
    "proxy_hops": Bound("APEX_PROXY_HOPS", 1.0, True, "proxies in front of the app", high=16.0, whole=True),
}
# What Gradio needs to sign visitors in with Hugging Face for real: a Space (SYSTEM=spaces and SPACE_ID) with
# `hf_oauth: true`, which sets the four OAuth variables. Anywhere else Gradio mocks the login: every visitor
# who presses the button becomes the machine's own Hugging Face account, with a publicly known cookie key.
REAL_OAUTH_VARIABLES = ("SPACE_ID", "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET", "OAUTH_SCOPES", "OPENID_PROVIDER_URL")
SPACES_SYSTEM = ("SYSTEM", "spaces")
LOGIN_WITHOUT_OAUTH = ("APEX_ARENA_LOGIN is on (set, or implied by OAUTH_CLIENT_ID) but this is not a Space with "
                       "Hugging Face OAuth ({missing} missing). Here Gradio would sign every visitor in as this "
                       "machine's own Hugging Face account. Unset APEX_ARENA_LOGIN and OAUTH_CLIENT_ID, or run the "
                       "app on a Space whose README sets `hf_oauth: true`.")
AUTO = "auto"  # the value of an optional count that means "chosen for this machine" (None in Settings)
SWITCH_ON = ("1", "true", "yes", "on")
SWITCH_OFF = ("0", "false", "no", "off")
# Where Hugging Face Spaces mounts persistent storage when the Space has it (it survives restarts; the
# rest of a Space's disk does not). Votes and the embedding cache go under it by default.
SPACES_PERSISTENT_STORAGE = Path("/data")
PERSISTENT_SUBDIR = "apex_demo"
VOTES_LOST_ON_RESTART = (
    "Votes are lost when this Space restarts: {why}, and APEX_VOTES_REPO is not set. Add persistent storage "
    "in the Space's settings, or set APEX_VOTES_REPO (and HF_TOKEN) to keep them in a Hugging Face dataset.")


def _default_cache_dir() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) / "apex_demo" if xdg else Path.home() / ".cache" / "apex_demo"


@dataclass(frozen=True)
class Settings:
    """Everything configurable, with the documented defaults."""

    mert: str = DEFAULT_MERT
    mert_revision: str | None = None
    mert_file: str | None = None  # weights file inside the MERT folder/repo (else chosen automatically)
    head: str = DEFAULT_HEAD
    head_revision: str | None = None
    head_file: str | None = None  # weights file inside the head folder/repo, e.g. models/best_model.pt
    device: str = "auto"
    precision: str = "fp32"
    fast: bool = False
    cache_dir: Path = field(default_factory=_default_cache_dir)
    cache_max_mb: float = 1024.0
    use_cache: bool = True
    max_seconds: float = 600.0
    max_file_mb: float = 100.0
    compare_max_seconds: float = 3600.0  # audio in one Compare / `/compare` job, all takes together (web app)
    batch_size: int | None = None      # folder scoring: segments per encoder forward (None: per device)
    decode_workers: int | None = None  # folder scoring: decoding processes (None: per machine; 0: none)
    data_dir: Path = Path("data")
    min_listen_s: float = 5.0
    arena_loudness_lufs: float = -16.0  # every arena clip is served at this integrated loudness (EBU R128)
    arena_pool: str | None = None
    votes_repo: str | None = None
    hf_token: str | None = None
    vote_salt: str | None = None
    votes_per_minute: int = 30
    arena_login: bool = False           # show "Sign in with Hugging Face" in the arena (needs Spaces OAuth)
    arena_signed_in_only: bool = False  # only signed-in visitors' votes count for the leaderboard
    behind_proxy: bool = False          # the client address is in X-Forwarded-For (the Spaces proxy sets it)
    proxy_hops: int = 1                 # trusted proxies that append to X-Forwarded-For (Spaces: one)
    mcp: bool = False                   # serve the MCP tools at /gradio_api/mcp/ (default: on on Spaces)
    space_id: str | None = None         # set on Hugging Face Spaces (SPACE_ID)
    persistent_storage: Path | None = None  # the Space's persistent storage, when it has one (/data)

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ApexError(f"APEX_DEVICE={self.device!r} is not valid; use one of {DEVICES}.",
                            ErrorCode.BAD_SETTING)
        if self.precision not in PRECISIONS:
            raise ApexError(f"APEX_PRECISION={self.precision!r} is not valid; use one of {PRECISIONS}.",
                            ErrorCode.BAD_SETTING)
        for name, bound in NUMBER_BOUNDS.items():
            value = getattr(self, name)
            problem = None if value is None else bound.problem(float(value))
            if problem is not None:
                raise ApexError(f"{bound.env}={value!r} {problem}; set it to a number of {bound.unit} "
                                f"(default {_default_text(name)}) or unset it.", ErrorCode.BAD_SETTING)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None,
                 persistent_storage: Path = SPACES_PERSISTENT_STORAGE) -> "Settings":
        """Build settings from the environment (or a given mapping, for tests).

        On a Space (SPACE_ID set) whose persistent storage is mounted at `persistent_storage` (a
        folder; tests pass their own), the vote store and the embedding cache default to a folder
        inside it, so they survive restarts; APEX_DATA_DIR and APEX_CACHE_DIR still win.
        """
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
                                ErrorCode.BAD_SETTING) from None

        def whole(name: str, default: int) -> int:
            value = float(number(name, default))
            if not (math.isfinite(value) and value.is_integer()):
                raise ApexError(f"{name}={text(name)!r} is not a whole number; set it to e.g. {default}.",
                                ErrorCode.BAD_SETTING)
            return int(value)

        def count(name: str) -> int | None:
            """A whole number, or None for unset / "auto" (chosen for the machine when it runs)."""
            if (text(name) or AUTO).lower() == AUTO:
                return None
            return whole(name, 1)

        def flag(name: str) -> bool:
            return (text(name) or "0").lower() in SWITCH_ON

        def switch(name: str, default: bool) -> bool:
            """An on/off setting; anything but the words for on or off stops the start, naming it."""
            raw = (text(name) or "").lower()
            if not raw:
                return default
            if raw not in SWITCH_ON + SWITCH_OFF:
                raise ApexError(f"{name}={text(name)!r} is not on or off; set it to 1 or 0 (or unset it for "
                                f"the default, {'on' if default else 'off'} here).", ErrorCode.BAD_SETTING)
            return raw in SWITCH_ON

        base = cls()
        login = flag("APEX_ARENA_LOGIN") or text("OAUTH_CLIENT_ID") is not None
        if login:
            _check_real_oauth(env)
        space_id = text("SPACE_ID")
        storage = persistent_storage if space_id is not None and persistent_storage.is_dir() else None
        data_default = storage / PERSISTENT_SUBDIR if storage is not None else base.data_dir
        cache_default = data_default / "cache" if storage is not None else base.cache_dir
        return cls(
            mert=text("APEX_MERT") or DEFAULT_MERT,
            mert_revision=text("APEX_MERT_REVISION"),
            mert_file=text("APEX_MERT_FILE"),
            head=text("APEX_HEAD") or DEFAULT_HEAD,
            head_revision=text("APEX_HEAD_REVISION"),
            head_file=text("APEX_HEAD_FILE"),
            device=(text("APEX_DEVICE") or "auto").lower(),
            precision=(text("APEX_PRECISION") or "fp32").lower(),
            fast=flag("APEX_FAST"),
            cache_dir=Path(text("APEX_CACHE_DIR") or cache_default).expanduser(),
            cache_max_mb=number("APEX_CACHE_MAX_MB", base.cache_max_mb),
            use_cache=not flag("APEX_NO_CACHE"),
            max_seconds=number("APEX_MAX_SECONDS", base.max_seconds),
            max_file_mb=number("APEX_MAX_FILE_MB", base.max_file_mb),
            compare_max_seconds=number("APEX_COMPARE_MAX_SECONDS", base.compare_max_seconds),
            batch_size=count("APEX_BATCH_SIZE"),
            decode_workers=count("APEX_DECODE_WORKERS"),
            data_dir=Path(text("APEX_DATA_DIR") or data_default).expanduser(),
            min_listen_s=number("APEX_MIN_LISTEN_S", base.min_listen_s),
            arena_loudness_lufs=number("APEX_ARENA_LOUDNESS", base.arena_loudness_lufs),
            arena_pool=text("APEX_ARENA_POOL"),
            votes_repo=text("APEX_VOTES_REPO"),
            hf_token=text("HF_TOKEN"),
            vote_salt=text("APEX_VOTE_SALT"),
            votes_per_minute=whole("APEX_VOTES_PER_MINUTE", base.votes_per_minute),
            arena_login=login,
            arena_signed_in_only=flag("APEX_ARENA_SIGNED_IN_ONLY"),
            behind_proxy=flag("APEX_BEHIND_PROXY") or space_id is not None,
            proxy_hops=whole("APEX_PROXY_HOPS", base.proxy_hops),
            mcp=switch("APEX_MCP", space_id is not None),
            space_id=space_id,
            persistent_storage=storage,
        )

    @property
    def trusted_hops(self) -> int:
        """How many X-Forwarded-For hops, counted from the end, were appended by proxies the app trusts
        (0: the app is not behind a proxy, so the connection's peer is the client)."""
        return self.proxy_hops if self.behind_proxy else 0

    def storage_note(self) -> str | None:
        """Why votes will not survive a restart, or None: on a Space, votes kept neither in its
        persistent storage nor in a Hub dataset (APEX_VOTES_REPO) are lost when it restarts.
        A disk elsewhere keeps the data folder, so no note there."""
        if self.space_id is None or self.votes_repo is not None:
            return None
        storage = self.persistent_storage
        if storage is not None and Path(self.data_dir).resolve().is_relative_to(storage.resolve()):
            return None
        why = (f"APEX_DATA_DIR points outside its persistent storage ({storage})" if storage is not None
               else f"it has no persistent storage (nothing is mounted at {SPACES_PERSISTENT_STORAGE})")
        return VOTES_LOST_ON_RESTART.format(why=why)

    def with_overrides(self, **changes: object) -> "Settings":
        """A copy with some fields replaced (CLI flags win over the environment)."""
        present: dict[str, Any] = {k: v for k, v in changes.items() if v is not None}
        return replace(self, **present)


def _check_real_oauth(env: Mapping[str, str]) -> None:
    """Refuse sign-in where Gradio would only mock it (anywhere but a Space with OAuth set up)."""
    name, value = SPACES_SYSTEM
    missing = [v for v in REAL_OAUTH_VARIABLES if not env.get(v, "").strip()]
    if env.get(name, "").strip() != value:
        missing.insert(0, f"{name}={value}")
    if missing:
        raise ApexError(LOGIN_WITHOUT_OAUTH.format(missing=", ".join(missing)), ErrorCode.BAD_SETTING)


def _default_text(name: str) -> str:
    """The documented default of a Settings field, as messages show it."""
    default = next(f.default for f in fields(Settings) if f.name == name)
    return AUTO if default is None else format(default, "g")
