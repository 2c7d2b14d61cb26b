"""Per-visitor results: what one visitor's last analysis left behind for re-rendering.

Changing the stage, the ranking, the channel or the opacity re-renders from these tensors
without another forward pass. An :class:`Analysis` is immutable and may be shared (the example
every visitor sees first is analysed once per architecture); a :class:`Session` is one visitor's
view of it, with what that visitor computed and rendered since.

The store is bounded by a memory budget and a count (idle sessions leave first, then those that
only show the shared example, then the least recently used; see :class:`SessionStore`), entries
expire after ``ttl_s`` idle seconds, and the app drops a session's entry when its browser tab
closes. Time comes from an injectable ``clock``, so tests can jump hours ahead
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

from ..explain.attribution import AttributionResult
from ..probe.results import AnalysisReport, GradientFlowResult, LesionResult
from ..trust.report import TrustReport
from .approx_size import approx_nbytes

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
    report: AnalysisReport  # analyze()'s result
    input: torch.Tensor  # (3, 224, 224) normalised, CPU
    crop: Image.Image  # the same crop as a picture
    stages: dict[str, torch.Tensor]  # "C1".."C5" -> (C, H, W) float16, CPU
    shared: bool = False  # shown to many visitors (the example): none of them pays for it in the store
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
class Shown:
    """What one visitor has on screen, kept for the download zip and for clicks on the grid."""

    grid: Image.Image | None = None  # the stage tab's feature grid
    grid_title: str | None = None
    stage: str = "C2"  # the stage the grid shows
    channels: list[int] = field(default_factory=list)  # the channels in the grid, in tile order
    channel: Image.Image | None = None  # the channel picked from the grid
    channel_number: int = 0
    heatmap: Image.Image | None = None  # the attribution map as shown
    ladder: Image.Image | None = None  # the Grad-CAM ladder picture
    attribution: AttributionResult | None = None  # arrays; JSON only when zipped
    gradient_flow: GradientFlowResult | None = None
    lesion_sweep: LesionResult | None = None
    scaled: LesionResult | None = None  # the last residual scaling (its timing left out of the zip)
    trust: TrustReport | None = None  # the last "Can I trust this map?" check
    compare: dict[str, Any] | None = None  # the last "Compare all methods" report as JSON (its maps are not kept)
    data_randomisation: dict[str, Any] | None = None  # the lab's last data randomisation test, as JSON

    def update(self, **shown: Any) -> None:
        """Set several fields at once (a name that is not a field is a bug: AttributeError)."""
        for name, value in shown.items():
            if name not in self.__dataclass_fields__:
                raise AttributeError(f"Shown has no field {name!r}")
            setattr(self, name, value)

    def values(self) -> list[Any]:
        return [getattr(self, name) for name in self.__dataclass_fields__]


@dataclass
class Session:
    """One visitor's state: the analysis on screen and what was computed or rendered for it."""

    analysis: Analysis
    channel_weights: dict[str, torch.Tensor] = field(default_factory=dict)  # stage -> Grad-CAM weights (C,)
    outputs: Shown = field(default_factory=Shown)  # last rendered pictures and results, for downloads
    files_token: str | None = None  # the name of this session's download folder, chosen by the server
    cancel: threading.Event = field(default_factory=threading.Event)  # set by Cancel: stops a slow method
    touched: float = 0.0  # set by the store
    # How many runs of each kind ("explain") this visitor asked for: a run that finishes after a
    # newer one was asked for is no longer what the visitor wants to see.
    _asked: dict[str, int] = field(default_factory=dict, repr=False)
    _asked_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def ask(self, kind: str) -> int:
        """A new run of ``kind`` was asked for: its number (pass it to :meth:`is_latest` when it ends)."""
        with self._asked_lock:
            self._asked[kind] = self._asked.get(kind, 0) + 1
            return self._asked[kind]

    def is_latest(self, kind: str, number: int) -> bool:
        """Whether run ``number`` of ``kind`` is still the newest one asked for."""
        with self._asked_lock:
            return self._asked.get(kind, 0) == number

    @property
    def arch(self) -> str:
        return self.analysis.arch

    @property
    def nbytes(self) -> int:
        """What this session holds alone, roughly: its own analysis (unless shared) with the results
        derived from it, and what was rendered or computed for this visitor."""
        a = self.analysis
        derived = dict(a._derived)
        own = 0
        if not a.shared:
            own = a.nbytes + approx_nbytes(a.crop) + approx_nbytes(a.report) + approx_nbytes(derived)
        # A derived result shown as it is (the shared Grad-CAM ladder) is counted with its analysis.
        shown = [v for v in list(self.outputs.values()) if not any(v is d for d in derived.values())]
        return own + sum(approx_nbytes(v) for v in shown) + approx_nbytes(self.channel_weights)

    @property
    def report(self) -> AnalysisReport:
        return self.analysis.report

    @property
    def crop(self) -> Image.Image:
        return self.analysis.crop

    @property
    def stages(self) -> dict[str, torch.Tensor]:
        return self.analysis.stages


