"""Beside a channel's map over the crop: what it responds to beyond this one photo.

- its feature visualisation (the image that excites it most, optimised from noise; Olah et al.
  2017), computed when asked for, with a progress bar and a Cancel button, then kept on disk for
  every visitor and every restart;
- its dataset exemplars (the patches of a folder's images that excite it most), when the app was
  started with ``--index INDEX``; without one, a line says how to build it.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from dataclasses import dataclass
from typing import Any

import gradio as gr
from PIL import Image

from ..i18n import UserError, tr
from ..serve.cancel import Cancelled
from ..serve.explorer import Explorer
from ..serve.sessions import Session
from .page import I18N, Page, friendly, value_check, visitor

__all__ = ["ChannelPanel", "build", "channel_check", "exemplar_gallery", "finished_view", "visualization_view"]

PATCH_SIZE = 96  # exemplar patches (11-64 px in the index) are shown enlarged with NEAREST
_BREAK_AFTER = "/_-."  # a file name may wrap after these (zero-width space), never inside a word


def _breakable(name: str) -> str:
    """``name`` with a zero-width space after each separator, so that a caption wraps there
    instead of being cut off (the gallery's captions are narrower than most file names)."""
    return "".join(f"{c}\u200b" if c in _BREAK_AFTER else c for c in name)


def _check_channel(session: Session, stage: str, channel: int | float | None, lang: str) -> int:
    tensor = session.stages.get(stage)
    if tensor is None:
        raise UserError("error_stage", lang, stage=stage, stages=", ".join(session.stages))
    number = int(channel or 0)
    if not 0 <= number < tensor.shape[0]:
        raise UserError("error_channel", lang, stage=stage, last=tensor.shape[0] - 1, channel=number)
    return number


def channel_check(explorer: Explorer):
    """``check(request, stage, channel, ...)`` for :func:`resnet_viz.ui.page.value_check`: a channel
    the stage does not have is a UserError (nothing to check before the first analysis)."""

    def check_channel(request: gr.Request, stage: str, channel: int | float | None, *_: object) -> None:
        sid, lang = visitor(request)
        session = explorer.current(sid)
        if session is not None:
            _check_channel(session, stage, channel, lang)

    return check_channel


def visualization_view(explorer: Explorer, session: Session, stage: str, channel: int, lang: str):
    """(the stored visualisation or None, a line: what it shows, or what to press and how long)."""
    cached = explorer.cached_visualization(session.arch, stage, channel)
    if cached is not None:
        image, meta = cached
        return image, tr("featvis_shown", lang, stage=stage, channel=channel, arch=session.arch, steps=meta["steps"],
                         activation=meta["final_activation"])
    seconds = explorer.expected_visualization_seconds(session, stage)
    steps = explorer.feature_vis["steps"]
    return None, tr("featvis_press", lang, stage=stage, channel=channel, steps=steps, seconds=max(1.0, seconds))


def exemplar_gallery(explorer: Explorer, session: Session, stage: str, channel: int, lang: str):
    """(gallery items: patch and caption, a line about them) from the loaded exemplar index."""
    index = explorer.index
    if index is None:
        return [], tr("exemplars_none", lang, arch=session.arch)
    mismatch = index.mismatch(explorer.registry.get(session.arch).model)
    if mismatch is not None:
        return [], tr("exemplars_mismatch", lang, reason=mismatch)
    items = []
    for entry in index.top(stage, channel):
        if entry.patch is None:
            continue
        scale = PATCH_SIZE / max(entry.patch.size)
        size = (max(1, round(entry.patch.width * scale)), max(1, round(entry.patch.height * scale)))
        items.append((entry.patch.resize(size, Image.Resampling.NEAREST), f"{entry.score:.2f} · {_breakable(entry.image)}"))
    scored = len(index.images) - len(index.unreadable)  # the images list names the unreadable ones too
    return items, tr("exemplars_shown", lang, n=len(items), images=scored, stage=stage, channel=channel)


def finished_view(explorer: Explorer, session: Session, stage: str, channel: int, done: tuple | None, lang: str):
    """(picture, note) when a visualisation of ``stage``'s ``channel`` ends (``done`` is its (image,
    meta), None if it was cancelled). A result is shown only under the channel it was computed for:
    when the visitor has picked another stage or channel since, the result stays in the cache and
    the panel shows the channel on screen now, with its stored picture or what to press."""
    shown = session.outputs
    if (shown.stage, shown.channel_number) != (stage, channel):
        return visualization_view(explorer, session, shown.stage, shown.channel_number, lang)
    if done is None:
        return gr.skip(), tr("featvis_cancelled", lang, stage=stage, channel=channel)
    image, meta = done
    return image, tr("featvis_shown", lang, stage=stage, channel=channel, arch=session.arch, steps=meta["steps"],
                     activation=meta["final_activation"])


@dataclass
class ChannelPanel:
    """The panel's components, and what the stage tab shows in them for a channel."""

    explorer: Explorer
    picture: gr.Image
    note: gr.Markdown
    gallery: gr.Gallery
    gallery_note: gr.Markdown

    @property
    def outputs(self) -> list:
        return [self.picture, self.note, self.gallery, self.gallery_note]

    def view(self, session: Session, stage: str, channel: int, lang: str) -> tuple:
        picture, note = visualization_view(self.explorer, session, stage, channel, lang)
        items, gallery_note = exemplar_gallery(self.explorer, session, stage, channel, lang)
        return picture, note, items, gallery_note


def build(page: Page, stage: gr.Radio, channel: gr.Number) -> ChannelPanel:
    """The panel's components (in the current layout context) and its compute and cancel buttons."""
    explorer = page.explorer
    with gr.Row():
        with gr.Column():
            gr.Markdown(I18N("featvis_heading"))
            picture = gr.Image(show_label=False, format="png", interactive=False, elem_id="featvis", height=260)
            note = gr.Markdown(elem_id="featvis-note")
            with gr.Row():
                compute = gr.Button(I18N("featvis_button"), elem_id="featvis-button", scale=3)
                cancel = gr.Button(I18N("cancel_button"), size="sm", elem_id="featvis-cancel", scale=1)
        with gr.Column():
            gr.Markdown(I18N("exemplars_heading"))
            gallery = gr.Gallery(show_label=False, columns=3, height=340, format="png", elem_id="exemplars",
                                 allow_preview=False)
            gallery_note = gr.Markdown(elem_id="exemplars-note")
    panel = ChannelPanel(explorer, picture, note, gallery, gallery_note)

    @friendly
    def on_compute(request: gr.Request, stage_name: str, number: float | None, progress=gr.Progress()):  # noqa: B008
        """Streams (picture, note): the image so far every few steps (as Lucid's notebooks show it),
        then the result. The run works in a thread of its own (with this event's context, so the
        progress bar follows it); previews only show while the visitor still looks at this channel."""
        sid, lang = visitor(request)
        session = explorer.session(sid, lang)
        number = _check_channel(session, stage_name, number, lang)
        progress(0, desc=tr("featvis_waiting", lang))
        previews: queue.Queue = queue.Queue()
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["done"] = explorer.visualize(
                    session, stage_name, number, progress=lambda f: progress(f, desc=tr("featvis_progress", lang)),
                    on_preview=lambda step, steps, image: previews.put((step, steps, image)),
                )
            except Cancelled:
                outcome["done"] = None
            except BaseException as exc:  # re-raised below, in the event's own thread
                outcome["error"] = exc
            finally:
                previews.put(None)

        worker = threading.Thread(target=contextvars.copy_context().run, args=(work,), daemon=True)
        worker.start()
        while (item := previews.get()) is not None:
            step, steps, image = item
            on_screen = (session.outputs.stage, session.outputs.channel_number) == (stage_name, number)
            if explorer.is_current(sid, session) and on_screen:
                yield image, tr("featvis_preview", lang, stage=stage_name, channel=number, step=step, steps=steps)
        worker.join()
        if "error" in outcome:
            raise outcome["error"]
        if not explorer.is_current(sid, session):  # a new photo or arch: its own views are on screen
            yield gr.skip(), gr.skip()
            return
        yield finished_view(explorer, session, stage_name, number, outcome["done"], lang)

    page.slow_run(compute, cancel, on_compute, [stage, channel], [picture, note],
                  validator=value_check(channel_check(explorer), at=1, count=2),
                  progress_on=[note])  # the progress bar once, over the note: the picture shows the image so far
    return panel
