"""A real browser meets its session's share of the queue: a second long computation while one runs
is refused at once, and the page says why in the visitor's language (an error toast)."""

from __future__ import annotations

from playwright.sync_api import expect

from resnet_viz.i18n import tr

from .browser import open_page


def test_a_second_long_computation_is_refused_with_words_the_visitor_reads(browser, browser_app):
    url, explorer = browser_app
    page = open_page(browser, url, locale="ko-KR")
    page.get_by_role("tab", name=tr("tab_stages", "ko")).click()
    page.locator("#featvis-button").click()  # a feature visualisation: seconds of work in the slow queue
    page.get_by_role("tab", name=tr("tab_attributions", "ko")).click()
    page.locator("#explain").click()  # a second job in the slow queue for the same session
    expect(page.get_by_text(tr("error_busy_slow", "ko"))).to_be_visible(timeout=30_000)
    page.get_by_role("tab", name=tr("tab_stages", "ko")).click()
    page.locator("#featvis-cancel").click()  # stop the visualisation; the page stays usable
    expect(page.locator("#featvis-note")).to_contain_text("취소", timeout=60_000)  # "... was cancelled"
    page.close()
