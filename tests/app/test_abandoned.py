"""Abandoned jobs are cancelled : a `/score` or `/compare` whose client drops its
connection, or an Analyze or Compare run whose page is closed, stops at the next segment boundary
instead of encoding the whole song, and the model slot then serves the next visitor.

The real app over loopback HTTP, with the real Scorer on the tiny models. Its encoder records every
segment it encodes and holds the long song's first segment until Gradio itself has marked the
event's client as gone (read from Gradio's queue here, not through the code under test), so the
test needs no timing: had the app ignored the departure, all of the song's segments would be
encoded."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import httpx
import numpy as np
import pytest
import soundfile as sf

from apex_demo.config import Settings
from apex_demo.engine.models import get_scorer
from apex_demo.engine.scoring import Scorer
from tests.support.app import running_app
from tests.support.http import HTTP_TIMEOUT_S, Visitor


LONG, SHORT = "long_song.wav", "next_visitor.wav"
LONG_SEGMENTS = 6                 # 6 x 30 s
RATE = 8000
HOLD_TIMEOUT_S = 120.0            # a broken app lets the first segment go after this, then encodes them all


class CountingScorer(Scorer):
    """The real Scorer, recording which song each encoded segment belongs to."""

    def __init__(self, base: Scorer) -> None:
        super().__init__(base.encoder, base.head, None, base.max_seconds)
        self.encoded: list[str | None] = []
        self.holding = threading.Event()
        self.release = threading.Event()  # set by a test that gave up on a call without disconnecting
        self._song = threading.local()  # the arena's warm-up scores its own clips on another thread

    def iter_score(self, path: Any, display_name: str | None = None, *args: Any, **kwargs: Any) -> Iterator[Any]:
        self._song.name = display_name
        yield from super().iter_score(path, display_name, *args, **kwargs)

    def encode_segment(self, segment: Any) -> Any:
        name = getattr(self._song, "name", None)
        self.encoded.append(name)
        if name == LONG and self.encoded.count(LONG) == 1:
            self._hold_until_the_client_is_gone()
        return super().encode_segment(segment)

    def _hold_until_the_client_is_gone(self) -> None:
        """Gradio 6.31 marks a running event `alive = False` when its client's stream disconnects."""
        from gradio.context import LocalContext

        event = LocalContext.blocks.get()._queue.event_ids_to_events[LocalContext.event_id.get()]
        self.holding.set()
        deadline = time.monotonic() + HOLD_TIMEOUT_S
        while event.alive and not self.release.is_set() and time.monotonic() < deadline:
            time.sleep(0.05)


def _song(path: Path, seconds: int) -> Path:
    tone = 0.1 * np.sin(2 * np.pi * 440 * np.arange(seconds * RATE) / RATE)
    sf.write(str(path), tone.astype(np.float32), RATE, subtype="PCM_16")
    return path


@pytest.fixture()
def app(tiny_settings: Settings, tmp_path: Path) -> Iterator[tuple[str, CountingScorer]]:
    scorer = CountingScorer(get_scorer(tiny_settings.with_overrides(use_cache=False)))
    settings = tiny_settings.with_overrides(behind_proxy=True)  # visitors told apart by X-Forwarded-For
    with running_app(settings, load=lambda s: scorer) as (ctx, url):
        ctx.loader.wait(60)
        yield url, scorer


def _leave_while_scoring(url: str, api_name: str, data: Any, scorer: CountingScorer) -> None:
    """Post the call, open its result stream, and drop the connection once the long song's first
    segment is being encoded."""
    http = httpx.Client(base_url=url + "gradio_api/", timeout=HTTP_TIMEOUT_S,
                        headers={"X-Forwarded-For": "10.9.9.1"})
    posted = http.post(f"call/{api_name}", json={"data": [data]})
    assert posted.status_code == 200, posted.text
    with http.stream("GET", f"call/{api_name}/{posted.json()['event_id']}"):
        assert scorer.holding.wait(HTTP_TIMEOUT_S), "the long song never reached the encoder"
    http.close()  # the visitor is gone


