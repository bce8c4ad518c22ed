"""The app's API, launched in-process on a free port with the tiny models and called with gradio_client.

Checks that /score and /compare return exactly the engine's records for real clips,
and that bad uploads are refused (ValidationError at submit, from the header) with the engine's message while the
app keeps serving the next request.
"""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import soundfile as sf
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError, ValidationError

from apex_demo.config import Settings
from apex_demo.engine import song_record
from apex_demo.engine.models import get_scorer
from tests.support.app import running_app

SHORT_CLIP = "loop_garzul.flac"                  # 8.0 s, stereo FLAC, one segment
OTHER_CLIP = "sorohanro_-_solo-trumpet-06.ogg"    # 5.3 s, mono Vorbis
LONG_CLIP = "vocadito_10.wav"                    # 9.1 s: over the limit set below
MAX_SECONDS = 8.5


@pytest.fixture(scope="module")
def app_settings(tiny_mert_dir: Path, tiny_heads: dict[str, Path],
                 tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The conftest tiny_settings, module-scoped so one app serves every test, with a short limit."""
    tmp = tmp_path_factory.mktemp("app")
    return Settings(mert=str(tiny_mert_dir), head=str(tiny_heads["train"]), device="cpu",
                    cache_dir=tmp / "cache", data_dir=tmp / "data", max_seconds=MAX_SECONDS)


@pytest.fixture(scope="module")
def client(app_settings: Settings) -> Iterator[Client]:
    with running_app(app_settings) as (ctx, url):
        ctx.loader.wait(120)
        yield Client(url, verbose=False)


def engine_record(settings: Settings, path: Path) -> dict:
    """The engine's own record for a file (numbers and report), from a separate scorer without cache."""
    scorer = get_scorer(dataclasses.replace(settings, use_cache=False))
    return song_record(scorer.score_file(path, path.name))


def test_score_endpoint_equals_engine(client: Client, app_settings: Settings, audio_dir: Path) -> None:
    path = audio_dir / SHORT_CLIP
    record = client.predict(handle_file(str(path)), api_name="/score")
    assert record == engine_record(app_settings, path)
    assert record["file"] == SHORT_CLIP
    assert set(record["scores"]) == {"score_streams", "score_likes", "coherence", "musicality",
                                     "memorability", "clarity", "naturalness"}
    assert len(record["segments"]) == 1 and record["channels"] == 2
    # 8 s is under the 10 s below which scores are not judged: the API says so in the engine's words
    (warning,) = record["warnings"]
    assert warning["code"] == "short_clip" and warning["message"].startswith(
        "Not judged: the clip is 8 s long. APEX listens in 30-second parts and fills the rest with silence (22 s here)")


def test_compare_endpoint_returns_records_in_upload_order(client: Client, app_settings: Settings,
                                                          audio_dir: Path) -> None:
    paths = [audio_dir / OTHER_CLIP, audio_dir / SHORT_CLIP]
    records = client.predict([handle_file(str(p)) for p in paths], api_name="/compare")
    assert [r["file"] for r in records] == [OTHER_CLIP, SHORT_CLIP]
    assert records == [engine_record(app_settings, p) for p in paths]


def test_compare_reports_a_bad_file_as_an_error_record(client: Client, audio_dir: Path, tmp_path: Path) -> None:
    fake = tmp_path / f"fake_{uuid.uuid4().hex[:8]}.mp3"  # unique: see bad_upload
    fake.write_text("this is not audio\n" * 20)
    records = client.predict([handle_file(str(audio_dir / OTHER_CLIP)), handle_file(str(fake))],
                             api_name="/compare")
    assert "scores" in records[0]
    assert records[1]["file"] == fake.name
    assert records[1]["error"]["code"] in {"not_audio", "corrupt_audio"}
    assert "/tmp" not in records[1]["error"]["message"]  # no server paths leak


def test_compare_needs_two_takes(client: Client, audio_dir: Path) -> None:
    with pytest.raises(AppError, match="at least 2 takes"):
        client.predict([handle_file(str(audio_dir / SHORT_CLIP))], api_name="/compare")


def bad_upload(kind: str, folder: Path, audio_dir: Path) -> Path:
    """A file the engine must refuse: text renamed .mp3, an empty file, or a clip over the limit.

    Names are unique per run: Gradio stores uploads under a hash of their content, and an app that
    shuts down deletes its uploads, so two test runs at once must not share a path.
    """
    tag = uuid.uuid4().hex[:8]
    if kind == "text_as_mp3":
        path = folder / f"notes_{tag}.mp3"
        path.write_text("Lyrics, second verse: not an mp3 at all.\n" * 50)
        return path
    if kind == "empty":
        path = folder / f"empty_{tag}.wav"
        path.write_bytes(b"")
        return path
    return audio_dir / LONG_CLIP


@pytest.mark.parametrize("kind, expected", [
    ("text_as_mp3", r"“notes_\w+\.mp3” doesn't look like audio we can read"),
    ("empty", r"“empty_\w+\.wav” is empty \(0 bytes\)"),
    ("too_long", r"“vocadito_10\.wav” is 9\.1 s long; the limit is 8\.5 s"),  # 9.098 s; halves not dropped
])
def test_bad_upload_gives_app_error_and_app_keeps_serving(client: Client, audio_dir: Path, tmp_path: Path,
                                                          kind: str, expected: str) -> None:
    # Refused from the header when submitted (ui/fairness.py), before it is queued: a ValidationError.
    with pytest.raises(ValidationError, match=expected) as info:
        client.predict(handle_file(str(bad_upload(kind, tmp_path, audio_dir))), api_name="/score")
    assert "/tmp" not in str(info.value)  # the upload's server path never reaches the client
    record = client.predict(handle_file(str(audio_dir / OTHER_CLIP)), api_name="/score")
    assert record["file"] == OTHER_CLIP and "scores" in record


def test_an_error_found_while_scoring_has_one_wording_in_score_and_compare(client: Client, audio_dir: Path,
                                                                          tmp_path: Path) -> None:
    """A float WAV with NaN samples passes the header check and fails while decoding; /score's error and
    /compare's error record say the same thing, in the words of the submit-time refusals (no paths,
    no libsndfile), with the code the CLI gives."""
    broken = tmp_path / f"broken_{uuid.uuid4().hex[:8]}.wav"
    samples = np.zeros(8000, np.float32)
    samples[100] = np.nan
    sf.write(str(broken), samples, 8000, subtype="FLOAT")
    wording = f"“{broken.name}” contains broken sample values. Export it again, for example as a 16-bit WAV."
    with pytest.raises(AppError) as info:
        client.predict(handle_file(str(broken)), api_name="/score")
    assert info.value.message == wording
    records = client.predict([handle_file(str(audio_dir / OTHER_CLIP)), handle_file(str(broken))],
                             api_name="/compare")
    assert records[1]["error"] == {"code": "non_finite_samples", "message": wording}
