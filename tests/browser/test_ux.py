"""A checker musicians trust, in real headless Chromium: a progress line that advances and ends in
"done", a click on the timeline plays that part, errors stay in a panel (not a toast), a new upload
clears the old result, and a 390 px phone shows every tab with nothing wider than the screen.

Screenshots of every tab at 1440x900 and 390x844 are saved under the test's tmp_path for a
person to look at (their paths are printed).
"""

from __future__ import annotations

import dataclasses
import re

import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from apex_demo.config import Settings
from apex_demo.engine.models import get_scorer
from tests.support.app import chromium, choose_song, open_page, running_app, show_tab, wait_until
from tests.support.fakes import FakeScorer

SONG = "outfoxing.mp3"  # 97.4 s: three full parts and a 7 s tail padded with silence
PAGE_LOAD_S = 60
SCORE_WAIT_S = 240
SEGMENT_DELAY_S = 1.0  # the tiny test model is instant; a pause per part makes the progress visible
DESKTOP = (1440, 900)
PHONE = (390, 844)
TABS = ("Analyze", "Compare takes", "Arena", "Leaderboard", "About")
RECORD_PROGRESS = """
window.apexProgress = [];
const target = document.querySelector('#analyze-progress');
new MutationObserver(() => window.apexProgress.push(target.innerText.trim()))
  .observe(target, {childList: true, subtree: true, characterData: true, attributes: true});
window.apexAnnounced = [];  // what Gradio's screen-reader announcer says, as it says it
new MutationObserver(() => {
  for (const a of document.querySelectorAll('.sr-only[role=status]')) window.apexAnnounced.push(a.textContent.trim());
}).observe(document.body, {childList: true, subtree: true, characterData: true});
"""
IN_VIEW = """
const box = document.querySelector(arguments[0]).getBoundingClientRect();
return box.top >= 0 && box.bottom <= window.innerHeight;
"""
PLAYER_TIME = """
const root = document.querySelector('#analyze-audio');
for (const el of root.querySelectorAll('*')) {
  const audio = el.shadowRoot && el.shadowRoot.querySelector('audio');
  if (audio) return audio.currentTime;
}
return null;
"""

CUT_TITLES = """
return [...document.querySelectorAll('.js-plotly-plot .gtitle')].filter(t => {
  const box = t.getBoundingClientRect(), plot = t.closest('.js-plotly-plot').getBoundingClientRect();
  return box.width > 0 && (box.left < plot.left - 1 || box.right > plot.right + 1);
}).map(t => t.textContent);
"""

# A tab is drawn when it is the selected one and every visible chart holds its SVG (Plotly draws after
# Gradio hands it the figure).
TAB_DRAWN = """
const selected = [...document.querySelectorAll('button[role=tab][aria-selected=true]')].map(b => b.innerText.trim());
if (!selected.includes(arguments[0])) return false;
const charts = [...document.querySelectorAll('.js-plotly-plot')].filter(c => c.offsetParent !== null);
return charts.every(c => c.querySelector('svg.main-svg'));
"""

pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
pytestmark = pytest.mark.browser  # skipped, with the reason, without Chromium (tests/conftest.py)


class SlowScorer:
    """The real (tiny) engine, pausing after each part so a browser can watch the progress line."""

    def __init__(self, settings: Settings) -> None:
        self._scorer = get_scorer(settings)
        self.max_seconds = self._scorer.max_seconds

    def iter_score(self, path: Any, display_name: str | None = None, partial: bool = True,
                   read_cache: bool = True, proceed: Any = None) -> Iterator[Any]:
        for result in self._scorer.iter_score(path, display_name, partial, read_cache, proceed=proceed):
            time.sleep(SEGMENT_DELAY_S)
            yield result

    def score_file(self, path: Any, display_name: str | None = None, read_cache: bool = True,
                   proceed: Any = None) -> Any:
        return self._scorer.score_file(path, display_name, read_cache, proceed=proceed)


@pytest.fixture(scope="module")
def app_url(module_tiny_settings: Settings) -> Iterator[str]:
    """One app for the module's tests, behind_proxy as on Spaces. No embedding cache: every song is encoded
    again, whichever test scored it before, so no test depends on another's order."""
    settings = dataclasses.replace(module_tiny_settings, behind_proxy=True, use_cache=False)
    with running_app(settings, load=SlowScorer) as (ctx, url):
        ctx.loader.wait(120)
        yield url


