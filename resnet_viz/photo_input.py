"""An image input that hands the handler the uploaded file untouched.

``gr.Image`` opens every upload with Pillow while preprocessing; a text file, an empty file or
a decompression bomb then fails inside Gradio, and the visitor sees a generic "Error". This
subclass only returns the file's path (base64 payloads from API clients are written to the
cache first), so opening, EXIF orientation, modes and the pixel budget all happen in
:mod:`resnet_viz.preprocess`, whose messages say what is wrong.
"""

from __future__ import annotations

import base64
import binascii
from typing import Callable

import gradio as gr
from gradio import processing_utils
from gradio.data_classes import ImageData

__all__ = ["PhotoInput", "MAX_INLINE_BYTES"]

MAX_INLINE_BYTES = 10 * 1024 * 1024  # base64 payloads skip the upload route's size limit: same limit here


class PhotoInput(gr.Image):
    # Told the path of each inline (base64) photo written to the cache, as uploads are reported:
    # the app's file ledger then deletes it like any upload no event holds.
    on_saved: Callable[[str], None] | None = None

    def get_block_name(self) -> str:
        return "image"  # the browser side is gr.Image's, unchanged

    def preprocess(self, payload: ImageData | None) -> str | None:
        if payload is None:
            return None
        if payload.url and payload.url.startswith("data:"):
            header, _, encoded = payload.url.partition(",")
            if len(encoded) * 3 // 4 > MAX_INLINE_BYTES:
                raise gr.Error(f"The image is larger than {MAX_INLINE_BYTES // 2**20} MB.", print_exception=False)
            try:
                data = base64.b64decode(encoded, validate=True) if ";base64" in header else encoded.encode()
            except (binascii.Error, ValueError):
                raise gr.Error("The image data is not valid base64.", print_exception=False) from None
            path = processing_utils.save_bytes_to_cache(data, "inline-image", self.GRADIO_CACHE)
            if self.on_saved is not None:
                self.on_saved(path)
            return path
        if payload.path is None:
            raise gr.Error("No image file was received.", print_exception=False)
        return str(payload.path)
