"""Helpers for the real-browser tests: Debian's chromium driven by Playwright (never a downloaded
browser), and an in-process app whose explorer counts what the page asks of it."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from resnet_viz.serve.explorer import Explorer
from resnet_viz.serve.sessions import SessionStore

from .app_server import running_app
from .support import random_registry

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(os.environ["RESNET_VIZ_SCREENSHOTS"]) if os.environ.get("RESNET_VIZ_SCREENSHOTS") else None

# Every visible word under a CSS selector (split at spaces, zero-width spaces, hyphens and slashes,
# where a line may break) that the browser laid out over more than one line ("block|s").
SPLIT_WORDS_JS = (Path(__file__).parent / "split_words.js").read_text()


class CountingExplorer(Explorer):
    """The app's explorer, counting the analyses and Grad-CAM ladders the page asks for."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.analyses: list[str] = []  # "upload" or "example", one per analysis asked for
        self.derived: list[str] = []

    def analyze(self, image, arch, session_id, lang="en"):
        self.analyses.append("upload")
        return super().analyze(image, arch, session_id, lang)

    def analyze_example(self, image, arch, session_id, lang="en"):
        self.analyses.append("example")
        return super().analyze_example(image, arch, session_id, lang)

    def ladder(self, session):
        self.derived.append(session.arch)
        return super().ladder(session)


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: apt-get install -y chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def browser_app():
    explorer = CountingExplorer(random_registry(), SessionStore())
    with running_app("resnet18", explorer=explorer) as (url, _):
        yield url, explorer


def open_page(browser, url: str, locale: str = "en-US"):
    """A new tab on the app, waiting until the example is analysed and its Grad-CAM drawn."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale=locale)
    page.goto(url)  # not "networkidle": the page keeps its heartbeat open (FACTS.md)
    expect(page.locator("#status")).to_contain_text("· cpu ·", timeout=60_000)
    return page


def shot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if SCREENSHOTS:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SCREENSHOTS / name)
    return path


def wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
