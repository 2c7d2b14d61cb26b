"""One computation at a time on a model, with short requests going before the slices of long ones.

Two kinds of work share a model. *Short* work (an analysis, a stage change that needs Grad-CAM
weights, a Grad-CAM, a gradient-flow chart) takes well under a second. *Long* work (occlusion,
Integrated Gradients, SmoothGrad, a feature visualisation) takes seconds to minutes, but is made
of slices (batches, optimisation steps) and reports progress between them.

A long computation holds the gate only slice by slice: whenever it reports progress it calls
:meth:`LongLease.pause_for_short`, which steps aside while short requests are waiting and takes
the model back when they are done. A short request that arrives during a long one therefore
waits for at most one slice, not for the whole computation. Short requests are served in
arrival order among themselves; long ones run one at a time (a second waits for the first).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

__all__ = ["Activity", "ModelGate", "LongLease"]


class Activity:
    """How many models are computing right now, across gates, and listeners told when that changes
    between none and some (the degradation lab pauses its training process while the app's models
    work, so the two never fight over the same cores)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self.listeners: list[Callable[[bool], None]] = []

    def add(self, delta: int) -> None:
        with self._lock:
            before = self._active
            self._active += delta
            changed = (before == 0) != (self._active == 0)
            if changed:
                for listener in list(self.listeners):
                    listener(self._active > 0)  # must be quick: it runs while a computation waits

    @property
    def active(self) -> int:
        return self._active


class LongLease:
    """What a long computation holds; call :meth:`pause_for_short` between slices."""

    def __init__(self, gate: "ModelGate") -> None:
        self._gate = gate
        self.pauses = 0  # how often it stepped aside (for tests and benchmarks)

    def pause_for_short(self) -> None:
        """Let every waiting short request run, then continue (returns at once if none waits)."""
        gate = self._gate
        with gate._changed:
            if gate._short_waiting == 0:
                return
            self.pauses += 1
            gate._set_busy(False)
            gate._changed.notify_all()
            while gate._busy or gate._short_waiting:
                gate._changed.wait()
            gate._set_busy(True)


class ModelGate:
    def __init__(self, activity: Activity | None = None) -> None:
        self._changed = threading.Condition()
        self._busy = False  # a computation (short, or a slice of a long one) runs on the model
        self._activity = activity
        self._short_waiting = 0
        self._long_lock = threading.Lock()  # long computations take turns as a whole

    @contextmanager
    def short(self) -> Iterator[None]:
        """Hold the model for one short computation."""
        with self._changed:
            self._short_waiting += 1
            try:
                while self._busy:
                    self._changed.wait()
            finally:
                self._short_waiting -= 1
            self._set_busy(True)
        try:
            yield
        finally:
            self._release()

    @contextmanager
    def long(self) -> Iterator[LongLease]:
        """Hold the model for a long computation that pauses for short ones between its slices."""
        with self._long_lock:
            with self._changed:
                while self._busy or self._short_waiting:
                    self._changed.wait()
                self._set_busy(True)
            try:
                yield LongLease(self)
            finally:
                self._release()

    def _release(self) -> None:
        with self._changed:
            self._set_busy(False)
            self._changed.notify_all()

    def _set_busy(self, busy: bool) -> None:
        """(called with the condition held)"""
        if busy != self._busy:
            self._busy = busy
            if self._activity is not None:
                self._activity.add(1 if busy else -1)

    @property
    def busy(self) -> bool:
        return self._busy
