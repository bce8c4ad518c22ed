"""Visitors before background work: a marked handler keeps what Gradio reads from it, and background scoring
stops when the app closes."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Iterator

import gradio as gr
from gradio.utils import get_type_hints

from apex_demo.config import Settings
from apex_demo.ui.context import AppContext
from apex_demo.ui.guards.user_first import UserFirst


def test_background_scoring_stops_when_the_app_closes(tmp_path: Path) -> None:
    ctx = AppContext.create(Settings(data_dir=tmp_path), load=lambda s: object())
    ctx.stopping.set()
    assert ctx.score_in_background(tmp_path / "clip.ogg") is False


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
