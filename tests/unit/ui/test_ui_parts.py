"""UI pieces without a browser: the model loader, downloads, the Analyze reading, unique take names, closing the
app's context."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from apex_demo.config import Settings
from apex_demo.errors import ErrorCode, ModelError
from apex_demo.engine.result import ModelInfo, ScoreResult, SegmentScore
from apex_demo.scores import Scores
from apex_demo.engine.report import popularity_words
from apex_demo.ui.tabs.analyze import scores_table, summary_markdown
from apex_demo.ui.downloads import DownloadDir
from apex_demo.ui.loader import LoadState, ModelLoader

FULL = Scores(score_streams=81.0, score_likes=12.0, coherence=3.0, musicality=4.0, memorability=2.0,
              clarity=4.5, naturalness=1.5)
WEAK = Scores(score_streams=10.0, score_likes=10.0, coherence=1.5, musicality=1.5, memorability=1.5,
              clarity=1.5, naturalness=1.5)
POP_ONLY = Scores(score_streams=55.0, score_likes=45.0)


def result(segment_scores: list[Scores], song: Scores, complete: bool = True, total: int | None = None) -> ScoreResult:
    segments = tuple(SegmentScore(i, 30.0 * i, 30.0 * (i + 1), s) for i, s in enumerate(segment_scores))
    return ScoreResult(file="take_1.wav", duration_s=30.0 * (total or len(segments)), sample_rate=44100,
                       channels=2, scores=song, segments=segments, embedding=np.zeros(4, dtype=np.float32),
                       model=ModelInfo(mert="m", head="h"), total_segments=total or len(segments),
                       complete=complete)


def test_loader_reports_failure_with_local_copy_hint() -> None:
    def broken(settings: Settings) -> object:
        raise ModelError("Cannot reach the Hugging Face Hub.", ErrorCode.HUB_UNREACHABLE)

    loader = ModelLoader(Settings(), broken)
    assert loader.state is LoadState.IDLE
    loader.start()
    with pytest.raises(ModelError) as info:
        loader.wait(10)
    assert info.value.code is ErrorCode.HUB_UNREACHABLE
    assert "APEX_MERT" in info.value.message and "APEX_HEAD" in info.value.message
    assert loader.state is LoadState.FAILED
    assert "Cannot reach the Hugging Face Hub." in loader.owner_note()


def test_loader_loads_once_in_background() -> None:
    calls: list[Settings] = []
    release = threading.Event()

    def slow(settings: Settings) -> str:
        calls.append(settings)
        release.wait(60)  # the test decides when loading ends: no timing margin
        return "scorer"

    loader = ModelLoader(Settings(), slow)
    loader.start()
    loader.start()
    assert loader.state is LoadState.LOADING
    release.set()
    assert loader.wait(10) == "scorer" and loader.wait(10) == "scorer"
    assert len(calls) == 1 and loader.state is LoadState.READY


def test_download_dir_writes_prunes_and_cleans_up() -> None:
    downloads = DownloadDir(max_age_s=600.0)
    first = downloads.write_text("a.json", "{}")
    kept = downloads.write_text("b.json", "{}")
    long_ago = time.time() - 3600  # set by hand: no reliance on the file system's clock resolution
    os.utime(first.parent, (long_ago, long_ago))
    second = downloads.write_text("a.json", "[]")  # same name: no collision, the expired one is pruned
    assert second.read_text() == "[]" and not first.exists() and kept.read_text() == "{}"
    downloads.cleanup()
    assert not second.exists()


def test_compare_take_names_stay_unique_when_an_upload_already_has_the_suffix() -> None:
    from apex_demo.ui.tabs.compare import ranking_table, unique_names

    takes = [result([FULL], FULL), result([WEAK], WEAK), result([POP_ONLY], POP_ONLY), result([FULL], FULL)]
    named = unique_names(list(zip(["a.wav", "a.wav (2)", "a.wav", "a.wav"], takes)))
    assert [n for n, _ in named] == ["a.wav", "a.wav (2)", "a.wav (3)", "a.wav (4)"]
    assert [r for _, r in named] == takes
    assert len(dict(named)) == 4 and len(ranking_table(named, "overall")) == 4


def test_download_dir_prunes_safely_from_many_threads() -> None:
    """Threads writing at once all prune the same expired folders: none may fail on a folder
    another thread has just deleted, and every fresh file must survive."""
    import os
    import threading
    from concurrent.futures import ThreadPoolExecutor

    threads, old_folders = 8, 300
    downloads = DownloadDir(max_age_s=600.0)
    root = downloads.new_folder().parent
    long_ago = time.time() - 3600
    for i in range(old_folders):
        (root / f"old{i}").mkdir()
        (root / f"old{i}" / "x.csv").write_text("x")
        os.utime(root / f"old{i}", (long_ago, long_ago))
    start = threading.Barrier(threads)

    def write(i: int) -> Path:
        start.wait()
        return downloads.write_text("votes.csv", str(i))

    try:
        with ThreadPoolExecutor(threads) as pool:
            written = list(pool.map(write, range(threads)))
        assert [p.read_text() for p in written] == [str(i) for i in range(threads)]
        assert not list(root.glob("old*"))
    finally:
        downloads.cleanup()


def test_closing_the_app_context_closes_the_vote_store(tmp_path: Path) -> None:
    from apex_demo.arena.service import build_arena
    from apex_demo.errors import VoteError
    from apex_demo.ui.context import AppContext

    settings = Settings(data_dir=tmp_path / "data", vote_salt="close-test")
    ctx = AppContext.create(settings, load=lambda s: "scorer")
    ctx.arena = build_arena(settings, score_fn=lambda path: {})
    assert ctx.arena.store.count() == 0
    ctx.close()
    with pytest.raises(VoteError) as closed:               # a late request gets the store's own message
        ctx.arena.store.count()
    assert closed.value.code.value == "vote_store_unavailable"


def test_popularity_words_are_bands_not_percentiles() -> None:
    assert [popularity_words(v) for v in (95, 60, 50, 25, 3)] == ["very high", "high", "in the middle", "low",
                                                                 "very low"]


def test_summary_names_weakest_part_only_when_complete() -> None:
    full = result([FULL, WEAK, FULL], FULL)
    text = summary_markdown(full, "take_1.wav")
    assert "**Streams 81 / 100**: very high" in text and "**Likes 12 / 100**: very low" in text
    # the time to play from travels in the href (Gradio's Markdown drops data- attributes; page.js reads it)
    assert "**Weakest part:** <a href=\"#apex-play-30\" title=\"Play from 0:30\">▶ 0:30-1:00</a>" in text
    assert "Strongest:** Clarity 4.50" in text and "weakest:** Naturalness 1.50" in text
    assert "take\\_1" in text  # file names are escaped for Markdown
    partial = summary_markdown(result([FULL], FULL, complete=False, total=3), "song.wav")
    assert "scored 1 of 3 parts" in partial and "Weakest part" not in partial


def test_scores_table_has_song_and_segment_rows_one_scale_per_column_and_skips_missing_outputs() -> None:
    table = scores_table(result([POP_ONLY, POP_ONLY], POP_ONLY))
    assert list(table.columns) == ["Part", "Streams (0-100)", "Likes (0-100)"]
    assert list(table["Part"]) == ["Whole song", "0:00-0:30", "0:30-1:00"]
    assert list(table["Streams (0-100)"]) == [55.0, 55.0, 55.0]
    full = scores_table(result([FULL], FULL))
    assert list(full.columns)[-1] == "Naturalness (1-5)"  # a 1-5 score never shares a column with a 0-100 one


def test_fast_mode_is_labelled_in_the_reading() -> None:
    from dataclasses import replace

    import numpy as np

    from apex_demo.engine.result import ModelInfo, ScoreResult
    from apex_demo.scores import Scores
    from apex_demo.ui.tabs.analyze import FAST_MODE_NOTE, summary_markdown

    scores = Scores(50.0, 60.0, 3.0, 3.0, 3.0, 3.0, 3.0)
    result = ScoreResult("a.wav", 10.0, 44100, 2, scores, (), np.zeros(4, np.float32),
                         ModelInfo("m", "h", mode="exact"), total_segments=1)
    from apex_demo.engine.modes import FAST_ERROR

    note = FAST_MODE_NOTE.format(note="fast: bf16 ... " + FAST_ERROR)
    assert "Fast mode" not in summary_markdown(result, "a.wav")
    fast = replace(result, model=ModelInfo("m", "h", mode="fast", mode_note="fast: bf16 ... " + FAST_ERROR))
    assert note in summary_markdown(fast, "a.wav")  # the mode's note, with its error against exact


def test_the_header_says_which_mode_runs_when_fast_mode_was_asked_for(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from apex_demo.ui.app import header_status
    from apex_demo.ui.context import AppContext

    why = "exact: fast mode was asked for, but bf16 was not faster on this CPU at load"
    scorer = SimpleNamespace(mode="exact", model_info=ModelInfo("m", "h", mode="exact", mode_note=why))
    for fast, shown in ((True, True), (False, False)):
        ctx = AppContext.create(Settings(data_dir=tmp_path, fast=fast), load=lambda s: scorer)
        ctx.loader.start()
        ctx.loader.wait(10)
        assert (why in header_status(ctx)) is shown
        ctx.close()


def test_on_zerogpu_the_models_load_before_launch_in_the_calling_thread(tmp_path: Path, monkeypatch) -> None:
    """spaces' CUDA emulation covers only the thread that imported it, so the load must not go to a thread."""
    from apex_demo.ui import context

    threads: list[threading.Thread] = []
    monkeypatch.setattr(context, "on_zero_gpu", lambda: True)
    ctx = context.AppContext.create(Settings(data_dir=tmp_path), load=lambda s: threads.append(threading.current_thread()))
    ctx.start()
    assert threads == [threading.current_thread()] and ctx.loader.state is LoadState.READY
    ctx.close()
