"""CLI output guards, one for `score` and `votes export`: --output never overwrites an input (an audio file
being scored; the vote store's database, its -wal or -shm) or a recording; a folder, a full device or an
unwritable place gives a message, never a traceback."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from apex_demo.arena.store import DB_FILENAME
from apex_demo.cli import main
from apex_demo.config import Settings

GOOD = "vocadito_10.wav"
DEV_FULL = Path("/dev/full")  # Linux: every write fails with ENOSPC, as on a full disk
needs_dev_full = pytest.mark.skipif(not DEV_FULL.exists(), reason="no /dev/full on this system")


@pytest.fixture()
def song(tmp_path: Path, audio_dir: Path) -> Path:
    return Path(shutil.copy(audio_dir / GOOD, tmp_path / "x.wav"))


def _model_flags(tiny_settings) -> list[str]:
    return ["--mert", tiny_settings.mert, "--head", tiny_settings.head, "--device", "cpu", "--no-cache"]


@pytest.mark.parametrize("spelling", ["same", "dotted"])
def test_output_equal_to_an_input_is_refused_and_the_input_kept(song: Path, spelling: str, capsys) -> None:
    before = song.read_bytes()
    output = song if spelling == "same" else song.parent / "." / ".." / song.parent.name / song.name
    assert main(["score", str(song), "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert "output_unwritable" in err and "overwritten" in err and "Traceback" not in err
    assert song.read_bytes() == before


def test_output_hard_link_to_an_input_is_refused(song: Path, capsys) -> None:
    link = song.parent / "results.json"
    link.hardlink_to(song)
    before = song.read_bytes()
    assert main(["score", str(song), "--output", str(link)]) == 2
    assert song.read_bytes() == before


def test_output_folder_gets_a_message(song: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["score", str(song), "--output", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "is a folder" in err and "Traceback" not in err


@needs_dev_full
def test_full_device_gets_a_message(song: Path, tiny_settings, capsys) -> None:
    assert main(["score", str(song), "--format", "json", "--output", str(DEV_FULL), *_model_flags(tiny_settings)]) == 2
    err = capsys.readouterr().err
    assert "output_unwritable" in err and "No space left on device" in err and "Traceback" not in err


@needs_dev_full
def test_full_device_in_batch_mode_gets_a_message(song: Path, tmp_path: Path, tiny_settings, capsys) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.symlink_to(DEV_FULL)
    assert main(["score", str(song.parent), "--output", str(rows), *_model_flags(tiny_settings)]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err


# -- `votes export --output`: the same guard, with the vote store's own files as its inputs -------------
@pytest.fixture()
def vote_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A vote store with three votes under APEX_DATA_DIR, its -wal and -shm beside it (a live app's state)."""
    from apex_demo.arena.store import VoteStore
    from tests.support.arena import vote

    data = tmp_path / "data"
    store = VoteStore.open(Settings(data_dir=data))
    for i in range(3):
        store.add_vote(vote(f"b{i}"))
    store.close()
    VoteStore.open(Settings(data_dir=data))  # left open, as by a running app: -wal and -shm exist
    monkeypatch.setenv("APEX_DATA_DIR", str(data))
    return data


def _store_intact(data: Path) -> bool:
    with sqlite3.connect(str(data / DB_FILENAME)) as conn:
        return (conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                and conn.execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 3)


@pytest.mark.parametrize("target", ["database", "-wal", "-shm", "link to the database", "hard link"])
def test_votes_export_never_writes_over_the_vote_store(vote_data: Path, tmp_path: Path, target: str,
                                                       capsys) -> None:
    database = vote_data / DB_FILENAME
    output = {"database": database, "-wal": Path(f"{database}-wal"), "-shm": Path(f"{database}-shm"),
              "link to the database": tmp_path / "link.csv", "hard link": tmp_path / "hard.csv"}[target]
    if target == "link to the database":
        output.symlink_to(database)
    elif target == "hard link":
        output.hardlink_to(database)
    assert output.exists()
    assert main(["votes", "export", "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert "output_unwritable" in err and "vote store" in err and "Traceback" not in err
    assert _store_intact(vote_data)


@pytest.mark.parametrize("command", ["score", "votes"])
def test_both_commands_refuse_a_folder_and_an_audio_file(command: str, song: Path, vote_data: Path, tmp_path: Path,
                                                          capsys) -> None:
    """One guard for both: a folder, or another recording (not an input), is refused before any work."""
    other = Path(shutil.copy(song, tmp_path / "other.wav"))
    before = other.read_bytes()
    args = ["score", str(song)] if command == "score" else ["votes", "export"]
    for output, said in ((tmp_path, "is a folder"), (other, "named like an audio file")):
        assert main([*args, "--output", str(output)]) == 2
        err = capsys.readouterr().err
        assert "output_unwritable" in err and said in err and "Traceback" not in err
    assert other.read_bytes() == before


@needs_dev_full
def test_votes_export_to_a_full_or_unwritable_place_gets_a_message(vote_data: Path, tmp_path: Path,
                                                                   capsys) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for output, said in ((DEV_FULL, "No space left on device"), (blocker / "votes.csv", "Could not write")):
        assert main(["votes", "export", "--output", str(output)]) == 2
        err = capsys.readouterr().err
        assert "output_unwritable" in err and said in err and "Traceback" not in err
    assert main(["votes", "export", "--output", str(tmp_path / "ok" / "votes.csv")]) == 0   # and a good one works
    assert len((tmp_path / "ok" / "votes.csv").read_text().splitlines()) == 4
