"""A real browser opens the app: the example is analysed on arrival on every tab, an upload is
analysed once, the page speaks Korean to a Korean browser, and closing the tab frees the session."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from resnet_viz import analyze

from .browser import open_page, shot, wait_for
from .support import ROOT, random_model

pytestmark = pytest.mark.browser

CHELSEA = ROOT / "assets" / "chelsea.png"
ROCKET = ROOT / "assets" / "rocket.jpg"


def _top1(arch: str, photo) -> str:
    return analyze(random_model(arch), photo)["predictions"][0]["label"]


def test_every_tab_shows_the_example_on_arrival(browser, browser_app, tmp_path):
    url, _ = browser_app
    page = open_page(browser, url)
    label = _top1("resnet18", CHELSEA)
    expect(page.locator("#predictions")).to_contain_text(label)
    expect(page.locator("#banner")).to_contain_text("Random weights: the predictions are meaningless")
    page.get_by_role("tab", name="Stage features C1-C5").click()
    expect(page.locator("#grid img")).to_be_visible()
    expect(page.locator("#grid-title")).to_contain_text("C2: the 32 most active channels (resnet18")
    page.get_by_role("tab", name="Residual vs shortcut").click()
    expect(page.get_by_text("H(x) = F(x) + x").first).to_be_visible()
    expect(page.locator("#residual-plot img")).to_be_visible()
    expect(page.locator("#blocks")).to_contain_text("C2.1")
    expect(page.locator("#blocks")).to_contain_text("layer1.0")
    # Grad-CAM (C5 and the ladder) and the gradient flow are there without pressing anything.
    page.get_by_role("tab", name="Attributions").click()
    expect(page.locator("#heatmap img")).to_be_visible(timeout=30_000)
    expect(page.locator("#ladder img")).to_be_visible()
    expect(page.locator("#attribution-info")).to_contain_text(f"Grad-CAM at C5 for {label}")
    page.get_by_role("tab", name="Residual-learning lab").click()
    expect(page.locator("#flow-plot img")).to_be_visible()
    expect(page.locator("#lesion-note")).to_contain_text("Run the lesion sweep")
    expect(page.locator("#intact-top5")).to_contain_text(label)
    shot(page, tmp_path, "lab.png")
    page.close()


def test_an_upload_is_analysed_once_and_shown_on_every_tab(browser, browser_app, tmp_path):
    url, explorer = browser_app
    page = open_page(browser, url)
    page.get_by_role("tab", name="Stage features C1-C5").click()
    grid = page.locator("#grid img")
    expect(grid).to_be_visible()
    before = grid.get_attribute("src")
    analyses, ladders = len(explorer.analyses), len(explorer.derived)
    page.locator("#photo input[type=file]").set_input_files(str(ROCKET))
    expect(grid).not_to_have_attribute("src", before, timeout=60_000)
    expected = _top1("resnet18", ROCKET)
    page.get_by_role("tab", name="Attributions").click()
    expect(page.locator("#attribution-info")).to_contain_text(f"for {expected}", timeout=30_000)
    time.sleep(1)  # a second analysis, if one were coming, would have started by now
    assert explorer.analyses[analyses:] == ["upload"]  # one upload, one analysis ...
    assert len(explorer.derived) - ladders <= 1  # ... and one Grad-CAM ladder at most
    page.get_by_role("tab", name="Predictions").click()
    expect(page.locator("#predictions")).to_contain_text(expected)
    expect(page.locator("#status")).to_contain_text("resnet18 · random weights · cpu · last analysis")

    analyses = len(explorer.analyses)  # an example click: one analysis too
    page.locator(".gallery-item, button.gallery-item").nth(1).click()
    expect(page.locator("#predictions")).to_contain_text(_top1("resnet18", ROOT / "assets" / "coffee.png"), timeout=60_000)
    time.sleep(1)
    assert explorer.analyses[analyses:] == ["upload"]
    shot(page, tmp_path, "predictions.png")
    page.close()


def test_a_refused_photo_gets_one_message_and_clears_the_tabs(browser, browser_app, tmp_path):
    url, explorer = browser_app
    page = open_page(browser, url)
    bad = tmp_path / "holiday.png"
    bad.write_text("this is text")
    analyses = len(explorer.analyses)
    page.locator("#photo input[type=file]").set_input_files(str(bad))
    toast = page.locator(".toast-body")
    expect(toast).to_contain_text("This image cannot be analysed: not an image", timeout=30_000)
    time.sleep(1)
    assert toast.count() == 1 and "(2)" not in toast.first.inner_text()
    assert explorer.analyses[analyses:] == ["upload"]
    expect(page.locator("#status")).to_contain_text("No photo")
    expect(page.locator("#predictions")).not_to_contain_text("%")
    page.close()


def test_the_page_speaks_korean_to_a_korean_browser(browser, browser_app, tmp_path):
    url, _ = browser_app
    page = open_page(browser, url, locale="ko-KR")
    expect(page.get_by_text("resnet-viz: ResNet 들여다보기")).to_be_visible()
    expect(page.locator("#status")).to_contain_text("무작위 가중치")
    expect(page.locator("#banner")).to_contain_text("무작위 가중치: 예측은 의미가 없습니다")
    page.get_by_role("tab", name="스테이지 특징 C1-C5").click()
    expect(page.get_by_test_id("평균 활성값-radio-label")).to_be_visible()
    expect(page.locator("#grid-title")).to_contain_text("가장 강하게 활성화된 채널 32개")
    page.get_by_role("tab", name="기여도(Attribution)").click()
    expect(page.locator("#attribution-info")).to_contain_text("에 대한 Grad-CAM", timeout=30_000)
    page.locator("#method input").click()
    expect(page.get_by_role("option", name="적분 기울기 (Integrated Gradients)")).to_be_visible()
    page.keyboard.press("Escape")
    shot(page, tmp_path, "korean.png")
    page.close()


def test_closing_the_tab_frees_the_session(browser, browser_app):
    url, explorer = browser_app
    page = open_page(browser, url)
    before = len(explorer.store)
    assert before >= 1
    page.close()
    wait_for(lambda: len(explorer.store) <= before - 1, seconds=20)


def test_a_visitor_after_the_session_ttl_gets_the_example(browser):
    """`python app.py --session-ttl 2`: the first visitor idles past the TTL; a visitor who comes
    later still sees the example analysed, with no error (the shared example used to expire)."""
    import app

    args = app.parse_args(["--arch", "resnet18", "--weights", "random", "--device", "cpu", "--session-ttl", "2"])
    demo = app.demo_from_args(args)
    assert demo.explorer.store.ttl_s == 2
    _, url, _ = demo.launch(prevent_thread_lock=True, **{**app.launch_kwargs(port=None), "quiet": True})
    try:
        label = _top1("resnet18", CHELSEA)
        first = open_page(browser, url)
        expect(first.locator("#predictions")).to_contain_text(label)
        time.sleep(3)  # longer than the TTL, with the first visitor idle
        later = open_page(browser, url)
        expect(later.locator("#predictions")).to_contain_text(label)
        later.get_by_role("tab", name="Stage features C1-C5").click()
        expect(later.locator("#grid img")).to_be_visible(timeout=30_000)
        assert later.get_by_text("Analyse a photo first").count() == 0
        assert later.locator(".toast-body").count() == 0
        first.close()
        later.close()
    finally:
        demo.close()
