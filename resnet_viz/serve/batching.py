"""Micro-batching: analyses that arrive while the model is busy run together in one forward.

Each request opens and checks its own image in its own thread, so a bad file fails only its
own request. Valid requests then wait in a queue; whichever request finds the model idle runs
everything waiting for the same architecture (up to ``max_batch``) through
:func:`resnet_viz.analyze_batch` and hands every waiter its own result. Nothing waits on a
timer: a request that arrives at an idle model runs at once, alone.

Batched convolutions sum in a different order than single ones, so a batched result can differ
from a lone one in the last bits of a float (about 1e-7 relative); labels, indices and shapes
are identical.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, ContextManager

from PIL import Image

from ..model.preprocess import ImageSource, load_image
from ..model.resnet import ResNet
from ..probe.analysis import analyze_batch
from ..probe.results import AnalysisReport

__all__ = ["AnalyzeBatcher"]

ModelLease = Callable[[str], ContextManager[ResNet]]  # arch -> "with lease(arch) as model:"
PhotoLoader = Callable[[ImageSource, str], Image.Image]  # (image, arch) -> the picture the arch's network needs


@dataclass
class _Job:
    arch: str
    picture: Image.Image
    top_k: int
    done: bool = False
    result: dict[str, Any] | None = None
    error: BaseException | None = None


class AnalyzeBatcher:
    def __init__(
        self, lease: ModelLease, max_batch: int = 8, history: int = 256, load: PhotoLoader | None = None
    ) -> None:
        self.lease, self.max_batch = lease, max_batch
        # How a request's image is opened (the explorer's decodes a large photo small for its arch).
        self.load: PhotoLoader = load or (lambda image, arch: load_image(image))
        self._waiting: list[_Job] = []
        self._changed = threading.Condition()
        self._running = False
        # The sizes of the most recent batches, for tests and benchmarks; bounded, since the
        # server runs for days and would otherwise keep one number per batch forever.
        self.batch_sizes: deque[int] = deque(maxlen=history)

    def analyze(self, image: ImageSource, arch: str, top_k: int = 5) -> AnalysisReport:
        job = _Job(arch, self.load(image, arch), top_k)  # a bad image fails here, in its own request
        with self._changed:
            self._waiting.append(job)
        while True:
            with self._changed:
                while self._running and not job.done:
                    self._changed.wait()  # someone is running the model; our job may be in their batch
                if job.done:
                    break
                batch = self._claim()  # the model is idle and our job still waits: run a batch
            self._run(batch)
        if job.error is not None:
            raise job.error
        return job.result

    def _claim(self) -> list[_Job]:
        """The oldest waiting job and its same-arch companions (called with the lock held)."""
        first = self._waiting[0]
        batch = [j for j in self._waiting if (j.arch, j.top_k) == (first.arch, first.top_k)][: self.max_batch]
        for job in batch:
            self._waiting.remove(job)
        self._running = True
        return batch

    def _run(self, batch: list[_Job]) -> None:
        try:
            with self.lease(batch[0].arch) as model:
                results = analyze_batch(model, [job.picture for job in batch], top_k=batch[0].top_k)
            for job, result in zip(batch, results):
                job.result = result
        except BaseException as exc:  # the whole batch failed (not an image problem): tell everyone
            for job in batch:
                job.error = exc
        finally:
            with self._changed:
                self.batch_sizes.append(len(batch))
                self._running = False
                for job in batch:
                    job.done = True
                self._changed.notify_all()
