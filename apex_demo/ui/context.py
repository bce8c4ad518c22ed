"""What every tab shares: settings, the background model loader and a folder for downloads.

Models load once per process, in a background thread started by `AppContext.start()`
(called when the app is built, never at import), so the page is usable (examples,
About, Arena history) while MERT and the head load. Tabs ask the loader for the
scorer and show its status text; a failed load is shown as a message that says
how to fix it, not a stack trace.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import math
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterator

from apex_demo import tempfiles
from apex_demo.cache import SeenBy
from apex_demo.config import Settings
from apex_demo.errors import ApexError, ErrorCode, ModelError, ScoringStopped
from apex_demo.ui.progress import SegmentSpeed

LOG = logging.getLogger(__name__)
DOWNLOAD_MAX_AGE_S = 3600.0
# Background scoring resumes only after no user request has run for this long: the next request
# already waiting in Gradio's queue starts within it, so it never finds the model busy.
USER_GRACE_S = 2.0
USER_POLL_S = 0.5
BACKGROUND_JOIN_S = 60.0  # close() waits this long for background work (one clip at most) to stop
SHUTTING_DOWN = "The app is shutting down; no more scoring."
LOCAL_MODELS_HINT = (
    "To use local copies instead of the Hugging Face Hub, download `m-a-p/MERT-v1-95M` and "
    "`amaai-lab/apex` once and start the app with `APEX_MERT=/path/to/MERT-v1-95M` and "
    "`APEX_HEAD=/path/to/apex` (folders or checkpoint files)."
)
OWNER_FAILED = "**The models could not be loaded.** {message}\n\n" + LOCAL_MODELS_HINT

Loader = Callable[[Settings], Any]


class LoadState(str, Enum):
    IDLE = "idle"
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


def model_name(source: str) -> str:
    """How a model is named to visitors: its Hub id as is, a local copy by its folder or file name
    (never the server path)."""
    path = Path(source).expanduser()
    looks_local = source.startswith(("/", ".", "~")) or "\\" in source or source.count("/") > 1 or path.exists()
    return path.name if looks_local else source


def _default_loader(settings: Settings) -> Any:
    """Import the engine only when loading starts, so importing the UI stays light."""
    from apex_demo.scoring import get_scorer

    return get_scorer(settings)


def loaded_model_facts(scorer: Any) -> str:
    """The doctor's public summary of a real Scorer (files, hashes, revisions, layout); a stand-in
    scorer without models (tests) has none."""
    if not (hasattr(scorer, "encoder") and hasattr(scorer, "head")):
        return ""
    from apex_demo.doctor import describe_loaded, public_summary

    return public_summary(describe_loaded(scorer))


class ModelLoader:
    """Loads the scorer once in a daemon thread and reports progress as text.

    Thread-safe: `start()` is idempotent, `wait()` may be called from any
    request thread and returns the one shared scorer.
    """

    def __init__(self, settings: Settings, load: Loader = _default_loader) -> None:
        self._settings = settings
        self._load = load
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._scorer: Any = None
        self._error: ApexError | None = None
        self._facts = ""
        self._closed = threading.Event()

    def start(self) -> None:
        """Begin loading in the background (no-op when already started)."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="apex-model-loader", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        try:
            self._scorer = self._load(self._settings)
        except ApexError as exc:
            self._error = exc
        except Exception as exc:  # an unexpected failure must still reach the page, not kill the thread silently
            self._error = ModelError(f"{type(exc).__name__}: {exc}", ErrorCode.MODEL_NOT_FOUND)
        finally:
            self._done.set()
        if self._error is None:  # after "ready": hashing the weights must not delay the first score
            self._facts = loaded_model_facts(self._scorer)

    @property
    def state(self) -> LoadState:
        if self._thread is None:
            return LoadState.IDLE
        if not self._done.is_set():
            return LoadState.LOADING
        return LoadState.FAILED if self._error is not None else LoadState.READY

    @property
    def error(self) -> ApexError | None:
        return self._error

    def owner_note(self) -> str:
        """For the site's owner (About tab, not the header): why the load failed and how to fix it,
        with the APEX_* variables to set; empty unless the load failed."""
        if self.state is not LoadState.FAILED or self._error is None:
            return ""
        return OWNER_FAILED.format(message=self._error.message)

    def model_facts(self) -> str:
        """What `doctor` reports about the loaded model files (About tab); empty until loaded."""
        return self._facts

    @property
    def fast(self) -> bool:
        """True when the loaded scorer runs in reduced precision (labelled in the header)."""
        return getattr(self._scorer, "mode", "exact") == "fast"

    def wait(self, timeout: float | None = None) -> Any:
        """The scorer, once loaded; raises the load error, or ModelError on timeout."""
        self.start()
        if self._closed.is_set():
            raise ModelError(SHUTTING_DOWN, ErrorCode.MODEL_NOT_FOUND)
        if not self._done.wait(timeout):
            raise ModelError("The models are still loading; try again in a minute.", ErrorCode.MODEL_NOT_FOUND)
        if self._error is not None:
            raise ModelError(f"{self._error.message} {LOCAL_MODELS_HINT}", self._error.code)
        return self._scorer

    def close(self, timeout: float | None = None) -> None:
        """Refuse further `wait()` calls (background work then drains fast) and wait for the load thread."""
        self._closed.set()
        if self._thread is not None:
            self._thread.join(timeout)


