"""The page's inputs, each checking the value a client sends where it enters: in the component.

A browser sends what its controls allow; a script can send anything for any input (NaN for a
slider, a list for an architecture, 10**30 for a channel, "²" for a stage). Gradio's own
components either let such values through to the handler or refuse them in English with a
traceback in the server log. These subclasses check the value in ``preprocess`` by its kind
(a choice, a number in a range, a short text, an example's number, a click position), and
never raise there: Gradio preprocesses before the handler knows the request, so it could not
say why in the visitor's language. A value they refuse becomes a :class:`Refused` argument,
which :func:`resnet_viz.ui.page.friendly` (the wrapper of every handler) turns into one message
in the visitor's language before the handler runs. Handlers therefore only ever see values of
the kind their controls produce.

The browser side of each component is Gradio's own, unchanged (``get_block_name``).
"""

from __future__ import annotations

import math
import reprlib
import sys
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import gradio as gr

from ..i18n import tr

__all__ = [
    "MAX_TEXT",
    "ChoiceDropdown",
    "ChoiceRadio",
    "Choices",
    "ExamplePicker",
    "NumberInput",
    "Refused",
    "SliderInput",
    "TextInput",
    "TileClick",
    "example_picker",
    "finite_number",
    "refused_argument",
    "shown",
]

MAX_TEXT = 4000  # characters: a class name, a stage, or the JSON of every block's scale (ResNet-152: ~1,500)


@dataclass(frozen=True)
class Refused:
    """A value an input would not accept, and why: an i18n key and its placeholders."""

    key: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def message(self, lang: str) -> str:
        return tr(self.key, lang, **self.values)


def refused_argument(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Refused | None:
    """The first refused value among a handler's arguments, or None."""
    return next((a for a in (*args, *kwargs.values()) if isinstance(a, Refused)), None)


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


def _in_range(value: Any, number: int | float, low: float | None, high: float | None) -> Refused | None:
    if low is not None and number < low:
        return Refused("error_too_small", {"value": shown(value), "low": f"{low:g}"})
    if high is not None and number > high:
        return Refused("error_too_large", {"value": shown(value), "high": f"{high:g}"})
    return None


def _text(value: Any, limit: int) -> str | Refused:
    """Text as a form sends it; a whole number (scripts send 281 for "281") is taken as its digits."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() <= 64:
        value = str(value)
    if not isinstance(value, str) or len(value) > limit:
        return Refused("error_text", {"value": shown(value), "limit": limit})
    return value


def _choice(component: gr.components.Component, value: Any) -> Any:
    """``value`` if it is one of the component's choice values (same type too: True is not 1),
    else a Refused listing them."""
    values = [v for _, v in component.choices]
    if any(type(value) is type(v) and value == v for v in values):
        return value
    return Refused("error_choice", {"value": shown(value), "choices": ", ".join(str(v) for v in values)})


class ChoiceRadio(gr.Radio):
    """A radio group that accepts exactly one of its choices' values."""

    def get_block_name(self) -> str:
        return "radio"

    def preprocess(self, payload: Any) -> Any:
        value = _choice(self, payload)
        return value if isinstance(value, Refused) else super().preprocess(value)


class ChoiceDropdown(gr.Dropdown):
    """A single-choice dropdown (not ``multiselect``): one of its choices' values, or, with
    ``allow_custom_value``, any text of at most MAX_TEXT characters (None stays None: nothing typed)."""

    def get_block_name(self) -> str:
        return "dropdown"

    def preprocess(self, payload: Any) -> Any:
        if self.allow_custom_value:
            return None if payload is None else _text(payload, MAX_TEXT)
        value = _choice(self, payload)
        return value if isinstance(value, Refused) else super().preprocess(value)


class Choices(gr.CheckboxGroup):
    """A checkbox group: a list (possibly empty) of its choices' values."""

    def get_block_name(self) -> str:
        return "checkboxgroup"

    def preprocess(self, payload: Any) -> Any:
        if not isinstance(payload, list):
            return Refused("error_choices", {"value": shown(payload)})
        for item in payload:
            value = _choice(self, item)
            if isinstance(value, Refused):
                return value
        return super().preprocess(payload)


class NumberInput(gr.Number):
    """A number field: a finite number within ``minimum``..``maximum`` (each optional), rounded to
    ``precision`` as Gradio does (a whole number for precision 0); None stays None (an empty field)."""

    def get_block_name(self) -> str:
        return "number"

    def preprocess(self, payload: Any) -> Any:
        if payload is None:
            return None
        number = finite_number(payload)
        if number is None:
            return Refused("error_not_number", {"value": shown(payload)})
        outside = _in_range(payload, number, self.minimum, self.maximum)
        return outside if outside is not None else self.round_to_precision(number, self.precision)


class SliderInput(gr.Slider):
    """A slider: a finite number between its ends (a slider always has one)."""

    def get_block_name(self) -> str:
        return "slider"

    def preprocess(self, payload: Any) -> Any:
        number = finite_number(payload)
        if number is None:
            return Refused("error_not_number", {"value": shown(payload)})
        outside = _in_range(payload, number, self.minimum, self.maximum)
        return outside if outside is not None else gr.Number.round_to_precision(number, self.precision)


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
            return Refused("error_example", {"value": shown(payload), "last": count - 1})
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
