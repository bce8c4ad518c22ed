"""The data release: `votes export --format dataset` writes the schema docs/arena-data.md documents (read back by
pyarrow), names nobody, pushes to a Hub dataset when asked (a fake bound to huggingface_hub's signatures), and
`eval` reads it to the same table as a csv of the same battles."""

from __future__ import annotations

import csv
import json
import re
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from apex_demo.arena.paper_table import KEY_OF_NAME, LOGREG
from apex_demo.arena.records import Choice, Vote
from apex_demo.arena.store import DB_FILENAME, VoteStore
from apex_demo.cli import main
from tests.support import REPO
from tests.support.hub import FakeDatasetRepos

DOC = REPO / "docs" / "arena-data.md"
ARROW_TYPES = {"string": pa.string(), "bool": pa.bool_(), "float64": pa.float64(),
               "timestamp": pa.timestamp("ms", tz="UTC")}
SALT = "release-test-salt"


def documented_schema() -> list[tuple[str, pa.DataType]]:
    """The schema table of docs/arena-data.md, as (column, Arrow type)."""
    rows = re.findall(r"^\| `([a-z_]+)` \| (\w+) \|", DOC.read_text(), flags=re.MULTILINE)
    return [(name, ARROW_TYPES[kind]) for name, kind in rows]


def scores(likes: float, streams: float, coherence: float = 3.0) -> dict[str, float]:
    values = {key: 3.0 for key in KEY_OF_NAME.values()}
    values.update(score_likes=likes, score_streams=streams, coherence=coherence)
    return values


def votes() -> list[Vote]:
    """Six pool battles from three clients, one flagged, and a bring-your-own pair."""
    rows = [("A", True, 40, 60, 50, 50), ("B", True, 70, 50, 30, 60), ("A", False, 55, 50, 60, 20),
            ("B", False, 50, 60, 80, 70), ("A", None, 52, 48, 40, 45), ("TIE", True, 10, 90, 10, 90)]
    made = [Vote(f"battle-{i}", Choice(pref), f"session{i % 2:>031}", "pool", f"clip{i}a", f"clip{i}b", "sys1",
                 "sys2", 6.5 + i, 7.25, 1_700_000_000.0 + 60 * i, 1_700_000_020.5 + 60 * i, Choice.B,
                 scores(la, sa), scores(lb, sb), "mert+head", client=f"client{i % 3:>031}", instrumental=kind,
                 model_rule="fixed")
            for i, (pref, kind, la, lb, sa, sb) in enumerate(rows)]
    made.append(replace(made[0], battle_id="battle-flagged", flag="stuffing: sys1 won 20 of 21"))
    made.append(Vote("battle-upload", Choice.A, "s" * 32, "upload", "upload-0123456789abcdef", "upload-fedcba9876543210",
                     "your take 1", "your take 2", 8.0, 9.0, 1_700_001_000.0, 1_700_001_030.0,
                     client="client0".rjust(32, "0")))
    return made


