"""A classroom in a real browser: nothing from the previous photo or architecture stays on any tab,
controls answer the keyboard as they do the mouse, slow methods say how long they take and can be
cancelled, and a Korean student gets every message in Korean."""

from __future__ import annotations

import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from resnet_viz import analyze

from .browser import SPLIT_WORDS_JS, open_page, shot
from .support import ROOT, random_model, random_registry

pytestmark = pytest.mark.browser

ROCKET = ROOT / "assets" / "rocket.jpg"


def _choose(page, dropdown: str, option: str) -> None:
    page.locator(f"{dropdown} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_nothing_from_the_previous_photo_or_arch_remains(browser, browser_app, tmp_path):
    url, _ = browser_app
    page = open_page(browser, url)
    page.get_by_role("tab", name="Attributions").click()
    expect(page.locator("#heatmap img")).to_be_visible(timeout=30_000)
    _choose(page, "#method", "Saliency")
    page.locator("#explain").click()
    expect(page.locator("#attribution-info")).to_contain_text("Saliency for", timeout=30_000)
    old_heatmap = page.locator("#heatmap img").get_attribute("src")
    page.get_by_role("tab", name="Residual-learning lab").click()
    page.locator("#lesion").click()
    expect(page.locator("#lesion-plot img")).to_be_visible(timeout=30_000)
    page.locator("#scale-C4 input[type=range]").focus()
    for _ in range(6):
        page.keyboard.press("ArrowLeft")
    expect(page.locator("#scaled-kl")).not_to_contain_text("0.0000", timeout=30_000)
    old_flow = page.locator("#flow-plot img").get_attribute("src")
    page.locator("#download").click()
    expect(page.locator("#download-file")).to_be_visible(timeout=30_000)
    page.get_by_role("tab", name="Residual vs shortcut").click()
    old_residual = page.locator("#residual-plot img").get_attribute("src")

    # A new photo, then another architecture.
    page.locator("#photo input[type=file]").set_input_files(str(ROCKET))
    expect(page.locator("#predictions")).to_contain_text(analyze(random_model("resnet18"), ROCKET)["predictions"][0]["label"], timeout=60_000)
    _choose(page, "#arch", "resnet34")
    expect(page.locator("#status")).to_contain_text("resnet34", timeout=60_000)
    report = analyze(random_model("resnet34"), ROCKET)
    label = report["predictions"][0]["label"]

    expect(page.locator("#predictions")).to_contain_text(label)
    expect(page.locator("#download-file")).to_be_hidden()
    expect(page.locator("#residual-plot img")).not_to_have_attribute("src", old_residual)
    expect(page.locator("#blocks")).to_contain_text("C4.6")  # resnet34 has 3, 4, 6, 3 blocks
    page.get_by_role("tab", name="Stage features C1-C5").click()
    expect(page.locator("#grid-title")).to_contain_text("resnet34")
    expect(page.locator("#channel-caption")).to_contain_text("resnet34")
    page.get_by_role("tab", name="Attributions").click()
    info = page.locator("#attribution-info")
    expect(info).to_contain_text(f"for {label}", timeout=30_000)
    expect(info).to_contain_text("resnet34")
    expect(page.locator("#heatmap img")).not_to_have_attribute("src", old_heatmap)
    page.get_by_role("tab", name="Residual-learning lab").click()
    expect(page.locator("#lesion-note")).to_contain_text("16 blocks")  # cleared, with what to press
    expect(page.locator("#lesion-plot img")).to_have_count(0)
    expect(page.locator("#scaled-kl")).to_contain_text("0.0000")
    expect(page.locator("#scale-C4 input[type=number]")).to_have_value("1")
    expect(page.locator("#scaled-top5")).to_contain_text(label)
    expect(page.locator("#flow-plot img")).not_to_have_attribute("src", old_flow, timeout=30_000)
    page.get_by_role("tab", name="Architecture").click()
    expect(page.locator("#architecture")).to_contain_text("21,797,672")  # resnet34's parameters
    shot(page, tmp_path, "after-switch.png")
    page.close()


def test_controls_answer_the_keyboard_and_say_what_they_show(browser, browser_app):
    url, _ = browser_app
    page = open_page(browser, url)
    page.get_by_role("tab", name="Stage features C1-C5").click()
    title = page.locator("#grid-title")
    expect(title).to_contain_text("the 32 most active channels")
    page.locator("#tiles input[type=range]").focus()
    page.keyboard.press("ArrowRight")
    expect(title).to_contain_text("the 40 most active channels", timeout=30_000)
    page.get_by_test_id("Grad-CAM weight for the top-1 class-radio-label").click()
    expect(title).to_contain_text("channels with the largest Grad-CAM weight for", timeout=30_000)
    page.locator("#channel input").fill("5")
    page.locator("#channel input").press("Enter")
    expect(page.locator("#channel-caption")).to_contain_text("C2, channel 5", timeout=30_000)
    expect(page.locator("#grid label")).to_be_hidden()  # no label drawn over the tile numbers

    page.get_by_role("tab", name="Attributions").click()
    stage_radios = page.locator("#attr-stage input[type=radio]")
    expect(stage_radios.first).to_be_enabled()
    _choose(page, "#method", "Integrated Gradients")
    expect(stage_radios.first).to_be_disabled()
    expect(page.locator("#expected")).to_contain_text(re.compile(r"Integrated Gradients evaluates 34 images: about \d+ s"))
    page.locator("#explain").click()
    expect(page.locator("#attribution-info")).to_contain_text("completeness error", timeout=60_000)
    expect(page.locator("#attribution-info")).to_contain_text(re.compile(r"(small|moderate|large)"))
    _choose(page, "#method", "Grad-CAM")
    expect(stage_radios.first).to_be_enabled()
    page.close()


def test_a_slow_method_can_be_cancelled(browser, browser_app):
    url, explorer = browser_app
    page = open_page(browser, url)
    page.get_by_role("tab", name="Attributions").click()
    _choose(page, "#method", "Occlusion")
    expect(page.locator("#expected")).to_contain_text("Occlusion evaluates 50 images")
    expect(page.locator("#attribution-info")).to_contain_text("Grad-CAM at C5")  # the example's own
    page.locator("#explain").click()
    page.locator("#cancel").click()
    expect(page.locator("#attribution-info")).to_have_text("Occlusion was cancelled.", timeout=20_000)
    for output in ("#heatmap", "#ladder", "#attribution-info"):  # no Gradio error badge on any output
        expect(page.locator(output)).not_to_contain_text("Error")
    assert not explorer.registry.get("resnet18").gate.busy  # the model is free again
    page.close()


def test_a_tiny_or_thin_photo_is_analysed_with_a_note(browser, browser_app, tmp_path):
    url, _ = browser_app
    page = open_page(browser, url)
    # A 1x1 photo is tiny (not a sliver); a 4000x10 strip is a stretched sliver.
    for size, words in (((1, 1), "this photo is tiny: 1x1 px"), ((4000, 10), "stretched sliver")):
        path = tmp_path / f"odd-{size[0]}x{size[1]}.png"
        Image.new("RGB", size, (200, 30, 30)).save(path)
        page.locator("#photo input[type=file]").set_input_files(str(path))
        expect(page.locator("#crop-note")).to_contain_text(f"{size[0]}x{size[1]} px", timeout=60_000)
        expect(page.locator("#crop-note")).to_contain_text(words)
    page.close()


def test_tables_and_korean_words_do_not_break_inside_a_word(browser, browser_app):
    url, _ = browser_app
    page = open_page(browser, url, locale="ko-KR")
    page.get_by_role("tab", name="아키텍처").click()
    header = page.locator("#architecture th").first
    expect(header).to_be_visible()
    # Headers wrap between words only (test_browser_words measures every word of every tab).
    assert header.evaluate("e => getComputedStyle(e).wordBreak") == "keep-all"
    cell = page.locator("#architecture td").first
    assert cell.evaluate("e => getComputedStyle(e).wordBreak") == "keep-all"
    prose = page.get_by_text("논문의 표").first
    assert prose.evaluate("e => getComputedStyle(e).wordBreak") == "keep-all"
    page.close()


def test_a_korean_student_gets_every_message_in_korean(browser, browser_app, tmp_path):
    url, _ = browser_app
    page = open_page(browser, url, locale="ko-KR")
    toast = page.locator(".toast-body")
    # A number out of range in the stage tab.
    page.get_by_role("tab", name="스테이지 특징 C1-C5").click()
    page.locator("#channel input").fill("-1")
    page.locator("#channel input").press("Enter")
    # Said under the box itself (the event's validator), the pictures left as they were (issue 17).
    expect(page.locator("#channel")).to_contain_text("C2의 채널은 0-63입니다. -1번 채널은 없습니다.", timeout=30_000)
    # A class name typed in Korean, and one that does not exist.
    page.get_by_role("tab", name="기여도(Attribution)").click()
    page.locator("#target input").fill("고양이")
    page.locator("#target input").press("Enter")
    page.locator("#explain").click()
    expect(page.locator("#target")).to_contain_text("클래스 이름은 영어 ImageNet 이름입니다", timeout=30_000)
    # An upload over the size limit: Gradio's own message, rewritten for a Korean browser.
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + bytes(11 * 1024 * 1024))
    page.locator("#photo input[type=file]").set_input_files(str(big))
    expect(toast.last).to_contain_text("파일이 허용된 최대 크기", timeout=30_000)
    # A toast wraps between words, never inside one (it broke "인터|넷이" before, issue 17).
    assert toast.last.evaluate("e => e.getClientRects()[0].height") > 30, "the toast's text should wrap here"
    assert page.evaluate(SPLIT_WORDS_JS, ".toast-body") == []
    # A file that is not an image.
    page.reload()
    expect(page.locator("#status")).to_contain_text("· cpu ·", timeout=60_000)
    text = tmp_path / "notes.png"
    text.write_text("hello")
    page.locator("#photo input[type=file]").set_input_files(str(text))
    expect(page.locator(".toast-body").last).to_contain_text("이 이미지는 분석할 수 없습니다: 이미지가 아니거나", timeout=30_000)
    assert "This image" not in page.locator(".toast-body").last.inner_text()
    # The refused file is not left in the photo box as a broken picture (issue 17): the box is empty.
    expect(page.locator("#photo img")).to_have_count(0, timeout=30_000)
    expect(page.locator("#predictions")).not_to_contain_text("%")
    page.close()


