"""Cache hits are not revealed across visitors, through the running app: a song another visitor analysed is
encoded again."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from apex_demo.engine.scoring import Scorer
from tests.support.app import running_app
from tests.support.http import Visitor


CLIP = "loop_garzul.flac"  # 8 s: one segment


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
