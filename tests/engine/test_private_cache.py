"""Cache hits are not revealed across visitors: the private view of the scorer encodes a song again for a visitor
who did not score it."""

from __future__ import annotations

from pathlib import Path

import pytest

from apex_demo.ui.guards.private_cache import SeenBy
from apex_demo.engine.models import get_scorer
from apex_demo.engine.scoring import Scorer
from apex_demo.ui.tabs.analyze import summary_markdown
from apex_demo.ui.guards.private_cache import private_view


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


