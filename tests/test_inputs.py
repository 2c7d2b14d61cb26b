"""The page's inputs check what a client sends, by kind, where it enters (resnet_viz/ui/inputs.py),
and every handler's wrapper turns a refused value into one message in the visitor's language."""

from __future__ import annotations

import logging
import math
import sys

import gradio as gr
import pytest

from resnet_viz.explorer import Explorer
from resnet_viz.i18n import tr
from resnet_viz.photo_input import PhotoInput
from resnet_viz.registry import ModelRegistry
from resnet_viz.ui.inputs import (
    ChoiceDropdown, ChoiceRadio, Choices, ExamplePicker, NumberInput, Refused, SliderInput, TextInput, TileClick,
    example_picker, shown,
)  # fmt: skip
from resnet_viz.ui.page import friendly

from .conftest import ROOT

NESTED: list = []
for _ in range(5000):  # deeper than repr() can go
    NESTED = [NESTED]


@pytest.fixture(scope="module")
def inputs():
    with gr.Blocks():
        return {
            "stage": ChoiceRadio(["C1", "C2"], value="C2"),
            "method": ChoiceDropdown([("Grad-CAM", "gradcam"), ("Saliency", "saliency")], value="gradcam"),
            "target": ChoiceDropdown(["", "281"], value="", allow_custom_value=True),
            "depths": Choices([20, 56], value=[20]),
            "channel": NumberInput(value=0, precision=0),
            "steps": NumberInput(900, minimum=10, maximum=64_000, precision=0),
            "opacity": SliderInput(0, 1, value=0.6),
            "tiles": SliderInput(8, 64, value=32, step=8),
            "text": TextInput(),
            "photo": PhotoInput(type="filepath"),
            "examples": example_picker(gr.Image(render=False), ["a.png", "b.png"]),
        }


def _key(value) -> str | None:
    return value.key if isinstance(value, Refused) else None


@pytest.mark.parametrize("name,value,accepted", [
    ("stage", "C2", "C2"), ("method", "saliency", "saliency"), ("target", "tabby cat", "tabby cat"),
    ("target", 281, "281"), ("target", None, None), ("depths", [56, 20], [56, 20]), ("depths", [], []),
    ("channel", 7, 7), ("channel", 7.4, 7), ("channel", None, None), ("channel", 10**30, 10**30),
    ("steps", 10, 10), ("opacity", 0, 0), ("opacity", 1, 1), ("tiles", 24, 24), ("text", '{"C4": 0.5}', '{"C4": 0.5}'),
    ("photo", None, None), ("examples", 1, 1),
])  # fmt: skip
def test_values_a_page_sends_pass_as_they_are(inputs, name, value, accepted):
    assert inputs[name].preprocess(value) == accepted


@pytest.mark.parametrize("name,value,key", [
    ("stage", "C9", "error_choice"), ("stage", None, "error_choice"), ("stage", ["C2"], "error_choice"),
    ("method", True, "error_choice"), ("method", {"a": 1}, "error_choice"),
    ("target", ["x"], "error_text"), ("target", "x" * 5000, "error_text"), ("target", False, "error_text"),
    ("depths", 20, "error_choices"), ("depths", [20.0], "error_choice"), ("depths", [True], "error_choice"),
    ("channel", math.nan, "error_not_number"), ("channel", math.inf, "error_not_number"),
    ("channel", "3", "error_not_number"), ("channel", 10**400, "error_not_number"), ("channel", [1], "error_not_number"),
    ("channel", True, "error_not_number"),
    ("steps", 9, "error_too_small"), ("steps", 64_001, "error_too_large"), ("steps", -1e308, "error_too_small"),
    ("opacity", None, "error_not_number"), ("opacity", -math.inf, "error_not_number"),
    ("opacity", 1.5, "error_too_large"),
    ("tiles", 0, "error_too_small"), ("text", {"path": "/etc/passwd"}, "error_text"),
    ("photo", 5, "error_photo_value"), ("photo", "/etc/passwd", "error_photo_value"),
    ("photo", {}, "error_photo_no_file"),
    ("photo", {"url": "data:image/png;base64,***"}, "error_photo_base64"),
    ("examples", 2, "error_example"), ("examples", -1, "error_example"), ("examples", None, "error_example"),
    ("examples", NESTED, "error_example"),
])  # fmt: skip
def test_hostile_values_are_refused_by_kind(inputs, name, value, key):
    component = inputs[name]
    payload = component.data_model.model_validate(value) if name == "photo" else value  # as Gradio hands it over
    refused = component.preprocess(payload)
    assert _key(refused) == key
    for lang in ("en", "ko"):
        text = refused.message(lang)
        assert "\n" not in text and len(text) < 400  # one short line, whatever was sent


def test_a_shown_value_is_one_short_line_for_anything():
    for value in ("\x00\x1b[2J\r\n", "x" * 100_000, NESTED, 10**300, {"a": [1] * 1000}):
        text = shown(value)
        assert len(text) <= 60 and "\n" not in text and "\x1b" not in text


def test_a_click_position_is_two_pixel_numbers_or_none():
    assert TileClick(None, {"index": [10, 20], "value": None}).index == (10, 20)
    for data in (None, [], {}, {"index": "x"}, {"index": [1.5, 2]}, {"index": [True, 2]}, {"index": [1, 2, 3]},
                 {"index": [-1, 5]}, {"index": [2**40, 5]}, {"index": NESTED}):
        assert TileClick(None, data).index is None


def _request(lang: str) -> gr.Request:
    return gr.Request(headers={"accept-language": "ko-KR,ko;q=0.9" if lang == "ko" else "en-US"})


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_the_handler_wrapper_refuses_in_the_visitors_language_before_the_handler_runs(lang, caplog):
    ran = []

    @friendly
    def handler(request: gr.Request, stage: str, opacity: float):
        ran.append((stage, opacity))

    refused = Refused("error_too_large", {"value": "1.5", "high": "1"})
    with caplog.at_level(logging.INFO), pytest.raises(gr.Error) as info:
        handler(_request(lang), "C2", refused)
    assert ran == [] and info.value.message == tr("error_too_large", lang, value="1.5", high="1")
    assert info.value.title == tr("error_title", lang) and not info.value.print_exception
    assert [r.exc_info for r in caplog.records] == [None]  # one line in the log, no traceback
    handler(_request(lang), "C2", 0.5)
    assert ran == [("C2", 0.5)]



def test_every_input_of_every_event_is_a_checked_one():
    """A Gradio component wired to an event as it is would let any value through to a handler, or
    refuse it in English with a traceback: every input is one of ours, or a State (the server's)."""
    sys.path.insert(0, str(ROOT))
    import app

    demo = app.build_demo("resnet18", explorer=Explorer(ModelRegistry("random", "cpu")))
    checked = (ChoiceRadio, ChoiceDropdown, Choices, NumberInput, SliderInput, TextInput, ExamplePicker, PhotoInput)
    unchecked = {
        (fn.name, type(block).__name__)
        for fn in demo.fns.values()
        for block in fn.inputs
        if not isinstance(block, (*checked, gr.State))
    }
    assert len(demo.fns) >= 30 and not unchecked
