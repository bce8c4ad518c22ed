"""End to end in a real browser: headless Chromium uploads a clip on the Analyze tab and sees the radar.

Screenshots (desktop and phone width) are saved under the test's tmp_path for a person to look at.
Skipped, with the reason, only when no Chromium/chromedriver binary exists on this machine.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Iterator

import pytest

from apex_demo.config import Settings
from tests.app_server import running_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run")
CLIP = "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).hq.ogg"  # 46 s: two segments
PAGE_LOAD_S = 60
SCORE_WAIT_S = 240
DESKTOP = (1280, 2000)
PHONE = (390, 2400)

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")


def browser_binaries() -> tuple[str, str] | None:
    chromium = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    driver = str(CHROMEDRIVER) if CHROMEDRIVER.exists() else shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


@pytest.fixture()
def app_url(tiny_settings: Settings) -> Iterator[str]:
    with running_app(tiny_settings) as (ctx, url):
        ctx.loader.wait(120)
        yield url


def chromium(mobile: bool = False):
    """A headless Chromium; `mobile` emulates a phone-sized screen from the first page load."""
    binaries = browser_binaries()
    if binaries is None:
        pytest.skip(f"no Chromium browser here ({CHROMIUM} / {CHROMEDRIVER} missing); install the Debian "
                    "packages chromium and chromium-driver to run this test")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = binaries[0]
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    if mobile:
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": {
            "width": PHONE[0], "height": PHONE[1], "pixelRatio": 1.0}})
    else:
        options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    return webdriver.Chrome(service=Service(binaries[1]), options=options)


def score_clip_in_page(browser, url: str, clip: Path) -> None:
    """Open the page, upload `clip` on Analyze, press the button and wait for the finished reading."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    WebDriverWait(browser, PAGE_LOAD_S).until(
        EC.text_to_be_present_in_element((By.ID, "apex-status"), "Models ready"))
    browser.find_element(By.CSS_SELECTOR, "#analyze-audio input[type=file]").send_keys(str(clip))
    WebDriverWait(browser, PAGE_LOAD_S).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, "#analyze-audio audio, #analyze-audio .waveform-container")))
    browser.find_element(By.ID, "analyze-button").click()
    WebDriverWait(browser, SCORE_WAIT_S).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, "#analyze-radar .js-plotly-plot")))
    WebDriverWait(browser, SCORE_WAIT_S).until(
        EC.text_to_be_present_in_element((By.ID, "analyze-summary"), "Weakest part"))


def test_upload_clip_and_see_radar(app_url: str, audio_dir: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    browser = chromium()
    try:
        score_clip_in_page(browser, app_url, audio_dir / CLIP)
        radar_text = browser.find_element(By.ID, "analyze-radar").text
        assert all(label in radar_text for label in ("Coherence", "Musicality", "Memorability", "Clarity",
                                                     "Naturalness"))
        summary = browser.find_element(By.ID, "analyze-summary").text
        assert "Streams" in summary and "Likes" in summary
        timeline = browser.find_element(By.ID, "analyze-timeline")
        assert len(timeline.find_elements(By.CSS_SELECTOR, ".scatterlayer .trace")) == 7
        desktop = tmp_path / "analyze_desktop.png"
        assert browser.save_screenshot(str(desktop)) and desktop.stat().st_size > 10_000
    finally:
        browser.quit()

    phone_browser = chromium(mobile=True)
    try:
        score_clip_in_page(phone_browser, app_url, audio_dir / CLIP)  # a cache hit: the result comes at once
        width, scroll_width = phone_browser.execute_script(
            "return [window.innerWidth, document.documentElement.scrollWidth]")
        assert (width, scroll_width) == (PHONE[0], PHONE[0])  # nothing wider than the phone's screen
        phone = tmp_path / "analyze_phone.png"
        assert phone_browser.save_screenshot(str(phone)) and phone.stat().st_size > 10_000
    finally:
        phone_browser.quit()
    print(f"screenshots: {desktop} {phone}")
