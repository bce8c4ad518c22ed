"""Vote export files: built once per store version (votes and flags) in the background, one at a time, for every
visitor who asks meanwhile; streamed from a snapshot without the store's lock, in memory that does not grow with
the votes; a failing store or a slow build answers with a message, and the next request tries again."""

from __future__ import annotations

import csv
import json
import threading
import tracemalloc
from pathlib import Path
from typing import Iterator

import pytest

from apex_demo.arena.export_files import ExportFiles
from apex_demo.arena.store import VoteStore
from apex_demo.config import Settings
from apex_demo.errors import ApexError, ErrorCode
from tests.support.arena import make_votes, vote

NAMES = {"csv": "votes.csv", "jsonl": "votes.jsonl"}
GATE_TIMEOUT_S = 60.0   # only reached when the code under test hangs


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[VoteStore]:
    store = VoteStore.open(Settings(data_dir=tmp_path / "data"))
    store.import_votes(make_votes(50, {}))
    yield store
    store.close()


@pytest.fixture()
def builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts export builds (each reads one snapshot of the store)."""
    counted: list[str] = []
    original = ExportFiles._build

    def counting(self: ExportFiles, fmt: str):  # type: ignore[no-untyped-def]
        counted.append(fmt)
        return original(self, fmt)

    monkeypatch.setattr(ExportFiles, "_build", counting)
    return counted


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.read_text(encoding="utf-8").splitlines()))


def test_one_build_per_store_version(store: VoteStore, tmp_path: Path, builds: list[str]) -> None:
    exports = ExportFiles(store, tmp_path / "exports", NAMES)
    first = exports.file("csv")
    assert first.name == "votes.csv" and len(rows(first)) == 50
    assert exports.file("csv") == first and builds == ["csv"]          # nothing changed: the same file
    jsonl = exports.file("jsonl")
    assert [json.loads(line)["battle_id"] for line in jsonl.read_text().splitlines()] == [f"b{i}" for i in range(50)]
    store.add_vote(vote("new"))
    second = exports.file("csv")                                         # a vote more: a new file
    assert second != first and len(rows(second)) == 51 and not first.exists()
    store.flag_votes(["b3"], "anomaly:test")
    flagged = exports.file("csv")                                        # a flag more: a new file too
    assert [r["flag"] for r in rows(flagged) if r["battle_id"] == "b3"] == ["anomaly:test"]
    assert builds == ["csv", "jsonl", "csv", "csv"]


def test_visitors_asking_at_once_share_one_build_that_holds_no_store_lock(
        store: VoteStore, tmp_path: Path, builds: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Eight requests while a build is held half-way: one build; votes and battles go on meanwhile (the
    store's own lock is free); all eight get the same file."""
    halfway, release = threading.Event(), threading.Event()
    original = ExportFiles._until_stopped

    def held(self: ExportFiles, votes):  # type: ignore[no-untyped-def]
        for i, one in enumerate(original(self, votes)):
            if i == 10:
                halfway.set()
                assert release.wait(GATE_TIMEOUT_S)
            yield one

    monkeypatch.setattr(ExportFiles, "_until_stopped", held)
    exports = ExportFiles(store, tmp_path / "exports", NAMES)
    paths: list[Path] = []
    visitors = [threading.Thread(target=lambda: paths.append(exports.file("csv"))) for _ in range(8)]
    for visitor in visitors:
        visitor.start()
    assert halfway.wait(GATE_TIMEOUT_S)
    store.add_vote(vote("during"))                   # needs the store's lock: free while the export streams
    assert store.count() == 51
    release.set()
    for visitor in visitors:
        visitor.join(GATE_TIMEOUT_S)
    assert builds == ["csv"] and len(paths) == 8 and len(set(paths)) == 1
    assert len(rows(paths[0])) == 50                 # one consistent snapshot, taken before the vote
    assert len(rows(exports.file("csv"))) == 51 and builds == ["csv", "csv"]


@pytest.mark.slow
def test_memory_does_not_grow_with_the_votes(tmp_path: Path) -> None:
    """The build streams: its peak Python memory is a small fraction of the file it writes (before, the
    whole export was one string beside every vote as an object: several times the file)."""
    store = VoteStore.open(Settings(data_dir=tmp_path / "data"))
    store.import_votes(make_votes(20_000, {}))
    exports = ExportFiles(store, tmp_path / "exports", NAMES)
    tracemalloc.start()
    try:
        path = exports.file("jsonl")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        store.close()
    size = path.stat().st_size
    print(f"\n20,000-vote JSONL export: {size / 1e6:.1f} MB file, peak traced memory {peak / 1e6:.2f} MB")
    assert peak < size / 4


def test_a_failing_store_or_a_slow_build_answers_with_a_message(store: VoteStore, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    exports = ExportFiles(store, tmp_path / "exports", NAMES)
    release = threading.Event()
    original = ExportFiles._until_stopped

    def slow(self: ExportFiles, votes):  # type: ignore[no-untyped-def]
        assert release.wait(GATE_TIMEOUT_S)
        yield from original(self, votes)

    monkeypatch.setattr(ExportFiles, "_until_stopped", slow)
    with pytest.raises(ApexError) as info:
        exports.file("csv", wait_s=0.0)
    assert info.value.code is ErrorCode.BUSY and "50 votes" in info.value.message
    release.set()
    assert len(rows(exports.file("csv"))) == 50      # the same build, finished in the background
    store.add_vote(vote("new"))

    def failing(self: VoteStore) -> None:
        raise ApexError("The vote store cannot be used right now (disk I/O error).", ErrorCode.VOTE_STORE_UNAVAILABLE)

    monkeypatch.setattr(VoteStore, "reader", failing)
    with pytest.raises(ApexError) as failed:
        exports.file("csv")
    assert failed.value.code is ErrorCode.VOTE_STORE_UNAVAILABLE
    monkeypatch.undo()
    assert len(rows(exports.file("csv"))) == 51      # the next request builds again