class UserFirst:
    """User requests before background work (the arena pool warm-up).

    Handlers that run the model enter `user_request()`; background work calls
    `wait_turn()` before every 30 s segment and waits while any request runs or ran
    within the grace period. On a 2-core CPU two runs at once each take twice as long,
    so a visitor would otherwise wait for the warm-up's segments too.
    """

    def __init__(self, grace_s: float = USER_GRACE_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._grace_s = grace_s
        self._clock = clock
        self._cond = threading.Condition()
        self._active = 0
        self._last_end = -math.inf

    @contextlib.contextmanager
    def user_request(self) -> Iterator[None]:
        """Mark a user request as running for the duration of the block."""
        with self._cond:
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._last_end = self._clock()
                self._cond.notify_all()

    def marked(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        """`handler` run as a user request from its first line to its end. A generator handler
        (streaming results) stays a generator, so the mark lasts until its last yield; the
        signature is kept (functools.wraps), so Gradio still injects gr.Request and gr.Progress."""
        if inspect.isgeneratorfunction(handler):
            @functools.wraps(handler)
            def streaming(*args: Any, **kwargs: Any) -> Iterator[Any]:
                with self.user_request():
                    yield from handler(*args, **kwargs)

            return streaming

        @functools.wraps(handler)
        def plain(*args: Any, **kwargs: Any) -> Any:
            with self.user_request():
                return handler(*args, **kwargs)

        return plain

    def wait_turn(self, stopping: threading.Event) -> bool:
        """Block until no user request runs or ran within the grace period; False once `stopping` is set."""
        with self._cond:
            while not stopping.is_set():
                idle_for = self._clock() - self._last_end
                if self._active == 0 and idle_for >= self._grace_s:
                    return True
                self._cond.wait(USER_POLL_S if self._active else max(self._grace_s - idle_for, 0.01))
        return False


class DownloadDir:
    """A private temp folder for files the app offers for download (JSON, CSV).

    Gradio copies returned files into its own cache, so ours are pruned by age on
    every write and the folder is removed by `cleanup()` at shutdown.
    """

    def __init__(self, max_age_s: float = DOWNLOAD_MAX_AGE_S) -> None:
        self._max_age_s = max_age_s
        self._root: Path | None = None
        self._lock = threading.Lock()

    def _folder(self) -> Path:
        """The root folder, made on first use (the caller holds the lock)."""
        if self._root is None:
            self._root = Path(tempfile.mkdtemp(prefix=tempfiles.owned_prefix(tempfiles.DOWNLOADS_PREFIX)))
        return self._root

    def new_folder(self) -> Path:
        """A fresh, randomly named subfolder (so names never collide); old ones are pruned first."""
        with self._lock:
            root = self._folder()
            self._prune(root)
            return Path(tempfile.mkdtemp(dir=root))

    def write_text(self, name: str, text: str) -> Path:
        """Write `text` to a fresh subfolder and return the file path."""
        path = self.new_folder() / name
        path.write_text(text, encoding="utf-8")
        return path

    def prune(self) -> None:
        """Delete download folders older than the maximum age."""
        with self._lock:
            if self._root is not None:
                self._prune(self._root)

    def _prune(self, root: Path) -> None:
        """Under the lock, so two requests never delete the same folder; an entry that vanishes
        anyway (a system temp cleaner) is skipped rather than failing the download."""
        cutoff = time.time() - self._max_age_s
        for child in list(root.iterdir()):
            try:
                expired = child.stat().st_mtime < cutoff
            except FileNotFoundError:
                continue
            if expired:
                shutil.rmtree(child, ignore_errors=True)

    def cleanup(self) -> None:
        with self._lock:
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None


@dataclass
class AppContext:
    """Shared state of one app process. Tabs receive it in `build(ctx)`."""

    settings: Settings
    loader: ModelLoader
    downloads: DownloadDir = field(default_factory=DownloadDir)
    examples: tuple[Path, ...] = ()
    stopping: threading.Event = field(default_factory=threading.Event)
    _background: list[threading.Thread] = field(default_factory=list)
    arena: Any = None  # apex_demo.arena.Arena, created once by ui/arena_tab.get_arena (vote store + pool)
    seen: SeenBy = field(default_factory=SeenBy)  # cache hits only for the visitor who scored the song
    speed: SegmentSpeed = field(default_factory=SegmentSpeed)  # measured scoring speed, for time-left estimates
    user_first: UserFirst = field(default_factory=UserFirst)

    @classmethod
    def create(cls, settings: Settings, load: Loader = _default_loader,
               examples_dir: Path | None = None) -> "AppContext":
        """Build the context; nothing starts until `start()`."""
        examples = tuple(sorted(p for p in examples_dir.iterdir() if p.is_file() and p.suffix != ".md")) \
            if examples_dir is not None and examples_dir.is_dir() else ()
        return cls(settings=settings, loader=ModelLoader(settings, load), examples=examples)

    def loader_busy(self) -> bool:
        """True while the models are still loading (a model error then means "wait", not "broken")."""
        return self.loader.state in (LoadState.IDLE, LoadState.LOADING)

    def start(self) -> None:
        """Start the background model load (idempotent)."""
        self.loader.start()

    def run_in_background(self, name: str, target: Callable[[], None]) -> threading.Thread:
        """Start background work that `close()` waits for.

        Work using the models must stop soon after `stopping` is set (the loader then
        refuses the scorer): a thread still inside torch at interpreter exit aborts
        the process ("terminate called without an active exception").
        """
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._background.append(thread)
        thread.start()
        return thread

    def score_in_background(self, path: Path | str) -> bool:
        """Score one file into the engine's cache, giving way to user requests before every
        segment; True when it was scored. Failures are logged, never raised (background work)."""
        try:
            self.loader.wait(0).score_file(path, Path(path).name,
                                           proceed=lambda: self.user_first.wait_turn(self.stopping))
        except ScoringStopped:
            return False
        except ApexError as exc:
            LOG.warning("background scoring of %s failed: %s", Path(path).name, exc.message)
            return False
        except Exception:
            LOG.exception("unexpected error in background scoring of %s", Path(path).name)
            return False
        return True

    def close(self, timeout: float = BACKGROUND_JOIN_S) -> None:
        """Stop background work, wait for it, close the arena's vote store (its SQLite
        connection, and pending Hub uploads) and remove temporary downloads."""
        self.stopping.set()
        self.loader.close(timeout)
        for thread in self._background:
            thread.join(timeout)
        if self.arena is not None:
            self.arena.close()
        self.downloads.cleanup()
