"""A real browser (Debian's chromium driven by Playwright) opens the app, uploads a photo, sees
the predictions and the C1-C5 grid, switches tabs, and saves a screenshot."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from resnet_viz import analyze

from .app_server import running_app
from .conftest import ROOT, random_model

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(os.environ.get("RESNET_VIZ_SCREENSHOTS", "")) if os.environ.get("RESNET_VIZ_SCREENSHOTS") else None


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail("Debian's chromium is not installed: apt-get install -y chromium (see .ci/run)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def app_server():
    with running_app("resnet18") as (url, explorer):
        yield url, explorer


@pytest.fixture(scope="module")
def app_url(app_server):
    return app_server[0]


def _shot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    if SCREENSHOTS:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, SCREENSHOTS / name)
    return path


def test_upload_predict_grid_and_tabs(browser, app_url, examples, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page.goto(app_url)
    # The visitor first sees an example already analysed.
    first = analyze(random_model("resnet18"), next(p for p in examples if p.name == "chelsea.png"))
    expect(page.locator("#predictions")).to_contain_text(first["predictions"][0]["label"], timeout=60_000)

    photo = next(p for p in examples if p.name == "rocket.jpg")
    expected = analyze(random_model("resnet18"), photo)["predictions"][0]["label"]
    page.get_by_role("tab", name="Stage features C1-C5").click()
    grid = page.locator("#grid img")
    expect(grid).to_be_visible(timeout=30_000)
    before = grid.get_attribute("src")
    page.locator("#photo input[type=file]").set_input_files(str(photo))
    expect(grid).not_to_have_attribute("src", before, timeout=60_000)
    page.get_by_role("tab", name="Predictions").click()
    expect(page.locator("#predictions")).to_contain_text(expected, timeout=30_000)
    expect(page.locator("#status")).to_contain_text("resnet18 · random weights · cpu · last analysis")

    page.get_by_role("tab", name="Stage features C1-C5").click()
    page.get_by_label("C5").check()
    expect(page.locator("#stage-info")).to_contain_text("C5: 512 channels x 7 x 7, stride 32", timeout=30_000)
    expect(grid).to_be_visible()
    box = grid.bounding_box()
    assert box and box["width"] > 300 and box["height"] > 100
    _shot(page, tmp_path, "stages.png")

    page.get_by_role("tab", name="Residual vs shortcut").click()
    expect(page.get_by_text("H(x) = F(x) + x").first).to_be_visible()
    expect(page.locator("#residual-plot img")).to_be_visible(timeout=30_000)
    assert _shot(page, tmp_path, "residual.png").stat().st_size > 10_000
    page.close()


def test_the_page_speaks_korean_to_a_korean_browser(browser, app_url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="ko-KR")
    page.goto(app_url)
    expect(page.get_by_text("resnet-viz: ResNet 들여다보기")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("tab", name="스테이지 특징 C1-C5")).to_be_visible()
    expect(page.locator("#status")).to_contain_text("무작위 가중치", timeout=60_000)
    page.get_by_role("tab", name="스테이지 특징 C1-C5").click()
    expect(page.get_by_text("평균 활성값")).to_be_visible()  # a radio choice's label, translated too
    _shot(page, tmp_path, "korean.png")
    page.close()


def test_explain_shows_a_heatmap(browser, app_url, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page.goto(app_url)
    expect(page.locator("#status")).to_contain_text("last analysis", timeout=60_000)
    page.get_by_role("tab", name="Attributions").click()
    expect(page.locator("#target input")).to_have_value("top-1 prediction")
    page.get_by_role("button", name="Explain").click()
    expect(page.locator("#heatmap img")).to_be_visible(timeout=60_000)
    expect(page.locator("#attribution-info")).to_contain_text("Grad-CAM for")
    _shot(page, tmp_path, "attributions.png")
    page.close()


def test_the_target_menu_offers_this_images_top5_first(browser, app_url):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="en-US")
    page.goto(app_url)
    expect(page.locator("#status")).to_contain_text("last analysis", timeout=60_000)
    page.get_by_role("tab", name="Attributions").click()
    page.locator("#target input").click()
    first = analyze(random_model("resnet18"), next(p for p in (ROOT / "assets").glob("chelsea.png")))
    top = first["predictions"][0]
    expect(page.get_by_role("option", name=f"1. {top['label']}").first).to_be_visible(timeout=10_000)
    page.close()


def test_closing_the_tab_frees_the_session(browser, app_server):
    url, explorer = app_server
    page = browser.new_page()
    page.goto(url)
    expect(page.locator("#status")).to_contain_text("last analysis", timeout=60_000)
    before = len(explorer.store)
    assert before >= 1
    page.close()
    deadline = time.monotonic() + 20
    while len(explorer.store) >= before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(explorer.store) <= before - 1


def test_a_visitor_after_the_session_ttl_gets_the_example(browser, examples):
    """`python app.py --session-ttl 2`: the first visitor idles past the TTL; a visitor who comes
    later still sees the example analysed, with no error (the shared example used to expire)."""
    import app

    args = app.parse_args(["--arch", "resnet18", "--weights", "random", "--device", "cpu", "--session-ttl", "2"])
    demo = app.demo_from_args(args)
    assert demo.explorer.store.ttl_s == 2
    _, url, _ = demo.launch(prevent_thread_lock=True, **{**app.launch_kwargs(port=None), "quiet": True})
    try:
        expected = analyze(random_model("resnet18"), next(p for p in examples if p.name == "chelsea.png"))
        label = expected["predictions"][0]["label"]
        first = browser.new_page(locale="en-US")
        first.goto(url)
        expect(first.locator("#predictions")).to_contain_text(label, timeout=60_000)
        time.sleep(3)  # longer than the TTL, with the first visitor idle
        later = browser.new_page(locale="en-US")
        later.goto(url)
        expect(later.locator("#predictions")).to_contain_text(label, timeout=60_000)
        expect(later.locator("#status")).to_contain_text("last analysis")
        later.get_by_role("tab", name="Stage features C1-C5").click()
        expect(later.locator("#grid img")).to_be_visible(timeout=30_000)
        assert later.get_by_text("Analyse a photo first").count() == 0
        assert later.locator(".toast-body").count() == 0
        first.close()
        later.close()
    finally:
        demo.close()
