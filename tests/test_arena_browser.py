"""The Arena page in headless Chromium: a vote before listening is refused, after listening it counts.

Proves that the page's play/pause events reach the server and become the listening
times the arena rules check. Uses the stand-in scorer of tests/app_server.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest

from apex_demo.config import Settings
from apex_demo.ui.context import AppContext
from tests.app_server import FakeScorer, chromium, running_app

pytestmark = pytest.mark.browser  # skipped, with the reason, without Chromium (tests/conftest.py)
MIN_LISTEN_S = 2.0
LISTEN_MARGIN_S = 5.0  # play/pause events may reach a busy server late; delays only add listening time
UI_WAIT_S = 60


@pytest.fixture()
def browser():
    """Headless Chromium (skipped, with the reason, when absent)."""
    driver = chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture()
def arena_app(tmp_path: Path) -> Iterator[tuple[str, AppContext]]:
    settings = Settings(device="cpu", cache_dir=tmp_path / "cache", data_dir=tmp_path / "data",
                        min_listen_s=MIN_LISTEN_S)
    with running_app(settings, load=lambda s: FakeScorer()) as (ctx, url):
        ctx.loader.wait(UI_WAIT_S)
        yield url, ctx


def wait_for(condition, timeout: float = UI_WAIT_S):
    """Poll the page (no fixed sleeps for results)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("the page did not get there in time")


def test_vote_counts_only_after_listening(arena_app, browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    url, ctx = arena_app

    def button(text: str):
        found = [b for b in browser.find_elements(By.XPATH, f"//button[contains(., '{text}')]") if b.is_displayed()]
        return found[0] if found else None

    def players(label: str):
        found = [b for b in browser.find_elements(By.CSS_SELECTOR, f"button[aria-label='{label}']")
                 if b.is_displayed()]
        return found if len(found) == 2 else None

    browser.get(url)
    wait_for(lambda: button("Arena")).click()
    wait_for(lambda: button("New battle")).click()
    wait_for(lambda: button("A is better") and button("A is better").is_enabled())
    wait_for(lambda: players("Play"))
    wait_for(lambda: ctx.arena.store.battle_count() == 1)
    time.sleep(MIN_LISTEN_S)                       # past "too early": now only listening is missing
    button("A is better").click()
    wait_for(lambda: "Listen to each clip" in browser.page_source)
    assert ctx.arena.store.count() == 0

    for play in players("Play"):
        play.click()
    time.sleep(MIN_LISTEN_S + LISTEN_MARGIN_S)     # real playback time, measured by the server
    for pause in [b for b in browser.find_elements(By.CSS_SELECTOR, "button[aria-label='Pause']")
                  if b.is_displayed()]:                # a clip shorter than the wait has ended by itself
        pause.click()
    button("B is better").click()
    wait_for(lambda: "You voted" in browser.page_source)
    (vote,) = ctx.arena.store.votes()
    assert vote.choice.value == "B"
    assert vote.listened_a_s >= MIN_LISTEN_S and vote.listened_b_s >= MIN_LISTEN_S
    browser.save_screenshot(str(tmp_path / "arena_after_vote.png"))
