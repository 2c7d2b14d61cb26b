"""Per-session results: what one visitor's last analysis left behind for re-rendering.

Changing the stage, the ranking, the channel or the opacity re-renders from these tensors
without another forward pass. The store is bounded (least recently used sessions are dropped
beyond ``max_sessions``), entries expire after ``ttl_s`` idle seconds, and the app drops a
session's entry when its browser tab closes. Stage tensors are kept in float16: rendering
needs no more, and a ResNet-50 session then holds about 3.4 MB.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

__all__ = ["Session", "SessionStore"]


@dataclass
class Session:
    arch: str
    source: str  # the analysed file, for explanations of the same image
    report: dict[str, Any]  # analyze()'s JSON
    crop: Image.Image  # the 224x224 crop the network saw
    stages: dict[str, torch.Tensor]  # "C1".."C5" -> (C, H, W) float16, CPU
    channel_weights: dict[str, torch.Tensor] = field(default_factory=dict)  # stage -> Grad-CAM weights (C,)
    outputs: dict[str, Any] = field(default_factory=dict)  # last rendered pictures and results, for downloads
    touched: float = field(default_factory=time.monotonic)

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.stages.values())


class SessionStore:
    def __init__(self, max_sessions: int = 64, ttl_s: float = 1800.0) -> None:
        self.max_sessions, self.ttl_s = max_sessions, ttl_s
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, session_id: str, session: Session) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)
            self._sessions[session_id] = session
            self._expire_locked()
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)

    def get(self, session_id: str) -> Session | None:
        with self._lock:
            self._expire_locked()
            session = self._sessions.get(session_id)
            if session is not None:
                session.touched = time.monotonic()
                self._sessions.move_to_end(session_id)
            return session

    def drop(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def _expire_locked(self) -> None:
        now = time.monotonic()
        for key in [k for k, s in self._sessions.items() if now - s.touched > self.ttl_s]:
            del self._sessions[key]

    def __len__(self) -> int:
        with self._lock:
            self._expire_locked()
            return len(self._sessions)

    def nbytes(self) -> int:
        with self._lock:
            return sum(s.nbytes for s in self._sessions.values())
