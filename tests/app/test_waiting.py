"""Visitors come first on the running app: a `/score` request made while the pool warm-up works finishes before
the warm-up's next segment."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable, Iterator

from apex_demo.config import Settings
from tests.support.app import running_app
from tests.support.fakes import FakeScorer


# -- through the real app: a `/score` API request queued while the pool warm-up works ------------
VISITOR_SONG = "loop_garzul.flac"
VISITOR_WORK_S = 1.0  # long enough that a warm-up not held back would log a part meanwhile
WARM_UP_WAIT_S = 60


class WarmupRecorder:
    """Stands in for the engine in the running app. The arena pool warm-up scores clips part by
    part (the app asks its `proceed` check between the parts, in its GPU function's caller); its first
    part waits until a visitor's request has started, so that request is queued while the warm-up is
    working. The visitor's `/score` works for VISITOR_WORK_S. Everything is logged in the order it happens."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.warm_up_working = threading.Event()
        self.visitor_started = threading.Event()
        self.warmed: set[str] = set()

    def iter_score(self, path: Path, display_name: str | None = None, partial: bool = True,
                   read_cache: bool = True, proceed: Callable[[], bool] | None = None) -> Iterator[Any]:
        name = Path(path).name
        if name == VISITOR_SONG:
            yield self.visit(path, display_name)
            return
        if name in self.warmed:  # the warm-up reading its pool clip's scores back
            yield FakeScorer().score_file(path)
            return
        self.warmed.add(name)
        for part in (1, 2, 3):
            self.log.append(f"warm-up part {part}")
            if not self.warm_up_working.is_set():
                self.warm_up_working.set()
                self.visitor_started.wait(WARM_UP_WAIT_S)
            yield SimpleNamespace(complete=False, segments=range(part))
        yield FakeScorer().score_file(path)

    def visit(self, path: Path, display_name: str | None) -> Any:
        self.log.append("visitor starts")
        self.visitor_started.set()
        time.sleep(VISITOR_WORK_S)
        self.log.append("visitor done")
        return FakeScorer().score_file(path, display_name)


def test_api_score_request_finishes_before_the_pool_warm_up_resumes(tmp_path: Path, audio_dir: Path) -> None:
    from gradio_client import Client, handle_file

    recorder = WarmupRecorder()
    with running_app(Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache"),
                     load=lambda settings: recorder) as (ctx, url):
        assert recorder.warm_up_working.wait(WARM_UP_WAIT_S), "the arena pool warm-up never started"
        record = Client(url, verbose=False).predict(handle_file(str(audio_dir / VISITOR_SONG)), api_name="/score")
        assert record["file"] == VISITOR_SONG
        deadline = time.monotonic() + WARM_UP_WAIT_S
        while len(recorder.log) < 4 and time.monotonic() < deadline:  # the warm-up's next part, after the grace
            time.sleep(0.1)
    assert recorder.log[:4] == ["warm-up part 1", "visitor starts", "visitor done", "warm-up part 2"]


