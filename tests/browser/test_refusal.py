"""In a real browser: an upload refused from its header (here: longer than the limit) is answered on
the Analyze tab in the visitor's words before any scoring is queued, and so is a comparison whose
takes are too long together. Screenshots are saved under the test's tmp_path for a person to look at."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Iterator

import pytest

from apex_demo.config import Settings
from tests.support.app import chromium, running_app

CLIP = "loop_garzul.flac"  # 8.0 s
MAX_SECONDS = 5.0
PAGE_LOAD_S = 60
ANSWER_WAIT_S = 60

pytest.importorskip("selenium.webdriver", reason="selenium is not installed")


@pytest.fixture()
def app_url(tiny_settings: Settings) -> Iterator[str]:
    with running_app(dataclasses.replace(tiny_settings, max_seconds=MAX_SECONDS)) as (ctx, url):
        ctx.loader.wait(120)
        yield url


def test_too_long_upload_is_refused_on_the_page(app_url: str, audio_dir: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    browser = chromium()
    try:
        browser.get(app_url)
        WebDriverWait(browser, PAGE_LOAD_S).until(
            EC.text_to_be_present_in_element((By.ID, "apex-status"), "Models ready"))
        browser.find_element(By.CSS_SELECTOR, "#analyze-audio input[type=file]").send_keys(str(audio_dir / CLIP))
        WebDriverWait(browser, PAGE_LOAD_S).until(EC.presence_of_element_located(
            (By.CSS_SELECTOR, "#analyze-audio audio, #analyze-audio .waveform-container")))
        browser.find_element(By.ID, "analyze-button").click()
        WebDriverWait(browser, ANSWER_WAIT_S).until(
            lambda b: "the limit is" in b.find_element(By.TAG_NAME, "body").text)
        body = browser.find_element(By.TAG_NAME, "body").text
        (line,) = [text for text in body.splitlines() if "the limit is" in text]
        # what is wrong (its length, the limit) and what to do, in the visitor's words (ui/messages.py)
        assert line.startswith(f"“{CLIP}” is 8 s long; the limit is 5 s. Trim it") and "/tmp" not in line
        assert "· up to 5 s ·" in browser.find_element(By.ID, "analyze-limits").text  # was "up to 0.0833333 min"
        shot = tmp_path / "refused.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")
    finally:
        browser.quit()


COMPARE_BUDGET_S = 10.0
TAKES = ("loop_garzul.flac", "sorohanro_-_solo-trumpet-06.ogg")  # 8.0 s + 5.3 s = 13.3 s, over 10 s


@pytest.fixture()
def compare_url(tiny_settings: Settings) -> Iterator[str]:
    with running_app(dataclasses.replace(tiny_settings, compare_max_seconds=COMPARE_BUDGET_S)) as (ctx, url):
        ctx.loader.wait(120)
        yield url


def test_a_comparison_over_the_total_budget_is_refused_on_the_page(compare_url: str, audio_dir: Path,
                                                                   tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    browser = chromium()
    try:
        browser.get(compare_url)
        WebDriverWait(browser, PAGE_LOAD_S).until(
            EC.text_to_be_present_in_element((By.ID, "apex-status"), "Models ready"))
        next(b for b in browser.find_elements(By.CSS_SELECTOR, "button[role=tab]") if b.text == "Compare takes").click()
        limits = browser.find_element(By.ID, "compare-limits").text
        assert "Up to 10 s of audio per comparison, all takes together." in limits  # said before uploading
        files = browser.find_element(By.CSS_SELECTOR, "#compare-files input[type=file]")
        files.send_keys("\n".join(str(audio_dir / name) for name in TAKES))
        WebDriverWait(browser, PAGE_LOAD_S).until(  # both uploads listed (the name and suffix on two lines)
            lambda b: all(Path(name).stem in b.find_element(By.ID, "compare-files").text for name in TAKES))
        browser.find_element(By.ID, "compare-button").click()
        WebDriverWait(browser, ANSWER_WAIT_S).until(
            lambda b: "together; one comparison" in b.find_element(By.TAG_NAME, "body").text)
        (line,) = [t for t in browser.find_element(By.TAG_NAME, "body").text.splitlines() if "together;" in t]
        assert line.startswith("These 2 files last 13.3 s together; one comparison takes at most 10 s of audio.")
        shot = tmp_path / "compare_refused.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
        print(f"screenshot: {shot}")
    finally:
        browser.quit()
