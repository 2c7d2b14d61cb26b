"""A teacher presses "Check this map" under a Grad-CAM map and reads the verdict, the strip and
the curves, in English and in Korean; Cancel stops a check."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from resnet_viz.serve.explorer import Explorer
from resnet_viz.serve.sessions import SessionStore

from .app_server import running_app
from .browser import open_page, shot
from .support import random_registry

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def trust_app():
    explorer = Explorer(random_registry(), SessionStore(), trust={"steps": "stages", "curve_steps": 8, "road": True,
                                                                  "seed": 0})
    with running_app("resnet18", explorer=explorer) as (url, explorer):
        yield url


@pytest.mark.parametrize("locale, tab, said", [("en-US", "Attributions", "this map"),
                                               ("ko-KR", "기여도(Attribution)", "이 지도")])
def test_a_check_under_the_map(browser, trust_app, tmp_path, locale, tab, said):
    page = open_page(browser, trust_app, locale=locale)
    page.get_by_role("tab", name=tab).click()
    expect(page.locator("#heatmap img")).to_be_visible(timeout=60_000)
    page.locator("#trust-button").click()
    expect(page.locator("#trust-badge")).to_contain_text(said, timeout=120_000)
    expect(page.locator("#trust-badge")).to_contain_text("AUC")
    for picture in ("#trust-strip", "#trust-similarity", "#trust-curves"):
        expect(page.locator(f"{picture} img")).to_be_visible()
    shot(page, tmp_path, f"trust-panel-{locale}.png")
    page.close()
