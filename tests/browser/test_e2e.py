"""End to end in a real browser: headless Chromium uploads a clip on the Analyze tab and sees the radar.

Screenshots (desktop and phone width) are saved under the test's tmp_path for a person to look at.
Skipped, with the reason, only when no Chromium/chromedriver binary exists on this machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from apex_demo.config import Settings
from tests.support.app import chromium, running_app

CLIP = "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra).hq.ogg"  # 46 s: two segments
PAGE_LOAD_S = 60
SCORE_WAIT_S = 240
PHONE = (390, 2400)
pytestmark = [pytest.mark.browser, pytest.mark.slow]  # skipped, with the reason, without Chromium (conftest)


@pytest.fixture()
def app_url(tiny_settings: Settings) -> Iterator[str]:
    with running_app(tiny_settings) as (ctx, url):
        ctx.loader.wait(120)
        yield url


def score_clip_in_page(browser, url: str, clip: Path) -> None:
    """Open the page, upload `clip` on Analyze, press the button and wait for the finished reading."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    WebDriverWait(browser, PAGE_LOAD_S).until(
        EC.text_to_be_present_in_element((By.ID, "apex-status"), "Models ready"))
    upload = WebDriverWait(browser, PAGE_LOAD_S).until(  # the status can be ready before the upload box renders
        EC.presence_of_element_located((By.CSS_SELECTOR, "#analyze-audio input[type=file]")))
    upload.send_keys(str(clip))
    WebDriverWait(browser, PAGE_LOAD_S).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, "#analyze-audio audio, #analyze-audio .waveform-container")))
    browser.find_element(By.ID, "analyze-button").click()
    WebDriverWait(browser, SCORE_WAIT_S).until(
        EC.presence_of_element_located((By.CSS_SELECTOR, "#analyze-radar .js-plotly-plot")))
    WebDriverWait(browser, SCORE_WAIT_S).until(
        EC.text_to_be_present_in_element((By.ID, "analyze-progress"), "Done"))


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

    phone_browser = chromium(mobile_size=PHONE)
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
