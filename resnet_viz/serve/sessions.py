"""Per-visitor results: what one visitor's last analysis left behind for re-rendering.

Changing the stage, the ranking, the channel or the opacity re-renders from these tensors
without another forward pass. An :class:`Analysis` is immutable and may be shared (the example
every visitor sees first is analysed once per architecture); a :class:`Session` is one visitor's
view of it, with what that visitor computed and rendered since.

The store is bounded (least recently used sessions are dropped beyond ``max_sessions``),
entries expire after ``ttl_s`` idle seconds, and the app drops a session's entry when its
browser tab closes. Time comes from an injectable ``clock``, so tests can jump hours ahead
instead of sleeping. Stage tensors are kept in float16: rendering needs no more, and a
ResNet-50 analysis then holds about 3.4 MB.

Session ids come from the client (Gradio does not validate them: ``..`` and ``/etc`` arrive as
they were sent). They are only ever used as dictionary keys here; :func:`valid_session_id` lets
callers refuse ids that no Gradio client produces before storing anything under them.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from PIL import Image

__all__ = ["Analysis", "Session", "SessionStore", "valid_session_id"]

# Gradio's browser client sends Math.random().toString(36) digits, gradio_client a uuid4: both fit.
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def valid_session_id(session_id: object) -> bool:
    """Whether ``session_id`` looks like an id a Gradio client generates (letters, digits, - and _)."""
    return isinstance(session_id, str) and _SESSION_ID.fullmatch(session_id) is not None


@dataclass(frozen=True, eq=False)
class Analysis:
    """One photo analysed by one architecture: everything later views and computations need.

    ``input`` is the preprocessed (3, 224, 224) tensor the network saw, so explanations and lab
    measurements of the same photo never depend on the uploaded file still existing.
    """

    arch: str
    report: dict[str, Any]  # analyze()'s JSON
    input: torch.Tensor  # (3, 224, 224) normalised, CPU
    crop: Image.Image  # the same crop as a picture
    stages: dict[str, torch.Tensor]  # "C1".."C5" -> (C, H, W) float16, CPU
    # Results derived from this analysis alone (Grad-CAM for the top-1, gradient flow, ...), computed
    # once and shared by every visitor who sees it (all visitors see the example's).
    _derived: dict[str, Any] = field(default_factory=dict, repr=False)
    _derive_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def derived(self, key: str, compute: Callable[[], Any]) -> Any:
        """``compute()``'s result, computed on first use only (one computation even when visitors race)."""
        with self._derive_lock:
            if key not in self._derived:
                self._derived[key] = compute()
            return self._derived[key]

    @property
    def nbytes(self) -> int:
        return self.input.numel() * self.input.element_size() + sum(
            t.numel() * t.element_size() for t in self.stages.values()
        )


@dataclass
class Session:
    """One visitor's state: the analysis on screen and what was computed or rendered for it."""

    analysis: Analysis
    channel_weights: dict[str, torch.Tensor] = field(default_factory=dict)  # stage -> Grad-CAM weights (C,)
    outputs: dict[str, Any] = field(default_factory=dict)  # last rendered pictures and results, for downloads
    files_token: str | None = None  # the name of this session's download folder, chosen by the server
    cancel: threading.Event = field(default_factory=threading.Event)  # set by Cancel: stops a slow method
    touched: float = 0.0  # set by the store

    @property
    def arch(self) -> str:
        return self.analysis.arch

    @property
    def report(self) -> dict[str, Any]:
        return self.analysis.report

    @property
    def crop(self) -> Image.Image:
        return self.analysis.crop

    @property
    def stages(self) -> dict[str, torch.Tensor]:
        return self.analysis.stages


class SessionStore:
    """session id -> :class:`Session`, bounded in number and idle time."""

    def __init__(
        self, max_sessions: int = 64, ttl_s: float = 1800.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s!r}")
        self.max_sessions, self.ttl_s, self.clock = max_sessions, ttl_s, clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()
        # Called with each session that leaves the store (expired, evicted, dropped or replaced),
        # outside the lock, so its owner can free what belongs to it (its download folder).
        self.on_remove: Callable[[Session], None] | None = None

    def put(self, session_id: str, session: Session) -> None:
        with self._lock:
            session.touched = self.clock()
            removed = [s for s in [self._sessions.pop(session_id, None)] if s is not None and s is not session]
            self._sessions[session_id] = session
            removed += self._expire_locked()
            while len(self._sessions) > self.max_sessions:
                removed.append(self._sessions.popitem(last=False)[1])
        self._removed(removed)

    def get(self, session_id: str) -> Session | None:
        with self._lock:
            removed = self._expire_locked()
            session = self._sessions.get(session_id)
            if session is not None:
                session.touched = self.clock()
                self._sessions.move_to_end(session_id)
        self._removed(removed)
        return session

    def drop(self, session_id: str) -> None:
        with self._lock:
            session = self._sessions.pop(session_id, None)
        self._removed([session] if session is not None else [])

    def _expire_locked(self) -> list[Session]:
        now = self.clock()
        expired = [k for k, s in self._sessions.items() if now - s.touched > self.ttl_s]
        return [self._sessions.pop(k) for k in expired]

    def _removed(self, sessions: list[Session]) -> None:
        if self.on_remove is not None:
            for session in sessions:
                self.on_remove(session)

    def __len__(self) -> int:
        with self._lock:
            removed = self._expire_locked()
            count = len(self._sessions)
        self._removed(removed)
        return count

    def nbytes(self) -> int:
        """Bytes of the analyses held (a shared example counted once)."""
        with self._lock:
            analyses = {id(s.analysis): s.analysis for s in self._sessions.values()}
        return sum(a.nbytes for a in analyses.values())
