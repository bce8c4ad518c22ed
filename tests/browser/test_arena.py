"""The Arena page in headless Chromium, desktop and phone: listen -> vote -> reveal -> next battle.

Proves that the page's play/pause events reach the server and become the listening
times the arena rules check, that the vote buttons turn on only once both clips are
heard long enough, and that the reveal and "Next battle" work. Uses the stand-in
scorer of tests/app_server. Screenshots are written to the test's tmp folder.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator

import pytest

from apex_demo.config import Settings
from apex_demo.ui.context import AppContext
from tests.support.app import chromium, running_app
from tests.support.fakes import FakeScorer
from tests.support.arena import db_value, pool_votes
from tests.support import REPO

pytestmark = pytest.mark.browser  # skipped, with the reason, without Chromium (tests/conftest.py)
MIN_LISTEN_S = 2.0
UI_WAIT_S = 60
PHONE = (390, 844)


@pytest.fixture()
def arena_app(tmp_path: Path) -> Iterator[tuple[str, AppContext]]:
    settings = Settings(device="cpu", cache_dir=tmp_path / "cache", data_dir=tmp_path / "data",
                        min_listen_s=MIN_LISTEN_S)
    with running_app(settings, load=lambda s: FakeScorer()) as (ctx, url):
        ctx.loader.wait(UI_WAIT_S)
        yield url, ctx


def wait_for(condition, timeout: float = UI_WAIT_S):
    """Poll the page (no fixed sleeps for results). An element Gradio re-rendered between finding and
    reading it (Selenium's StaleElementReferenceException) is a transient: poll again."""
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except StaleElementReferenceException:
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("the page did not get there in time")


def shown_buttons(browser):
    """text -> the first visible button containing it, or None."""
    from selenium.webdriver.common.by import By

    def button(text: str):
        found = [b for b in browser.find_elements(By.XPATH, f"//button[contains(., '{text}')]") if b.is_displayed()]
        return found[0] if found else None

    return button


def enabled(found) -> bool:
    """Whether a button looked up by shown_buttons is there (a re-render may hide it a moment) and enabled."""
    return found is not None and found.is_enabled()


def shown_players(browser):
    """label ('Play' / 'Pause') -> both visible player buttons with it, A's then B's, or None. Each control
    names its clip ("Play clip A", "Play clip B"), so a screen reader can tell the two players apart."""
    from selenium.webdriver.common.by import By

    def players(label: str):
        found = [b for side in "AB" for b in browser.find_elements(
            By.CSS_SELECTOR, f"button[aria-label='{label} clip {side}']") if b.is_displayed()]
        return found if len(found) == 2 else None

    return players


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
def test_listen_vote_reveal_next(arena_app, tmp_path: Path, phone: bool) -> None:
    from selenium.webdriver.common.by import By

    url, ctx = arena_app
    browser = chromium(PHONE if phone else None)

    button, players = shown_buttons(browser), shown_players(browser)

    def visible_plots() -> int:
        return sum(p.is_displayed() for p in browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot"))

    try:
        browser.get(url)
        wait_for(lambda: button("Arena")).click()
        wait_for(lambda: button("New battle"))
        assert players("Play") is None and not browser.find_elements(By.XPATH, "//*[text()='A']")  # no empty players
        button("New battle").click()
        wait_for(lambda: players("Play"))
        wait_for(lambda: "of 2 s heard" in browser.page_source)
        assert not button("A is better").is_enabled()            # nothing heard yet: no voting
        assert visible_plots() == 0                               # no empty figure boxes before a vote

        for play in players("Play"):
            browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", play)
            play.click()
        wait_for(lambda: "A: heard long enough" in browser.page_source and "B: heard long enough" in browser.page_source)
        wait_for(lambda: enabled(button("B is better")))
        for pause in wait_for(lambda: players("Pause")):
            pause.click()
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", button("B is better"))
        button("B is better").click()
        wait_for(lambda: "You said: B is better" in browser.page_source)
        (vote,) = ctx.arena.store.votes()
        assert vote.choice.value == "B"
        assert vote.listened_a_s >= MIN_LISTEN_S and vote.listened_b_s >= MIN_LISTEN_S
        wait_for(lambda: visible_plots() == 2)
        browser.save_screenshot(str(tmp_path / f"arena_reveal_{'phone' if phone else 'desktop'}.png"))

        next_button = wait_for(lambda: button("Next battle"))
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", next_button)
        next_button.click()
        wait_for(lambda: db_value(ctx.arena.store.path, "SELECT COUNT(*) FROM battles") == 2)
        wait_for(lambda: "You said" not in browser.page_source and visible_plots() == 0)
        assert not button("A is better").is_enabled() and button("Next battle") is None
        browser.save_screenshot(str(tmp_path / f"arena_next_{'phone' if phone else 'desktop'}.png"))
    finally:
        browser.quit()


OVERLAPS_JS = """
const boxes = (root, selector) => [...root.querySelectorAll(selector)].map(e => e.getBoundingClientRect())
  .filter(r => r.width > 0 && r.height > 0);
const crossing = [];
for (const plot of document.querySelectorAll('.js-plotly-plot')) {
  if (!plot.offsetParent) continue;
  const labels = [...boxes(plot, '.ytick text'), ...boxes(plot, '.bartext')];     // every written label or value
  for (const line of [...boxes(plot, '.errorbar path'), ...boxes(plot, '.g-xtitle')]) {
    for (const label of labels) {
      if (line.left < label.right - 1 && label.left < line.right - 1 && line.top < label.bottom - 1
          && label.top < line.bottom - 1) crossing.push(plot.querySelector('.gtitle')?.textContent);
    }
  }
}
return crossing;
"""


def test_leaderboard_shows_what_the_votes_taught(tmp_path: Path) -> None:
    """600 earlier votes on the pool: the Leaderboard tab glosses its terms, ranks systems overall and by kind
    with shared ranks, shows the learned model and both fixed rules, labels every agreement bar, and on a
    desktop and a 390 px phone no interval line crosses a label and nothing is wider than the screen."""
    from apex_demo.arena.store import VoteStore

    settings = Settings(device="cpu", cache_dir=tmp_path / "cache", data_dir=tmp_path / "data",
                        min_listen_s=MIN_LISTEN_S)
    store = VoteStore.open(settings)
    store.import_votes(pool_votes(600, seed=3))
    store.close()
    with running_app(settings, load=lambda s: FakeScorer()) as (ctx, url):
        ctx.arena.board.refresh()         # what the background thread does, here without a deadline
        for phone in (False, True):
            browser = chromium(PHONE if phone else None)
            try:
                check_leaderboard(browser, url, PHONE[0] if phone else 1280)
                full_page_screenshot(browser, tmp_path / f"leaderboard_{'phone' if phone else 'desktop'}.png")
            finally:
                browser.quit()


def check_leaderboard(browser, url: str, width: int) -> None:
    from selenium.webdriver.common.by import By

    browser.get(url)
    wait_for(lambda: [b for b in browser.find_elements(By.XPATH, "//button[contains(., 'Leaderboard')]")
                      if b.is_displayed()])[0].click()
    wait_for(lambda: "Learned from this arena" in browser.page_source)
    wait_for(lambda: "Which scores listeners follow here" in browser.page_source)   # plotly draws later
    text = browser.find_element(By.TAG_NAME, "body").text
    for shown in ("Bradley-Terry", "bootstrap", "Wilson interval", "ROC AUC", "Systems, all battles",
                  "Systems, instrumental battles", "Systems, battles with vocals", "Lower score wins",
                  "600 votes counted", "600 of them from other replicas"):
        assert shown in text, shown
    assert "The statistics below" not in text
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot .errorbar path")) > 10)
    assert browser.execute_script(OVERLAPS_JS) == []
    assert browser.execute_script("return document.documentElement.scrollWidth") <= width
    bars = browser.execute_script("return [...document.querySelectorAll('.js-plotly-plot')].find(p => "
                                  "p.querySelector('.gtitle')?.textContent.includes('Agreement with'))"
                                  ".querySelectorAll('.ytick text').length")
    assert bars == 8                                 # the overall pick and seven scores, each labelled


def full_page_screenshot(browser, path: Path) -> None:
    """The whole page in one picture (a phone's viewport is one screen high)."""
    width = browser.execute_script("return window.innerWidth")
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 500})
    browser.save_screenshot(str(path))


