"""The battle pool: the bundled clips are licensed and labelled, folders and CSV manifests load, too few clips is
a clear error, pairs are drawn from two systems."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from apex_demo.arena.pool import DEFAULT_POOL_DIR
from apex_demo.arena.pool import load_pool
from apex_demo.errors import ApexError, ErrorCode
from tests.support.arena import pool_copy


# -- pool ----------------------------------------------------------------------------------
def test_bundled_pool_is_openly_licensed_and_labelled() -> None:
    clips = load_pool()
    assert len(clips) >= 6 and all(c.path.is_file() for c in clips)
    assert all(c.path.parent == DEFAULT_POOL_DIR for c in clips)
    assert not any("NC" in c.licence for c in clips)
    assert all(c.licence.startswith(("CC0", "CC BY", "Public Domain")) and c.attribution for c in clips)
    assert len({c.system for c in clips}) >= 5
    note = json.loads((DEFAULT_POOL_DIR / "manifest.json").read_text())["note"]
    assert "APEX_ARENA_POOL" in note and "NOT AI-generated" in note
    total = sum(p.stat().st_size for p in DEFAULT_POOL_DIR.iterdir())
    assert total < 3_000_000


def test_pool_from_folder_of_systems_and_csv_manifest(tmp_path: Path) -> None:
    src = sorted(DEFAULT_POOL_DIR.glob("*.ogg"))
    for system, path in zip(["gen-x", "gen-x", "gen-y"], src):
        (tmp_path / "folder" / system).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, tmp_path / "folder" / system / path.name)
    clips = load_pool(str(tmp_path / "folder"))
    assert sorted(c.system for c in clips) == ["gen-x", "gen-x", "gen-y"]

    (tmp_path / "csvpool").mkdir()
    for path in src[:2]:
        shutil.copy(path, tmp_path / "csvpool" / path.name)
    (tmp_path / "csvpool" / "manifest.csv").write_text(
        "id,file,system,instrumental,prompt,licence,attribution\n"
        f"one,{src[0].name},sysA,true,p1,CC0,me\ntwo,{src[1].name},sysB,no,p2,CC0,me\n")
    clips = load_pool(str(tmp_path / "csvpool"))
    assert [(c.clip_id, c.system, c.instrumental) for c in clips] == [("one", "sysA", True), ("two", "sysB", False)]


UNUSABLE_ENTRIES = [{"file": "garzul_loop.ogg\u0000x", "system": "x"},          # a NUL byte in the name
                    {"file": "garzul_loop.ogg", "system": "x", "prompt": "p" * 5000},  # an over-long field
                    {"file": "a" * 5000 + ".ogg", "system": "x"},                 # an over-long name
                    {"file": "garzul_loop.ogg"}, {"system": "x"}, {"file": None, "system": "x"},
                    5, "garzul_loop.ogg", None, ["garzul_loop.ogg", "x"]]


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_an_unusable_manifest_entry_is_skipped_with_a_log_line(tmp_path: Path, fmt: str,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """One bad entry (a NUL byte in the file name, a field of the wrong kind or length) never stops
    the pool from loading: it is refused with a log line, and the good entries load."""
    pool = pool_copy(tmp_path / "pool")
    manifest = json.loads((pool / "manifest.json").read_text())
    if fmt == "json":
        manifest["clips"] += UNUSABLE_ENTRIES
        (pool / "manifest.json").write_text(json.dumps(manifest))
        refused_expected = len(UNUSABLE_ENTRIES)
    else:
        (pool / "manifest.json").unlink()
        rows = [(c["id"], c["file"], c["system"]) for c in manifest["clips"]] + [("nul", "garzul_loop.ogg\0x", "x")]
        (pool / "manifest.csv").write_text("id,file,system\n" + "".join(f"{i},{f},{s}\n" for i, f, s in rows))
        refused_expected = 1
    with caplog.at_level(logging.WARNING, logger="apex_demo.arena.pool"):
        clips = load_pool(str(pool))
    assert sorted(c.clip_id for c in clips) == ["garzul_loop", "sorohanro_solo_trumpet_06"]
    assert sum("refused" in r.getMessage() for r in caplog.records) == refused_expected


def test_pool_with_too_few_clips_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "one").mkdir()
    shutil.copy(next(DEFAULT_POOL_DIR.glob("*.ogg")), tmp_path / "one" / "a.ogg")
    with pytest.raises(ApexError) as info:
        load_pool(str(tmp_path / "one"))
    assert info.value.code is ErrorCode.ARENA_EMPTY
    with pytest.raises(ApexError):
        load_pool(str(tmp_path / "does-not-exist"))


# -- battles and sessions ------------------------------------------------------------------


# -- a good vote ---------------------------------------------------------------------------


# -- abuse: each refused with its reason, nothing stored -----------------------------------


# -- the page's helpers ----------------------------------------------------------------------


