"""What ties the page to the :class:`~resnet_viz.ui.session_files.SessionFiles` ledger: the request
limits in front of Gradio's routes, and every event's file inputs and outputs.

:class:`ExplorerDemo` (app.py) calls :meth:`FileKeeper.launch_kwargs` when it launches,
:meth:`before` and :meth:`after` around every event it processes, and :meth:`session_ended` when a
tab closes. The events' payloads are the client's data: only ``path`` strings inside Gradio's
upload folder that the ledger itself saw arrive are ever acted on.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Iterable

import gradio as gr
from gradio.utils import get_upload_folder
from starlette.middleware import Middleware

from ..i18n import language, tr
from .photo_input import PhotoInput
from .session_files import FileLimits, SessionBudgetExceeded, SessionFiles
from .upload_limits import UploadLimits

__all__ = ["FileKeeper"]

# Components whose values are files on the server's disk.
FILE_COMPONENTS = tuple(
    getattr(gr, name) for name in ("Image", "Gallery", "File", "Files", "Video", "Audio", "Model3D",
                                   "AnnotatedImage", "ImageEditor", "ImageSlider", "UploadButton")
    if isinstance(getattr(gr, name, None), type)
)
MAX_NODES = 10_000  # of one payload walked for paths (a hostile one may nest deeply)
INLINE_EXTRA = 64 * 1024  # a JSON event's bytes besides an inline photo


def _paths(value: Any) -> list[str]:
    """Every ``path`` string in a file component's value (FileData, a gallery's list of them)."""
    found, stack, seen = [], [value], 0
    while stack and seen < MAX_NODES:
        item = stack.pop()
        seen += 1
        if isinstance(item, dict):
            path = item.get("path")
            if isinstance(path, str):
                found.append(path)
            stack.extend(v for v in item.values() if isinstance(v, (dict, list, tuple)))
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return found


def _slots(blocks: Iterable[Any], values: Iterable[Any], prefix: str) -> dict[str, list[str]]:
    """slot -> paths for each file component among ``blocks``; an update without a value changes nothing."""
    slots = {}
    for block, value in zip(blocks, values):
        if not isinstance(block, FILE_COMPONENTS):
            continue
        if isinstance(value, dict) and value.get("__type__") == "update":
            if "value" not in value:
                continue  # gr.skip() or a visibility change: the slot keeps what it shows
            value = value["value"]
        slots[f"{prefix}:{block._id}"] = _paths(value)
    return slots


def _language(request: Any) -> str:
    request = request[0] if isinstance(request, list) and request else request
    headers = getattr(request, "headers", None)
    return language(headers.get("accept-language") if headers is not None else None)


class FileKeeper:
    """One per page: the ledger of its visitors' files and the limits on each request."""

    def __init__(self, demo: gr.Blocks, limits: FileLimits | None = None) -> None:
        self.demo = demo
        self.limits = limits or FileLimits()
        self.ledger = SessionFiles([get_upload_folder()], self.limits, protected=self._kept, on_delete=self._forget)
        # A photo sent inline (base64) is written to the cache by the input itself: an upload too.
        for block in demo.blocks.values():
            if isinstance(block, PhotoInput):
                block.on_saved = lambda path: self.ledger.uploaded([path])

    def launch_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """``demo.launch``'s keyword arguments with the request limits added in front of Gradio's routes."""
        # A JSON event may carry the photo itself as base64 (4/3 of its bytes) and a little more.
        inline = math.ceil(self.limits.bytes_per_request * 4 / 3) + INLINE_EXTRA
        middleware = Middleware(UploadLimits, limits=self.limits, inline_bytes=inline, on_upload=self.ledger.uploaded)
        app_kwargs = dict(kwargs.get("app_kwargs") or {})
        app_kwargs["middleware"] = [*app_kwargs.get("middleware", []), middleware]
        return {**kwargs, "app_kwargs": app_kwargs}

    def before(self, fn: Any, inputs: list[Any], session: str | None, request: Any) -> None:
        """An event is about to run: refuse it if its uploads would pass the session's budget."""
        if session is None:
            return
        try:
            self.ledger.admit(session, _slots(fn.inputs, inputs, "in"))
        except SessionBudgetExceeded as exc:
            lang = _language(request)
            message = tr("error_session_bytes", lang, used=exc.used / 2**20, limit=exc.limit / 2**20)
            raise gr.Error(message, title=tr("error_title", lang), print_exception=False) from None

    def after(self, fn: Any, inputs: list[Any], result: dict[str, Any], session: str | None) -> None:
        """An event ran: the session now holds its file inputs and the files it was sent."""
        if session is None or any(target[1] == "unload" for target in getattr(fn, "targets", ())):
            return
        slots = _slots(fn.inputs, inputs, "in")
        slots.update(_slots(fn.outputs, result.get("data") or [], "out"))
        self.ledger.hold(session, slots)

    def session_ended(self, request: gr.Request) -> None:
        """The tab closed (Gradio's unload): the session's files go after the grace period."""
        if request is not None and request.session_hash:
            self.ledger.end(request.session_hash)

    def close(self) -> None:
        self.ledger.close()

    def _kept(self) -> set[str]:
        kept: set[str] = set()
        for block in self.demo.blocks.values():
            for path in getattr(block, "keep_in_cache", ()) or ():
                try:
                    kept.add(str(Path(path).resolve()))
                except (OSError, RuntimeError, ValueError, TypeError):
                    continue
        return kept

    def _forget(self, path: str) -> None:
        """Gradio's own sets of files it wrote: the deleted file leaves them, so they stay small."""
        for files in getattr(self.demo, "temp_file_sets", ()):
            files.discard(path)

