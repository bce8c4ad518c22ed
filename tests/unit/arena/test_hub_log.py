"""The Hub vote log: every replica's file read back once, anomaly flags carried to other replicas and restores,
the refresh interval."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import huggingface_hub
import pytest

from apex_demo.arena.board import BoardRefresher, compute_board
from apex_demo.arena.export import export_votes
from tests.support.arena import FakeClock, bare_arena, stuff_votes, vote
from tests.support.hub import POISON, FakeHub, VOTES_REPO, replica

VOTES_ON_FIRST, VOTES_ON_SECOND = 3, 2


def test_background_refresh_waits_the_interval_between_ticks() -> None:
    """run() ticks at once, then waits `interval_s` (60 s by default) before each next tick."""
    ticks: list[int] = []
    waits: list[float] = []

    class StopAfter(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout)  # type: ignore[arg-type]
            if len(waits) == 3:
                self.set()
            return self.is_set()

    counts = iter(range(100))
    refresher = BoardRefresher(lambda: [], lambda: next(counts), sync=lambda: ticks.append(1) or 0)
    refresher.run(StopAfter())
    assert waits == [60.0, 60.0, 60.0] and len(ticks) == 3


def test_the_fake_hub_refuses_what_the_real_library_refuses(hub: FakeHub) -> None:
    with pytest.raises(TypeError):
        huggingface_hub.snapshot_download(repo=VOTES_REPO, repo_type="dataset")           # misspelled
    with pytest.raises(TypeError):
        huggingface_hub.CommitScheduler(VOTES_REPO, folder_path=".")                      # keyword-only


FLAG = "anomaly:s1 won all 10 votes from fresh sessions in 10 min"


def test_anomaly_flags_reach_other_replicas_and_restores(tmp_path: Path, hub: FakeHub) -> None:
    """A flag set after its vote was logged is appended to the (append-only) Hub log as a flag line, so
    a replica that pulls and a store restored from the Hub both leave the vote out; a pulled flag is
    not logged again."""
    from apex_demo.arena.store import VoteStore

    first = VoteStore.open(replica(tmp_path, "one"))
    for i in range(4):
        first.add_vote(vote(f"b{i}"))
    hub.push_all()
    second = VoteStore.open(replica(tmp_path, "two"))              # restored before any flag was set
    assert second.count() == 4 and [v for v in second.votes() if v.flag] == []
    assert first.flag_votes(["b1", "b2"], FLAG) == 2
    assert first.flag_votes(["b1"], "anomaly:another") == 0          # a vote keeps its first flag
    hub.push_all()
    assert second.pull_from_hub() == 2                               # the other replica pulls the flags...
    assert second.pull_from_hub() == 0
    third = VoteStore.open(replica(tmp_path, "three"))               # ...and a fresh store restores them
    for store in (first, second, third):
        assert {v.battle_id: v.flag for v in store.votes() if v.flag} == {"b1": FLAG, "b2": FLAG}
    hub.push_all()
    lines = [json.loads(line) for log in (hub.root / "votes").iterdir() for line in log.read_text().splitlines()]
    assert sum(line.get("record") == "flag" for line in lines) == 2  # written once, by the replica that set them
    assert sum("choice" in line for line in lines) == 4
    for store in (first, second, third):
        store.close()


def test_a_restored_arena_still_leaves_flagged_votes_out(tmp_path: Path, hub: FakeHub) -> None:
    """Stuffing from fresh addresses reporting the same listening times (coordinated), flagged by one app:
    a new app restored from the Hub counts the same votes in its leaderboard."""

    clock = FakeClock()
    hub_settings = {"votes_per_minute": 0, "votes_repo": VOTES_REPO, "hf_token": "hf_test"}
    arena = bare_arena(tmp_path / "first", clock, **hub_settings)
    arena.warm()
    favourite = arena.pool[0].system
    stuff_votes(arena, clock, favourite, sessions=40)
    counted = arena.stats(min_votes=1).total_votes
    assert counted < 40 and all(v.flag.startswith("coordinated:") for v in arena.store.votes() if v.flag)
    arena.close()                                                    # pushes the log (the fake's trigger)
    restored = bare_arena(tmp_path / "second", FakeClock(), **hub_settings)
    assert restored.store.count() == 40
    assert restored.stats(min_votes=1).total_votes == counted
    assert favourite not in [r.item for r in restored.stats(min_votes=1).systems]
    restored.close()


def test_a_poisoned_replica_log_never_stops_a_restore(tmp_path: Path, hub: FakeHub) -> None:
    """An empty store (every Space restart) restored from a dataset that also holds a poisoned replica file:
    the store opens, every valid vote comes in, each bad line is skipped and counted by reason, and a line
    cannot claim a sign-in or set a flag without the seal of a replica sharing the vote salt. The board and
    both exports then work on what came in."""
    from apex_demo.arena.store import VoteStore

    legit = VoteStore.open(replica(tmp_path, "legit"))
    legit.add_vote(vote("legit-1", signed_in=True))
    legit.add_vote(vote("legit-2"))
    legit.flag_votes(["legit-1"], "anomaly:real")
    hub.push_all()
    (hub.root / "votes" / "votes-evil.jsonl").write_bytes(b"".join(line for line, _ in POISON))
    fresh = VoteStore.open(replica(tmp_path, "fresh"))
    claims = {v.battle_id: (v.signed_in, v.flag) for v in fresh.votes()}
    assert claims == {"legit-1": (True, "anomaly:real"), "legit-2": (False, None), "e1": (False, None)}
    expected: dict[str, int] = {}
    for _, reason in POISON:
        if reason:
            expected[reason] = expected.get(reason, 0) + 1
    restored = fresh.last_restore
    assert restored is not None and dict(restored.skipped) == expected and restored.unsealed == 1
    assert (restored.files, restored.new_votes, restored.new_flags) == (2, 3, 1)
    assert compute_board(fresh.votes(), min_votes=1).stats.total_votes == 2      # legit-1 stays flagged out
    for fmt in ("csv", "jsonl"):
        assert export_votes(fresh.votes(), fmt, io.StringIO()) == 3
    assert fresh.pull_from_hub() == 0                                           # the next pull adds nothing
    for store in (legit, fresh):
        store.close()
