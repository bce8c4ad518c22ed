"""Background scoring waits for a visitor between segments (the real tiny engine)."""

from __future__ import annotations

import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Iterator

from apex_demo.config import Settings
from apex_demo.ui.context import AppContext
from apex_demo.ui.guards.user_first import UserFirst


class RecordingScorer:
    """Three segments per file; records each one. At the end of the background's first segment it
    lets a visitor's request in (on another thread) and waits until that request has started."""

    def __init__(self, ctx_holder: list[AppContext], log: list[str]) -> None:
        self.ctx_holder = ctx_holder
        self.log = log

    def iter_score(self, path: Path, name: str | None = None, partial: bool = True, read_cache: bool = True,
                   proceed: Callable[[], bool] | None = None) -> Iterator[SimpleNamespace]:
        """As the Scorer does for the app's GPU function: a result after each segment (the app asks its
        `proceed` check between them), the complete one last."""
        for segment in range(1, 4):
            self.log.append(f"background segment {segment}")
            if segment == 1:
                started = threading.Event()
                threading.Thread(target=self.visitor, args=(started,)).start()
                started.wait()
            yield SimpleNamespace(complete=segment == 3, segments=range(segment))

    def visitor(self, started: threading.Event) -> None:
        with self.ctx_holder[0].user_first.user_request():
            started.set()
            self.log.append("visitor request")


def test_background_scoring_waits_for_a_visitor_between_segments(tmp_path: Path) -> None:
    log: list[str] = []
    holder: list[AppContext] = []
    ctx = AppContext.create(Settings(data_dir=tmp_path), load=lambda s: RecordingScorer(holder, log))
    ctx.user_first = UserFirst(grace_s=0.0)
    holder.append(ctx)
    ctx.start()
    ctx.loader.wait(10)
    assert ctx.score_in_background(tmp_path / "pool_clip.ogg") is True
    assert log == ["background segment 1", "visitor request", "background segment 2", "background segment 3"]
    ctx.close()


