"""CLI output guards: --output never overwrites an input; a folder or a full device gives a message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from apex_demo.cli import main

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
