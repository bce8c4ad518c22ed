"""`from apex_demo import ...` is the way in: light to import, and the names it hands out work together."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import apex_demo
from apex_demo import SCORE_KEYS, Settings, get_scorer, load_scorer, rank_takes, song_report
from tests.support import REPO

HEAVY = ("torch", "transformers", "gradio", "sklearn", "plotly")
LIGHT_IMPORTS = f"""
import json, sys
import apex_demo, apex_demo.engine, apex_demo.arena, apex_demo.folder, apex_demo.figures
from apex_demo import SCORE_KEYS, Settings, ScoreResult, SongReport, rank_takes, song_report, overall_score
from apex_demo.engine import segments, format_time, SAME_TOLERANCE
print(json.dumps(sorted(name for name in {HEAVY!r} if name in sys.modules)))
"""


def test_importing_the_faces_loads_no_heavy_library() -> None:
    """In a fresh interpreter: the faces and the result/ranking names need none of torch, transformers,
    gradio, scikit-learn or plotly (they load when something is scored, drawn or served)."""
    out = subprocess.run([sys.executable, "-c", LIGHT_IMPORTS], cwd=REPO, capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert json.loads(out) == []


def test_the_face_lists_what_it_hands_out() -> None:
    for name in ("Settings", "load_scorer", "get_scorer", "Scorer", "ScoreResult", "song_report", "SongReport",
                 "rank_takes", "SCORE_KEYS", "Scores", "ApexError", "ErrorCode"):
        assert name in dir(apex_demo) and name in apex_demo.__all__, name
    with pytest.raises(AttributeError):
        apex_demo.no_such_name  # noqa: B018 - the attribute access is the test


def test_load_scorer_is_the_one_cached_factory_and_scores(tiny_settings: Settings, audio_dir: Path) -> None:
    scorer = load_scorer(tiny_settings)
    assert scorer is get_scorer(tiny_settings)                     # models load once per process
    result = scorer.score_file(audio_dir / "Kevin_MacLeod_-_Vibe_Ace.ogg")
    assert set(result.scores.as_dict()) == set(SCORE_KEYS)
    report = song_report(result)
    assert report.overall == rank_takes([("take", result.scores)])[0].overall
    assert [r.spec.key for r in report.popularity] == ["score_streams", "score_likes"]
