"""What every tab shares: settings, the model loader, downloads, the arena, and the visitors-first gate.

One `AppContext` per app process, made by `create_context` and handed to every tab's `build(ctx)`;
nothing starts until `start()` (no work at import).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from apex_demo.config import Settings
from apex_demo.errors import ApexError, ScoringStopped
from apex_demo.ui.downloads import DownloadDir
from apex_demo.ui.guards.private_cache import SeenBy
from apex_demo.ui.gpu import GpuScorer, GpuSlot, on_zero_gpu
from apex_demo.ui.guards.user_first import UserFirst
from apex_demo.ui.loader import Loader, LoadState, ModelLoader, default_loader
from apex_demo.ui.progress import SegmentSpeed
from apex_demo.ui.share import SharedResults

if TYPE_CHECKING:  # the arena (and its vote store) is built on first use: ui/arena_host.py
    from apex_demo.arena import Arena

LOG = logging.getLogger(__name__)
SHARED_FOLDER = "shared"  # under APEX_DATA_DIR: results visitors chose to share (ui/share.py)
BACKGROUND_JOIN_S = 60.0  # close() waits this long for background work (one clip at most) to stop


@dataclass
class AppContext:
    """Shared state of one app process. Tabs receive it in `build(ctx)`."""

    settings: Settings
    loader: ModelLoader
    downloads: DownloadDir = field(default_factory=DownloadDir)
    examples: tuple[Path, ...] = ()
    stopping: threading.Event = field(default_factory=threading.Event)
    _background: list[threading.Thread] = field(default_factory=list)
    arena: "Arena | None" = None  # created once by ui/arena_host.get_arena (vote store + pool)
    seen: SeenBy = field(default_factory=SeenBy)  # cache hits only for the visitor who scored the song
    speed: SegmentSpeed = field(default_factory=SegmentSpeed)  # measured scoring speed, for time-left estimates
    user_first: UserFirst = field(default_factory=UserFirst)
    shared: SharedResults = field(init=False)  # results visitors chose to share by link
    gpu: GpuSlot | None = None  # the app's one @spaces.GPU function (ui/gpu.py); made with the context

    def __post_init__(self) -> None:
        self.shared = SharedResults(self.settings.data_dir / SHARED_FOLDER)  # nothing is written until a share
        if self.gpu is None:
            self.gpu = GpuSlot(lambda: self.loader.wait(0), self.settings.max_seconds)

    @classmethod
    def create(cls, settings: Settings, load: Loader = default_loader,
               examples_dir: Path | None = None) -> "AppContext":
        """Build the context; nothing starts until `start()`."""
        examples = tuple(sorted(p for p in examples_dir.iterdir() if p.is_file() and p.suffix != ".md")) \
            if examples_dir is not None and examples_dir.is_dir() else ()
        return cls(settings=settings, loader=ModelLoader(settings, load), examples=examples)

    def loader_busy(self) -> bool:
        """True while the models are still loading (a model error then means "wait", not "broken")."""
        return self.loader.state in (LoadState.IDLE, LoadState.LOADING)

    def start(self) -> None:
        """Start loading the models (idempotent): in the background, so the page is up at once; on
        ZeroGPU in this thread, before launch, as `spaces` needs (it moves what was loaded to the GPU
        worker it forks for each scoring call)."""
        self.loader.start(here=on_zero_gpu())

    def scorer(self, timeout: float | None) -> GpuScorer:
        """The shared scorer, its model work run in the app's GPU function (ui/gpu.py); waits up to
        `timeout` s for models still loading, raises ApexError when they cannot be loaded."""
        assert self.gpu is not None
        return GpuScorer(self.loader.wait(timeout), self.gpu)

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
            self.scorer(0).score_file(path, Path(path).name,
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
