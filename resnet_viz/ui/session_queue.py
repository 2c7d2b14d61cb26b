"""Gradio's queue with a share per session: no visitor can fill the places everyone waits in.

Gradio's queue bounds the events waiting (``max_size``) for all sessions together, so one tab or
script that keeps joining can hold every place and refill each as it frees. This queue checks, when
an event joins, what the same session already has waiting or running: at most ``JobLimits.slow``
jobs from the slow queues (feature visualisations, slow explanations) and ``JobLimits.other``
other jobs. One more is refused at once, with HTTP 429 and a message in the visitor's language
(the browser shows it as an error toast; gradio_client raises an HTTP 429 error).

Callers who send no session id (``/call/<name>`` without one) are each a session of their own
(Gradio names them by their event id), so nothing here is shared between two of them.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import fastapi
from gradio import queueing
from gradio.server_messages import ProcessCompletedMessage

from ..i18n import language, tr

__all__ = ["JobLimits", "SessionQueue"]


@dataclass(frozen=True)
class JobLimits:
    """How many jobs one session may have waiting or running at once."""

    slow: int = 1  # a visitor waits for one long computation or cancels it; a second would only wait behind it
    # Everything else is short (an analysis, a stage change, a download). A page sends at most one per
    # control at a time (Gradio's trigger modes), and a visitor works one or two controls at once.
    other: int = 4
    slow_queues: frozenset[str] = field(default_factory=lambda: frozenset({"slow"}))  # concurrency ids (ui.page.SLOW)

    def kind(self, concurrency_id: str) -> str:
        return "slow" if concurrency_id in self.slow_queues else "other"


class SessionQueue(queueing.Queue):
    """``gradio.queueing.Queue`` that refuses an event whose session has its share already."""

    def __init__(self, *args: Any, limits: JobLimits | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits if limits is not None else JobLimits()
        self._session_join_lock: asyncio.Lock | None = None
        # Events whose result was sent: Gradio keeps them among its active jobs a little longer
        # (run history, timings), but the visitor is no longer waiting for them.
        self._answered: weakref.WeakSet[queueing.Event] = weakref.WeakSet()

    def send_message(self, event: queueing.Event, event_message: Any) -> None:
        if isinstance(event_message, ProcessCompletedMessage):
            self._answered.add(event)
        super().send_message(event, event_message)

    async def push(self, body, request: fastapi.Request, username: str | None):
        session = body.session_hash
        fn = self.blocks.fns.get(body.fn_index) if body.fn_index is not None else None
        # (An event that the page never queues may still be sent here by hand: it takes a place, so it counts.)
        if session is None or fn is None:
            return await super().push(body, request, username)  # its own session, or Gradio's own error
        # Counting and joining are one step, so two joins of one session sent together cannot both
        # see the last free place.
        async with self._join_lock():
            kind = self.limits.kind(fn.concurrency_id)
            held = self.jobs_of(session)[kind]
            if held >= getattr(self.limits, kind):
                lang = language(request.headers.get("accept-language"))
                message = tr("error_busy_slow", lang) if kind == "slow" else tr("error_busy_other", lang, count=held)
                raise fastapi.HTTPException(status_code=429, detail=message)
            return await super().push(body, request, username)

    def jobs_of(self, session_hash: str) -> Counter:
        """The session's jobs waiting or running, by kind ("slow", "other")."""
        waiting = [event for queue in self.event_queue_per_concurrency_id.values() for event in queue.queue]
        running = [event for job in self.active_jobs if job for event in job]
        return Counter(
            self.limits.kind(event.fn.concurrency_id)
            for event in waiting + running
            if event.session_hash == session_hash and event not in self._answered
        )

    def _join_lock(self) -> asyncio.Lock:
        # Made on first use, inside the server's event loop (the queue is built before it runs).
        if self._session_join_lock is None:
            self._session_join_lock = asyncio.Lock()
        return self._session_join_lock