class SessionStore:
    """session id -> :class:`Session`, bounded by idle time, a memory budget and a count.

    When a new session does not fit (more than ``max_sessions``, or more than ``max_bytes`` held by
    the sessions alone), sessions leave in this order, each group least recently used first:

    1. sessions idle for more than ``idle_s`` (a visitor who stepped away),
    2. sessions that only show the shared example (a page load costs its visitor no upload),
    3. sessions with the visitor's own photo.

    So a flood of page loads with fresh session ids evicts page loads, never a visitor working on
    their own photo; only the memory budget, filled by other uploads, can evict an active one. A
    session alone in the store stays. Besides, every session leaves ``ttl_s`` idle seconds after
    its last use. The ids of sessions that left this way (not those dropped because their tab
    closed) are remembered (``remember_evicted`` of them), so the visitor can be told that their
    results were cleared rather than that they never had any (:meth:`evicted`).
    """

    def __init__(
        self,
        max_sessions: int = 1000,
        ttl_s: float = 1800.0,
        *,
        max_bytes: int = 512 * 2**20,
        idle_s: float = 300.0,
        remember_evicted: int = 4096,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s!r}")
        self.max_sessions, self.ttl_s, self.clock = max_sessions, ttl_s, clock
        self.max_bytes, self.idle_s, self.remember_evicted = max_bytes, idle_s, remember_evicted
        self._sessions: OrderedDict[str, Session] = OrderedDict()  # least recently used first
        self._evicted: OrderedDict[str, None] = OrderedDict()  # ids whose session the store removed
        self._lock = threading.Lock()
        # Called with each session that leaves the store (expired, evicted, dropped or replaced),
        # outside the lock, so its owner can free what belongs to it (its download folder).
        self.on_remove: Callable[[Session], None] | None = None

    def put(self, session_id: str, session: Session) -> None:
        with self._lock:
            session.touched = self.clock()
            removed = [s for s in [self._sessions.pop(session_id, None)] if s is not None and s is not session]
            self._sessions[session_id] = session
            self._evicted.pop(session_id, None)
            removed += self._expire_locked()
            removed += self._make_room_locked()
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
        """The visitor left (tab closed) or removed their photo: nothing to tell them later."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
            self._evicted.pop(session_id, None)
        self._removed([session] if session is not None else [])

    def evicted(self, session_id: str) -> bool:
        """Whether this id's session was removed by the store (idle or for room) and not replaced since."""
        with self._lock:
            return session_id in self._evicted

    def _expire_locked(self) -> list[Session]:
        now = self.clock()
        expired = [k for k, s in self._sessions.items() if now - s.touched > self.ttl_s]
        return [self._evict_locked(k) for k in expired]

    def _make_room_locked(self) -> list[Session]:
        """Evict in the group order above until the sessions fit."""
        sizes = {k: s.nbytes for k, s in self._sessions.items()}
        total = sum(sizes.values())
        now = self.clock()

        def group(item: tuple[str, Session]) -> int:
            session = item[1]
            if now - session.touched > self.idle_s:
                return 0
            return 1 if session.analysis.shared else 2

        # Stable sort: within a group, the dict's order is least recently used first.
        order = [k for k, _ in sorted(self._sessions.items(), key=group)]
        removed = []
        for key in order:
            if len(self._sessions) <= 1 or (len(self._sessions) <= self.max_sessions and total <= self.max_bytes):
                break
            total -= sizes[key]
            removed.append(self._evict_locked(key))
        return removed

    def _evict_locked(self, session_id: str) -> Session:
        self._evicted[session_id] = None
        self._evicted.move_to_end(session_id)
        while len(self._evicted) > self.remember_evicted:
            self._evicted.popitem(last=False)
        return self._sessions.pop(session_id)

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

    def session_bytes(self) -> int:
        """What the memory budget counts: the bytes each session holds alone (a shared example not)."""
        with self._lock:
            return sum(s.nbytes for s in self._sessions.values())
