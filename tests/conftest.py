"""Shared fixtures: tiny models in the real formats, real audio, offline Hub."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import tempfile  # noqa: E402

os.environ["HF_HUB_OFFLINE"] = "1"  # tests never touch the network
# Gradio keeps uploads under $GRADIO_TEMP_DIR/<content hash>/ and deletes them when an app closes: a private
# folder per test run keeps concurrent runs (or a developer's app) from deleting each other's files.
os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="apex_tests_gradio_")

from apex_demo.config import Settings  # noqa: E402
from tests.fixtures import build_head_files, build_mert_folder  # noqa: E402

AUDIO_DIR = Path(__file__).resolve().parent / "data"  # real recordings; licences in data/ATTRIBUTION.md


@pytest.fixture(scope="session")
def audio_dir() -> Path:
    """The folder of real test recordings that ships with the repository (tests/data)."""
    return AUDIO_DIR


@pytest.fixture(scope="session")
def tiny_mert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_mert_folder(tmp_path_factory.mktemp("models") / "tiny-mert")


@pytest.fixture(scope="session")
def tiny_heads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_head_files(tmp_path_factory.mktemp("heads"))


@pytest.fixture()
def tiny_settings(tiny_mert_dir: Path, tiny_heads: dict[str, Path], tmp_path: Path) -> Settings:
    """Settings pointing at the tiny models, with a fresh cache and data folder per test."""
    return Settings(mert=str(tiny_mert_dir), head=str(tiny_heads["train"]), device="cpu",
                    cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")