def _close_page_while_scoring(url: str, api_name: str, data: list[Any], scorer: CountingScorer) -> None:
    """What the page does for a tab's button (join the queue by the event's index, read the session's
    event stream), then the tab is closed once the long song's first segment is being encoded."""
    http = httpx.Client(base_url=url, timeout=HTTP_TIMEOUT_S, headers={"X-Forwarded-For": "10.9.9.1"})
    fn_index = next(d["id"] for d in http.get("config").json()["dependencies"] if d.get("api_name") == api_name)
    session = uuid.uuid4().hex
    joined = http.post("gradio_api/queue/join", json={"data": data, "fn_index": fn_index, "session_hash": session,
                                                      "event_data": None, "trigger_id": None})
    assert joined.status_code == 200, joined.text
    with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session}):
        assert scorer.holding.wait(HTTP_TIMEOUT_S), "the long song never reached the encoder"
    http.close()


@pytest.mark.parametrize("api_name", ["score", "compare", "ui_analyze", "ui_compare"])
def test_a_job_whose_client_left_stops_at_the_next_segment(app: tuple[str, CountingScorer], tmp_path: Path,
                                                           api_name: str) -> None:
    """The API endpoints (a dropped /call result stream) and the Analyze and Compare tabs (a closed page)."""
    url, scorer = app
    leaver, next_visitor = Visitor(url, "10.9.9.1"), Visitor(url, "10.9.9.2")
    long_upload = leaver.upload(_song(tmp_path / LONG, LONG_SEGMENTS * 30))
    short_upload = next_visitor.upload(_song(tmp_path / SHORT, 5))
    if api_name == "score":
        _leave_while_scoring(url, api_name, long_upload, scorer)
    elif api_name == "compare":
        _leave_while_scoring(url, api_name, [long_upload, short_upload], scorer)
    elif api_name == "ui_analyze":
        _close_page_while_scoring(url, api_name, [long_upload, "unknown"], scorer)  # the song, "vocals?"
    else:
        _close_page_while_scoring(url, api_name, [[long_upload, short_upload], "overall"], scorer)
    (record,) = next_visitor.call("score", short_upload)          # the model slot serves the next visitor
    assert record["file"] == SHORT and len(record["segments"]) == 1
    assert scorer.encoded.count(LONG) == 1                        # the segment in work, not all 6
    assert scorer.encoded.count(SHORT) == 1                       # only the next visitor's own call


def test_a_call_cancelled_through_gradio_client_stops_at_the_next_segment(app: tuple[str, CountingScorer],
                                                                         tmp_path: Path) -> None:
    """gradio_client's `job.cancel()` (Gradio's POST /cancel) keeps the connection open and Gradio's
    event alive; the running /score stops anyway, after the segment in work (6 of 6 without the check)."""
    from gradio_client import Client, handle_file

    url, scorer = app
    client = Client(url, verbose=False, headers={"X-Forwarded-For": "10.9.9.1"})
    job = client.submit(handle_file(str(_song(tmp_path / LONG, LONG_SEGMENTS * 30))), api_name="/score")
    assert scorer.holding.wait(HTTP_TIMEOUT_S), "the long song never reached the encoder"
    assert job.cancel()
    deadline = time.monotonic() + HTTP_TIMEOUT_S
    while not job.done() and time.monotonic() < deadline:  # the client has Gradio's "completed" answer
        time.sleep(0.05)
    assert job.done()
    scorer.release.set()                                           # the held segment finishes now
    next_visitor = Visitor(url, "10.9.9.2")
    (record,) = next_visitor.call("score", next_visitor.upload(_song(tmp_path / SHORT, 5)))
    assert record["file"] == SHORT
    assert scorer.encoded.count(LONG) == 1
    client.close()
