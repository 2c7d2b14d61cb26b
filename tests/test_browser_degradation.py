"""The lab's Degradation section in a real browser: the recorded curves on open, then a live run
whose curves stream into the plot until the status says it has finished."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from resnet_viz import DegradationConfig
from resnet_viz.serve.degradation_lab import RECORDED

from .app_server import running_app
from .browser import open_page, shot

pytestmark = pytest.mark.browser

# Small enough for a few seconds on two busy cores, long enough to span several 1 s timer ticks.
SMALL = DegradationConfig(depths=(8, 14), steps=160, batch_size=8, log_every=4, eval_every=40, eval_size=20,
                          final_train_size=20)


@pytest.fixture(scope="module")
def lab_app():
    with running_app("resnet18", build={"degradation_config": SMALL}) as (url, explorer):
        yield url, explorer


def test_the_recorded_curves_then_a_live_run_streaming(browser, lab_app, tmp_path):
    url, explorer = lab_app
    meta = json.loads(RECORDED.read_text())["recorded"]
    page = open_page(browser, url)
    page.get_by_role("tab", name="Residual-learning lab").click()
    status, plot = page.locator("#degradation-status"), page.locator("#degradation-plot img")
    expect(status).to_contain_text(f"Recorded curves: {meta['command']} on {meta['machine']}, {meta['date']}")
    expect(plot).to_be_visible()
    recorded = plot.get_attribute("src")
    expect(page.locator("#degradation-notice")).to_contain_text("higher training error")
    page.locator("#degradation-start").click()
    expect(page.locator("#degradation-note")).to_contain_text("Started: 4 networks, 160 steps each, on the offline data.")
    seen, deadline = [], time.monotonic() + 60
    while "finished" not in (status.text_content() or ""):
        assert time.monotonic() < deadline, f"no end in sight: {status.text_content()!r}"
        src = plot.get_attribute("src")
        if src and src != recorded and src not in seen:
            seen.append(src)
        time.sleep(0.1)
    expect(plot).not_to_have_attribute("src", recorded)
    final = plot.get_attribute("src")
    if final not in seen:
        seen.append(final)
    assert len(seen) >= 2, "the plot changed only once: the curves did not stream"
    expect(status).to_contain_text("Live run: finished · step 160 of 160")
    shot(page, tmp_path, "degradation.png")
    assert explorer.degradation.snapshot().state == "finished"
    page.close()
