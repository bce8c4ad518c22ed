"""Shared fixtures and the test tiers: tiny models in the real formats, real audio, an offline Hub.

Every test sits in a tier folder that says what it needs, and is marked with the folder's name:
unit (no model, no app, no subprocess), engine (tiny models, the CLI in process), app (a running app),
browser (headless Chromium), bench (the benchmark scripts), gpu (a CUDA GPU), cluster (a local Ray).
Heavy libraries (torch, transformers, ray) are imported inside the fixtures that need them, so the unit
tier starts without them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from apex_demo.config import Settings

os.environ["HF_HUB_OFFLINE"] = "1"  # tests never touch the network
# Gradio keeps uploads under $GRADIO_TEMP_DIR/<content hash>/ and deletes them when an app closes: a private
# folder per test run keeps concurrent runs (or a developer's app) from deleting each other's files.
os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="apex_tests_gradio_")

TESTS = Path(__file__).resolve().parent
AUDIO_DIR = TESTS / "data"  # real recordings; licences in data/ATTRIBUTION.md
TIERS = ("unit", "engine", "app", "browser", "bench", "gpu", "cluster")


@pytest.fixture(scope="session")
def audio_dir() -> Path:
    """The folder of real test recordings that ships with the repository (tests/data)."""
    return AUDIO_DIR


@pytest.fixture(scope="session")
def tiny_mert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.models import build_mert_folder  # torch: only for tests that use a model

    return build_mert_folder(tmp_path_factory.mktemp("models") / "tiny-mert")


@pytest.fixture(scope="session")
def tiny_heads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.support.models import build_head_files

    return build_head_files(tmp_path_factory.mktemp("heads"))


@pytest.fixture()
def tiny_settings(tiny_mert_dir: Path, tiny_heads: dict[str, Path], tmp_path: Path) -> Settings:
    """Settings pointing at the tiny models, with a fresh cache and data folder per test."""
    return Settings(mert=str(tiny_mert_dir), head=str(tiny_heads["train"]), device="cpu",
                    cache_dir=tmp_path / "cache", data_dir=tmp_path / "data")


@pytest.fixture()
def clock():
    """A clock the test moves by hand (tests/support/arena.py), so no arena test sleeps."""
    from tests.support.arena import FakeClock

    return FakeClock()


@pytest.fixture()
def arena(tmp_path: Path, clock):
    """An arena over the bundled pool, its clips scored by the stand-in engine, on `clock`."""
    from tests.support.arena import warm_arena

    return warm_arena(tmp_path, clock)


@pytest.fixture()
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """One Hub dataset in a folder in place of huggingface_hub's CommitScheduler and snapshot_download."""
    import huggingface_hub

    from tests.support.hub import FakeHub

    fake = FakeHub(tmp_path / "hub")
    fake.root.mkdir()
    monkeypatch.setattr(huggingface_hub, "CommitScheduler", fake.CommitScheduler)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake.snapshot_download)
    return fake


@pytest.fixture(scope="session")
def reference_runs():
    """The authors' loop, each (model, recording) computed once per session (tests/support/oracle.py)."""
    from tests.support.oracle import ReferenceRuns

    return ReferenceRuns()


@pytest.fixture(scope="module")
def module_tiny_settings(tiny_mert_dir: Path, tiny_heads: dict[str, Path],
                         tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings pointing at the tiny models for an app shared by a whole module (its own cache and data)."""
    folder = tmp_path_factory.mktemp("module")
    return Settings(mert=str(tiny_mert_dir), head=str(tiny_heads["train"]), device="cpu",
                    cache_dir=folder / "cache", data_dir=folder / "data")


# -- tiers and requirements: a test that cannot run here is skipped with its reason; CI must run browser, ffmpeg
# and cluster --
REQUIRED_IN_CI = ("browser", "ffmpeg", "cluster")


def tier_of(item: pytest.Item) -> str | None:
    """The tier folder a test lives in (tests/<tier>/...)."""
    parts = Path(str(item.path)).resolve().relative_to(TESTS).parts
    return parts[0] if len(parts) > 1 and parts[0] in TIERS else None


def missing_requirement(marker: str) -> str | None:
    """Why tests with `marker` cannot run on this machine, or None when they can."""
    if marker == "ffmpeg":
        return None if shutil.which("ffmpeg") else "ffmpeg program not installed (bash scripts/setup.sh --dev installs it)"
    if marker == "cluster":
        return None if importlib.util.find_spec("ray") else "Ray is not installed (pip install -r requirements-ray.txt)"
    if marker == "gpu":
        import torch

        return None if torch.cuda.is_available() else "no CUDA GPU visible to PyTorch"
    if marker == "browser":
        from tests.support.app import browser_binaries

        if importlib.util.find_spec("selenium") is None:
            return "selenium is not installed (pip install -r requirements-dev.txt)"
        return None if browser_binaries() else ("no Chromium browser here; install the Debian packages chromium and "
                                                "chromium-driver (bash scripts/setup.sh --dev does, as root)")
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its tier; skip, with the reason, every test whose marker names something
    this machine lacks."""
    reasons: dict[str, str | None] = {}
    for item in items:
        tier = tier_of(item)
        if tier is None:
            raise pytest.UsageError(f"{item.nodeid} is outside the tier folders {TIERS}; move it into one")
        item.add_marker(getattr(pytest.mark, tier))
        for marker in ("ffmpeg", "gpu", "browser", "cluster"):
            if item.get_closest_marker(marker) is None:
                continue
            if marker not in reasons:
                reasons[marker] = missing_requirement(marker)
            if reasons[marker]:
                item.add_marker(pytest.mark.skip(reason=reasons[marker]))


class RequiredTestsGuard:
    """On CI (CI=true) a skipped browser, ffmpeg or cluster test fails the run: CI must prove those paths work."""

    def __init__(self) -> None:
        self.skipped: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and any(marker in report.keywords for marker in REQUIRED_IN_CI):
            self.skipped.append(report.nodeid)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.skipped and on_ci():
            terminalreporter.write_line(f"CI=true but {len(self.skipped)} browser/ffmpeg/cluster test(s) were skipped "
                                        f"(install what their skip reason names): {', '.join(self.skipped)}", red=True)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.skipped and on_ci() and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def on_ci() -> bool:
    """CI=true (GitHub Actions, GitLab, .ci/run) or CI=1."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(RequiredTestsGuard(), "apex-required-tests-guard")