def _show_tab(browser: Any, tab: str) -> None:
    """Click a tab and wait until it is selected and every chart on the page has drawn its figure."""

    show_tab(browser, tab)
    wait_until(browser, PAGE_LOAD_S, lambda b: b.execute_script(TAB_DRAWN, tab))


def _screens(browser: Any, folder: Path, tag: str) -> list[Path]:
    shots = []
    for tab in TABS:
        _show_tab(browser, tab)
        shot = folder / f"{tag}_{tab.split()[0].lower()}.png"
        browser.save_screenshot(str(shot))
        shots.append(shot)
    return shots


def test_progress_click_to_hear_and_new_upload(app_url: str, audio_dir: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    browser = chromium()
    browser.set_window_size(*DESKTOP)
    try:
        open_page(browser, app_url)
        browser.execute_script(RECORD_PROGRESS)
        choose_song(browser, audio_dir / SONG)
        browser.find_element(By.ID, "analyze-button").click()
        wait_until(browser, SCORE_WAIT_S, EC.text_to_be_present_in_element((By.ID, "analyze-progress"), "Done"))
        seen = [t for t in browser.execute_script("return window.apexProgress") if t]
        # Gradio announces the end to screen readers (at most one announcement per 5 s): in words, never
        # its untranslated key "common.complete"
        announced = wait_until(browser, 15, lambda b: (said := set(b.execute_script("return window.apexAnnounced")))
                               & {"Done", "common.complete"} and said)
        assert "Done" in announced and not [t for t in announced if re.match(RAW_ID, t)], announced
        assert any(t.startswith("Reading the audio") for t in seen)
        for done in (1, 2, 3):
            assert any(f"{done} of 4 parts done · about" in t and "left" in t for t in seen), seen
        assert seen[-1] == "✓ Done: 4 parts scored in " + seen[-1].split(" in ")[-1]
        summary = browser.find_element(By.ID, "analyze-summary").text
        assert "The last 7 s (1:30-1:37) is too short to judge on its own" in summary

        points = browser.find_elements(By.CSS_SELECTOR, "#analyze-timeline .scatterlayer .trace .points path")
        assert len(points) == 7 * 4  # seven outputs, four parts; the first four are Streams' points
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", points[2])
        ActionChains(browser).move_to_element(points[2]).click().perform()
        wait_until(browser, 10, lambda b: (b.execute_script(PLAYER_TIME) or 0) >= 60)
        assert 60 <= browser.execute_script(PLAYER_TIME) < 90  # the third part, 1:00-1:30, is playing
        assert browser.execute_script(IN_VIEW, "#analyze-audio")  # ...in a player brought into view, not off screen

        desktop = _screens(browser, tmp_path, "desktop")
        browser.find_element(By.CSS_SELECTOR, "button[role=tab]").click()  # back to Analyze
        browser.find_element(By.CSS_SELECTOR, "#analyze-audio button[aria-label=Clear]").click()
        choose_song(browser, audio_dir / "vocadito_10.wav")  # a new song: the old reading must go
        wait_until(browser, 10, lambda b: not b.find_element(By.ID, "analyze-summary").text.strip())
        assert not [e for e in browser.find_elements(By.ID, "analyze-timeline") if e.is_displayed()]
        assert not browser.find_element(By.ID, "analyze-progress").text.strip()
    finally:
        browser.quit()
    print("screenshots:", *desktop)


def test_error_panel_stays_and_speaks_plainly(app_url: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    fake = tmp_path / "my_lyrics.mp3"
    fake.write_text("these are my lyrics, not audio\n" * 50)
    browser = chromium()
    try:
        open_page(browser, app_url)
        browser.find_element(By.ID, "analyze-button").click()  # nothing uploaded yet
        wait_until(browser, PAGE_LOAD_S, EC.text_to_be_present_in_element((By.ID, "analyze-message"), "No song yet"))
        browser.find_element(By.CSS_SELECTOR, "#analyze-audio input[type=file]").send_keys(str(fake))
        time.sleep(2)  # give the browser time to take the upload (it may refuse to show a player)
        browser.find_element(By.ID, "analyze-button").click()
        # refused from its header before it joins the queue (ui/fairness.py): the plain message stays on
        # the page beside the upload, not in a toast
        refusal = "“my_lyrics.mp3” doesn't look like audio we can read"
        wait_until(browser, SCORE_WAIT_S, lambda b: refusal in b.find_element(By.TAG_NAME, "body").text)
        message = browser.find_element(By.TAG_NAME, "body")
        assert not browser.find_elements(By.CSS_SELECTOR, ".toast-body")  # no toast that could time out
        for admin_word in ("libsndfile", "APEX_", "/tmp"):
            assert admin_word not in message.text
    finally:
        browser.quit()


def test_phone_shows_every_tab_and_nothing_wider_than_the_screen(app_url: str, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser = chromium(mobile_size=PHONE)
    try:
        open_page(browser, app_url)
        tabs = [b for b in browser.find_elements(By.CSS_SELECTOR, "button[role=tab]") if b.is_displayed()]
        assert [b.text for b in tabs] == list(TABS)
        assert not [b for b in browser.find_elements(By.CSS_SELECTOR, "button[aria-label='More tabs']")
                    if b.is_displayed()]
        shots = _screens(browser, tmp_path, "phone")
        for tab in TABS:  # every tab, not only the first, fits the screen
            _show_tab(browser, tab)
            width, scroll_width = browser.execute_script(
                "return [window.innerWidth, document.documentElement.scrollWidth]")
            assert (tab, scroll_width) == (tab, PHONE[0]) and width == PHONE[0]
            assert browser.execute_script(CUT_TITLES) == [], tab
        empty_charts = [p for p in browser.find_elements(By.CSS_SELECTOR, "#analyze-radar, #analyze-timeline, "
                                                                          "#compare-radar") if p.is_displayed()]
        assert not empty_charts  # no empty chart boxes before a result
    finally:
        browser.quit()
    print("screenshots:", *shots)


# -- an upload over the size limit: the project's words, not Gradio's vanishing toast --------------
BIG_SONG = "outfoxing.mp3"        # 1,831,788 bytes = 1.7 MiB
SMALL_SONG = "loop_garzul.flac"   # 765,439 bytes, under the limit below
FILE_LIMIT_MB = 1.0


@pytest.fixture()
def small_limit_url(tiny_settings: Settings) -> Iterator[str]:
    with running_app(dataclasses.replace(tiny_settings, max_file_mb=FILE_LIMIT_MB),
                     load=lambda settings: FakeScorer()) as (ctx, url):
        ctx.loader.wait(120)
        yield url


def test_an_upload_over_the_size_limit_is_refused_in_plain_words(small_limit_url: str, audio_dir: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    # 1,831,788 / 1,048,576 = 1.747 MiB, shown to one decimal
    expected = (f"⚠ “{BIG_SONG}” is 1.7 MB; the limit is 1 MB per file. Export it as a smaller MP3 or OGG "
                "(a lower bitrate; much smaller than WAV) or trim it, then upload it again.")
    browser = chromium()
    try:
        open_page(browser, small_limit_url)
        for upload, limits, tab in (("#analyze-audio", "#analyze-limits", "Analyze"),
                                    ("#compare-files", "#compare-limits", "Compare takes"),
                                    ("#arena-take-1", "#arena-limits", "Arena")):
            next(b for b in browser.find_elements(By.CSS_SELECTOR, "button[role=tab]") if b.text == tab).click()
            if tab == "Arena":  # the takes sit in the folded "Bring your own pair"
                wait_until(browser, PAGE_LOAD_S, EC.element_to_be_clickable(
                    (By.XPATH, "//button[contains(., 'Bring your own pair')]"))).click()
            wait_until(browser, PAGE_LOAD_S, EC.presence_of_element_located(  # an opened fold renders its content
                (By.CSS_SELECTOR, f"{upload} input[type=file]"))).send_keys(str(audio_dir / BIG_SONG))
            refusal = wait_until(browser, PAGE_LOAD_S, EC.visibility_of_element_located(
                (By.CSS_SELECTOR, f"{limits} .apex-upload-refusal")))
            assert refusal.text == expected and refusal.get_attribute("role") == "alert"
            assert not browser.find_elements(By.CSS_SELECTOR, ".toast-body")  # Gradio never saw the file
        next(b for b in browser.find_elements(By.CSS_SELECTOR, "button[role=tab]") if b.text == "Compare takes").click()
        compare_input = browser.find_element(By.CSS_SELECTOR, "#compare-files input[type=file]")
        # one selection of two takes, one too big: the small one is taken, the big one refused by name
        compare_input.send_keys(f"{audio_dir / BIG_SONG}\n{audio_dir / SMALL_SONG}")
        taken = Path(SMALL_SONG).stem  # the file list shows the name's stem and extension on two lines
        wait_until(browser, PAGE_LOAD_S, lambda b: taken in b.find_element(By.ID, "compare-files").text)
        assert Path(BIG_SONG).stem not in browser.find_element(By.ID, "compare-files").text
        refusal = browser.find_element(By.CSS_SELECTOR, "#compare-limits .apex-upload-refusal")
        assert refusal.is_displayed() and refusal.text == expected
        assert not browser.find_elements(By.CSS_SELECTOR, ".toast-body")
        browser.find_element(By.CSS_SELECTOR, "#compare-files input[type=file]").send_keys(str(audio_dir / SMALL_SONG))
        wait_until(browser, PAGE_LOAD_S, lambda b: not b.find_elements(By.CSS_SELECTOR, "#compare-limits .apex-upload-refusal"))
    finally:
        browser.quit()


# -- keyboard: every stop on the Analyze page after a result is visible and has a name ------------
MAX_TAB_STOPS = 300
POINTER_PARK = (5, 5)  # viewport pixels in the page margin, left of the centred content
FOCUSED = """
let el = document.activeElement;
while (el && el.shadowRoot && el.shadowRoot.activeElement) el = el.shadowRoot.activeElement;
if (!el || el === document.body) return null;
const box = el.getBoundingClientRect();
let opacity = 1, hidden = false;
for (let node = el; node; node = node.parentElement || (node.getRootNode() && node.getRootNode().host)) {
  const style = getComputedStyle(node);
  opacity *= Number(style.opacity);
  hidden = hidden || style.visibility === 'hidden' || style.display === 'none';
}
const where = el.closest('[id]');
return {element: el, tag: el.tagName, width: box.width, height: box.height, opacity: opacity, hidden: hidden,
        where: where ? where.id : '', html: el.outerHTML.slice(0, 160)};
"""
RAW_ID = r"^[a-z_]+(\.[a-z_]+)+$"  # an untranslated i18n key such as "audio.play"


def test_keyboard_stops_after_a_result_are_visible_and_labelled(app_url: str, audio_dir: Path) -> None:
    import re

    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as EC

    browser = chromium()
    browser.set_window_size(*DESKTOP)
    try:
        open_page(browser, app_url)
        choose_song(browser, audio_dir / SONG)  # four parts: the summary links the weakest part
        browser.find_element(By.ID, "analyze-button").click()
        wait_until(browser, SCORE_WAIT_S, EC.text_to_be_present_in_element((By.ID, "analyze-progress"), "Done"))
        # a click in the page's top-left margin sets where the keyboard starts (the top) and leaves the
        # pointer where no chart scrolls under it (a hovered chart shows its toolbar, as it should)
        browser.execute_script("window.scrollTo(0, 0)")
        corner = ActionBuilder(browser)
        corner.pointer_action.move_to_location(*POINTER_PARK).click()
        corner.perform()
        stops = []
        for _ in range(MAX_TAB_STOPS):
            ActionChains(browser).send_keys(Keys.TAB).perform()
            stop = browser.execute_script(FOCUSED)
            if stop is None or (stops and stop["html"] == stops[0]["html"]):
                break  # focus left the page or came round again
            stop["name"] = stop.pop("element").accessible_name.strip()  # as Chromium's accessibility tree names it
            stops.append(stop)
        assert len(stops) > 10, stops  # the tabs, the upload, the player, the button, the charts' links…
        invisible = [s for s in stops if s["hidden"] or s["opacity"] < 0.5 or s["width"] < 2 or s["height"] < 2]
        assert invisible == [], [(s["name"], s["where"], s["opacity"], s["width"], s["html"][:80]) for s in invisible]
        unnamed = [s for s in stops if not s["name"] or re.match(RAW_ID, s["name"])]
        assert unnamed == []
        player = [s["name"] for s in stops if s["where"] == "analyze-audio"]
        assert {"Play", "Adjust volume", "Download", "Clear"} <= set(player), player  # Gradio's English labels
        assert len(player) == len(set(player)), player  # one stop per control
        skips = [n for n in player if n.startswith("Skip")]  # Gradio writes 0.45489114999999997: rounded
        spoken = r"Skip (backwards|forward) by (1 second|(?!1 )\d+(\.\d)? seconds)"  # never "1 seconds"
        assert skips and all(re.fullmatch(spoken, n) for n in skips), skips
        summary = [s["name"] for s in stops if s["where"] == "analyze-summary"]
        assert [n for n in summary if n.startswith("▶ ")], summary  # "hear the weak part" by keyboard too
        print("keyboard stops:", *[(s["where"], s["name"]) for s in stops], sep="\n")
    finally:
        browser.quit()


# -- errors stay: 30 s after a bad upload the words are still on the page ---------------------------
STAYS_S = 30  # an error panel must still be visible 30 s after a bad upload (a toast was gone in 4 s)


def nan_wav(path: Path) -> Path:
    """A WAV whose header is fine but whose samples include NaN: it passes the upload check (header
    only) and is refused while decoding, so the refusal lands in the tab's message panel."""
    import numpy as np
    import soundfile as sf

    samples = np.full(44100, 0.1, dtype=np.float32)
    samples[100] = np.nan
    sf.write(str(path), samples, 44100, subtype="FLOAT")
    return path


@pytest.fixture(scope="module", autouse=True)
def errors_shown(app_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, str, float]]:
    """Two bad uploads in a browser of their own, made before the module's first test, so the 30 s that
    the last test waits for pass while the other tests run: (browser, panel page, upload page, when
    both errors were on screen, monotonic s)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    folder = tmp_path_factory.mktemp("errors")
    broken = nan_wav(folder / "broken_take.wav")
    lyrics = folder / "my_lyrics.mp3"
    lyrics.write_text("these are my lyrics, not audio\n" * 50)
    browser = chromium()
    try:
        open_page(browser, app_url)
        choose_song(browser, broken)
        browser.find_element(By.ID, "analyze-button").click()
        wait_until(browser, SCORE_WAIT_S, EC.text_to_be_present_in_element((By.ID, "analyze-message"), IN_PANEL))
        panel_page = browser.current_window_handle
        browser.switch_to.new_window("tab")
        open_page(browser, app_url)
        browser.find_element(By.CSS_SELECTOR, "#analyze-audio input[type=file]").send_keys(str(lyrics))
        time.sleep(2)  # give the browser time to take the upload (it may refuse to show a player)
        browser.find_element(By.ID, "analyze-button").click()
        # refused at submit by the upload check (ui/guards/fairness.py): Gradio shows it over the upload itself
        wait_until(browser, SCORE_WAIT_S, lambda b: AT_UPLOAD in b.find_element(By.ID, "analyze-audio").text)
        yield browser, panel_page, browser.current_window_handle, time.monotonic()
    finally:
        browser.quit()


# ui/messages.py BY_CODE words for NON_FINITE (decoding) and NOT_AUDIO (the header check at submit)
IN_PANEL = "“broken_take.wav” contains broken sample values. Export it again, for example as a 16-bit WAV."
AT_UPLOAD = "“my_lyrics.mp3” doesn't look like audio we can read."


def test_errors_are_still_visible_30_s_after_a_bad_upload(errors_shown: tuple[Any, str, str, float]) -> None:
    from selenium.webdriver.common.by import By

    browser, panel_page, upload_page, shown_at = errors_shown
    time.sleep(max(0.0, STAYS_S - (time.monotonic() - shown_at)))  # the full 30 s, whatever ran meanwhile
    assert time.monotonic() - shown_at >= STAYS_S
    browser.switch_to.window(upload_page)
    beside_upload = browser.find_element(By.XPATH, f'//*[@id="analyze-audio"]//*[contains(text(), "{AT_UPLOAD}")]')
    assert beside_upload.is_displayed()
    browser.switch_to.window(panel_page)
    message = browser.find_element(By.CSS_SELECTOR, "#analyze-message .apex-panel-error")
    assert message.is_displayed() and message.text == f"⚠ {IN_PANEL}"
    assert message.get_attribute("role") == "alert"
