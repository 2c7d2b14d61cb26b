"""The page's Blocks, made safe to host: what Gradio 6.31 leaves open to a stranger, closed here.

- The queue is the only way in: ``api_open`` is off, so ``POST /gradio_api/run/predict`` refuses
  every queued event (it would run them around the queue's limits, in any number of threads).
  Events that never queue (Cancel, timers, the example click) still answer there, as the browser
  calls them that way.
- Each session gets a share of the queue (:mod:`.session_queue`).
- Every file reference of every event is checked by its input (:mod:`resnet_viz.ui.photo_input`)
  before Gradio handles it, with or without Gradio's ``meta``; a refusal reads exactly like a
  missing file, in the visitor's language, with no traceback in the log.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
from gradio.exceptions import InvalidPathError

from ..i18n import language
from .photo_input import REQUEST_LANGUAGE, missing_photo
from .session_queue import JobLimits, SessionQueue

__all__ = ["HostedBlocks"]


def _language(request: Any) -> str:
    if isinstance(request, list):  # a batched event: the first request speaks for the batch
        request = request[0] if request else None
    headers = getattr(request, "headers", None)
    return language(headers.get("accept-language") if headers is not None else None)


class HostedBlocks(gr.Blocks):
    job_limits: JobLimits = JobLimits()

    def queue(self, *args: Any, **kwargs: Any) -> "HostedBlocks":
        """Gradio's queue with ``api_open`` off and a share per session (``job_limits``)."""
        super().queue(*args, **{**kwargs, "api_open": False})
        built = self._queue  # Gradio's, with its settings resolved: the same again, with a share per session
        self._queue = SessionQueue(
            live_updates=built.live_updates,
            concurrency_count=built.max_thread_count,
            update_intervals=built.update_intervals,
            max_size=built.max_size,
            blocks=self,
            default_concurrency_limit=built.default_concurrency_limit,
            limits=self.job_limits,
        )
        return self

    async def process_api(self, block_fn, inputs, state=None, request=None, *args: Any, **kwargs: Any):
        # Inputs are preprocessed before the event's function sees its request: the image input
        # reads the visitor's language from here.
        token = REQUEST_LANGUAGE.set(_language(request))
        try:
            return await super().process_api(block_fn, inputs, state, request, *args, **kwargs)
        finally:
            REQUEST_LANGUAGE.reset(token)

    async def preprocess_data(self, block_fn, inputs, state, explicit_call: bool = False):
        # File references are checked before Gradio copies or moves anything they name.
        for block, value in zip(block_fn.inputs, inputs):
            check = getattr(block, "check_reference", None)
            if check is not None:
                check(value)
        try:
            return await super().preprocess_data(block_fn, inputs, state, explicit_call)
        except InvalidPathError:  # Gradio's own check (dotfiles, blocked paths): the same refusal
            raise missing_photo() from None
