"""`/score` over HTTP equals the authors' loop (reference/authors.py) for the authors' checkpoint formats.

The app is launched as `python app.py` launches it and called with gradio_client;
the expected numbers come from the independent oracle, not from the engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from gradio_client import Client, handle_file

from apex_demo.config import Settings
from apex_demo.scores import POPULARITY_KEYS
from tests.support.app import running_app

CLIP = "Kevin_MacLeod_-_Vibe_Ace.ogg"  # 61 s mono 22.05 kHz: three segments, the last one padded
AESTHETIC_TOL, POPULARITY_TOL = 1e-4, 1e-2


@pytest.fixture(scope="module", params=["train", "models_only"])
def served(request, tiny_mert_dir: Path, tiny_heads: dict,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Client, Path]]:
    tmp = tmp_path_factory.mktemp("api_ref")
    settings = Settings(mert=str(tiny_mert_dir), head=str(tiny_heads[request.param]), device="cpu",
                        cache_dir=tmp / "cache", data_dir=tmp / "data")
    with running_app(settings) as (ctx, url):
        ctx.loader.wait(120)
        checkpoint = tiny_heads[request.param]
        yield Client(url, verbose=False), checkpoint if checkpoint.is_file() else checkpoint / "models" / "best_model.pt"


def test_score_endpoint_equals_the_authors_loop(served: tuple[Client, Path], audio_dir: Path,
                                                tiny_mert_dir: Path, reference_runs) -> None:
    client, checkpoint = served
    record = client.predict(handle_file(str(audio_dir / CLIP)), api_name="/score")
    expected = reference_runs.predict(tiny_mert_dir, checkpoint, audio_dir / CLIP)
    assert set(record["scores"]) == set(expected)
    for key, value in expected.items():
        assert abs(record["scores"][key] - value) < (POPULARITY_TOL if key in POPULARITY_KEYS else AESTHETIC_TOL)
    assert len(record["segments"]) == 3
