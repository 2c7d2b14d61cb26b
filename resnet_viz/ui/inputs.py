"""The page's inputs, each checking the value a client sends where it enters: in the component.

A browser sends what its controls allow; a script can send anything for any input (NaN for a
slider, a list for an architecture, 10**30 for a channel, "²" for a stage). Gradio's own
components either let such values through to the handler or refuse them in English with a
traceback in the server log. These subclasses check the value in ``preprocess`` by its kind
(a choice, a number in a range, a short text, an example's number, a click position) and refuse
what does not fit with :func:`resnet_viz.ui.photo_input.refused`: one message in the request's
language (the app sets :data:`~resnet_viz.ui.photo_input.REQUEST_LANGUAGE` around each event, as
Gradio preprocesses before the handler sees the request), one log line, no traceback, and the
handler does not run. Handlers therefore only ever see values of the kind their controls produce.

The browser side of each component is Gradio's own, unchanged (``get_block_name``).
"""

from __future__ import annotations

import math
import reprlib
import sys
from typing import Any, Sequence

import gradio as gr

from .photo_input import refused

__all__ = [
    "MAX_TEXT",
    "ChoiceDropdown",
    "ChoiceRadio",
    "Choices",
    "ExamplePicker",
    "NumberInput",
    "SliderInput",
    "TextInput",
    "TileClick",
    "TypedText",
    "example_picker",
    "finite_number",
    "shown",
]

MAX_TEXT = 4000  # characters: a class name, a stage, or the JSON of every block's scale (ResNet-152: ~1,500)


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxstring, _SHORT.maxother, _SHORT.maxlong = 2, 40, 40, 40
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxdict = _SHORT.maxset = 4


def shown(value: Any) -> str:
    """A client's value for a message: short, one line, control characters escaped (repr), and
    safe for any nesting depth or size."""
    try:
        return _SHORT.repr(value)
    except ValueError:  # an int of more digits than Python converts to text (JSON cannot carry one)
        return f"<{type(value).__name__}>"


def finite_number(value: Any) -> int | float | None:
    """``value`` if it is a finite int or float that a float can hold (not a bool, not text), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if abs(value) > sys.float_info.max or not math.isfinite(value):  # in this order: 10**400 is no float
        return None
    return value


def _number(value: Any, low: float | None, high: float | None) -> int | float:
    """``value`` if it is a finite number from ``low`` to ``high`` (either may be None), else refused."""
    number = finite_number(value)
    if number is None:
        raise refused("error_not_number", value=shown(value))
    if low is not None and number < low:
        raise refused("error_too_small", value=shown(value), low=f"{low:g}")
    if high is not None and number > high:
        raise refused("error_too_large", value=shown(value), high=f"{high:g}")
    return number


def _text(value: Any, limit: int) -> str:
    """Text as a form sends it; a whole number (scripts send 281 for "281") is taken as its digits."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() <= 64:
        value = str(value)
    if not isinstance(value, str) or len(value) > limit:
        raise refused("error_text", value=shown(value), limit=limit)
    return value


def _choice(component: gr.components.Component, value: Any) -> Any:
    """``value`` if it is one of the component's choice values (same type too: True is not 1),
    else refused with the list of them."""
    values = [v for _, v in component.choices]
    if not any(type(value) is type(v) and value == v for v in values):
        raise refused("error_choice", value=shown(value), choices=", ".join(str(v) for v in values))
    return value


class ChoiceRadio(gr.Radio):
    """A radio group that accepts exactly one of its choices' values."""

    def get_block_name(self) -> str:
        return "radio"

    def preprocess(self, payload: Any) -> Any:
        return super().preprocess(_choice(self, payload))


class ChoiceDropdown(gr.Dropdown):
    """A single-choice dropdown (not ``multiselect``): one of its choices' values, or, with
    ``allow_custom_value``, any text of at most MAX_TEXT characters (None stays None: nothing typed)."""

    def get_block_name(self) -> str:
        return "dropdown"

    def preprocess(self, payload: Any) -> Any:
        if self.allow_custom_value:
            return None if payload is None else _text(payload, MAX_TEXT)
        return super().preprocess(_choice(self, payload))


class Choices(gr.CheckboxGroup):
    """A checkbox group: a list (possibly empty) of its choices' values."""

    def get_block_name(self) -> str:
        return "checkboxgroup"

    def preprocess(self, payload: Any) -> Any:
        if not isinstance(payload, list):
            raise refused("error_choices", value=shown(payload))
        return super().preprocess([_choice(self, item) for item in payload])


class NumberInput(gr.Number):
    """A number field: a finite number within ``minimum``..``maximum`` (each optional), rounded to
    ``precision`` as Gradio does (a whole number for precision 0); None stays None (an empty field)."""

    def get_block_name(self) -> str:
        return "number"

    def preprocess(self, payload: Any) -> Any:
        if payload is None:
            return None
        return self.round_to_precision(_number(payload, self.minimum, self.maximum), self.precision)


class SliderInput(gr.Slider):
    """A slider: a finite number between its ends (a slider always has one)."""

    def get_block_name(self) -> str:
        return "slider"

    def preprocess(self, payload: Any) -> Any:
        return gr.Number.round_to_precision(_number(payload, self.minimum, self.maximum), self.precision)


class TextInput(gr.Textbox):
    """A text field: text of at most MAX_TEXT characters (a whole number counts as its digits);
    None stays None."""

    def get_block_name(self) -> str:
        return "textbox"

    def preprocess(self, payload: Any) -> Any:
        return None if payload is None else _text(payload, MAX_TEXT)


class ExamplePicker(gr.Dataset):
    """Example photos under an input (make it with :func:`example_picker`): a click sends the
    example's number, checked here and handed to the handler as that number."""

    def get_block_name(self) -> str:
        return "dataset"

    def preprocess(self, payload: Any) -> Any:
        count = len(self.raw_samples)
        if isinstance(payload, bool) or not isinstance(payload, int) or not 0 <= payload < count:
            raise refused("error_example", value=shown(payload), last=count - 1)
        return payload


def example_picker(component: gr.components.Component, examples: Sequence[str], **kwargs: Any) -> ExamplePicker:
    """One example per sample, shown as ``component`` shows its value; a click gives its number.
    (A function, not a constructor: Gradio sends a component's constructor arguments to the browser.)"""
    return ExamplePicker(components=[component], samples=[[e] for e in examples], type="index", **kwargs)


class TileClick(gr.EventData):
    """Where a click on a picture landed: ``index`` is (x, y) in pixels, or None when the client
    sent no such pair (Gradio's ``SelectData`` fails before the handler on a malformed one)."""

    def __init__(self, target: Any, data: Any) -> None:
        super().__init__(target, data)
        index = data.get("index") if isinstance(data, dict) else None
        ok = isinstance(index, (list, tuple)) and len(index) == 2
        ok = ok and all(not isinstance(v, bool) and isinstance(v, int) and 0 <= v < 1 << 31 for v in index)
        self.index: tuple[int, int] | None = (index[0], index[1]) if ok else None


class TypedText(gr.EventData):
    """What a key-up event says the field holds: ``text`` is that text (at most MAX_TEXT
    characters), or "" when the client sent none (Gradio's ``KeyUpData`` fails on a malformed one)."""

    def __init__(self, target: Any, data: Any) -> None:
        super().__init__(target, data)
        value = data.get("input_value") if isinstance(data, dict) else None
        self.text: str = value if isinstance(value, str) and len(value) <= MAX_TEXT else ""

