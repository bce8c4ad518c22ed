"""Several app replicas sharing one APEX_VOTES_REPO: each appends its own JSONL, every replica's
leaderboard and `votes stats` count all votes once (by battle id) and say how many came from elsewhere.

The Hub is a local folder behind fakes of huggingface_hub.CommitScheduler and snapshot_download
that accept exactly the real functions' signatures (inspect.signature(...).bind), so a misspelled or
misplaced argument in the app fails here as it would against the real library."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gradio_client import Client

from tests.support.app import running_app
from tests.support.fakes import FakeScorer
from tests.support.hub import POISON, FakeHub, replica

VOTES_ON_FIRST, VOTES_ON_SECOND = 3, 2


def cast_votes(url: str, count: int) -> list[str]:
    client = Client(url, verbose=False, download_files=False)
    ids = []
    for _ in range(count):
        info, _, _ = client.predict(api_name="/arena_new_battle")
        reply = client.predict(info["battle_id"], "A", 1.0, 1.0, api_name="/arena_vote")
        assert reply["accepted"], reply
        ids.append(info["battle_id"])
    client.close()
    return ids


def test_two_replicas_see_all_votes_once(tmp_path: Path, hub: FakeHub, monkeypatch: pytest.MonkeyPatch,
                                         capsys) -> None:
    load = lambda s: FakeScorer()  # noqa: E731
    with running_app(replica(tmp_path, "one"), load=load) as (ctx1, url1), \
            running_app(replica(tmp_path, "two"), load=load) as (ctx2, url2):
        first = cast_votes(url1, VOTES_ON_FIRST)
        second = cast_votes(url2, VOTES_ON_SECOND)
        hub.push_all()
        logs = sorted(p.name for p in (hub.root / "votes").iterdir())
        assert len(logs) == 2 and all(n.startswith("votes-") and n.endswith(".jsonl") for n in logs)

        # What each replica's background thread does once a minute: pull, then recompute.
        for ctx in (ctx1, ctx2):
            ctx.arena.board.tick()
        board1, board2 = ctx1.arena.board.latest(), ctx2.arena.board.latest()
        assert board1.votes == board2.votes == VOTES_ON_FIRST + VOTES_ON_SECOND
        assert (board1.remote_votes, board2.remote_votes) == (VOTES_ON_SECOND, VOTES_ON_FIRST)
        stats = Client(url1, verbose=False, download_files=False).predict(api_name="/arena_stats")
        assert stats["total_votes"] == 5 and stats["votes_from_elsewhere"] == VOTES_ON_SECOND
        assert {v.battle_id for v in ctx1.arena.store.votes()} == set(first + second)

        # A line seen twice (a re-upload, or the same vote in two files) still counts once.
        log = next((hub.root / "votes").iterdir())
        duplicate = log.read_text().splitlines()[0]
        (hub.root / "votes" / "votes-copy.jsonl").write_text(duplicate + "\n")
        assert ctx1.arena.board.tick() is None            # nothing new: no recomputation
        assert ctx1.arena.store.count() == 5

        monkeypatch.setenv("APEX_DATA_DIR", str(tmp_path / "two"))
        from apex_demo.cli import main

        assert main(["votes", "stats", "--format", "json"]) == 0
        report = json.loads(capsys.readouterr().out)
        assert report["total_votes"] == 5 and report["votes_from_elsewhere"] == VOTES_ON_FIRST
        from apex_demo.ui.tabs import leaderboard as leaderboard_tab

        line = leaderboard_tab.summary_markdown(board2)
        assert f"{VOTES_ON_FIRST} of them from other replicas" in line




def test_a_poisoned_replica_log_never_stops_the_app(tmp_path: Path, hub: FakeHub) -> None:
    """An empty replica (every Space restart) starts from a dataset that also holds a poisoned replica file
    (non-UTF-8 bytes, a list where a number belongs, a 100 KB line, unsealed claims): the app serves, the
    arena is there, and its statistics count the valid votes (over HTTP)."""
    from apex_demo.arena.store import VoteStore
    from tests.support.arena import vote

    legit = VoteStore.open(replica(tmp_path, "legit"))
    for i in range(3):
        legit.add_vote(vote(f"legit-{i}"))
    legit.close()                                          # pushes its log
    (hub.root / "votes" / "votes-evil.jsonl").write_bytes(b"".join(line for line, _ in POISON))
    with running_app(replica(tmp_path, "fresh"), load=lambda s: FakeScorer()) as (ctx, url):
        assert ctx.arena is not None and ctx.arena.store.count() == 4        # 3 valid + 1 unsealed, kept unsigned
        stats = Client(url, verbose=False, download_files=False).predict(api_name="/arena_stats")
        assert stats["total_votes"] == 4 and stats["votes_from_elsewhere"] == 4
