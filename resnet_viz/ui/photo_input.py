"""An image input that hands the handler the uploaded file untouched, and only a file the server
itself received.

``gr.Image`` opens every upload with Pillow while preprocessing; a text file, an empty file or
a decompression bomb then fails inside Gradio, and the visitor sees a generic "Error". This
subclass only returns the file's path (base64 payloads from API clients are written to the
cache first), so opening, EXIF orientation, modes and the pixel budget all happen in
:mod:`resnet_viz.model.preprocess`, whose messages say what is wrong.

The path in a request is the client's text. Gradio checks it only when the reference carries its
``meta`` tag; this input checks every reference (:func:`resnet_viz.serve.file_refs.allowed_file`): a file
in Gradio's upload and cache folder or in a folder given to :meth:`PhotoInput.also_accept` (the example photos) is
accepted, anything else is refused with exactly the message of a missing file, in the language of
the request (:data:`REQUEST_LANGUAGE`, set by the app around each event). The app also checks
the raw reference before Gradio handles it (:meth:`PhotoInput.check_reference`): Gradio would copy
a file with ``meta`` from its upload folder, or take a folder there for a file and fail to delete it.

:func:`refused` is how every input of the page refuses a value in preprocessing (see
:mod:`resnet_viz.ui.inputs`): one message in the request's language, one log line, no traceback.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Callable

import gradio as gr
from gradio import processing_utils, utils
from gradio.data_classes import ImageData

from ..i18n import image_error, tr
from ..model.preprocess import ImageError
from ..serve.file_refs import allowed_file, resolved_folders

__all__ = ["PhotoInput", "MAX_INLINE_BYTES", "REQUEST_LANGUAGE", "missing_photo", "refused"]

log = logging.getLogger(__name__)

MAX_INLINE_BYTES = 10 * 1024 * 1024  # base64 payloads skip the upload route's size limit: same limit here

# The language of the request whose inputs are being preprocessed ("en" outside a request). Gradio
# preprocesses inputs before the event's function runs, without the request; the app sets this.
REQUEST_LANGUAGE: ContextVar[str] = ContextVar("resnet_viz_request_language", default="en")


def refused(key: str, **values: Any) -> gr.Error:
    """The refusal of a value the request sent, to raise from ``preprocess``: the i18n message
    ``key`` in the request's language under the translated title, logged as one line (the visitor's
    input, not a bug), no traceback."""
    lang = REQUEST_LANGUAGE.get()
    message = tr(key, lang, **values)
    log.info("refused: %s", message)
    return gr.Error(message, title=tr("error_title", lang), print_exception=False)


def missing_photo() -> gr.Error:
    """The refusal of a file reference: the words of a missing file (as resnet_viz.model.preprocess says
    it), whether the file is missing, lies outside the server's folders or is not a regular file.
    Nothing of the path is repeated: the answer is the same for every refused path."""
    lang = REQUEST_LANGUAGE.get()
    message = image_error(ImageError("the image", "no such file", "missing"), lang)
    return gr.Error(message, title=tr("error_title", lang), print_exception=False)


class PhotoInput(gr.Image):
    # Folders besides Gradio's own whose files a request may name (see also_accept). Not a
    # constructor argument: Gradio builds the browser's config from gr.Image's constructor, and
    # server paths are none of the browser's business.
    _extra_folders: tuple[Path, ...] = ()

    def also_accept(self, *folders: str | os.PathLike) -> "PhotoInput":
        """Let requests name files in ``folders`` too (the app's example photos); returns self."""
        self._extra_folders = self._extra_folders + resolved_folders(folders)
        return self

    # Told the path of each inline (base64) photo written to the cache, as uploads are reported:
    # the app's file ledger then deletes it like any upload no event holds.
    on_saved: Callable[[str], None] | None = None

    def get_block_name(self) -> str:
        return "image"  # the browser side is gr.Image's, unchanged

    def accepted_folders(self) -> tuple[Path, ...]:
        """Where a file named by a request may lie: Gradio's upload folder and this component's
        cache (the same folder unless configured apart), and those of :meth:`also_accept`."""
        return resolved_folders([utils.get_upload_folder(), self.GRADIO_CACHE]) + self._extra_folders

    def preprocess(self, payload: ImageData | None) -> str | None:
        if payload is None:
            return None
        if payload.url and payload.url.startswith("data:"):
            header, _, encoded = payload.url.partition(",")
            if len(encoded) * 3 // 4 > MAX_INLINE_BYTES:
                raise refused("error_photo_too_large", mb=MAX_INLINE_BYTES // 2**20)
            try:
                data = base64.b64decode(encoded, validate=True) if ";base64" in header else encoded.encode()
            except (binascii.Error, ValueError):
                raise refused("error_photo_base64") from None
            path = processing_utils.save_bytes_to_cache(data, "inline-image", self.GRADIO_CACHE)
            if self.on_saved is not None:
                self.on_saved(path)
            return path
        if payload.path is None:
            raise refused("error_photo_no_file")
        return str(self.accepted(payload.path))  # resolved: what is opened later is the checked file, not a link

    def accepted(self, path: object) -> Path:
        """The file ``path`` names, resolved, if a request may name it; else the refusal of a missing file."""
        accepted = allowed_file(path, self.accepted_folders())
        if accepted is None:
            raise missing_photo()
        return accepted

    def check_reference(self, value: Any) -> None:
        """Refuse the request's raw value (before Gradio copies or moves any file it names) unless it
        is no image, or an image reference whose path, if it has one, is a file a request may name.
        A value of another shape (a list, a number, a string) is refused the same way: Gradio would
        fail on it with a traceback."""
        if value is None:
            return
        if not isinstance(value, dict):
            raise missing_photo()
        if value.get("path") is not None:
            self.accepted(value["path"])
        try:
            ImageData.model_validate(value)
        except ValueError:  # pydantic's ValidationError: a field of the wrong type
            raise missing_photo() from None