@pytest.fixture()
def release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[Vote]]:
    made = votes()
    store = VoteStore(tmp_path / "data" / DB_FILENAME)
    store.import_votes(made)
    store.close()
    monkeypatch.setenv("APEX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("APEX_VOTE_SALT", SALT)
    out = tmp_path / "out" / "votes.parquet"
    assert main(["votes", "export", "--format", "dataset", "--output", str(out)]) == 0
    return out, made


def test_the_release_has_the_documented_schema_and_the_stored_values(release) -> None:
    path, made = release
    table = pq.read_table(path)
    assert [(f.name, f.type) for f in table.schema] == documented_schema()
    rows = {r["battle_uuid"]: r for r in table.to_pylist()}
    assert set(rows) == {v.battle_id for v in made}
    for vote in made:
        row = rows[vote.battle_id]
        assert row["user_preference"] == vote.choice.value and row["is_instrumental"] is vote.instrumental
        assert (row["listen_time_a_s"], row["listen_time_b_s"]) == (vote.listened_a_s, vote.listened_b_s)
        assert row["voted_at"].timestamp() == pytest.approx(vote.voted_at, abs=1e-3)
        assert row["served_at"].utcoffset().total_seconds() == 0
        for name, key in KEY_OF_NAME.items():
            assert row[f"pred_{name}_a"] == (vote.scores_a or {}).get(key)
            assert row[f"pred_{name}_b"] == (vote.scores_b or {}).get(key)
        assert row["left_out"] == vote.flag
        assert row["model_preference"] == (vote.model_choice.value if vote.model_choice else None)
        assert row["model_rule"] == (vote.model_rule if vote.model_choice else None)


def test_the_release_names_nobody(release) -> None:
    """Voters are release-only pseudonyms: one per stored client, none equal to a key the store keeps;
    an uploaded take's file hash is replaced too."""
    path, made = release
    rows = {r["battle_uuid"]: r for r in pq.read_table(path).to_pylist()}
    by_client: dict[str, set[str]] = {}
    for vote in made:
        by_client.setdefault(vote.client or "", set()).add(rows[vote.battle_id]["voter"])
    assert all(len(pseudonyms) == 1 for pseudonyms in by_client.values())
    assert len({p for ps in by_client.values() for p in ps}) == len(by_client)
    body = path.read_bytes()
    for vote in made:
        for kept in (vote.client, vote.session):
            assert kept is None or kept.encode() not in body
    upload = rows["battle-upload"]
    assert upload["clip_a"].startswith("upload-") and upload["clip_a"] != "upload-0123456789abcdef"
    assert b"0123456789abcdef" not in body


def test_eval_reads_the_release_as_it_reads_a_csv_of_the_same_battles(release, tmp_path: Path, capsys) -> None:
    """The notebook's table from the Parquet release equals the table from a csv the test writes itself
    from the same votes (notebook columns; the flagged vote left out, as eval leaves it out)."""
    path, made = release
    as_csv = tmp_path / "same.csv"
    with as_csv.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["battle_uuid", "user_preference", "is_instrumental",
                         *[f"pred_{n}_{s}" for n in KEY_OF_NAME for s in "ab"]])
        for v in made:
            if v.flag is None and v.scores_a:
                writer.writerow([v.battle_id, v.choice.value, "true" if v.instrumental else "false",
                                 *[(v.scores_a if s == "a" else v.scores_b)[key]  # type: ignore[index]
                                   for key in KEY_OF_NAME.values() for s in "ab"]])
    reports = []
    for source in (path, as_csv):
        assert main(["eval", str(source), "--format", "json", "--models", LOGREG]) == 0
        reports.append(json.loads(capsys.readouterr().out))
    assert reports[0]["table"] == reports[1]["table"] and reports[0]["decisive_battles"] == 5
    assert any(s["battle_uuid"] == "battle-flagged" and "stuffing" in s["why"] for s in reports[0]["skipped_battles"])


def test_the_release_is_pushed_to_a_hub_dataset_when_asked(release, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    repos = FakeDatasetRepos(tmp_path / "hub")
    monkeypatch.setattr(huggingface_hub, "create_repo", repos.create_repo)
    monkeypatch.setattr(huggingface_hub, "upload_file", repos.upload_file)
    out = tmp_path / "pushed.parquet"
    assert main(["votes", "export", "--format", "dataset", "--output", str(out), "--push-to", "team/arena-votes"]) == 0
    assert repos.created[0]["repo_type"] == "dataset" and repos.created[0]["private"] is True
    pushed = tmp_path / "hub" / "team" / "arena-votes"
    assert pq.read_table(pushed / "data" / "votes.parquet").num_rows == len(release[1])
    card = (pushed / "README.md").read_text()
    assert all(f"`{name}`" in card for name, _ in documented_schema())


def test_a_release_needs_a_parquet_output(release, tmp_path: Path, capsys) -> None:
    assert main(["votes", "export", "--format", "dataset"]) == 2
    assert "--output FILE.parquet" in capsys.readouterr().err
    assert main(["votes", "export", "--format", "dataset", "--output", str(tmp_path / "votes.csv")]) == 2
    assert not (tmp_path / "votes.csv").exists()
