"""The vote store: durability settings, uniqueness under races, export, Hub log and restore."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import threading
from pathlib import Path

import huggingface_hub
import pytest
from huggingface_hub.errors import RepositoryNotFoundError

from apex_demo.config import Settings
from apex_demo.errors import ApexError, VoteError
from apex_demo.arena.export import export_votes
from apex_demo.arena.hub_log import HUB_PATH_IN_REPO
from apex_demo.arena.records import Choice
from apex_demo.arena.hub_log import LogSeal, read_log
from apex_demo.arena.records import Battle, Refusal, VoteRefused
from apex_demo.arena.store import DB_FILENAME, SCHEMA_VERSION, VoteStore
from tests.support.arena import db_value, vote

SALT = "store-test-salt"
SEAL = LogSeal(SALT)   # what a replica with this vote salt seals its Hub log lines with


def test_schema_wal_and_idempotent_migration(tmp_path: Path) -> None:
    store = VoteStore(tmp_path / "v.db")
    assert db_value(store.path, "PRAGMA user_version") == SCHEMA_VERSION == 3
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2   # FULL
    store.add_vote(vote())
    store.close()
    again = VoteStore(tmp_path / "v.db")        # reopening migrates nothing and keeps the data
    assert db_value(again.path, "PRAGMA user_version") == 3 and again.count() == 1
    raw = sqlite3.connect(tmp_path / "v.db")
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_concurrent_first_open_is_safe(tmp_path: Path) -> None:
    errors: list[BaseException] = []

    def open_store() -> None:
        try:
            VoteStore(tmp_path / "v.db").close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert db_value(VoteStore(tmp_path / "v.db").path, "PRAGMA user_version") == SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    raw = sqlite3.connect(tmp_path / "v.db")
    raw.execute("PRAGMA user_version = 99")
    raw.close()
    with pytest.raises(VoteError, match="newer"):
        VoteStore(tmp_path / "v.db")


def test_round_trip_and_battles(tmp_path: Path) -> None:
    store = VoteStore(tmp_path / "v.db")
    battle = Battle("b1", "h" * 32, "pool", "c1", "c2", "s1", "s2", "/a.ogg", "/b.ogg", 1000.0)
    store.add_battle(battle)
    assert store.get_battle("b1") == battle and store.get_battle("nope") is None
    original = vote(model_choice=None, scores_a=None, scores_b=None, model=None)
    store.add_vote(original)
    assert store.votes() == [original]
    assert store.has_vote("b1") and not store.has_vote("b2")


def test_duplicate_vote_is_refused(tmp_path: Path) -> None:
    store = VoteStore(tmp_path / "v.db")
    store.add_vote(vote("b1", Choice.A))
    with pytest.raises(VoteRefused) as info:
        store.add_vote(vote("b1", Choice.B))
    assert info.value.reason is Refusal.ALREADY_VOTED
    assert [v.choice for v in store.votes()] == [Choice.A]


def test_racing_votes_for_one_battle_store_exactly_one(tmp_path: Path) -> None:
    store = VoteStore(tmp_path / "v.db")
    results: list[str] = []
    barrier = threading.Barrier(16)

    def cast(i: int) -> None:
        barrier.wait()
        try:
            store.add_vote(vote("same", Choice.A if i % 2 else Choice.B))
            results.append("ok")
        except VoteRefused as exc:
            results.append(exc.reason.value)

    threads = [threading.Thread(target=cast, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1 and results.count("already_voted") == 15
    assert store.count() == 1


def test_csv_export_escapes_formulas(tmp_path: Path) -> None:
    evil = vote("b1", clip_a="=HYPERLINK(\"http://x\")", clip_b="+1", system_a="-2", system_b="@SUM(A1)",
                session="\tx")
    plain = vote("b2", clip_a="normal", model_choice=None, scores_a=None, scores_b=None)
    out = io.StringIO()
    assert export_votes([evil, plain], "csv", out) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows[0]["clip_a"] == "'=HYPERLINK(\"http://x\")"
    assert (rows[0]["clip_b"], rows[0]["system_a"], rows[0]["system_b"]) == ("'+1", "'-2", "'@SUM(A1)")
    assert rows[0]["session"] == "'\tx"
    assert rows[0]["a_coherence"] == "3.5" and rows[0]["choice"] == "A"
    assert rows[1]["clip_a"] == "normal" and rows[1]["a_coherence"] == "" and rows[1]["model_choice"] == ""
    assert rows[0]["voted_at_utc"].startswith("1970-01-01T00:16:50")


def test_jsonl_export_round_trips(tmp_path: Path) -> None:
    votes = [vote("b1"), vote("b2", Choice.BOTH_BAD, model_choice=None)]
    out = io.StringIO()
    assert export_votes(votes, "jsonl", out) == 2
    assert read_log(out.getvalue().splitlines(), SEAL).votes == votes
    with pytest.raises(ApexError):
        export_votes(votes, "xlsx", io.StringIO())


def test_torn_jsonl_line_is_skipped() -> None:
    line = json.dumps(vote("b1").to_record())
    assert [v.battle_id for v in read_log([line, line[:40]], SEAL).votes] == ["b1"]


def test_a_hub_log_holds_votes_and_later_flags() -> None:
    """Flag lines (the log is append-only, so a flag set later is its own line) are read as flags, the
    first one per vote; a torn line is counted as skipped."""
    lines = [json.dumps(vote("b1").to_record()), json.dumps(vote("b2").to_record()),
             json.dumps(SEAL.seal({"record": "flag", "battle_id": "b2", "flag": "anomaly:x"})),
             json.dumps(SEAL.seal({"record": "flag", "battle_id": "b2", "flag": "anomaly:later"})), '{"record": "fl']
    read = read_log(lines, SEAL)
    assert [v.battle_id for v in read.votes] == ["b1", "b2"] and read.flags == {"b2": "anomaly:x"}
    assert dict(read.skipped) == {"not JSON (a torn line)": 1}


class FakeScheduler:
    """Stands in for huggingface_hub.CommitScheduler (no network)."""

    instances: list["FakeScheduler"] = []

    def __init__(self, **kwargs: object) -> None:
        self.kwargs = kwargs
        self.lock = threading.Lock()
        self.triggered = self.stopped = False
        FakeScheduler.instances.append(self)

    def trigger(self) -> None:
        self.triggered = True

    def stop(self) -> None:
        self.stopped = True


def hub_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", votes_repo="someone/apex-votes", hf_token="hf_test", vote_salt=SALT)


def test_hub_restore_and_append(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    remote = tmp_path / "remote"
    (remote / HUB_PATH_IN_REPO).mkdir(parents=True)
    old = [vote("old1"), vote("old2", Choice.TIE)]
    (remote / HUB_PATH_IN_REPO / "votes-aaa.jsonl").write_text(
        "".join(json.dumps(v.to_record()) + "\n" for v in old))
    (remote / HUB_PATH_IN_REPO / "votes-bbb.jsonl").write_text(json.dumps(old[0].to_record()) + "\n")
    calls: list[dict[str, object]] = []

    def fake_download(**kwargs: object) -> str:
        calls.append(kwargs)
        return str(remote)

    FakeScheduler.instances.clear()
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    monkeypatch.setattr(huggingface_hub, "CommitScheduler", FakeScheduler)
    store = VoteStore.open(hub_settings(tmp_path))
    assert sorted(v.battle_id for v in store.votes()) == ["old1", "old2"]     # duplicates merged
    assert calls[0]["repo_id"] == "someone/apex-votes" and calls[0]["repo_type"] == "dataset"
    scheduler = FakeScheduler.instances[-1]
    assert scheduler.kwargs["repo_type"] == "dataset" and scheduler.kwargs["token"] == "hf_test"

    store.add_vote(vote("new1"))
    store.add_vote(vote("new2"))
    logs = list((tmp_path / "data" / "hub_votes").glob("votes-*.jsonl"))
    assert len(logs) == 1
    assert [v.battle_id for v in read_log(logs[0].read_text().splitlines(), SEAL).votes] == ["new1", "new2"]
    store.close()
    assert scheduler.triggered and scheduler.stopped

    # A store that already has votes is not restored again (the Hub is only a backup).
    calls.clear()
    VoteStore.open(hub_settings(tmp_path)).close()
    assert calls == []


def test_hub_first_start_with_no_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(**kwargs: object) -> str:
        error = RepositoryNotFoundError.__new__(RepositoryNotFoundError)  # its __init__ wants an HTTP response
        Exception.__init__(error, "404: dataset not found")
        raise error

    monkeypatch.setattr(huggingface_hub, "snapshot_download", missing)
    monkeypatch.setattr(huggingface_hub, "CommitScheduler", FakeScheduler)
    store = VoteStore.open(hub_settings(tmp_path))
    assert store.count() == 0
    assert (tmp_path / "data" / DB_FILENAME).is_file()
    store.close()


def test_an_unreachable_hub_does_not_stop_the_start_and_the_pull_restores_later(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    remote = tmp_path / "remote"
    (remote / HUB_PATH_IN_REPO).mkdir(parents=True)
    (remote / HUB_PATH_IN_REPO / "votes-aaa.jsonl").write_text(json.dumps(vote("old1").to_record()) + "\n")
    reachable = threading.Event()

    def flaky(**kwargs: object) -> str:
        if not reachable.is_set():
            raise OSError("network is unreachable")
        return str(remote)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", flaky)
    monkeypatch.setattr(huggingface_hub, "CommitScheduler", FakeScheduler)
    store = VoteStore.open(hub_settings(tmp_path))                 # starts empty, says why
    assert store.count() == 0 and "network is unreachable" in caplog.text
    with pytest.raises(ApexError, match="APEX_VOTES_REPO") as info:  # the background pull logs this and retries
        store.pull_from_hub()
    assert info.value.code.value == "hub_unreachable"
    reachable.set()
    assert store.pull_from_hub() == 1 and [v.battle_id for v in store.votes()] == ["old1"]
    store.close()


def test_a_hub_that_cannot_take_the_log_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a writable Hub log votes would not survive a restart, so the arena says so instead of starting."""
    def refused(**kwargs: object) -> None:
        raise OSError("401 unauthorized")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda **kwargs: str(tmp_path))
    monkeypatch.setattr(huggingface_hub, "CommitScheduler", refused)
    with pytest.raises(ApexError, match="APEX_VOTES_REPO") as info:
        VoteStore.open(hub_settings(tmp_path))
    assert info.value.code.value == "hub_unreachable"


