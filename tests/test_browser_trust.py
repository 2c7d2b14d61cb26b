"""A teacher presses "Check this map" under a Grad-CAM map and reads the verdict, the strip and
the curves, in English and in Korean; compares all methods in one table and sorts it; and runs
the lab's data randomisation test."""

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
def trust_app_explorer():
    explorer = Explorer(random_registry(), SessionStore(), trust={"steps": "stages", "curve_steps": 8, "road": True,
                                                                  "seed": 0})
    explorer.compare_methods = ("gradcam", "saliency")  # all seven take minutes on this CPU
    with running_app("resnet18", explorer=explorer) as (url, explorer):
        yield url, explorer


@pytest.fixture(scope="module")
def trust_app(trust_app_explorer):
    return trust_app_explorer[0]


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


def _rows(table) -> list[list[str]]:
    """The table's body rows as the visitor sees them (cells in order)."""
    rows = [r.inner_text().split("\n") for r in table.get_by_role("row").all()]
    return [[cell.strip() for cell in row if cell.strip()] for row in rows[1:]]


def test_compare_all_methods_is_a_table_sorted_by_its_header_menu(browser, trust_app_explorer, tmp_path):
    url, _ = trust_app_explorer
    page = open_page(browser, url)
    page.get_by_role("tab", name="Attributions").click()
    expect(page.locator("#trust-compare-note")).to_contain_text("Compares 2 methods", timeout=60_000)
    page.locator("#trust-compare-button").click()
    table = page.locator("#trust-compare-table")
    expect(table).to_contain_text("Baseline: edge map", timeout=180_000)
    expect(page.locator("#trust-compare-note")).to_contain_text("meaningless")
    rows = _rows(table)
    assert [r[0] for r in rows] == ["Grad-CAM", "Saliency", "Baseline: random order", "Baseline: edge map (no network)"]
    assert rows[2][1] == rows[3][1] == "—"
    deletion = table.locator("thead th").nth(2)
    deletion.click()  # the header's menu button shows once the header has focus
    deletion.locator("button.cell-menu-button").click()
    page.get_by_text("Sort descending").click()
    expect(table.get_by_role("row").nth(1)).not_to_contain_text("Grad-CAM" if rows[0][2] < rows[1][2] else "Saliency")
    values = [float(r[2]) for r in _rows(table)]
    assert values == sorted(values, reverse=True)  # sorted as numbers, every row kept
    shot(page, tmp_path, "trust-compare.png")
    page.close()


def test_the_labs_data_randomisation_in_korean(browser, trust_app_explorer, tmp_path):
    url, _ = trust_app_explorer
    page = open_page(browser, url, locale="ko-KR")
    page.get_by_role("tab", name="잔차 학습 실험실").click()
    page.locator("#datarand-shipped").click()
    expect(page.locator("#datarand-grid img")).to_be_visible(timeout=120_000)
    expect(page.locator("#datarand-note")).to_contain_text("우연 수준")
    rows = _rows(page.locator("#datarand-table"))
    assert [r[0] for r in rows][0] == "Grad-CAM" and rows[0][-1] == "가중치에 따라 달라짐"
    shot(page, tmp_path, "datarand-ko.png")
    page.close()
