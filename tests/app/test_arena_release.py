"""The round trip app votes -> data release -> eval: votes cast through the running app over HTTP, exported with
`votes export --format dataset` while the app runs, and `eval` on that file reproduces the notebook's rule rows
as the test computes them itself from the database (sqlite3, sklearn) and the pool's manifest."""

from __future__ import annotations

import json
import random
import sqlite3
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from apex_demo.arena.pool import DEFAULT_POOL_DIR
from apex_demo.arena.store import DB_FILENAME
from apex_demo.cli import main
from apex_demo.config import Settings
from tests.support.app import running_app
from tests.support.fakes import FakeScorer
from tests.support.http import RestClient

VOTES = 40
NAMES = {"likes": "score_likes", "streams": "score_streams"}


def stored_battles(database: Path) -> list[dict]:
    """Decisive votes as the database holds them, read without the app's code."""
    with sqlite3.connect(database) as conn:
        rows = conn.execute("SELECT battle_id, choice, clip_a, clip_b, scores_a, scores_b FROM votes "
                            "WHERE choice IN ('A', 'B') AND flag IS NULL ORDER BY id").fetchall()
    return [{"id": r[0], "a_won": r[1] == "A", "clips": (r[2], r[3]), "a": json.loads(r[4]), "b": json.loads(r[5])}
            for r in rows]


def test_votes_cast_in_the_app_come_back_through_the_release_and_eval(tmp_path: Path, monkeypatch) -> None:
    settings = Settings(device="cpu", cache_dir=tmp_path / "cache", data_dir=tmp_path / "data", min_listen_s=0.0,
                        votes_per_minute=0, vote_salt="round-trip")
    rng = random.Random(7)
    release = tmp_path / "release" / "votes.parquet"
    with running_app(settings, load=lambda s: FakeScorer()) as (ctx, url):
        ctx.loader.wait(60)
        ctx.arena.warm()                              # what the warm-up does: every vote gets both clips' scores
        client = RestClient(url, Counter())
        for _ in range(VOTES):
            info, _, _ = client.predict("arena_new_battle")
            (reply,) = client.predict("arena_vote", info["battle_id"], rng.choice("AAB"), 1.0, 1.0)
            assert reply["accepted"], reply
        client.close()
        monkeypatch.setenv("APEX_DATA_DIR", str(settings.data_dir))
        monkeypatch.setenv("APEX_VOTE_SALT", "round-trip")
        assert main(["votes", "export", "--format", "dataset", "--output", str(release)]) == 0   # app still running
        table = tmp_path / "table.json"
        assert main(["eval", str(release), "--format", "json", "--models", "LogisticRegression",
                     "--output", str(table)]) == 0
    report = json.loads(table.read_text())

    battles = stored_battles(Path(settings.data_dir) / DB_FILENAME)
    manifest = json.loads((DEFAULT_POOL_DIR / "manifest.json").read_text())["clips"]
    instrumental = {c["id"]: c["instrumental"] for c in manifest}
    y = np.array([b["a_won"] for b in battles], dtype=int)
    assert report["battles"] == VOTES and report["decisive_battles"] == len(battles) > 10
    assert report["instrumental_battles"] == sum(instrumental[b["clips"][0]] and instrumental[b["clips"][1]]
                                                 for b in battles)
    rows = {r["model"]: r for r in report["table"]}
    for row, names in (("Likes (rule)", ("likes",)), ("Streams (rule)", ("streams",)),
                       ("Likes + Streams (rule)", ("likes", "streams"))):
        margin = np.mean([[b["b"][NAMES[n]] - b["a"][NAMES[n]] for b in battles] for n in names], axis=0)
        expected = roc_auc_score(y, 1 / (1 + np.exp(-margin / 10)))       # the notebook: lower score wins
        assert rows[row]["AUC_overall"] == pytest.approx(expected, abs=1e-12), row