def test_votes_cli_export_and_stats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from apex_demo.cli import main

    monkeypatch.setenv("APEX_DATA_DIR", str(tmp_path / "data"))
    assert main(["votes", "stats"]) == 2                       # no store yet: an error, not a new file
    assert not (tmp_path / "data" / DB_FILENAME).exists()
    assert "APEX_DATA_DIR" in capsys.readouterr().err
    store = VoteStore(tmp_path / "data" / DB_FILENAME)
    for i in range(6):
        store.add_vote(vote(f"b{i}", Choice.A if i < 5 else Choice.B, clip_a="=cmd|' /C calc'!A0"))
    store.close()

    out = tmp_path / "out" / "votes.csv"
    assert main(["votes", "export", "--format", "csv", "--output", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 6 and rows[0]["clip_a"].startswith("'=")
    assert main(["votes", "export", "--format", "jsonl"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(line)["battle_id"] for line in lines] == [f"b{i}" for i in range(6)]

    assert main(["votes", "stats", "--min-votes", "1"]) == 0
    table = capsys.readouterr().out
    assert "votes: 6" in table and "s1" in table and "Coherence" in table
    assert main(["votes", "stats", "--format", "json", "--min-votes", "1"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["total_votes"] == 6 and stats["systems"][0]["item"] == "s1"


def test_a_full_data_disk_answers_with_the_store_unavailable_message(tmp_path: Path) -> None:
    """SQLite's own "database or disk is full" (max_page_count: what a full disk gives) becomes
    vote_store_unavailable with a message that says what to do, never OperationalError; the store
    works again once there is room."""
    from tests.support.arena import FakeClock, listen_and_vote, warm_arena

    clock = FakeClock()
    arena = warm_arena(tmp_path, clock)
    pages = arena.store._conn.execute("PRAGMA page_count").fetchone()[0]
    arena.store._conn.execute(f"PRAGMA max_page_count = {pages}")
    before = arena.store.count()
    with pytest.raises(VoteError) as info:
        for i in range(1000):
            listen_and_vote(arena, clock, session=f"s{i}")
    assert info.value.code.value == "vote_store_unavailable"
    assert "database or disk is full" in info.value.message and "APEX_DATA_DIR" in info.value.message
    assert arena.store.count() >= before                       # what was committed stays
    arena.store._conn.execute(f"PRAGMA max_page_count = {2 * pages + 1000}")
    assert listen_and_vote(arena, clock, session="after")["accepted"]
    arena.close()


def test_votes_are_imported_row_by_row(tmp_path: Path) -> None:
    """A vote the database refuses (here a model pick it cannot hold) is counted and left out; the rest go in."""
    store = VoteStore(tmp_path / "v.db")
    refused = vote("bad", model_choice=Choice.BOTH_BAD)        # the schema allows A, B or TIE only
    assert store.import_votes([vote("a"), refused, vote("b"), vote("a")]) == (2, 1)
    assert [v.battle_id for v in store.votes()] == ["a", "b"]
    store.close()
