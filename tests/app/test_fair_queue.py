"""Fair queues, on the real app over loopback HTTP: while scoring is held busy (a stand-in scorer
that waits for the test's signal), other visitors' arena and leaderboard calls are answered, a
browser session gets at most one scoring job in line and an address at most four (several people
behind one address all get in, one of them cannot fill the line), the line itself is bounded, and
an upload that cannot be scored is refused from its header before it is queued."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import numpy as np
import pytest
import soundfile as sf

from apex_demo.config import Settings
from apex_demo.ui.context import AppContext
from apex_demo.ui.guards.fairness import ONE_JOB, SCORING_QUEUE_MAX

from tests.support.app import running_app
from tests.support.fakes import FakeScorer
from tests.support.http import Visitor

GATE_TIMEOUT_S = 120.0
ADDRESS_SHARE = 4  # jobs one address may hold at once: a quarter of the line (written here, not imported)
ADDRESS_FULL = "songs from your network (the same internet address) are already being scored or waiting in line"
COMPARE_BUDGET_S = 20.0           # APEX_COMPARE_MAX_SECONDS for these tests


class GatedScorer(FakeScorer):
    """Scores only when the test opens the gate, so 'scoring is busy' lasts exactly as long as needed."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.started = threading.Event()
        self.seen: list[str] = []

    def score_file(self, path: object, display_name: str | None = None, read_cache: bool = True,
                   proceed: Callable[[], bool] | None = None) -> Any:
        result = super().score_file(path, display_name)
        if display_name is None:  # the arena scoring its own pool clips in the background: not gated
            return result
        self.seen.append(display_name)
        self.started.set()
        assert self.gate.wait(GATE_TIMEOUT_S), "the test never opened the gate"
        return result


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[tuple[str, AppContext, GatedScorer]]:
    scorer = GatedScorer()
    settings = Settings(device="cpu", cache_dir=tmp_path / "cache", data_dir=tmp_path / "data", min_listen_s=0.0,
                        votes_per_minute=1000, vote_salt="fair-test", behind_proxy=True,  # as on Spaces
                        compare_max_seconds=COMPARE_BUDGET_S)
    with running_app(settings, load=lambda s: scorer) as (ctx, url):
        ctx.loader.wait(30)
        yield url, ctx, scorer
        scorer.gate.set()


@pytest.fixture()
def song(tmp_path: Path) -> Path:
    path = tmp_path / "song.wav"
    sf.write(str(path), np.zeros(44100, np.float32), 44100, subtype="PCM_16")
    return path


def _refusal(response: httpx.Response) -> str:
    assert response.status_code == 422, (response.status_code, response.text)
    return " ".join(item.get("message", "") for item in response.json()["detail"])


def test_arena_and_leaderboard_answer_during_a_scoring_flood(served, song: Path) -> None:
    url, _, scorer = served
    flood = [Visitor(url, f"10.0.0.{i}") for i in range(SCORING_QUEUE_MAX + 8)]
    upload = flood[0].upload(song)
    answers = [visitor.submit("score", upload) for visitor in flood]
    assert scorer.started.wait(GATE_TIMEOUT_S)
    queued = [a for a in answers if a.status_code == 200]
    assert len(queued) == SCORING_QUEUE_MAX  # the line is bounded...
    assert all("line is full" in _refusal(a) for a in answers if a.status_code != 200)  # ...and says so
    others = Visitor(url, "192.168.1.1")
    stats = others.call("arena_stats")            # scoring is still held busy: none of these waits behind it
    info, audio_a, audio_b = others.call("arena_new_battle")
    assert info["battle_id"] and audio_a["url"] and audio_b["url"]
    assert isinstance(stats[0], dict)
    assert not scorer.gate.is_set()
    scorer.gate.set()
    for visitor, answer in zip(flood, answers):
        if answer.status_code == 200:
            (record,) = visitor.result("score", answer.json()["event_id"])
            assert record["file"] == song.name


def test_one_scoring_job_per_session_and_a_share_per_address(served, song: Path) -> None:
    url, _, scorer = served
    office = [Visitor(url, "10.1.1.1", session=f"tab-{i}") for i in range(ADDRESS_SHARE + 1)]
    upload = office[0].upload(song)
    first = office[0].submit("score", upload)
    assert first.status_code == 200
    assert scorer.started.wait(GATE_TIMEOUT_S)
    assert ONE_JOB in _refusal(office[0].submit("score", upload))
    assert ONE_JOB in _refusal(office[0].submit("compare", [upload, upload]))  # every scoring endpoint counts
    colleagues = [visitor.submit("score", upload) for visitor in office[1:ADDRESS_SHARE]]
    assert [c.status_code for c in colleagues] == [200] * (ADDRESS_SHARE - 1)  # same address, other sessions: in line
    assert ADDRESS_FULL in _refusal(office[ADDRESS_SHARE].submit("score", upload))  # the address holds its share
    script = Visitor(url, "10.1.1.1")  # no session (a plain API call) still counts for its address
    assert ADDRESS_FULL in _refusal(script.submit("score", upload))
    elsewhere = Visitor(url, "10.2.2.2", session="home")
    other = elsewhere.submit("score", upload)
    assert other.status_code == 200
    scorer.gate.set()
    for visitor, answer in zip(office, [first, *colleagues]):
        visitor.result("score", answer.json()["event_id"])
    elsewhere.result("score", other.json()["event_id"])
    assert office[0].call("score", upload)[0]["file"] == song.name  # free again once the first one finished


