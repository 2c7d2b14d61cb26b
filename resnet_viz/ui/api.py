"""The four named endpoints for scripts and classrooms: the library's JSON, over HTTP.

``/analyze`` requests may run side by side (the explorer batches them into one forward); the
others are short model work. Their JSON is exactly the library functions' (a test pins it).
Every value is checked before any work, with messages in the caller's language (its
Accept-Language): the architecture, method and stage by their inputs (:mod:`.inputs`), the
target as the page's target box reads it, the scales here.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import gradio as gr
from PIL import Image

from ..explain.attribution import LAYER_STAGES, attribute, attribution_json
from ..explain.methods import METHOD_SPECS
from ..i18n import UserError
from ..model.preprocess import ImageError
from ..model.resnet import ARCHS
from ..probe.analysis import analyze
from ..probe.gradient_flow import gradient_flow
from ..probe.lesion import lesion
from ..serve.explorer import Explorer
from .attributions import resolve_target_text
from .inputs import ChoiceDropdown, TextInput, finite_number, shown
from .page import ASSETS, MODEL_QUEUE, friendly, visitor
from .photo_input import PhotoInput

__all__ = ["build", "Endpoints"]

SCALES_EXAMPLE = '{"C4": 0.5}'


@contextmanager
def _image_errors(lang: str) -> Iterator[None]:
    """A photo that cannot be analysed becomes a UserError in ``lang``."""
    try:
        yield
    except ImageError as exc:
        raise UserError("error_image", lang, reason=exc) from None


class Endpoints:
    """Plain functions behind the endpoints (testable without a server); ``lang`` is the
    language of their messages."""

    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer

    def _picture(self, image: str | None, arch: str, lang: str) -> Image.Image:
        """The photo decoded (small) for ``arch``, before taking the model others may be waiting for."""
        if not image:
            raise UserError("error_no_image", lang)
        with _image_errors(lang):
            return self.explorer.picture(image, arch)

    def _run(self, fn: Callable, image: str | None, arch: str, lang: str, *args: Any, **kwargs: Any) -> Any:
        """``fn(model, picture, ...)`` with the model leased (wherever the explorer runs its models)."""
        picture = self._picture(image, arch, lang)
        return self.explorer.run(arch, fn, picture, *args, **kwargs)

    def analyze(self, image: str | None, arch: str, lang: str = "en") -> dict[str, Any]:
        """:func:`resnet_viz.analyze`'s JSON (batched with concurrent requests)."""
        batcher = self.explorer.batcher
        if batcher is None or not image:
            return self._run(analyze, image, arch, lang).to_json()
        self.explorer.registry.get(arch)  # load the model outside the batch
        with _image_errors(lang):
            return batcher.analyze(image, arch).to_json()  # decodes the photo in this request's thread

    def attribute(
        self, image: str | None, arch: str, method: str, target: str | int | None, stage: str, lang: str = "en"
    ) -> dict:
        """:func:`resnet_viz.attribute`'s dict, maps as nested lists. Slow methods hold the model
        batch by batch, so the page's short requests go between their batches."""
        options = {"target": resolve_target_text(target, lang), "stage": stage or "C5"}
        if METHOD_SPECS[method].cost == "fast":
            return attribution_json(self._run(attribute, image, arch, lang, method, **options))
        picture = self._picture(image, arch, lang)
        return attribution_json(self.explorer.run_slow(arch, attribute, picture, method, **options))

    def gradient_flow(self, image: str | None, arch: str, target: str | int | None, lang: str = "en") -> dict[str, Any]:
        """:func:`resnet_viz.probe.gradient_flow`'s dict."""
        return self._run(gradient_flow, image, arch, lang, resolve_target_text(target, lang)).to_json()

    def lesion(self, image: str | None, arch: str, scales: str | dict | None, lang: str = "en") -> dict[str, Any]:
        """:func:`resnet_viz.probe.lesion`'s dict: the sweep, or top-5 with ``scales`` (JSON text or dict)."""
        return self._run(lesion, image, arch, lang, scales=self.scales(scales, arch, lang)).to_json()

    def scales(self, scales: str | dict | None, arch: str, lang: str = "en") -> dict[str, float] | None:
        """``scales`` checked: None (or empty) for the sweep, else {stage or block name: 0..1}."""
        if isinstance(scales, str):
            try:
                scales = json.loads(scales) if scales.strip() else None
            except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested deeper than Python's stack
                raise UserError("error_scales_json", lang, example=SCALES_EXAMPLE) from None
        if not scales:
            return None
        if not isinstance(scales, dict):
            raise UserError("error_scales_json", lang, example=SCALES_EXAMPLE)
        model = self.explorer.registry.get(arch).model
        stages = [s.name for s in model.stages[1:]]
        blocks = [b.name for b in model.blocks()]
        for name, value in scales.items():
            if name not in stages and name not in blocks:
                raise UserError("error_scales_name", lang, name=shown(name), stages=", ".join(stages), arch=arch,
                                   first=blocks[0], last=blocks[-1])
            number = finite_number(value)
            if number is None or not 0 <= number <= 1:
                raise UserError("error_scales_value", lang, name=name, value=shown(value))
        return scales


def build(explorer: Explorer, arch: str) -> Endpoints:
    """Hidden inputs and the four named endpoints."""
    endpoints = Endpoints(explorer)
    with gr.Row(visible=False):
        image = PhotoInput(type="filepath").also_accept(ASSETS)  # uploads, or the example photos by path
        arch_choice = ChoiceDropdown(list(ARCHS), value=arch)
        method = ChoiceDropdown(list(METHOD_SPECS), value="gradcam")
        target = TextInput()
        stage = ChoiceDropdown(["", *LAYER_STAGES], value="C5")  # "" is C5; other methods ignore it
        scales = TextInput()
        result = gr.JSON()
        trigger = gr.Button()

    # Each takes the request only for its language; the parameter names are the API's.
    def analyze(request: gr.Request, image: str | None, arch: str) -> dict:
        return endpoints.analyze(image, arch, lang=visitor(request)[1])

    def attribute(
        request: gr.Request, image: str | None, arch: str, method: str, target: str | None, stage: str
    ) -> dict:
        return endpoints.attribute(image, arch, method, target, stage, lang=visitor(request)[1])

    def gradient_flow(request: gr.Request, image: str | None, arch: str, target: str | None) -> dict:
        return endpoints.gradient_flow(image, arch, target, lang=visitor(request)[1])

    def lesion(request: gr.Request, image: str | None, arch: str, scales: str | None) -> dict:
        return endpoints.lesion(image, arch, scales, lang=visitor(request)[1])

    named = {
        "analyze": (analyze, [image, arch_choice]),
        "attribute": (attribute, [image, arch_choice, method, target, stage]),
        "gradient_flow": (gradient_flow, [image, arch_choice, target]),
        "lesion": (lesion, [image, arch_choice, scales]),
    }
    for name, (fn, inputs) in named.items():
        queue = {"concurrency_id": "analyze", "concurrency_limit": 8} if name == "analyze" else MODEL_QUEUE
        trigger.click(friendly(fn), inputs, result, api_name=name, **queue)
    return endpoints
