"""Waiting in line, in real headless Chromium: two browser sessions behind one address both get scored,
in order, while one session cannot hold more than its one job; and the waiting line's estimate of the
wait counts down while the song ahead is being scored.

The song ahead is held by the test (the real tiny engine, released part by part only when the test
opens its gate), so "busy" lasts exactly as long as the test needs, whatever the machine's load.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from apex_demo.config import Settings
from apex_demo.engine.models import get_scorer
from tests.support.app import chromium, choose_song, open_page, running_app, show_tab, wait_until

pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
pytestmark = pytest.mark.browser  # skipped, with the reason, without Chromium (tests/conftest.py)

PAGE_LOAD_S = 60
GATE_TIMEOUT_S = 120
SCORE_WAIT_S = 120
SECONDS_PER_PART = 10.0   # the server's measured speed, set by hand: the song ahead (97 s, 4 parts) takes 40 s
ADDRESS = "10.20.30.40"   # both browsers: one school's, office's or mobile carrier's address
ONE_JOB = "You already have a song being scored or waiting in line in this window."  # written here, not imported
AHEAD_SONG = "outfoxing.mp3"
OWN_SONG = "Kevin_MacLeod_-_Vibe_Ace.ogg"
RECORD_WAITING = """
window.apexWaiting = [];
const target = document.querySelector('#analyze-wait');
new MutationObserver(() => window.apexWaiting.push(target.innerText.trim()))
  .observe(target, {childList: true, subtree: true, characterData: true});
"""
# The order two pages reached "Done", by the page's own clock (performance.timeOrigin + now is wall time).
RECORD_DONE = """
const target = document.querySelector('#analyze-progress');
new MutationObserver(() => {
  if (!window.apexDoneAt && target.innerText.includes('Done')) window.apexDoneAt = performance.timeOrigin + performance.now();
}).observe(target, {childList: true, subtree: true, characterData: true, attributes: true});
"""


class HeldEngine:
    """The real tiny engine; it yields nothing until the test opens the gate."""

    def __init__(self, settings: Settings) -> None:
        self._scorer = get_scorer(settings)
        self.gate = threading.Event()
        self.started = threading.Event()

    def iter_score(self, path: Any, display_name: str | None = None, partial: bool = True,
                   read_cache: bool = True, proceed: Any = None) -> Iterator[Any]:
        """The engine's Scorer.iter_score, with its signature (the app's GPU slot passes read_cache)."""
        for result in self._scorer.iter_score(path, display_name, partial, read_cache=read_cache, proceed=proceed):
            self.started.set()
            assert self.gate.wait(GATE_TIMEOUT_S), "the test never opened the gate"
            yield result

    def score_file(self, path: Any, display_name: str | None = None, read_cache: bool = True,
                   proceed: Any = None) -> Any:
        return self._scorer.score_file(path, display_name, read_cache=read_cache, proceed=proceed)


@pytest.fixture(scope="module")
def held(module_tiny_settings: Settings) -> Iterator[tuple[str, HeldEngine]]:
    """The app behind the Spaces proxy (its visitors are told apart by X-Forwarded-For), no embedding cache."""
    engines: list[HeldEngine] = []

    def load(settings: Settings) -> HeldEngine:
        engines.append(HeldEngine(settings))
        return engines[0]

    settings = dataclasses.replace(module_tiny_settings, behind_proxy=True, use_cache=False)
    with running_app(settings, load=load) as (ctx, url):
        ctx.loader.wait(120)
        ctx.speed.seconds_per_segment = SECONDS_PER_PART
        try:
            yield url, engines[0]
        finally:
            engines[0].gate.set()


def _visitor(url: str, song: Path) -> Any:
    """A browser of its own (its own Gradio session) from ADDRESS, with `song` chosen on Analyze."""
    browser = chromium()
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {"X-Forwarded-For": ADDRESS}})
    open_page(browser, url)
    choose_song(browser, song)
    browser.execute_script(RECORD_DONE)
    return browser


def _estimates(browser: Any) -> list[int]:
    """The seconds of every "Your turn in about N s" the waiting line has shown, in order."""
    texts = browser.execute_script("return window.apexWaiting")
    return [int(m.group(1)) for t in texts for m in [re.search(r"Your turn in about (\d+) s\.", t)] if m]


def test_two_sessions_behind_one_address_queue_in_order_with_a_wait_that_counts_down(
        held: tuple[str, HeldEngine], audio_dir: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    url, engine = held
    first, second = _visitor(url, audio_dir / AHEAD_SONG), _visitor(url, audio_dir / OWN_SONG)
    try:
        first.find_element(By.ID, "analyze-button").click()
        assert engine.started.wait(GATE_TIMEOUT_S)  # the first session's song is being scored, held at its first part
        second.execute_script(RECORD_WAITING)
        second.find_element(By.ID, "analyze-button").click()
        # the second session, same address, is in line (not turned away), and told how long it will wait
        wait_until(second, PAGE_LOAD_S, EC.text_to_be_present_in_element((By.ID, "analyze-wait"), "Your turn in about"))
        assert second.find_element(By.ID, "analyze-wait").text.startswith(
            "Waiting in line: 1 song ahead of yours (one is being scored now).")
        # the song ahead has 4 parts at 10 s each: at most 40 s, counting down as it runs (in steps of 5 s)
        wait_until(second, SCORE_WAIT_S, lambda b: len(set(_estimates(b))) >= 2)
        estimates = _estimates(second)
        assert estimates[0] <= 40 and estimates == sorted(estimates, reverse=True), estimates

        # the first session already holds its one job: a second one from it (Compare) is refused, in words
        show_tab(first, "Compare takes")
        first.find_element(By.CSS_SELECTOR, "#compare-files input[type=file]").send_keys(
            f"{audio_dir / AHEAD_SONG}\n{audio_dir / OWN_SONG}")
        wait_until(first, PAGE_LOAD_S, lambda b: Path(OWN_SONG).stem in b.find_element(By.ID, "compare-files").text)
        first.find_element(By.ID, "compare-button").click()
        wait_until(first, PAGE_LOAD_S, lambda b: ONE_JOB in b.find_element(By.ID, "compare-wait").text)
        assert not engine.gate.is_set()  # ...while its Analyze job still holds the model

        engine.gate.set()
        for browser in (first, second):
            wait_until(browser, SCORE_WAIT_S, lambda b: b.execute_script("return window.apexDoneAt"))
        assert first.execute_script("return window.apexDoneAt") < second.execute_script("return window.apexDoneAt")
        assert not second.find_element(By.ID, "analyze-wait").text.strip()  # the line goes once it is their turn
        assert first.find_element(By.ID, "analyze-summary").get_attribute("textContent").strip().startswith(AHEAD_SONG)
        assert second.find_element(By.ID, "analyze-summary").get_attribute("textContent").strip().startswith(OWN_SONG)
    finally:
        first.quit()
        second.quit()
