"""The arena's rules against an attacker, without a running app: the pool stays in its folder, limits bind per
address, and the small guards (bad database, pruning, votes never running the model) hold."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Mapping

import numpy as np
import pytest
import soundfile as sf

from apex_demo.arena.pool import DEFAULT_POOL_DIR
from apex_demo.arena.pool import load_pool
from apex_demo.arena.records import Visitor
from apex_demo.arena.rules import BATTLE_TTL_S
from apex_demo.arena.service import PRUNE_EVERY_S, build_arena
from apex_demo.config import Settings
from apex_demo.errors import AudioError, ErrorCode, VoteError
from apex_demo.arena.records import VoteRefused
from apex_demo.arena.store import DB_FILENAME, VoteStore
from tests.support.arena import bare_arena, db_value, fake_scores, FakeClock, pool_copy
from tests.support.hub import pool_download


# -- the pool resolves inside its folder ---------------------------------------------
def test_manifest_entries_outside_the_pool_are_refused_and_the_rest_load(tmp_path: Path,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    pool = pool_copy(tmp_path / "pool")
    outside = tmp_path / "outside.ogg"
    shutil.copy(DEFAULT_POOL_DIR / "vocadito_10.ogg", outside)
    (pool / "link.ogg").symlink_to(outside)                     # a link out of the pool
    (pool / "folder.ogg").mkdir()                                 # not a regular file
    (pool / "notes.ogg").write_text("not audio")                  # an audio name, not audio
    manifest = json.loads((pool / "manifest.json").read_text())
    manifest["clips"] += [{"id": "environ", "file": "../../../../proc/self/environ", "system": "x"},
                          {"id": "link", "file": "link.ogg", "system": "x"},
                          {"id": "manifest", "file": "manifest.json", "system": "x"},
                          {"id": "folder", "file": "folder.ogg", "system": "x"},
                          {"id": "notes", "file": "notes.ogg", "system": "x"},
                          {"id": "passwd", "file": "/etc/passwd", "system": "x"}]
    (pool / "manifest.json").write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING, logger="apex_demo.arena.service"):
        clips = load_pool(str(pool))
    assert sorted(c.clip_id for c in clips) == ["garzul_loop", "sorohanro_solo_trumpet_06"]
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 6
    assert any("proc/self/environ" in m and "outside the pool folder" in m for m in refused)

    (pool / "manifest.json").unlink()                             # the folder scan: same rule
    scanned = load_pool(str(pool))
    assert sorted(c.path.name for c in scanned) == ["garzul_loop.ogg", "sorohanro_solo_trumpet_06.ogg"]


def test_a_hub_pool_is_copied_into_a_private_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub
    from huggingface_hub import constants

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", pool_download(pool_copy(tmp_path / "hub"), calls))
    settings = Settings(data_dir=tmp_path / "data", arena_pool="org/pool", vote_salt="s")
    arena = build_arena(settings, score_fn=fake_scores)
    try:
        assert [c["repo_id"] for c in calls] == ["org/pool"] and calls[0]["repo_type"] == "dataset"
        private = (tmp_path / "data").resolve()
        assert all(c.path.is_relative_to(private) for c in arena.pool)
        assert not any(c.path.is_relative_to(Path(constants.HF_HUB_CACHE).resolve()) for c in arena.pool)
    finally:
        arena.close()


# -- blind to scripts ------------------------------------------------------------------


# -- limits key on the address; signed-in only; anomaly check -------------------------


def test_client_address_is_the_hop_the_trusted_proxy_appended() -> None:
    """A client may write any X-Forwarded-For of its own; each trusted proxy appends the address it saw, so
    the client is the hop the outermost trusted proxy appended (the last one for the single Spaces proxy)."""
    from starlette.datastructures import Headers

    from apex_demo.ui.arena_host import address_of

    planted = SimpleNamespace(headers={"x-forwarded-for": "203.0.113.66, 198.51.100.7"},  # planted, then appended
                              client=SimpleNamespace(host="10.0.0.2"))
    assert address_of(planted, Settings()) == "10.0.0.2"                        # not behind a proxy: the peer
    assert address_of(planted, Settings(behind_proxy=True)) == "198.51.100.7"  # never the planted first hop
    two_proxies = SimpleNamespace(headers={"x-forwarded-for": "203.0.113.66, 198.51.100.7, 10.1.1.1"},
                                  client=SimpleNamespace(host="10.0.0.2"))
    assert address_of(two_proxies, Settings(behind_proxy=True, proxy_hops=2)) == "198.51.100.7"
    short = SimpleNamespace(headers={"x-forwarded-for": "198.51.100.7"}, client=SimpleNamespace(host="10.0.0.2"))
    assert address_of(short, Settings(behind_proxy=True, proxy_hops=2)) == "198.51.100.7"  # every hop trusted
    lines = Headers(raw=[(b"x-forwarded-for", b"203.0.113.66"), (b"x-forwarded-for", b"198.51.100.7")])
    assert address_of(SimpleNamespace(headers=lines, client=None), Settings(behind_proxy=True)) == "198.51.100.7"
    bare = SimpleNamespace(headers={}, client=SimpleNamespace(host="10.0.0.2"))
    assert address_of(bare, Settings(behind_proxy=True)) == "10.0.0.2"
    assert Settings.from_env({"SPACE_ID": "org/app"}).trusted_hops == 1
    assert Settings.from_env({"APEX_BEHIND_PROXY": "1", "APEX_PROXY_HOPS": "2"}).trusted_hops == 2
    assert Settings.from_env({"APEX_PROXY_HOPS": "2"}).trusted_hops == 0          # only behind a proxy
    assert Settings.from_env({}).behind_proxy is False


def test_new_sessions_from_one_address_share_its_limit(tmp_path: Path) -> None:
    clock = FakeClock()
    arena = bare_arena(tmp_path, clock, votes_per_minute=2)       # 4 battles a minute per address
    address = "203.0.113.9"
    for i in range(4):
        arena.new_battle(Visitor(session=f"fresh-{i}", address=address))
    with pytest.raises(VoteRefused) as info:
        arena.new_battle(Visitor(session="yet-another", address=address))
    assert info.value.reason.value == "rate_limited"
    arena.new_battle(Visitor(session="fresh-0", address="203.0.113.10"))     # another address is not held back
    battle = arena.new_battle(Visitor(session="u", user="alice", address=address))  # a signed-in user is
    clock.advance(6)
    arena.vote(Visitor(session="u", user="alice", address=address), battle.battle_id, "A", 6, 6)
    arena.close()
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").iterdir() if p.is_file())
    assert address.encode() not in stored and b"alice" not in stored


def test_only_signed_in_votes_count_when_so_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture) -> None:
    from apex_demo.cli import main

    clock = FakeClock()
    arena = bare_arena(tmp_path, clock, arena_signed_in_only=True)
    arena.warm()
    for visitor in (Visitor("s1", user="alice"), Visitor("s2", address="198.51.100.1"), Visitor("s3")):
        battle = arena.new_battle(visitor)
        clock.advance(6)
        arena.vote(visitor, battle.battle_id, "A", 6, 6)
    assert arena.store.count() == 3 and arena.stats(min_votes=1).total_votes == 1
    arena.close()
    monkeypatch.setenv("APEX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("APEX_ARENA_SIGNED_IN_ONLY", "1")
    assert main(["votes", "stats", "--format", "json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["total_votes"] == 1 and stats["excluded"]["not_signed_in"] == 2


# -- a bad database, listening time, pruning, votes never run the model -----------
def _corrupt(data: Path) -> None:
    data.mkdir(parents=True)
    (data / DB_FILENAME).write_bytes(b"this is not an SQLite database" * 100)


def _db_is_a_folder(data: Path) -> None:
    (data / DB_FILENAME).mkdir(parents=True)


@pytest.mark.parametrize("damage", [_corrupt, _db_is_a_folder])
def test_a_bad_vote_database_is_a_clear_error(tmp_path: Path, damage) -> None:
    damage(tmp_path / "data")
    with pytest.raises(VoteError) as info:
        VoteStore.open(Settings(data_dir=tmp_path / "data"))
    assert info.value.code is ErrorCode.VOTE_STORE_UNAVAILABLE and "APEX_DATA_DIR" in info.value.message
    assert str(tmp_path) not in info.value.message                          # shown to visitors: no server path
    (tmp_path / "plain-file").write_text("x")
    with pytest.raises(VoteError) as info:                                # an unwritable folder, too
        VoteStore.open(Settings(data_dir=tmp_path / "plain-file" / "data"))
    assert str(tmp_path) not in info.value.message


def test_expired_battles_are_pruned(tmp_path: Path) -> None:
    clock = FakeClock()
    arena = bare_arena(tmp_path, clock)
    old = arena.new_battle("s1")
    clock.advance(BATTLE_TTL_S + PRUNE_EVERY_S + 1)
    arena.new_battle("s1")
    assert db_value(arena.store.path, "SELECT COUNT(*) FROM battles") == 1 and arena.store.get_battle(old.battle_id) is None
    with pytest.raises(VoteRefused) as info:
        arena.vote("s1", old.battle_id, "A", 6, 6)
    assert info.value.reason.value == "unknown_battle"
    arena.close()


def test_a_vote_never_runs_the_model(tmp_path: Path) -> None:
    calls: list[Path] = []

    def counting(path: Path) -> Mapping[str, float]:
        calls.append(path)
        return fake_scores(path)

    clock = FakeClock()
    arena = bare_arena(tmp_path, clock, score_fn=counting)
    battle = arena.new_battle("s1")
    clock.advance(6)
    assert arena.vote("s1", battle.battle_id, "A", 6, 6)["model_choice"] is None and calls == []
    assert arena.warm() == len(arena.pool) == len(calls)                  # the warm-up runs it, once per clip
    battle = arena.new_battle("s1")
    clock.advance(6)
    assert arena.vote("s1", battle.battle_id, "A", 6, 6)["model_choice"] in ("A", "B")
    assert len(calls) == len(arena.pool)
    arena.close()


def test_an_upload_battle_longer_than_the_limit_is_refused_from_the_header(tmp_path: Path) -> None:
    """Blind copies decode the takes: the upload limit applies before any decoding."""
    clock = FakeClock()
    arena = bare_arena(tmp_path, clock, max_seconds=2.0)
    takes = []
    for i, seconds in enumerate((1.0, 3.0)):
        path = tmp_path / f"take{i}.wav"
        sf.write(str(path), np.zeros(int(8000 * seconds), dtype="float32"), 8000)
        takes.append(path)
    battle = arena.new_upload_battle("s1", *takes)
    with pytest.raises(AudioError) as info:
        arena.blind_copies(battle)
    assert info.value.code is ErrorCode.TOO_LONG and "take1.wav" in info.value.message
    arena.close()


