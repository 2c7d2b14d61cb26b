"""The page says what state it is in (issue 17 §3): an emptied photo box means no results, the
random-weights banner is there from the first paint and stays, an empty file box does not linger."""

from __future__ import annotations

import threading

import pytest
from playwright.sync_api import expect

from resnet_viz.serve.sessions import SessionStore

from .app_server import running_app
from .browser import CountingExplorer, open_page, shot
from .support import random_registry

pytestmark = pytest.mark.browser


def test_the_upload_icon_empties_the_box_and_every_result(browser, browser_app, tmp_path):
    """Gradio sends the example it still held with the clear event the "Upload file" icon fires:
    that used to re-analyse the example beside an empty box."""
    url, explorer = browser_app
    page = open_page(browser, url)
    expect(page.locator("#predictions dl")).to_have_count(5, timeout=60_000)
    page.locator("#download").click()
    expect(page.locator("#download-file")).to_be_visible(timeout=30_000)
    analyses = len(explorer.analyses)
    page.locator("#photo button[aria-label='Upload file']").click()
    expect(page.locator("#status")).to_contain_text("No photo", timeout=30_000)
    expect(page.locator("#photo img")).to_have_count(0)
    expect(page.locator("#predictions dl")).to_have_count(0)
    expect(page.locator("#crop img")).to_have_count(0)
    expect(page.locator("#download-file")).to_be_hidden()  # no empty file box left behind
    expect(page.locator("#banner")).to_contain_text("Random weights")  # the server still has random weights
    page.wait_for_timeout(1000)
    assert len(explorer.analyses) == analyses  # nothing was analysed again
    shot(page, tmp_path, "upload-icon-cleared.png")
    page.close()


class SlowFirstExplorer(CountingExplorer):
    """Holds the page-load analysis until released: what the page shows before it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.release = threading.Event()

    def analyze_example(self, image, arch, session_id, lang="en"):
        self.release.wait(60)
        return super().analyze_example(image, arch, session_id, lang)


@pytest.mark.parametrize("locale,words", [("en-US", "Random weights"), ("ko-KR", "무작위 가중치")])
def test_the_random_weights_banner_is_there_before_the_first_analysis(browser, tmp_path, locale, words):
    explorer = SlowFirstExplorer(random_registry(), SessionStore())
    with running_app("resnet18", explorer=explorer) as (url, _):
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale=locale)
        page.goto(url)
        try:
            expect(page.locator("#banner")).to_contain_text(words, timeout=30_000)
            assert explorer.analyses == []  # the analysis is still held
            shot(page, tmp_path, f"banner-first-paint-{locale}.png")
        finally:
            explorer.release.set()
        expect(page.locator("#status")).to_contain_text("·", timeout=60_000)
        expect(page.locator("#banner")).to_be_visible()
        page.close()


def test_the_grad_cam_stage_is_inactive_for_methods_that_do_not_use_it(browser, browser_app, tmp_path):
    from resnet_viz.explain.methods import METHOD_SPECS, method_spec
    from resnet_viz.i18n import tr

    url, _ = browser_app
    page = open_page(browser, url)
    page.get_by_role("tab", name="Attributions").click()
    radios = page.locator("#attr-stage input[type=radio]")
    expect(radios.first).to_be_enabled()  # Grad-CAM, the default, uses it
    for key in ("saliency", "gradcam", "integrated_gradients", "guided_gradcam"):
        page.locator("#method input").click()
        page.get_by_role("option", name=tr(f"method_{key}", "en"), exact=True).click()
        if method_spec(key).needs_stage:
            expect(radios.first).to_be_enabled()
        else:
            expect(radios.first).to_be_disabled()
            shot(page, tmp_path, f"stage-inactive-{key}.png")
    assert {"saliency", "gradcam"} <= set(METHOD_SPECS)
    page.close()


def test_the_feature_visualisations_progress_is_shown_once(browser, tmp_path):
    """Once, over the note, not a second time over the picture, which shows the image as it is optimised."""
    from resnet_viz.serve.explorer import Explorer
    from resnet_viz.serve.feature_cache import FeatureVisCache

    explorer = Explorer(random_registry(), SessionStore(), feature_cache=FeatureVisCache(tmp_path / "cache"),
                        feature_vis={"size": 64, "steps": 2000, "seed": 0})  # long enough to watch, then cancelled
    with running_app("resnet18", explorer=explorer) as (url, _):
        page = open_page(browser, url)
        page.get_by_role("tab", name="Stage features C1-C5").click()
        page.locator("#featvis-button").click()
        busy = "[data-testid=status-tracker]:not(.hide)"
        # Over the note, so the picture above it can show the image as it is optimised.
        expect(page.locator(f"#featvis-note {busy}")).to_have_count(1, timeout=30_000)
        expect(page.locator("#featvis-note .progress-text, #featvis-note .eta-bar, #featvis-note .progress-level")
               ).not_to_have_count(0)
        assert page.locator(f"#featvis {busy}").count() == 0
        shot(page, tmp_path, "featvis-progress-once.png")
        # The image so far, every 250 of the 2000 steps, in view (no progress overlay on it).
        expect(page.locator("#featvis img")).to_be_visible(timeout=90_000)
        assert page.locator(f"#featvis {busy}").count() == 0
        shot(page, tmp_path, "featvis-preview.png")
        page.locator("#featvis-cancel").click()
        expect(page.locator("#featvis-note")).to_contain_text("ancel", timeout=60_000)
        page.close()
