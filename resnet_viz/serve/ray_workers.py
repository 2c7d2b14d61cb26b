"""The model replicas of the Ray Serve deployment: plain classes, made deployments by
:mod:`resnet_viz.serve.ray_app`, each holding its own :class:`ModelRegistry`.

- :class:`ModelWorker` runs short work (``run``: one library function on one model) and the
  ``/analyze`` endpoint's analyses, batched with ``@serve.batch`` (concurrent requests share one
  forward, as :class:`~resnet_viz.serve.batching.AnalyzeBatcher` does in one process).
- :class:`SlowWorker` runs slow work (occlusion, Integrated Gradients, SmoothGrad, feature
  visualisation, the trust report) as a stream: progress fractions (and feature-visualisation
  previews) while it runs, then the result. Its replicas are separate from the model replicas, so
  a burst of slow work never delays a short analysis.

Replicas load their weights themselves, by architecture and weights name (nothing large is
pickled), and check that they got the page's weights (the SHA-256 over the weights,
:func:`~resnet_viz.model.fingerprint.weights_sha256`): a mismatch refuses every request with a
:class:`WeightsMismatchError` that names both hashes. Only the functions in :data:`ALLOWED` run: a
request names one of them, never code of its own.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, AsyncIterator, Callable

import torch
from PIL import Image
from ray import serve

from ..explain.attribution import attribute, channel_weights
from ..explain.feature_vis import StepInfo, visualize_channel
from ..model.fingerprint import weights_sha256
from ..probe.analysis import analyze, analyze_batch
from ..probe.gradient_flow import gradient_flow
from ..probe.lesion import lesion
from ..trust.report import trust_report
from .explorer import analysis_parts
from .registry import ModelRegistry

__all__ = ["ALLOWED", "ANALYZE_BATCH", "ModelWorker", "SlowWorker", "WeightsMismatchError"]

log = logging.getLogger(__name__)

# The library functions a request may ask a replica to run (by reference: pickled as their names).
ALLOWED: frozenset[Callable[..., Any]] = frozenset(
    {analysis_parts, analyze, attribute, channel_weights, gradient_flow, lesion, visualize_channel, trust_report}
)
ANALYZE_BATCH = 8  # as the in-process AnalyzeBatcher's max_batch


class WeightsMismatchError(RuntimeError):
    """A replica loaded other weights than the page's (another file, another version)."""


class _Replica:
    def __init__(self, weights: str, device: str, precision: str, layout: str, max_models: int, threads: int) -> None:
        if threads > 0:
            torch.set_num_threads(threads)  # this replica's share of the node's cores (see ray_app.placement)
        self.registry = ModelRegistry(weights, device, precision, layout=layout, max_models=max_models)
        self._checked: dict[str, str] = {}
        self._check_lock = threading.Lock()

    def check(self, arch: str, sha256: str) -> str:
        """Load ``arch`` (once) and refuse if its weights are not the page's; returns this replica's hash."""
        with self._check_lock:
            mine = self._checked.get(arch)
            if mine is None:
                mine = self._checked[arch] = weights_sha256(self.registry.get(arch).model)
        if mine != sha256:
            raise WeightsMismatchError(
                f"a model replica loaded {arch} weights {self.registry.weights!r} with SHA-256 {mine[:16]}..., "
                f"the page has {sha256[:16]}...: every node must have the same weights file"
            )
        return mine

    @staticmethod
    def _allowed(fn: Callable[..., Any]) -> None:
        if fn not in ALLOWED:
            raise ValueError(f"{getattr(fn, '__qualname__', fn)!r} is not model work a replica runs")


class ModelWorker(_Replica):
    """Short model work and batched analyses, on this replica's copy of the models."""

    def run(self, arch: str, sha256: str, fn: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        self._allowed(fn)
        self.check(arch, sha256)
        with self.registry.lease(arch) as model:
            return fn(model, *args, **kwargs)

    @serve.batch(max_batch_size=ANALYZE_BATCH, batch_wait_timeout_s=0.0)
    async def analyze(self, jobs: list[tuple[str, str, Image.Image]]) -> list[tuple[str, Any]]:
        """``analyze()`` of each (arch, sha256, picture): the batch's pictures of one arch in one
        forward. Each job gets ("ok", report) or ("error", exception), never another job's."""
        return await asyncio.get_running_loop().run_in_executor(None, self._analyze_jobs, jobs)

    def _analyze_jobs(self, jobs: list[tuple[str, str, Image.Image]]) -> list[tuple[str, Any]]:
        results: list[tuple[str, Any] | None] = [None] * len(jobs)
        for arch in dict.fromkeys(job[0] for job in jobs):
            mine = [i for i, job in enumerate(jobs) if job[0] == arch]
            try:
                for i in mine:
                    self.check(arch, jobs[i][1])
                with self.registry.lease(arch) as model:
                    reports = analyze_batch(model, [jobs[i][2] for i in mine], top_k=5)
                for i, report in zip(mine, reports):
                    results[i] = ("ok", report)
            except Exception as exc:  # the whole group failed: each of its jobs is told
                for i in mine:
                    results[i] = ("error", exc)
        return results  # type: ignore[return-value]


class _Stopped(Exception):
    """The caller went away (cancelled or disconnected): the run stops at its next slice."""


class SlowWorker(_Replica):
    """Slow model work, streamed: ("progress", fraction) and ("preview", step, steps, image) items
    while it runs, then ("result", value)."""

    async def run_slow(
        self, arch: str, sha256: str, fn: Callable[..., Any], args: tuple, kwargs: dict, previews: int = 0
    ) -> AsyncIterator[tuple]:
        """An async generator, so that Serve's cancellation (the page's Cancel closes the stream)
        reaches it as ``CancelledError`` at its next ``await``: the run, in a thread of its own,
        then stops at its next slice and gives this replica's model to the next slow run. (A sync
        generator would never hear of it and compute on.)"""
        self._allowed(fn)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.check, arch, sha256)  # a first load takes seconds: off the loop
        events: asyncio.Queue[tuple] = asyncio.Queue()
        stop = threading.Event()

        def put(item: tuple) -> None:
            loop.call_soon_threadsafe(events.put_nowait, item)

        def progress(fraction: float) -> None:
            if stop.is_set():
                raise _Stopped()
            put(("progress", fraction))

        if previews:
            steps = int(kwargs.get("steps", 256))
            every = max(1, steps // previews)

            def on_step(info: StepInfo) -> None:
                if info.step % every == 0 and info.step < info.steps:
                    put(("preview", info.step, info.steps, info.preview()))

            kwargs = {**kwargs, "on_step": on_step}

        def work() -> None:
            try:
                with self.registry.long_lease(arch) as (model, _lease):  # slow runs on one replica take turns
                    put(("result", fn(model, *args, progress=progress, **kwargs)))
            except BaseException as exc:  # handed to the stream, raised there
                put(("error", exc))

        threading.Thread(target=work, name="slow-run", daemon=True).start()
        try:
            while True:
                item = await events.get()
                if item[0] == "error":
                    raise item[1]
                yield item
                if item[0] == "result":
                    return
        finally:
            stop.set()  # cancelled or closed early: the run ends at its next slice
