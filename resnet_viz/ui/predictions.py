"""The Predictions tab: the top-5 classes and the 224x224 crop the network saw."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..i18n import tr
from ..serve.sessions import Session
from .page import I18N, Page

__all__ = ["build", "probabilities", "percent_texts", "crop_note", "TOP_K_CLASS"]

# gr.Label rounds every row to a whole percent (with random weights all five read "0%"), so these
# labels carry their own percentage and the page's CSS hides Gradio's (see app.py's CSS).
TOP_K_CLASS = "top-k"
MAX_DECIMALS = 6

# Below this short side (px) the crop is the photo enlarged more than 4x; beyond this aspect
# ratio the crop shows less than a quarter of the long side. The first is a tiny photo blown up,
# the second (whatever its size) a stretched sliver.
SMALL_SIDE = 56
THIN_ASPECT = 4.0


def percent_texts(values: list[float]) -> list[str]:
    """Percentages with one number of decimals for all rows: the fewest that show every non-zero
    value as non-zero and tell every two different values apart (up to MAX_DECIMALS)."""
    for decimals in range(MAX_DECIMALS + 1):
        texts = [f"{100 * v:.{decimals}f}%" for v in values]
        shown = {}
        distinct = all(shown.setdefault(t, v) == v for t, v in zip(texts, values))
        nonzero = all(v == 0 or float(t[:-1]) > 0 for t, v in zip(texts, values))
        if distinct and nonzero:
            break
    return texts


def probabilities(report: dict[str, Any]) -> dict[str, float]:
    """The top-k for a gr.Label: each class's name followed by its percentage (see TOP_K_CLASS)."""
    rows = report["predictions"]
    texts = percent_texts([p["probability"] for p in rows])
    return {f"{p['label']} · {text}": p["probability"] for p, text in zip(rows, texts)}


def crop_note(session: Session, resize: int, lang: str) -> str:
    """A warning when the 224 crop is a stretched sliver of a very thin photo, or a tiny photo
    enlarged many times (a 1x1 photo is tiny, not a sliver), else ""."""
    width, height = session.report["image"]["width"], session.report["image"]["height"]
    short, long = min(width, height), max(width, height)
    thin = long > THIN_ASPECT * short
    if short >= SMALL_SIDE and not thin:
        return ""
    scale = resize / short  # the short side is resized to `resize`, then the centre 224 is cut out
    if not thin:
        return tr("crop_tiny", lang, width=width, height=height, scale=scale)
    shown = min(1.0, 224 / (long * scale))
    return tr("crop_sliver", lang, width=width, height=height, scale=scale, shown=100 * shown)


def build(page: Page) -> None:
    with gr.Tab(I18N("tab_predictions"), id="predictions"):
        with gr.Row():
            predictions = gr.Label(num_top_classes=5, label=I18N("predictions_label"), elem_id="predictions",
                                   elem_classes=[TOP_K_CLASS])
            crop = gr.Image(label=I18N("crop_label"), format="png", interactive=False, height=260, elem_id="crop")
        note = gr.Markdown(elem_id="crop-note")
        gr.Markdown(I18N("predictions_help"))

    def show(session: Session, lang: str):
        resize = page.explorer.registry.get(session.arch).model.meta.transforms.resize_size[0]
        return probabilities(session.report), session.crop, crop_note(session, resize, lang)

    page.after_analysis(show, [], [predictions, crop, note])
