"""The real app's arena API under load, over loopback HTTP with gradio_client.

50 clients (each its own gradio session, over Gradio's plain HTTP API) play 20
battles each, concurrently, then try a replayed id, a forged id and a bad choice. The model is a stand-in scorer (the
load is on the vote path, not on MERT), min_listen_s is 0 so nobody sleeps.
Afterwards the store must hold exactly the 1000 accepted votes, no duplicates,
and every refusal must carry the expected reason.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote

import pytest
from gradio_client import Client

from apex_demo.config import Settings
from apex_demo.ui.context import AppContext
from apex_demo.arena.store import DB_FILENAME
from tests.support.app import running_app
from tests.support.fakes import FakeScorer
from tests.support.arena import db_value
from tests.support.http import RestClient
from tests.support import REPO

CLIENTS = 50
BATTLES_PER_CLIENT = 20


@contextlib.contextmanager
def fresh_app(tmp: Path) -> Iterator[tuple[str, AppContext]]:
    """The app with a stand-in scorer and an empty vote store of its own."""
    # every client here shares one address, which is what rate limits key on: no limit for this test
    settings = Settings(device="cpu", cache_dir=tmp / "cache", data_dir=tmp / "data", min_listen_s=0.0,
                        votes_per_minute=0, vote_salt="load-test")
    with running_app(settings, load=lambda s: FakeScorer()) as (ctx, url):
        ctx.loader.wait(30)
        ctx.arena.warm()       # what the app's warm-up thread does: votes read these scores
        yield url, ctx


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, AppContext]]:
    with fresh_app(tmp_path_factory.mktemp("arena_api")) as app:
        yield app


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, AppContext, list[dict[str, object]]]]:
    """An app of its own after the load: 50 clients x 20 battles, then 3 refusals each."""
    with fresh_app(tmp_path_factory.mktemp("arena_load")) as (url, ctx):
        stats: Counter = Counter()
        start = time.monotonic()
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            results = list(pool.map(lambda i: play(url, i, stats), range(CLIENTS)))
        elapsed = time.monotonic() - start      # printed (run with -s), never asserted: unit tests do not time
        print(f"\n{CLIENTS} clients x {BATTLES_PER_CLIENT} battles: {elapsed:.1f} s, "
              f"{CLIENTS * (2 * BATTLES_PER_CLIENT + 3) / elapsed:.0f} API calls/s, "
              f"queue-full retries: {stats['queue_full_retries']}")
        yield url, ctx, results


def play(url: str, index: int, stats: Counter) -> dict[str, object]:
    client = RestClient(url, stats)
    accepted: list[str] = []
    refusals: list[tuple[str, str]] = []
    for i in range(BATTLES_PER_CLIENT):
        info, audio_a, audio_b = client.predict("arena_new_battle")
        assert audio_a["url"] and audio_b["url"] and audio_a["url"] != audio_b["url"]
        choice = ("A", "B", "TIE", "BOTH_BAD")[(index + i) % 4]
        (reply,) = client.predict("arena_vote", info["battle_id"], choice, 1.0, 1.0)
        assert reply["accepted"], reply
        assert reply["a"]["system"] and reply["b"]["system"] and reply["model_choice"] in ("A", "B", "TIE")  # TIE: within ranking.SAME_TOLERANCE
        accepted.append(info["battle_id"])
    for want, args in (("already_voted", (accepted[0], "A")),              # replayed id
                       ("unknown_battle", (secrets.token_urlsafe(24), "A")),  # forged id
                       ("invalid_choice", (accepted[1], "C"))):
        (reply,) = client.predict("arena_vote", *args, 1.0, 1.0)
        refusals.append((want, reply["reason"]))
    client.close()
    return {"accepted": accepted, "refusals": refusals}


@pytest.mark.slow
def test_fifty_clients_twenty_battles_each(loaded: tuple[str, AppContext, list[dict[str, object]]]) -> None:
    _, ctx, results = loaded
    acked = [b for r in results for b in r["accepted"]]
    assert len(acked) == len(set(acked)) == CLIENTS * BATTLES_PER_CLIENT
    for r in results:
        assert [got for _, got in r["refusals"]] == [want for want, _ in r["refusals"]]

    store = ctx.arena.store
    votes = store.votes()
    assert len(votes) == CLIENTS * BATTLES_PER_CLIENT
    assert {v.battle_id for v in votes} == set(acked)
    assert len({v.session for v in votes}) == CLIENTS                     # one salted hash per client
    raw = sqlite3.connect(Path(ctx.settings.data_dir) / DB_FILENAME)
    assert raw.execute("SELECT COUNT(*), COUNT(DISTINCT battle_id) FROM votes").fetchone() == (1000, 1000)
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert Counter(v.choice.value for v in votes) == {"A": 250, "B": 250, "TIE": 250, "BOTH_BAD": 250}


@pytest.mark.slow
def test_stats_endpoint_after_the_load(loaded: tuple[str, AppContext, list[dict[str, object]]]) -> None:
    url, ctx, _ = loaded
    ctx.arena.board.refresh()   # the endpoint serves the background board (at most a minute old): bring it up to date
    client = Client(url, verbose=False, download_files=False)
    stats = client.predict(api_name="/arena_stats")
    assert stats["total_votes"] == CLIENTS * BATTLES_PER_CLIENT
    assert stats["learned_model"]["decisive_votes"] == 500 and stats["votes_from_elsewhere"] == 0
    # agreement is the FIXED rule's (the stored pick may come from the learned model): the documented
    # overall score (0-100 average, a 1-5 score x as (x - 1) / 4 x 100), higher wins, within 2 points a tie
    def overall(scores: dict) -> float:
        return sum(v if k.startswith("score_") else (v - 1) / 4 * 100 for k, v in scores.items()) / len(scores)

    picks = {}
    for v in ctx.arena.store.votes():
        if v.choice.value in ("A", "B") and v.scores_a and v.scores_b:
            gap = overall(v.scores_a) - overall(v.scores_b)
            if abs(gap) > 2.0:
                picks[v.battle_id] = (v.choice.value, "A" if gap > 0 else "B")
    assert 0 < len(picks) <= 500 and stats["agreement"]["n"] == len(picks)
    assert stats["agreement"]["rate"] == pytest.approx(sum(c == p for c, p in picks.values()) / len(picks))
    assert len(stats["per_score_agreement"]) == 7
    assert stats["systems"] and all(r["ci_low"] <= r["rating"] <= r["ci_high"] for r in stats["systems"])
    client.close()


# -- crash: SIGKILL the writer while it votes; every acknowledged vote must survive ----------
WRITER = r'''
import sys, threading
from pathlib import Path
from apex_demo.arena.service import Arena, load_pool
from apex_demo.config import Settings
from apex_demo.arena.store import VoteStore

settings = Settings(data_dir=Path(sys.argv[1]), min_listen_s=0.0, votes_per_minute=0, vote_salt="crash")
arena = Arena(settings, VoteStore.open(settings), load_pool(),
              score_fn=lambda p: {"score_streams": float(len(p.name)), "score_likes": 50.0})
out_lock = threading.Lock()

def voter(n):
    session = f"client-{n}"
    while True:
        battle = arena.new_battle(session)
        arena.vote(session, battle.battle_id, "AB"[n % 2], 1.0, 1.0)   # returns only after COMMIT
        with out_lock:
            sys.stdout.write("ACK " + battle.battle_id + "\n")
            sys.stdout.flush()

for n in range(4):
    threading.Thread(target=voter, args=(n,), daemon=True).start()
threading.Event().wait()
'''
ACKS_BEFORE_KILL = 150


def test_sigkill_loses_no_acknowledged_vote(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys

    data = tmp_path / "data"
    root = REPO
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(data)], cwd=root, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(root)})
    acked: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("ACK "):
                acked.append(line.split()[1])
            if len(acked) >= ACKS_BEFORE_KILL:
                proc.send_signal(signal.SIGKILL)       # mid-write: the threads are still voting
                break
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    assert len(acked) == ACKS_BEFORE_KILL

    from apex_demo.arena.store import VoteStore

    store = VoteStore(data / DB_FILENAME)                   # the restart
    assert db_value(store.path, "PRAGMA integrity_check") == "ok"
    stored = {v.battle_id for v in store.votes()}
    assert set(acked) <= stored                             # every acknowledged vote is there
    assert len(stored) == store.count()                     # and nothing is doubled
    store.close()


def test_readme_gradio_client_example(served: tuple[str, AppContext]) -> None:
    """The README's gradio_client flow: files come back, a vote is revealed, a replay is refused."""
    url, ctx = served
    client = Client(url, verbose=False)
    info, audio_a, audio_b = client.predict(api_name="/arena_new_battle")
    assert Path(audio_a).is_file() and Path(audio_b).is_file() and info["min_listen_s"] == 0.0
    reply = client.predict(info["battle_id"], "B", 6.0, 6.0, api_name="/arena_vote")
    assert reply["accepted"] and reply["choice"] == "B" and reply["model_choice"] in ("A", "B", "TIE")
    # Agreement is only defined for a decisive model pick: a model "TIE" reveals agreed=None, not False.
    assert reply["agreed"] == (None if reply["model_choice"] == "TIE" else reply["model_choice"] == "B")
    assert set(reply["a"]["scores"]) == {"score_streams", "score_likes", "coherence", "musicality",
                                         "memorability", "clarity", "naturalness"}
    again = client.predict(info["battle_id"], "A", 6.0, 6.0, api_name="/arena_vote")
    assert again == {"accepted": False, "reason": "already_voted", "message": again["message"]}
    stored = [v for v in ctx.arena.store.votes() if v.battle_id == info["battle_id"]]
    assert len(stored) == 1 and stored[0].choice.value == "B"
    client.close()


def test_battle_clips_reach_the_client_under_neutral_names(served: tuple[str, AppContext]) -> None:
    """Blind: nothing the client receives for a battle's audio names the clip, its system or its file."""
    url, ctx = served
    client = RestClient(url, Counter())
    telltales = {t.lower() for c in ctx.arena.pool for t in (c.clip_id, c.system, c.path.name, c.path.stem)}
    for _ in range(5):
        _, audio_a, audio_b = client.predict("arena_new_battle")
        for side, audio in (("A", audio_a), ("B", audio_b)):
            assert audio["orig_name"] == f"{side}.flac" and Path(audio["path"]).name == f"{side}.flac"
            seen = unquote(" ".join(str(audio[k]) for k in ("path", "url", "orig_name"))).lower()
            assert not [t for t in telltales if t in seen], seen
    client.close()