def test_typed_class_names_are_found_or_refused_clearly(browser, browser_app):
    url, _ = browser_app
    page = open_page(browser, url)
    page.get_by_role("tab", name="Attributions").click()
    expect(page.locator("#heatmap img")).to_be_visible(timeout=30_000)
    target = page.locator("#target input")
    target.fill("tabby cat")
    target.press("Enter")
    page.locator("#explain").click()
    expect(page.locator("#attribution-info")).to_contain_text("Grad-CAM at C5 for tabby", timeout=30_000)
    target.fill("xyzzy")
    target.press("Enter")
    page.locator("#explain").click()
    expect(page.locator("#target")).to_contain_text("No ImageNet class is called 'xyzzy'", timeout=30_000)
    expect(page.locator("#attribution-info")).to_contain_text("for tabby")  # nothing silently changed
    page.close()


def test_a_channel_shows_what_excites_it_beyond_this_photo(browser, tmp_path, tmp_path_factory):
    """The stage tab's panel: exemplars from `--index`, and a feature visualisation computed with a
    progress bar, then shown at once to the next visitor (kept on disk)."""
    from resnet_viz.serve.explorer import Explorer
    from resnet_viz.serve.feature_cache import FeatureVisCache
    from resnet_viz.serve.sessions import SessionStore

    from .app_server import running_app
    from .index_folder import shared_index

    explorer = Explorer(random_registry(), SessionStore(), index=shared_index(tmp_path_factory),
                        feature_cache=FeatureVisCache(tmp_path / "cache"), feature_vis={"size": 64, "steps": 12, "seed": 0})
    with running_app("resnet18", explorer=explorer) as (url, _):
        page = open_page(browser, url)
        page.get_by_role("tab", name="Stage features C1-C5").click()
        page.locator("#channel input").fill("7")
        page.locator("#channel input").press("Enter")
        expect(page.locator("#exemplars-note")).to_contain_text("excite C2 channel 7", timeout=30_000)
        expect(page.locator("#exemplars img")).to_have_count(6)
        # Every caption is whole (issue 17: they were cut off with an ellipsis): no text overflows its box.
        captions = page.locator("#exemplars .caption-label")
        expect(captions).to_have_count(6)
        cut = captions.evaluate_all("els => els.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)")
        assert cut == [], f"captions cut off: {cut}"
        expect(page.locator("#featvis-note")).to_contain_text("Press Visualise this channel")
        page.locator("#featvis-button").click()
        expect(page.locator("#featvis img")).to_be_visible(timeout=60_000)
        expect(page.locator("#featvis-note")).to_contain_text("The image C2 channel 7 of resnet18 responds to most")
        shot(page, tmp_path, "channel-panel.png")
        later = open_page(browser, url)  # another visitor: read from the disk cache at once
        later.get_by_role("tab", name="Stage features C1-C5").click()
        later.locator("#channel input").fill("7")
        later.locator("#channel input").press("Enter")
        expect(later.locator("#featvis img")).to_be_visible(timeout=30_000)
        page.close()
        later.close()
