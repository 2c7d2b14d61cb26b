"""The four named endpoints for scripts and classrooms: the library's JSON, over HTTP.

``/analyze`` requests may run side by side (the explorer batches them into one forward); the
others are short model work. Their JSON is exactly the library functions' (a test pins it).
"""

from __future__ import annotations

import json
from typing import Any, Callable

import gradio as gr

from ..analysis import analyze
from ..attribution import attribute, attribution_json
from ..explorer import Explorer, UserError, _user_errors
from ..gradient_flow import gradient_flow
from ..lesion import lesion
from ..methods import METHOD_SPECS
from ..model import ARCHS
from ..photo_input import PhotoInput
from .page import ASSETS, MODEL_QUEUE, friendly

__all__ = ["build", "Endpoints"]


def _target(value: str | int | None) -> str | int | None:
    """A target from an API call: empty means the top-1, digits an index, else a label."""
    if value is None or isinstance(value, int):
        return value
    value = str(value).strip()
    if not value:
        return None
    return int(value) if value.isdigit() else value


class Endpoints:
    """Plain functions behind the endpoints (testable without a server)."""

    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer

    def _run(self, fn: Callable, image: str | None, arch: str, *args: Any, **kwargs: Any) -> Any:
        """``fn(model, image, ...)`` with the model leased, bad input turned into a UserError."""
        if not image:
            raise UserError("No image was given.")
        picture = _user_errors(self.explorer.picture, image, arch)  # decoded (small) before taking the model
        with self.explorer.registry.lease(arch) as model:
            return _user_errors(fn, model, picture, *args, **kwargs)

    def analyze(self, image: str | None, arch: str) -> dict[str, Any]:
        """:func:`resnet_viz.analyze`'s JSON (batched with concurrent requests)."""
        batcher = self.explorer.batcher
        if batcher is None or not image:
            return self._run(analyze, image, arch)
        self.explorer.registry.get(arch)  # an unknown arch fails here, alone
        return _user_errors(batcher.analyze, image, arch)

    def attribute(self, image: str | None, arch: str, method: str, target: str | int | None, stage: str) -> dict:
        """:func:`resnet_viz.attribute`'s dict, maps as nested lists. Slow methods hold the model
        batch by batch, so the page's short requests go between their batches."""
        options = {"target": _target(target), "stage": stage or "C5"}
        spec = METHOD_SPECS.get(method)
        if spec is None or spec.cost == "fast" or not image:
            return attribution_json(self._run(attribute, image, arch, method, **options))
        picture = _user_errors(self.explorer.picture, image, arch)
        with self.explorer.registry.long_lease(arch) as (model, lease):
            result = _user_errors(attribute, model, picture, method, progress=lambda _: lease.pause_for_short(), **options)
        return attribution_json(result)

    def gradient_flow(self, image: str | None, arch: str, target: str | int | None) -> dict[str, Any]:
        """:func:`resnet_viz.gradient_flow`'s dict."""
        return self._run(gradient_flow, image, arch, _target(target))

    def lesion(self, image: str | None, arch: str, scales: str | dict | None) -> dict[str, Any]:
        """:func:`resnet_viz.lesion`'s dict: the sweep, or top-5 with ``scales`` (JSON text or dict)."""
        if isinstance(scales, str):
            try:
                scales = json.loads(scales) if scales.strip() else None
            except json.JSONDecodeError as exc:
                raise UserError(f"scales must be JSON such as {{\"C4\": 0.5}}: {exc}") from None
        return self._run(lesion, image, arch, scales=scales or None)


def build(explorer: Explorer, arch: str) -> Endpoints:
    """Hidden inputs and the four named endpoints."""
    endpoints = Endpoints(explorer)
    with gr.Row(visible=False):
        image = PhotoInput(type="filepath").also_accept(ASSETS)  # uploads, or the example photos by path
        arch_choice = gr.Dropdown(list(ARCHS), value=arch)
        method = gr.Dropdown(list(METHOD_SPECS), value="gradcam")
        target = gr.Textbox()
        stage = gr.Textbox(value="C5")
        scales = gr.Textbox()
        result = gr.JSON()
        trigger = gr.Button()
    named = {
        "analyze": (endpoints.analyze, [image, arch_choice]),
        "attribute": (endpoints.attribute, [image, arch_choice, method, target, stage]),
        "gradient_flow": (endpoints.gradient_flow, [image, arch_choice, target]),
        "lesion": (endpoints.lesion, [image, arch_choice, scales]),
    }
    for name, (fn, inputs) in named.items():
        queue = {"concurrency_id": "analyze", "concurrency_limit": 8} if name == "analyze" else MODEL_QUEUE
        trigger.click(friendly(fn), inputs, result, api_name=name, **queue)
    return endpoints
