"""The models, loaded once per process in a background thread, and what the page says about them.

`ModelLoader.start()` (called when the app is built, never at import) loads MERT and the head
through the engine's one cached factory, so the page is usable (examples, About, the arena) while
they load. Tabs ask the loader for the scorer and show its state; a failed load becomes a message
that says how to fix it (for the site's owner on the About tab), never a stack trace.
"""

from __future__ import annotations

import threading
from enum import Enum
from pathlib import Path
from typing import Any, Callable

from apex_demo.config import Settings
from apex_demo.errors import ApexError, ErrorCode, ModelError

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


def default_loader(settings: Settings) -> Any:
    """The engine's factory (the engine is imported when loading starts, so importing the UI stays light)."""
    from apex_demo.engine import get_scorer

    return get_scorer(settings)


def loaded_model_facts(scorer: Any) -> str:
    """The doctor's public summary of a real Scorer (files, hashes, revisions, layout); a stand-in
    scorer without models (tests) has none."""
    if not (hasattr(scorer, "encoder") and hasattr(scorer, "head")):
        return ""
    from apex_demo.engine import describe_loaded, public_summary

    return public_summary(describe_loaded(scorer))


class ModelLoader:
    """Loads the scorer once in a daemon thread and reports progress as text.

    Thread-safe: `start()` is idempotent, `wait()` may be called from any
    request thread and returns the one shared scorer.
    """

    def __init__(self, settings: Settings, load: Loader = default_loader) -> None:
        self._settings = settings
        self._load = load
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._scorer: Any = None
        self._error: ApexError | None = None
        self._facts = ""
        self._closed = threading.Event()

    def start(self, here: bool = False) -> None:
        """Begin loading in the background (no-op when already started); with `here`, load in this
        thread and return when done (ZeroGPU: torch's CUDA emulation of `spaces` only covers the
        thread that imported it, so the models must load there, before launch)."""
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="apex-model-loader", daemon=True)
            if not here:
                self._thread.start()
        if here:
            self._run()

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
    def mode_note(self) -> str:
        """Which mode the loaded models run in and why (engine/modes.py); empty before they load."""
        info = getattr(self._scorer, "model_info", None)
        return str(getattr(info, "mode_note", "")) if self._done.is_set() and self._error is None else ""

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
        if self._thread is not None and self._thread.ident is not None:  # never started: loaded in place
            self._thread.join(timeout)
