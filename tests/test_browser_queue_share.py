"""A real browser meets its session's share of the queue: a second long computation while one runs
is refused at once, and the page says why in the visitor's language (an error toast)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from resnet_viz.i18n import tr

from .browser import open_page, wait_for

pytestmark = pytest.mark.browser


def test_a_second_long_computation_is_refused_with_words_the_visitor_reads(browser, browser_app):
    url, explorer = browser_app
    page = open_page(browser, url, locale="ko-KR")
    page.get_by_role("tab", name=tr("tab_stages", "ko")).click()
    gate = explorer.registry.get("resnet18").gate
    # The test holds the model, so the visualisation stays a running job (waiting for the model)
    # without taking the CPU the browser needs on a busy machine.
    with explorer.registry.lease("resnet18"):
        page.locator("#featvis-button").click()  # a feature visualisation: the session's one slow job
        wait_for(lambda: gate._long_lock.locked())  # it has joined, run, and waits for the model
        page.get_by_role("tab", name=tr("tab_attributions", "ko")).click()
        page.locator("#explain").click()  # a second job in the slow queue for the same session
        expect(page.get_by_text(tr("error_busy_slow", "ko"))).to_be_visible(timeout=30_000)
        page.get_by_role("tab", name=tr("tab_stages", "ko")).click()
        page.locator("#featvis-cancel").click()  # stop the visualisation before it starts
        wait_for(lambda: any(s.cancel.is_set() for s in list(explorer.store._sessions.values())))
    expect(page.locator("#featvis-note")).to_contain_text("시각화를 취소했습니다", timeout=60_000)
    wait_for(lambda: not gate._long_lock.locked())
    page.close()