def test_a_planted_first_hop_makes_no_new_address(served, song: Path) -> None:
    """Behind the proxy the address is the hop the proxy appended, whatever the client wrote before it: a
    script that plants a new first hop on every call still holds only its address's share of the line."""
    url, _, scorer = served
    planted = [Visitor(url, f"203.0.113.{i}, 10.6.6.6") for i in range(ADDRESS_SHARE + 1)]
    upload = planted[0].upload(song)
    jobs = [visitor.submit("score", upload) for visitor in planted[:ADDRESS_SHARE]]
    assert [job.status_code for job in jobs] == [200] * ADDRESS_SHARE
    assert scorer.started.wait(GATE_TIMEOUT_S)
    assert ADDRESS_FULL in _refusal(planted[ADDRESS_SHARE].submit("score", upload))
    scorer.gate.set()
    for visitor, job in zip(planted, jobs):
        visitor.result("score", job.json()["event_id"])


def test_unscorable_upload_is_refused_from_its_header_before_queueing(served, tmp_path: Path) -> None:
    url, _, scorer = served
    bomb = tmp_path / "one_hz.wav"
    sf.write(str(bomb), np.zeros(600, np.float32), 1, subtype="PCM_16")  # "600 s" at 1 Hz
    visitor = Visitor(url, "10.3.3.3")
    message = _refusal(visitor.submit("score", visitor.upload(bomb)))
    assert "1 Hz" in message and "44.1" in message  # what is wrong, and what to do
    assert not [name for name in scorer.seen if "one_hz" in str(name)]  # never reached the model (the arena's
    # pool warm-up may have scored its own clips meanwhile)


def test_a_cancelled_waiting_job_is_dropped_and_frees_the_visitor(served, song: Path) -> None:
    """gradio_client's job.cancel() (what a closed tab amounts to) removes the waiting job: it never
    runs, and its visitor may queue a new one at once."""
    from gradio_client import Client, handle_file

    url, _, scorer = served
    blocker = Visitor(url, "10.4.4.1")
    first = blocker.submit("score", blocker.upload(song))
    assert first.status_code == 200 and scorer.started.wait(GATE_TIMEOUT_S)
    leaver = Client(url, verbose=False, headers={"X-Forwarded-For": "10.4.4.2"})
    renamed = song.with_name("left.wav")
    renamed.write_bytes(song.read_bytes())
    job = leaver.submit(handle_file(str(renamed)), api_name="/score")
    _wait_until_queued(job)
    waiting = Visitor(url, "10.4.4.2", session=leaver.session_hash)  # the same session as the one that left
    assert ONE_JOB in _refusal(waiting.submit("score", waiting.upload(song)))  # its job is in line
    job.cancel()
    again = waiting.submit("score", waiting.upload(song))
    assert again.status_code == 200, again.text
    scorer.gate.set()
    waiting.result("score", again.json()["event_id"])
    blocker.result("score", first.json()["event_id"])
    assert "left.wav" not in scorer.seen


def _wait_until_queued(job: Any) -> None:
    from gradio_client.utils import Status

    deadline = time.monotonic() + GATE_TIMEOUT_S
    while job.status().code not in (Status.IN_QUEUE, Status.PROCESSING):
        assert time.monotonic() < deadline, "the job never reached the queue"
        time.sleep(0.05)


def _takes(folder: Path, seconds: int, count: int, rate: int = 8000) -> list[Path]:
    paths = []
    for i in range(count):
        path = folder / f"take_{seconds}s_{i}.wav"
        sf.write(str(path), np.zeros(seconds * rate, np.float32), rate, subtype="PCM_16")
        paths.append(path)
    return paths


def test_a_compare_over_the_total_budget_is_refused_before_queueing(served, tmp_path: Path) -> None:
    """Three 8 s takes are 24 s together, over the 20 s budget: refused from the headers, in plain
    words, and never scored. Two of them (16 s) are admitted, and so are two plus a 1 Hz bomb: a
    file that cannot be scored does not count (it becomes its own error record, test_compare_bombs)."""
    url, _, scorer = served
    visitor = Visitor(url, "10.5.5.5")
    three = [visitor.upload(p) for p in _takes(tmp_path, 8, 3)]
    message = _refusal(visitor.submit("compare", three))
    assert message.startswith("These 3 files last 24 s together; one comparison takes at most 20 s of audio.")
    assert "Compare fewer takes" in message and "/tmp" not in message
    assert not [n for n in scorer.seen if str(n).startswith("take_")]      # nothing reached the model
    scorer.gate.set()
    (records,) = visitor.call("compare", three[:2])
    assert [r["file"] for r in records] == ["take_8s_0.wav", "take_8s_1.wav"]
    bomb = tmp_path / "one_hz.wav"
    sf.write(str(bomb), np.zeros(600, np.float32), 1, subtype="PCM_16")    # "600 s" at 1 Hz: refused per file
    assert len(visitor.call("compare", [*three[:2], visitor.upload(bomb)])[0]) == 3  # admitted (the stand-in
    # scorer does not decode; the real one's per-file error for this bomb: test_compare_bombs.py)
