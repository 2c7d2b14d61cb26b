"""The Predictions tab: the top-5 classes and the 224x224 crop the network saw."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..i18n import tr
from ..serve.sessions import Session
from .page import I18N, Page

__all__ = ["build", "probabilities", "crop_note"]

# Below this short side (px) the crop is the photo enlarged more than 4x; beyond this aspect
# ratio the crop shows less than a quarter of the long side. Either way the network sees a sliver.
SMALL_SIDE = 56
THIN_ASPECT = 4.0


def probabilities(report: dict[str, Any]) -> dict[str, float]:
    return {p["label"]: p["probability"] for p in report["predictions"]}


def crop_note(session: Session, resize: int, lang: str) -> str:
    """A warning when the 224 crop is a stretched sliver of a tiny or very thin photo, else ""."""
    width, height = session.report["image"]["width"], session.report["image"]["height"]
    short, long = min(width, height), max(width, height)
    if short >= SMALL_SIDE and long <= THIN_ASPECT * short:
        return ""
    scale = resize / short  # the short side is resized to `resize`, then the centre 224 is cut out
    shown = min(1.0, 224 / (long * scale))
    return tr("crop_sliver", lang, width=width, height=height, scale=scale, shown=100 * shown)


def build(page: Page) -> None:
    with gr.Tab(I18N("tab_predictions"), id="predictions"):
        with gr.Row():
            predictions = gr.Label(num_top_classes=5, label=I18N("predictions_label"), elem_id="predictions")
            crop = gr.Image(label=I18N("crop_label"), format="png", interactive=False, height=260, elem_id="crop")
        note = gr.Markdown(elem_id="crop-note")
        gr.Markdown(I18N("predictions_help"))

    def show(session: Session, lang: str):
        resize = page.explorer.registry.get(session.arch).model.meta.transforms.resize_size[0]
        return probabilities(session.report), session.crop, crop_note(session, resize, lang)

    page.after_analysis(show, [], [predictions, crop, note])
