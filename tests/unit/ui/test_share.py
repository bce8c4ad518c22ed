"""Share links, without an app: a result comes back by its id and only by it (no path gets through), ids
cannot be guessed (128 random bits), nothing but the record and the vocals answer is kept, and kept
results expire and stay bounded in number."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from apex_demo.ui.share import SharedResults

RECORD = {"file": "take 3.wav", "scores": {"score_streams": 50.0}}


def test_a_shared_result_comes_back_by_its_id_and_only_by_it(tmp_path: Path) -> None:
    shared = SharedResults(tmp_path / "shared")
    ids = {shared.save(RECORD, False) for _ in range(50)}
    assert len(ids) == 50 and all(len(i) == 22 for i in ids)  # 16 random bytes, URL-safe base64: 128 bits
    one = next(iter(ids))
    assert shared.load(one) == (RECORD, False)
    kept = json.loads((tmp_path / "shared" / f"{one}.json").read_text())
    assert set(kept) == {"record", "vocals", "saved"}  # the record and the answer about vocals: no audio, no path
    (tmp_path / "secret.json").write_text(json.dumps({"record": {"file": "someone else's"}, "vocals": None}))
    for bad in ("", "../secret", "../../etc/passwd", one[:-1], one + "x", one.replace(one[0], "/"), "a" * 21 + "."):
        assert shared.load(bad) is None, bad  # only ids of the issued form are looked up: no path gets through
    assert shared.load("A" * 22) is None  # well formed, never issued


def test_shared_results_expire_and_stay_bounded(tmp_path: Path) -> None:
    shared = SharedResults(tmp_path / "shared", max_count=3, max_age_s=3600.0)
    old = shared.save(RECORD, None)
    long_ago = time.time() - 7200
    os.utime(tmp_path / "shared" / f"{old}.json", (long_ago, long_ago))
    assert shared.load(old) is None  # expired: not served
    newer = [shared.save(RECORD, None) for _ in range(3)]  # the expired one was dropped to make room
    recent = time.time() - 100
    for index, share_id in enumerate(newer):  # distinct ages, oldest first, without waiting for the clock
        os.utime(tmp_path / "shared" / f"{share_id}.json", (recent + index, recent + index))
    latest = shared.save(RECORD, None)
    files = {p.stem for p in (tmp_path / "shared").glob("*.json")}
    assert files == {newer[1], newer[2], latest}  # at most 3: the oldest went first