def test_bring_your_own_pair_stays_blind(arena_app, tmp_path: Path) -> None:
    """The labelled upload players fold away when the battle starts; the reveal names the takes
    by their file names."""
    import shutil

    from selenium.webdriver.common.by import By

    url, ctx = arena_app
    examples = sorted((REPO / "assets" / "examples").glob("*.ogg"))[:2]
    takes = [tmp_path / "chorus_take_one.ogg", tmp_path / "chorus_take_two.ogg"]
    for src, dst in zip(examples, takes):
        shutil.copy(src, dst)
    browser = chromium()

    button, players = shown_buttons(browser), shown_players(browser)

    try:
        browser.get(url)
        wait_for(lambda: button("Arena")).click()
        wait_for(lambda: button("Bring your own pair")).click()
        for label, take in zip(("Take 1", "Take 2"), takes):
            field = wait_for(lambda label=label: browser.execute_script(
                "return [...document.querySelectorAll('input[type=file]')].find(i => "
                "(i.closest('.block') || {}).textContent?.includes(arguments[0]));", label))
            field.send_keys(str(take))
        wait_for(lambda: len([b for b in browser.find_elements(By.CSS_SELECTOR, "button[aria-label='Play']")
                              if b.is_displayed()]) == 2)                         # both takes loaded
        wait_for(lambda: button("Start a blind battle")).click()
        wait_for(lambda: "Battle ready" in browser.page_source)
        assert button("Start a blind battle") is None                    # the labelled players folded away
        for play in wait_for(lambda: players("Play")):
            browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", play)
            play.click()
        wait_for(lambda: enabled(button("Tie")))
        button("Tie").click()
        wait_for(lambda: "You said: tie" in browser.page_source)
        assert "chorus_take_one.ogg" in browser.page_source and "your take 1" in browser.page_source
        wait_for(lambda: sum(p.is_displayed() for p in browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot")) == 2)
        browser.save_screenshot(str(tmp_path / "arena_upload_reveal.png"))
    finally:
        browser.quit()
