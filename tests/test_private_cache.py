"""Cache hits are not revealed across visitors: a song someone else analysed is encoded again for
a new visitor (same work, same time, no "from cache"); its own visitor still gets the cache hit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from apex_demo.cache import SeenBy
from apex_demo.scoring import Scorer, get_scorer
from apex_demo.ui.analyze_tab import summary_markdown
from apex_demo.ui.private_cache import private_view
from tests.app_server import running_app
from tests.test_fair_queue import Visitor

CLIP = "loop_garzul.flac"  # 8 s: one segment


@pytest.fixture()
def encodes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts MERT segment encodings, wherever the scorer runs in this process."""
    calls: list[int] = []
    original = Scorer.encode_segment

    def counting(self: Scorer, segment):  # type: ignore[no-untyped-def]
        calls.append(1)
        return original(self, segment)

    monkeypatch.setattr(Scorer, "encode_segment", counting)
    return calls


def test_only_the_visitor_who_scored_a_song_gets_its_cache_hit(tiny_settings, audio_dir: Path,
                                                               encodes: list[int]) -> None:
    scorer, seen = get_scorer(tiny_settings), SeenBy()
    alice, bob = private_view(scorer, seen, "alice"), private_view(scorer, seen, "bob")
    path = audio_dir / CLIP
    first = alice.score_file(path, CLIP)
    assert not first.cached and len(encodes) == 1
    assert alice.score_file(path, CLIP).cached and len(encodes) == 1
    for_bob = list(bob.iter_score(path, CLIP))[-1]
    assert not for_bob.cached and len(encodes) == 2       # encoded again: nothing tells bob alice was here
    assert for_bob.scores == first.scores
    assert "from cache" not in summary_markdown(for_bob, CLIP)
    assert bob.score_file(path, CLIP).cached and len(encodes) == 2


def test_the_oldest_pairs_are_forgotten() -> None:
    seen = SeenBy(max_entries=2)
    for visitor in ("a", "b", "c"):
        seen.add(visitor, "song")
    assert [seen.knows(v, "song") for v in ("a", "b", "c")] == [False, True, True]


def test_app_serves_cache_hits_per_visitor(tiny_settings, audio_dir: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Over HTTP, two visitors (as the Spaces proxy forwards them) score the same upload."""
    song = Path(shutil.copy(audio_dir / CLIP, tmp_path / CLIP))
    served: list[bool] = []  # `cached` of each complete result for this clip (the arena scores its own clips too)
    original = Scorer.iter_score

    def spying(self: Scorer, *args, **kwargs):  # type: ignore[no-untyped-def]
        for result in original(self, *args, **kwargs):
            if result.complete and result.file == CLIP:
                served.append(result.cached)
            yield result

    monkeypatch.setattr(Scorer, "iter_score", spying)
    with running_app(tiny_settings) as (ctx, url):
        ctx.loader.wait(120)
        alice, bob = Visitor(url, "10.9.9.1"), Visitor(url, "10.9.9.2")
        upload = alice.upload(song)
        for visitor in (alice, alice, bob, bob):
            (record,) = visitor.call("score", upload)
            assert record["file"] == CLIP
    assert served == [False, True, False, True]
