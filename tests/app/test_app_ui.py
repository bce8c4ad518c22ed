"""The page and the API when the models fail to load, and an upload over the size limit refused while the app
keeps serving."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from apex_demo.config import Settings
from apex_demo.errors import ModelError
from tests.support.app import running_app


def test_page_and_api_explain_a_failed_model_load(tmp_path: Path, audio_dir: Path) -> None:
    settings = Settings(mert=str(tmp_path / "missing-mert"), head=str(tmp_path / "missing-head"), device="cpu",
                        cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")
    with running_app(settings) as (ctx, url):
        with pytest.raises(ModelError):
            ctx.loader.wait(60)
        assert "could not be loaded" in ctx.loader.owner_note()
        client = Client(url, verbose=False)
        with pytest.raises(AppError, match="the models could not be loaded on this server") as info:
            client.predict(handle_file(str(audio_dir / "loop_garzul.flac")), api_name="/score")
        # the API words it as the page does (one wording per error); the owner's details (which setting,
        # which path) stay in the log and the About tab, not with anonymous clients
        assert "APEX_MERT" not in info.value.message and str(tmp_path) not in info.value.message


def test_upload_over_the_size_limit_is_refused_and_app_keeps_serving(tiny_settings: Settings,
                                                                     audio_dir: Path) -> None:
    settings = dataclasses.replace(tiny_settings, max_file_mb=0.1)  # 100 KiB: loop_garzul.flac is 748 KiB
    with running_app(settings) as (_, url):
        client = Client(url, verbose=False)
        with pytest.raises(ValueError, match="exceeds the maximum file size of 104857 bytes"):
            client.predict(handle_file(str(audio_dir / "loop_garzul.flac")), api_name="/score")
        small = client.predict(handle_file(str(audio_dir / "sorohanro_-_solo-trumpet-06.ogg")), api_name="/score")
        assert small["file"] == "sorohanro_-_solo-trumpet-06.ogg"


