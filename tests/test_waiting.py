"""Waiting is never silent, and visitors come first: the arena warm-up gives way between segments."""

from __future__ import annotations

import inspect
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import gradio as gr
from gradio.utils import get_type_hints

from apex_demo.config import Settings
from apex_demo.errors import ScoringStopped
from apex_demo.ui.context import AppContext, UserFirst
from tests.app_server import FakeScorer, running_app


class RecordingScorer:
    """Three segments per file; records each one. At the end of the background's first segment it
    lets a visitor's request in (on another thread) and waits until that request has started."""

    def __init__(self, ctx_holder: list[AppContext], log: list[str]) -> None:
        self.ctx_holder = ctx_holder
        self.log = log

    def score_file(self, path: Path, name: str | None = None, proceed: Callable[[], bool] | None = None) -> int:
        for segment in range(1, 4):
            if proceed is not None and not proceed():  # as the Scorer does: asked before every segment
                raise ScoringStopped(name)
            self.log.append(f"background segment {segment}")
            if segment == 1:
                started = threading.Event()
                threading.Thread(target=self.visitor, args=(started,)).start()
                started.wait()
        return segment

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


def test_background_scoring_stops_when_the_app_closes(tmp_path: Path) -> None:
    ctx = AppContext.create(Settings(data_dir=tmp_path), load=lambda s: object())
    ctx.stopping.set()
    assert ctx.score_in_background(tmp_path / "clip.ogg") is False


# -- through the real app: a `/score` API request queued while the pool warm-up works ------------
VISITOR_SONG = "loop_garzul.flac"
VISITOR_WORK_S = 1.0  # long enough that a warm-up not held back would log a part meanwhile
WARM_UP_WAIT_S = 60


class WarmupRecorder:
    """Stands in for the engine in the running app. The arena pool warm-up scores clips part by
    part, asking its `proceed` check before each part as the Scorer does; its first part waits until
    a visitor's request has started, so that request is queued while the warm-up is working. The
    visitor's `/score` works for VISITOR_WORK_S. Everything is logged in the order it happens."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.warm_up_working = threading.Event()
        self.visitor_started = threading.Event()

    def score_file(self, path: Path, display_name: str | None = None,
                   proceed: Callable[[], bool] | None = None) -> Any:
        if Path(path).name == VISITOR_SONG:
            return self.visit(path)
        if proceed is None:  # the warm-up reading its pool clip's scores back
            return FakeScorer().score_file(path)
        for part in (1, 2, 3):
            if not proceed():
                raise ScoringStopped(str(path))
            self.log.append(f"warm-up part {part}")
            if not self.warm_up_working.is_set():
                self.warm_up_working.set()
                self.visitor_started.wait(WARM_UP_WAIT_S)
        return FakeScorer().score_file(path)

    def visit(self, path: Path) -> Any:
        self.log.append("visitor starts")
        self.visitor_started.set()
        time.sleep(VISITOR_WORK_S)
        self.log.append("visitor done")
        return VisitorRecord(Path(path).name)


class VisitorRecord:
    def __init__(self, name: str) -> None:
        self.name = name

    def to_record(self) -> dict[str, str]:
        return {"file": self.name}


def test_api_score_request_finishes_before_the_pool_warm_up_resumes(tmp_path: Path, audio_dir: Path) -> None:
    from gradio_client import Client, handle_file

    recorder = WarmupRecorder()
    with running_app(Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache"),
                     load=lambda settings: recorder) as (ctx, url):
        assert recorder.warm_up_working.wait(WARM_UP_WAIT_S), "the arena pool warm-up never started"
        record = Client(url, verbose=False).predict(handle_file(str(audio_dir / VISITOR_SONG)), api_name="/score")
        assert record == {"file": VISITOR_SONG}
        deadline = time.monotonic() + WARM_UP_WAIT_S
        while len(recorder.log) < 4 and time.monotonic() < deadline:  # the warm-up's next part, after the grace
            time.sleep(0.1)
    assert recorder.log[:4] == ["warm-up part 1", "visitor starts", "visitor done", "warm-up part 2"]


def test_a_marked_handler_keeps_what_gradio_reads_from_it() -> None:
    """Gradio injects gr.Request and gr.Progress by the handler's signature and type hints, and streams
    a generator handler's results: marking a handler as a user request must keep all three."""

    def upload_battle(take: str, request: gr.Request, progress: gr.Progress = gr.Progress()) -> str:
        return take

    def analyze(path: str) -> Iterator[str]:
        yield path
        yield path + " done"

    marked = UserFirst().marked(upload_battle)
    assert inspect.signature(marked) == inspect.signature(upload_battle)
    assert get_type_hints(marked)["request"] is gr.Request
    assert marked("take.wav", None) == "take.wav"
    streaming = UserFirst().marked(analyze)
    assert inspect.isgeneratorfunction(streaming)
    assert list(streaming("song.wav")) == ["song.wav", "song.wav done"]
