"""The page's inputs check what a client sends, by kind, where it enters (resnet_viz/ui/inputs.py),
and refuse a value with one message in the request's language, one log line, no traceback."""

from __future__ import annotations

import logging
import math
import re
import string
import sys

import gradio as gr
import pytest

from resnet_viz.i18n import STRINGS, tr
from resnet_viz.serve.explorer import Explorer
from resnet_viz.serve.registry import ModelRegistry
from resnet_viz.ui.inputs import (
    ChoiceDropdown,
    ChoiceRadio,
    Choices,
    ExamplePicker,
    NumberInput,
    SliderInput,
    TextInput,
    TileClick,
    example_picker,
    shown,
)  # fmt: skip
from resnet_viz.ui.photo_input import REQUEST_LANGUAGE, PhotoInput

from .support import ROOT

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


def _says(key: str, lang: str, text: str) -> bool:
    """Whether ``text`` is the catalogue's sentence ``key`` in ``lang`` (placeholders filled in)."""
    template = string.Formatter().parse(STRINGS[lang][key])
    parts = [re.escape(literal) + ("(.*)" if field is not None else "") for literal, field, _, _ in template]
    return re.fullmatch("".join(parts), text, re.S) is not None


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
    ("channel", "3", "error_not_number"), ("channel", 10**400, "error_not_number"),
    ("channel", [1], "error_not_number"), ("channel", True, "error_not_number"),
    ("steps", 9, "error_too_small"), ("steps", 64_001, "error_too_large"), ("steps", -1e308, "error_too_small"),
    ("opacity", None, "error_not_number"), ("opacity", -math.inf, "error_not_number"),
    ("opacity", 1.5, "error_too_large"),
    ("tiles", 0, "error_too_small"), ("text", {"path": "/etc/passwd"}, "error_text"),
    ("photo", {}, "error_photo_no_file"), ("photo", {"url": "data:image/png;base64,***"}, "error_photo_base64"),
    ("examples", 2, "error_example"), ("examples", -1, "error_example"), ("examples", None, "error_example"),
    ("examples", NESTED, "error_example"),
])  # fmt: skip
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_hostile_values_are_refused_by_kind_in_the_requests_language(inputs, name, value, key, lang, caplog):
    component = inputs[name]
    payload = component.data_model.model_validate(value) if name == "photo" else value  # as Gradio hands it over
    token = REQUEST_LANGUAGE.set(lang)  # the app sets it around each event (HostedBlocks.process_api)
    try:
        with caplog.at_level(logging.INFO), pytest.raises(gr.Error) as info:
            component.preprocess(payload)
    finally:
        REQUEST_LANGUAGE.reset(token)
    text = info.value.message
    assert _says(key, lang, text) and info.value.title == tr("error_title", lang)
    assert "\n" not in text and len(text) < 400  # one short line, whatever was sent
    assert not info.value.print_exception and [r.exc_info for r in caplog.records] == [None]  # one log line


def test_a_shown_value_is_one_short_line_for_anything():
    for value in ("\x00\x1b[2J\r\n", "x" * 100_000, NESTED, 10**300, {"a": [1] * 1000}):
        text = shown(value)
        assert len(text) <= 60 and "\n" not in text and "\x1b" not in text


def test_a_click_position_is_two_pixel_numbers_or_none():
    assert TileClick(None, {"index": [10, 20], "value": None}).index == (10, 20)
    for data in (None, [], {}, {"index": "x"}, {"index": [1.5, 2]}, {"index": [True, 2]}, {"index": [1, 2, 3]},
                 {"index": [-1, 5]}, {"index": [2**40, 5]}, {"index": NESTED}):
        assert TileClick(None, data).index is None


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
