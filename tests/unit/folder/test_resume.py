"""What a results file counts as done: the same bytes (sha256) scored by the same model, or, for rows
without a hash, the same path; one row per file per run; the model fingerprint follows the settings
that change the numbers and nothing else."""

from __future__ import annotations

import json
import math
from pathlib import Path

from apex_demo.config import Settings
from apex_demo.folder import results_file
from apex_demo.folder.identity import model_identity
from apex_demo.folder.results_file import SKIPPED, Done, write_records

SHA_A, SHA_B = "a" * 64, "b" * 64


def test_done_by_content_for_this_model_and_by_path_for_rows_without_a_hash(tmp_path: Path) -> None:
    rows = [{"file": "old/a.wav", "sha256": SHA_A, "model_id": "m1"},
            {"file": "b.wav", "sha256": SHA_B, "model_id": "m2"},           # another model: not done for m1
            {"file": "gone.wav", "sha256": "", "model_id": "m1"},            # unreadable: done by its path
            {"file": "legacy.wav", "sha256": math.nan, "model_id": math.nan}]  # a parquet row of an older version
    done = Done.of(rows, "m1")
    assert done.contents == frozenset({SHA_A})
    assert done.todo(["new/a.wav", "b.wav", "gone.wav", "legacy.wav", str(Path("gone.wav").resolve())]) == [
        "new/a.wav", "b.wav"]  # a.wav moved: handed over, the engine skips it by its hash


def test_markers_are_counted_not_written_and_a_repeated_record_is_written_once(tmp_path: Path) -> None:
    out = tmp_path / "rows.jsonl"
    seen_done: list[frozenset[str]] = []
    scored = {"file": "x.wav", "sha256": SHA_B, "duration_s": 1.0, "scores": {"coherence": 3.0},
              "segments": [{}], "model": {"mode": "exact"}}

    def engine(todo: list[str], done: frozenset[str]):
        seen_done.append(done)
        yield {"file": "a.wav", "sha256": SHA_A, SKIPPED: True}
        yield scored
        yield scored  # a Ray call retried after its worker died hands the same song over again

    out.write_text(json.dumps({"file": "old.wav", "sha256": SHA_A, "model_id": "m1"}) + "\n")
    summary = write_records(["a.wav", "x.wav"], out, engine, "m1")
    assert seen_done == [frozenset({SHA_A})]
    assert (summary.scored, summary.failed, summary.skipped) == (1, 0, 1)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["file"], r["sha256"], r["model_id"]) for r in rows] == [("old.wav", SHA_A, "m1"),
                                                                       ("x.wav", SHA_B, "m1")]
    assert rows[1]["coherence"] == 3.0
    assert results_file.row_columns()[-2:] == ["sha256", "model_id"]


def test_the_model_fingerprint_follows_what_changes_the_numbers(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "mert").mkdir()
    monkeypatch.chdir(tmp_path)
    base = Settings(mert="mert", head="amaai-lab/apex", device="cpu")
    same = [base.with_overrides(device="cuda"), base.with_overrides(mert=str(tmp_path / "mert")),
            base.with_overrides(batch_size=8, max_seconds=60.0)]
    other = [base.with_overrides(head="amaai-lab/apex-v2"), base.with_overrides(head_revision="abc123"),
             base.with_overrides(mert_revision="abc123"), base.with_overrides(head_file="models/best_model.pt"),
             base.with_overrides(fast=True), base.with_overrides(precision="bf16")]
    ident = model_identity(base)
    assert len(ident) == 16 and int(ident, 16) >= 0
    assert [model_identity(s) for s in same] == [ident] * len(same)
    assert len({ident, *(model_identity(s) for s in other)}) == len(other) + 1
