"""An image input that hands the handler the uploaded file untouched.

``gr.Image`` opens every upload with Pillow while preprocessing; a text file, an empty file or
a decompression bomb then fails inside Gradio, and the visitor sees a generic "Error". This
subclass only returns the file's path (base64 payloads from API clients are written to the
cache first), so opening, EXIF orientation, modes and the pixel budget all happen in
:mod:`resnet_viz.preprocess`, whose messages say what is wrong.

A client may send anything in the image's place (a number, a list, a string). Gradio would
check it against its image data model before ``preprocess`` and fail with a traceback; here the
data model takes any JSON and ``preprocess`` checks it, refusing what is no image reference as the
page's other inputs refuse their values (:class:`resnet_viz.ui.inputs.Refused`: one message in
the visitor's language).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import gradio as gr
import pydantic
from gradio import processing_utils
from gradio.data_classes import GradioRootModel, ImageData

from .ui.inputs import Refused, shown

__all__ = ["PhotoInput", "MAX_INLINE_BYTES"]

MAX_INLINE_BYTES = 10 * 1024 * 1024  # base64 payloads skip the upload route's size limit: same limit here


class _AnyPayload(GradioRootModel):
    """Whatever JSON the client sent, checked as an image reference in ``PhotoInput.preprocess``."""

    root: Any = None


class PhotoInput(gr.Image):
    data_model = _AnyPayload

    def get_block_name(self) -> str:
        return "image"  # the browser side is gr.Image's, unchanged

    def api_info(self) -> dict[str, Any]:
        """The API describes an image reference, as gr.Image's (the lenient model is for checking)."""
        schema = ImageData.model_json_schema()
        schema["additional_description"] = schema.pop("description", None)
        return schema

    def preprocess(self, payload: _AnyPayload | None) -> str | Refused | None:
        raw = payload.root if isinstance(payload, GradioRootModel) else payload
        if raw is None:
            return None
        try:
            image = ImageData.model_validate(raw)
        except pydantic.ValidationError:
            return Refused("error_photo_value", {"value": shown(raw)})
        if image.url and image.url.startswith("data:"):
            header, _, encoded = image.url.partition(",")
            if len(encoded) * 3 // 4 > MAX_INLINE_BYTES:
                return Refused("error_photo_too_large", {"mb": MAX_INLINE_BYTES // 2**20})
            try:
                data = base64.b64decode(encoded, validate=True) if ";base64" in header else encoded.encode()
            except (binascii.Error, ValueError):
                return Refused("error_photo_base64")
            return processing_utils.save_bytes_to_cache(data, "inline-image", self.GRADIO_CACHE)
        if image.path is None:
            return Refused("error_photo_no_file")
        return str(image.path)
