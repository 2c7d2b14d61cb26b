"""Issue 17 §2: a bad value is said at its input and leaves the pictures alone; a class name is read
exactly, or guessed with a notice naming the guess, or refused with close labels."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torchvision

from resnet_viz.i18n import UserError
from resnet_viz.probe.targets import TargetError, find_target, suggestions
from resnet_viz.serve.explorer import Explorer
from resnet_viz.serve.sessions import SessionStore
from resnet_viz.ui.attributions import check_target, read_target, typed_choices
from resnet_viz.ui.channel_panel import channel_check
from resnet_viz.ui.page import value_check

CATEGORIES = torchvision.models.ResNet50_Weights.DEFAULT.meta["categories"]
SID = "badvalues"


def _request(lang: str) -> SimpleNamespace:
    """What the handlers read of a gr.Request: the session and the language."""
    return SimpleNamespace(session_hash=SID, headers={"accept-language": "ko-KR" if lang == "ko" else "en-US"})


@pytest.fixture(scope="module")
def explorer(registry, examples):
    explorer = Explorer(registry, SessionStore())
    explorer.analyze(str(examples[0]), "resnet18", SID)
    return explorer


@pytest.mark.parametrize("lang, words", [("en", "C4 has channels 0-255; 9999 is not one of them."), ("ko", "9999")])
def test_a_channel_the_stage_lacks_is_said_at_the_channel_box_and_nothing_runs(explorer, lang, words):
    validator = value_check(channel_check(explorer), at=1, count=3)
    verdicts = validator(_request(lang), "C4", 9999, 0.6)
    assert [v["is_valid"] for v in verdicts] == [True, False, True]  # Gradio then runs nothing
    assert words in verdicts[1]["message"] and verdicts[0]["message"] == verdicts[2]["message"] == ""
    if lang == "ko":
        assert "C4" in verdicts[1]["message"] and "is not" not in verdicts[1]["message"]
    assert all(v["is_valid"] for v in validator(_request(lang), "C4", 255, 0.6))


def test_an_unknown_class_is_said_at_the_target_box(explorer):
    validator = value_check(check_target, at=1, count=3)
    verdicts = validator(_request("en"), "gradcam", "zebra crossing xyz", "C5")
    assert [v["is_valid"] for v in verdicts] == [True, False, True]
    assert "No ImageNet class is called 'zebra crossing xyz'" in verdicts[1]["message"] and "zebra" in verdicts[1]["message"]
    assert "zebra crossing xyz" in validator(_request("ko"), "gradcam", "zebra crossing xyz", "C5")[1]["message"]
    assert all(v["is_valid"] for v in validator(_request("en"), "gradcam", "tabby cat", "C5"))


def test_exact_names_need_no_notice_and_guesses_name_what_was_chosen():
    assert read_target("tabby", "en") == (281, "") and read_target("281", "en") == (281, "") and read_target("", "en") == (None, "")
    index, notice = read_target("tabby cat", "en")
    assert index == 281 and "'tabby cat'" in notice and "**tabby**" in notice
    index, notice = read_target("golden retrever", "ko")
    assert index == 207 and "**golden retriever**" in notice and "클래스" in notice
    assert find_target(CATEGORIES, "Golden").index == 207 and not find_target(CATEGORIES, "Golden").exact


@pytest.mark.parametrize("query, code, listed", [
    ("zebra crossing xyz", "unknown_close", "zebra"),  # once silently "zebra"
    ("cat", "ambiguous", "tiger cat"),  # a word, not a prefix: never "catamaran"
    ("rocket", "unknown_close", "racket"),  # close spelling is listed, not taken
    ("tabyy", "unknown_close", "tabby"),
    ("qqqqq", "unknown", None),
])
def test_no_silent_guess(query, code, listed):
    with pytest.raises(TargetError) as caught:
        find_target(CATEGORIES, query)
    assert caught.value.code == code
    assert (listed in caught.value.candidates) if listed else caught.value.candidates == ()
    with pytest.raises(UserError):
        read_target(query, "en")


def test_the_menu_lists_what_the_typed_words_may_mean():
    menu = [("top-1", ""), ("tabby", "281")]
    listed = typed_choices(menu, "tabby cat")
    assert listed[0] == ("tabby cat → tabby", "281") and listed[-2:] == menu
    # Gradio's menu shows the choices whose label contains the typed text: the suggestion does.
    assert "tabby cat" in listed[0][0].lower()
    assert typed_choices(menu, "tabby") == menu  # listed by the menu itself, not twice
    assert typed_choices(menu, "") == menu and typed_choices(menu, None) == menu and typed_choices(menu, "x" * 5000) == menu
    assert suggestions(CATEGORIES, "golden retrever")[0] == 207
