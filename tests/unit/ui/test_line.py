"""The scoring line, without an app: who may join it (per browser session, per address, in all), and the
wait it tells a visitor in line, worked by hand from the song lengths ahead and a speed per part."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from apex_demo.ui.guards.fairness import (ADDRESS_FULL, JOBS_PER_ADDRESS, ONE_JOB, SCORING_QUEUE_MAX,
                                          admission_refusal)
from apex_demo.ui.waiting import Ahead, wait_seconds, wait_words


def job(session: str, address: str) -> SimpleNamespace:
    """A queued job as Gradio keeps it: its session hash and the request it came with."""
    return SimpleNamespace(session_hash=session, request=SimpleNamespace(headers={}, client=SimpleNamespace(host=address)))


# -- who may join the line ---------------------------------------------------------------------------
def test_a_second_session_behind_the_same_address_may_join() -> None:
    line = [job("tab-1", "10.0.0.1")]
    assert admission_refusal(line, "10.0.0.1", "tab-2") is None


def test_one_session_holds_one_job() -> None:
    refusal = admission_refusal([job("tab-1", "10.0.0.1")], "10.0.0.1", "tab-1")
    assert refusal is not None and refusal.message == ONE_JOB


def test_one_address_holds_at_most_its_share() -> None:
    assert JOBS_PER_ADDRESS == 4 and SCORING_QUEUE_MAX == 16  # a quarter of the line
    three = [job(f"tab-{i}", "10.0.0.1") for i in range(3)]
    assert admission_refusal(three, "10.0.0.1", "tab-9") is None
    four = three + [job("api-call", "10.0.0.1")]
    refusal = admission_refusal(four, "10.0.0.1", None)  # a client without a session (a plain API call) too
    assert refusal is not None and refusal.message == ADDRESS_FULL.format(count=4)
    assert refusal.message.startswith("4 songs from your network")
    assert admission_refusal(four, "10.0.0.2", "other") is None  # the next address is not held up


def test_the_whole_line_is_bounded() -> None:
    full = [job(f"s{i}", f"10.0.1.{i}") for i in range(16)]
    refusal = admission_refusal(full, "10.9.9.9", "new")
    assert refusal is not None and "line is full (16 songs" in refusal.message
    assert admission_refusal(full[:15], "10.9.9.9", "new") is None


# -- the wait, in seconds and in words ------------------------------------------------------------
def test_the_wait_adds_up_the_songs_ahead() -> None:
    # running: 97 s = 4 parts of 10 s, running for 12 s -> 28 s left; waiting: 61 s = 3 parts -> 30 s; 5 s = 1 part
    ahead = [Ahead(97.0, running_for=12.0), Ahead(61.0), Ahead(5.0)]
    assert wait_seconds(ahead, 10.0) == pytest.approx(28.0 + 30.0 + 10.0)
    assert wait_seconds([Ahead(None)], 10.0) == 10.0           # unknown length: one part
    assert wait_seconds([Ahead(30.0, running_for=50.0)], 10.0) == 0.0  # over its estimate: nothing left, not less
    assert wait_seconds(ahead, 0.0) is None                   # this server has not timed a part yet


def test_the_wait_in_words_counts_down() -> None:
    words = [wait_words([Ahead(97.0, running_for=t)], 10.0) for t in (0.0, 6.0, 31.0, 37.0)]
    assert words == ["Waiting in line: 1 song ahead of yours (one is being scored now). Your turn in about 40 s.",
                     "Waiting in line: 1 song ahead of yours (one is being scored now). Your turn in about 35 s.",
                     "Waiting in line: 1 song ahead of yours (one is being scored now). Your turn in about 9 s.",
                     "Waiting in line: 1 song ahead of yours (one is being scored now). Your turn comes any moment now."]
    assert wait_words([Ahead(60.0), Ahead(60.0)], 0.0) == ("Waiting in line: 2 songs ahead of yours. Your turn comes "
                                                           "as soon as the songs ahead are done.")
