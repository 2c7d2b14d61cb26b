"""The lab's Degradation section in a real browser: the recorded curves on open, a started run that
says "starting" on its chart at once (English and Korean), its curves streaming into the plot until
the status (above the charts) says it has finished with its final errors, and a second visitor's
"only the starter can cancel" gone when the run ends."""

from __future__ import annotations

import base64
import io
import json
import time

import gradio as gr
import numpy as np
import pytest
from gradio.components.plot import PlotData
from PIL import Image
from playwright.sync_api import expect

from resnet_viz import DegradationConfig, DegradationResult
from resnet_viz.degradation.chart import degradation_chart
from resnet_viz.serve.degradation_lab import RECORDED
from resnet_viz.ui.degradation import chart_words

from .app_server import running_app
from .browser import open_page, shot

pytestmark = pytest.mark.browser

# Small enough for a few seconds on two busy cores, long enough to span several 1 s timer ticks.
SMALL = DegradationConfig(depths=(8, 14), steps=160, batch_size=8, log_every=4, eval_every=40, eval_size=20,
                          final_train_size=20)
VIEWPORT_HEIGHT = 1000  # open_page's 1400x1000


@pytest.fixture(scope="module")
def lab_app():
    with running_app("resnet18", build={"degradation_config": SMALL}) as (url, explorer):
        yield url, explorer


def _pixels(src: str) -> np.ndarray:
    """The picture of a data: URL (the plot's img src) as an RGB array."""
    data = base64.b64decode(src.split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _status_above_the_chart_and_both_in_view(page) -> None:
    status, plot = page.locator("#degradation-status"), page.locator("#degradation-plot img")
    plot.scroll_into_view_if_needed()
    s, p = status.bounding_box(), plot.bounding_box()
    assert s["y"] + s["height"] <= p["y"], (s, p)  # above the chart
    assert 0 <= s["y"] and s["y"] + s["height"] <= VIEWPORT_HEIGHT, s  # on screen with it


def _open_lab(browser, url: str, locale: str, tab: str):
    page = open_page(browser, url, locale=locale)
    page.get_by_role("tab", name=tab).click()
    return page


def test_the_recorded_curves_then_a_live_run_streaming(browser, lab_app, tmp_path):
    url, explorer = lab_app
    meta = json.loads(RECORDED.read_text())["recorded"]
    page = _open_lab(browser, url, "en-US", "Residual-learning lab")
    bob = _open_lab(browser, url, "en-US", "Residual-learning lab")  # a second visitor
    status, plot = page.locator("#degradation-status"), page.locator("#degradation-plot img")
    expect(status).to_contain_text(f"Recorded curves (Default run): {meta['command']} on {meta['machine']}, {meta['date']}")
    expect(plot).to_be_visible()
    expect(page.locator("#degradation-gradients img")).to_be_visible()
    recorded = plot.get_attribute("src")
    expect(page.locator("#degradation-notice")).to_contain_text("higher training error")
    page.locator("#degradation-start").click()
    expect(page.locator("#degradation-note")).to_contain_text("Started: 4 networks, 160 steps each, on the offline data.",
                                                             timeout=30_000)
    expect(bob.locator("#degradation-status")).to_contain_text("Live run:", timeout=15_000)  # his slow timer
    bob.locator("#degradation-cancel").click()
    bob_note = bob.locator("#degradation-note")
    expect(bob_note).to_contain_text("Only the visitor who started this run can cancel it.")
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
    result = explorer.degradation.snapshot().result
    errors = ", ".join(f"{n.name} {100 * n.final_train_error:.1f}%" for n in result.networks)
    expect(status).to_contain_text(f"final training error: {errors}")
    expect(bob_note).not_to_contain_text("Only the visitor", timeout=5_000)  # the run ended: his note went
    _status_above_the_chart_and_both_in_view(page)
    shot(page, tmp_path, "degradation.png")
    assert explorer.degradation.snapshot().state == "finished"
    bob.close()
    page.close()


@pytest.mark.parametrize(
    ("locale", "lang", "tab", "starting", "cancelled"),
    [
        ("en-US", "en", "Residual-learning lab", "Live run: starting (loading torch and the data)", "cancelled"),
        ("ko-KR", "ko", "잔차 학습 실험실", "실시간 학습: 시작 중 (torch와 데이터를 불러오는 중)", "취소됨"),
    ],
)
def test_a_started_run_says_starting_on_its_chart_at_once(browser, lab_app, tmp_path, locale, lang, tab, starting, cancelled):
    url, explorer = lab_app
    lab = explorer.degradation
    page = _open_lab(browser, url, locale, tab)
    status, plot = page.locator("#degradation-status"), page.locator("#degradation-plot img")
    expect(plot).to_be_visible()
    before = plot.get_attribute("src")  # the recorded curves, or the last run's
    # As if a model computed the whole time: the run is held before its first point, so the
    # starting state lasts as long as the test looks at it (on a busy machine it lasts 4-20 s).
    lab.on_activity(True)
    try:
        page.locator("#degradation-start").click()
        expect(status).to_contain_text(starting, timeout=30_000)  # the click's answer (a process started, a chart drawn)
        expect(plot).not_to_have_attribute("src", before)
        # The chart on screen is the run's own empty chart with "starting" written on it, as the
        # app draws it for this language (the same drawing, pixel for pixel).
        words = chart_words(lang)
        empty = DegradationResult(config=lab.config(), data={}, device="", networks=[])
        chart = degradation_chart(empty, words, source="live", message=words["starting"])
        expected: PlotData = gr.Plot(format="png", render=False).postprocess(chart)
        np.testing.assert_array_equal(_pixels(plot.get_attribute("src")), _pixels(expected.plot))
        _status_above_the_chart_and_both_in_view(page)
        assert lab.snapshot().state == "starting"
        shot(page, tmp_path, f"degradation-starting-{lang}.png")
    finally:
        lab.on_activity(False)
    page.locator("#degradation-cancel").click()
    expect(status).to_contain_text(cancelled, timeout=20_000)
    page.close()
