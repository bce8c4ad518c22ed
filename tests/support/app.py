"""Run the web app in-process on a free loopback port, and drive it with headless Chromium,
for the API, load and browser tests."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
from pathlib import Path
from typing import Any, Iterator

import pytest

from apex_demo.config import Settings
from apex_demo.ui import build_app, create_context, launch_options
from apex_demo.ui.context import AppContext
from apex_demo.ui.loader import Loader

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--no-first-run", "--autoplay-policy=no-user-gesture-required")
DESKTOP = (1280, 2000)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(settings: Settings, load: Loader | None = None) -> Iterator[tuple[AppContext, str]]:
    """The app as `python app.py` launches it; yields (context, base URL) and shuts it down after.

    `load` replaces the model loader (e.g. `lambda s: FakeScorer()`), as in `AppContext.create`.
    """
    ctx = create_context(settings, load=load)
    demo = build_app(ctx)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options(settings))
    try:
        yield ctx, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()
        ctx.close()


def call_result(http: Any, api_name: str, event_id: str) -> list[Any]:
    """The outputs of a call posted to Gradio's plain HTTP API (POST /gradio_api/call/<name>), read
    from its event stream with `http` (an httpx.Client whose base URL ends in /gradio_api/call/)."""
    event = None
    with http.stream("GET", f"{api_name}/{event_id}") as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[len("event: "):]
            elif line.startswith("data: ") and event in ("complete", "error"):
                payload = json.loads(line[len("data: "):])
                if event == "error":
                    raise AssertionError(f"{api_name} failed: {payload}")
                return payload
    raise AssertionError(f"{api_name}: no result")


def browser_binaries() -> tuple[str, str] | None:
    chromium = str(CHROMIUM) if CHROMIUM.exists() else shutil.which("chromium")
    driver = str(CHROMEDRIVER) if CHROMEDRIVER.exists() else shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


def chromium(mobile_size: tuple[int, int] | None = None) -> Any:
    """A headless Chromium WebDriver (the caller quits it); `mobile_size` emulates a phone of that
    width and height from the first page load. Skips the test, with the reason, when selenium or
    the Debian packages chromium and chromium-driver are missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
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
    if mobile_size is not None:
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": {
            "width": mobile_size[0], "height": mobile_size[1], "pixelRatio": 1.0}})
    else:
        options.add_argument(f"--window-size={DESKTOP[0]},{DESKTOP[1]}")
    return webdriver.Chrome(service=Service(binaries[1]), options=options)


PAGE_LOAD_S = 60


def wait_until(browser: Any, seconds: float, condition: Any) -> Any:
    """Selenium's wait for `condition(browser)`, polled five times a second (a condition, never a sleep)."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, seconds, poll_frequency=0.2).until(condition)


def open_page(browser: Any, url: str) -> None:
    """Load the app and wait until its models are ready."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    browser.get(url)
    wait_until(browser, PAGE_LOAD_S, EC.text_to_be_present_in_element((By.ID, "apex-status"), "Models ready"))


def choose_song(browser: Any, path: Path) -> None:
    """Choose `path` in the Analyze upload and wait until the player holds it."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC

    browser.find_element(By.CSS_SELECTOR, "#analyze-audio input[type=file]").send_keys(str(path))
    wait_until(browser, PAGE_LOAD_S, EC.presence_of_element_located(
        (By.CSS_SELECTOR, "#analyze-audio audio, #analyze-audio .waveform-container")))


def show_tab(browser: Any, tab: str) -> None:
    """Click the tab named `tab` (its button's text)."""
    from selenium.webdriver.common.by import By

    next(b for b in browser.find_elements(By.CSS_SELECTOR, "button[role=tab]") if b.text == tab).click()
