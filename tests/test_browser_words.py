"""What the page shows reads whole, in both languages (issue 17 §4-§5): no word is split over two
lines anywhere on any tab, a titled picture's toolbar leaves its title alone, and the top-5 rows
carry percentages that tell them apart."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .browser import SPLIT_WORDS_JS, open_page, shot

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("locale", ["en-US", "ko-KR"])
def test_no_word_is_split_over_two_lines_on_any_tab(browser, browser_app, tmp_path, locale):
    url, _ = browser_app
    page = open_page(browser, url, locale=locale)
    tabs = page.locator("button[role=tab]")
    expect(tabs).to_have_count(6)
    for i in range(tabs.count()):
        tabs.nth(i).click()
        page.wait_for_timeout(1500)  # a tab lays out its tables and pictures when first shown
        assert page.evaluate(SPLIT_WORDS_JS, "body") == [], f"{locale}, tab {tabs.nth(i).inner_text()!r}"
    # The architecture table's headers ("block|s", "channe|ls", "스테이|지" before) fit whole, uncut.
    cut = page.evaluate(
        "() => Array.from(document.querySelectorAll('#architecture th span.text'))"
        ".filter(s => s.scrollWidth > s.clientWidth + 1 || s.getBoundingClientRect().right > s.closest('th').getBoundingClientRect().right + 1)"
        ".map(s => s.innerText)"
    )
    assert cut == []
    shot(page, tmp_path, f"architecture-{locale}.png")
    page.close()


def test_a_titled_pictures_toolbar_sits_above_it(browser, browser_app, tmp_path):
    url, _ = browser_app
    page = open_page(browser, url)
    page.get_by_role("tab", name="Attributions").click()
    for selector in ("#heatmap", "#ladder"):
        expect(page.locator(f"{selector} img")).to_be_visible(timeout=60_000)
        bar = page.locator(f"{selector} .icon-button-wrapper").bounding_box()
        picture = page.locator(f"{selector} img").bounding_box()
        assert bar["y"] + bar["height"] <= picture["y"] + 0.5, selector  # the title band starts below the buttons
    page.locator("#heatmap").screenshot(path=str(tmp_path / "heatmap.png"))
    shot(page, tmp_path, "attributions-toolbar.png")
    page.close()


def test_top5_rows_show_their_own_percentages(browser, browser_app):
    """Random weights: every row would read "0%"; each now carries its percentage, Gradio's is hidden."""
    url, _ = browser_app
    page = open_page(browser, url)
    rows = page.locator("#predictions dl")
    expect(rows).to_have_count(5, timeout=60_000)
    texts = [rows.nth(i).locator("dt").inner_text() for i in range(5)]
    percents = [text.rsplit(" · ", 1)[1] for text in texts]
    assert len(set(percents)) == 5 and all(p.endswith("%") and p != "0%" for p in percents), texts
    assert not rows.first.locator("dd").is_visible()
    page.close()
