"""The explorer on Ray Serve: the page's model work forwarded to model replicas.

The application (:func:`build_app`) is three deployments:

- **Page** (one replica): the Gradio page with the visitors' sessions, the example, the file
  ledger and the degradation lab's one run. Gradio keeps sessions and its queue in its process, so
  several page replicas would need sticky sessions, which Serve's proxy does not offer (Gradio
  issues #6920 and #9070; Ray's docs support one Gradio replica). The page class is given by the
  caller (``resnet_viz.ui.ray_page``): this room never imports Gradio.
- **Model** (N replicas): short work and the ``/analyze`` endpoint's analyses, batched with
  ``@serve.batch`` (:class:`~resnet_viz.serve.ray_workers.ModelWorker`).
- **Slow** (M replicas): occlusion, Integrated Gradients, SmoothGrad, feature visualisation and
  the trust report, streamed with their progress (:class:`~resnet_viz.serve.ray_workers.SlowWorker`).

:class:`RemoteExplorer` is the page's :class:`Explorer` with ``run`` / ``run_slow`` (the seam every
model computation goes through) sending the same library function to a replica, so the page and
the endpoints give the in-process app's results. The page keeps a CPU copy of each architecture it
serves for what is not model work (the photo's preprocessing, block names, the weights hash the
replicas are checked against, the feature-visualisation cache's keys).

Faults: a call that finds its replica dead (killed, out of memory) is sent once more, to a live
replica (Serve restarts the dead one); a second failure ends the request with
``error_restarted``. A request beyond the queue's bound (``max_queued_requests``) gets
``error_busy`` with the number of requests ahead. Each request is its own call with its own
reply, so a visitor never receives another's result.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from PIL import Image

from ..explain.feature_vis import visualize_channel
from ..i18n import UserError, tr
from ..model.fingerprint import weights_sha256
from ..model.preprocess import ImageSource
from ..probe.results import AnalysisReport
from .cancel import cancellable
from .explorer import Explorer, Progress
from .registry import DEFAULT_MAX_MODELS
from .sessions import Session

__all__ = ["Placement", "RemoteExplorer", "ServeOptions", "build_app", "placement", "runtime_env"]

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]  # the checkout: resnet_viz/ and app.py (the page's builder)
# A replica being stopped gets this long to finish its requests (with Serve's default, 20 s, Ctrl-C
# of `serve run` once outlasted the CLI test's minute in CI): an analysis takes well under a second,
# and a slow run's visitor is told to try again.
GRACE_S = 5.0
PAGE_CPUS = 0.25  # the page replica: Gradio's server and decoding uploads; its model work runs elsewhere


@dataclass(frozen=True)
class ServeOptions:
    """Everything the deployments need, plain values only (it travels to every replica)."""

    arch: str = "resnet50"
    weights: str = "imagenet"
    device: str = "auto"
    precision: str = "fp32"
    layout: str = "auto"
    max_models: int = DEFAULT_MAX_MODELS
    host: str = "127.0.0.1"
    port: int = 8000
    index: str | None = None  # an exemplar index file, read by the page replica
    session_ttl: float = 1800.0
    model_replicas: int = 1
    slow_replicas: int = 1
    # Back-pressure, per replica: requests running at once, and waiting at the page's handle.
    model_ongoing: int = 2 * 8  # a full @serve.batch of analyses plus as many short requests
    slow_ongoing: int = 2  # slow runs take turns on a replica's model: more would only wait there
    max_queued: int = 64  # beyond this, "the class is busy"
    page: str = "app"  # the module with build_demo() and launch_kwargs(): the page the page replica serves
    # Resources per replica; None: decided from the cluster by placement()
    cpus: float | None = None
    gpus: float | None = None
    threads: int | None = None

    def replace(self, **changes: Any) -> "ServeOptions":
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class Placement:
    cpus: float  # per model or slow replica (fractional: Ray counts, torch's threads do the work)
    gpus: float  # per model or slow replica
    threads: int  # torch intra-op threads per replica
    device: str


def placement(model_replicas: int, slow_replicas: int, cluster_cpus: float, cluster_gpus: float) -> Placement:
    """Resources per replica. With GPUs: one per replica when there are enough, else an equal share
    of them (a replica mostly waits for its GPU), and up to two CPUs. Without: the cores left beside
    the page, shared equally (fractional below one core, so every replica fits on a small machine),
    and torch threads to match, at least one: more threads than a replica's share of the cores
    would only fight the other replicas for them."""
    replicas = model_replicas + slow_replicas
    share = max(0.05, (cluster_cpus - PAGE_CPUS) / replicas)
    if cluster_gpus >= 1:
        gpus = 1.0 if cluster_gpus >= replicas else cluster_gpus / replicas
        cpus = min(2.0, share)
        return Placement(round(cpus, 3), round(gpus, 3), max(1, math.floor(cpus)), "cuda")
    cpus = share if share < 1 else float(math.floor(share))
    return Placement(round(cpus, 3), 0.0, max(1, round(cluster_cpus / replicas)), "cpu")


def runtime_env() -> dict[str, Any]:
    """Ships this checkout (the package and ``app.py``, the page's builder) to every replica."""
    return {
        "working_dir": str(ROOT),
        # Large files at the top of a checkout (an index, a checkpoint) stay home; assets/ keeps the
        # lab's shipped networks (*.pt), which the page replica's data randomisation test reads.
        "excludes": [".git", ".venv", "tests", "bench", "docs", "deploy", "**/__pycache__", "/*.npz", "/*.pt"],
        "env_vars": {"GRADIO_ANALYTICS_ENABLED": "False"},
    }


def build_app(options: ServeOptions, page_cls: type) -> Any:
    """The bound application: the page replica with handles to the model and slow deployments."""
    import ray
    from ray import serve

    from .ray_workers import ModelWorker, SlowWorker

    if options.cpus is None or options.threads is None:
        resources = ray.cluster_resources() if ray.is_initialized() else {"CPU": 2.0}
        chosen = placement(options.model_replicas, options.slow_replicas, resources.get("CPU", 1.0),
                           resources.get("GPU", 0.0))
        on_gpu = options.device == "auto" and chosen.device == "cuda" or options.device.startswith("cuda")
        options = options.replace(cpus=chosen.cpus, gpus=chosen.gpus if on_gpu else 0.0, threads=chosen.threads,
                                  device=chosen.device if options.device == "auto" else options.device)
    actor = {"num_cpus": options.cpus, "num_gpus": options.gpus or 0}
    worker_args = (options.weights, options.device, options.precision, options.layout, options.max_models,
                   options.threads)
    model = serve.deployment(ModelWorker, name="Model").options(
        num_replicas=options.model_replicas, max_ongoing_requests=options.model_ongoing,
        max_queued_requests=options.max_queued, ray_actor_options=actor, graceful_shutdown_timeout_s=GRACE_S,
    ).bind(*worker_args)
    slow = serve.deployment(SlowWorker, name="Slow").options(
        num_replicas=options.slow_replicas, max_ongoing_requests=options.slow_ongoing,
        max_queued_requests=options.max_queued, ray_actor_options=actor, graceful_shutdown_timeout_s=GRACE_S,
    ).bind(*worker_args)
    page = serve.deployment(page_cls, name="Page").options(
        num_replicas=1,  # Gradio's sessions and queue live in this process (see the module's docstring)
        ray_actor_options={"num_cpus": PAGE_CPUS, "resources": {"node:__internal_head__": 0.001}},
        health_check_period_s=5, graceful_shutdown_timeout_s=GRACE_S,
    ).bind(model, slow, dataclasses.asdict(options))
    return page


# --- the page's side --------------------------------------------------------------------------


def _replica_lost() -> tuple[type[BaseException], ...]:
    from ray.exceptions import ActorDiedError, ActorUnavailableError, RayActorError
    from ray.serve.exceptions import DeploymentUnavailableError, ReplicaUnavailableError

    return (RayActorError, ActorDiedError, ActorUnavailableError, ReplicaUnavailableError, DeploymentUnavailableError)


def _unwrap(exc: BaseException) -> BaseException:
    """The replica's own exception (a UserError, an image error, a WeightsMismatchError), not Ray's wrapper."""
    from ray.exceptions import RayTaskError

    if isinstance(exc, RayTaskError) and isinstance(exc.cause, BaseException):
        return exc.cause
    return exc


class RemoteExplorer(Explorer):
    """The page's explorer with its model work on Ray Serve replicas (``model``, ``slow``:
    DeploymentHandles). Call it from Gradio's worker threads (``.result()`` blocks the caller)."""

    def __init__(self, registry, model_handle: Any, slow_handle: Any, **kwargs: Any) -> None:
        super().__init__(registry, batching=False, **kwargs)
        self.model_handle, self.slow_handle = model_handle, slow_handle
        self.batcher = _RemoteBatcher(self)  # what the /analyze endpoint calls, as the in-process batcher
        self._hashes: dict[str, str] = {}
        self._vis_locks: dict[str, threading.Lock] = {}  # one per channel ever asked for: a few kB
        self._vis_locks_lock = threading.Lock()
        self.retries = 0  # calls sent again after their replica died (for tests and logs)

    def weights_hash(self, arch: str) -> str:
        if arch not in self._hashes:
            self._hashes[arch] = weights_sha256(self.registry.get(arch).model)
        return self._hashes[arch]

    def _call(self, submit: Callable[[], Any], consume: Callable[[Any], Any] = lambda response: response.result()) -> Any:
        """``consume(submit())`` once more if the replica died on the way; Ray's errors said in words."""
        from ray.serve.exceptions import BackPressureError

        lost = _replica_lost()
        self.registry.activity.add(1)  # the lab's training steps aside while a visitor's work runs
        try:
            for attempt in (1, 2):
                try:
                    return consume(submit())
                except BackPressureError as exc:
                    raise UserError("error_busy", ahead=exc.args[0] if exc.args else "many") from None
                except lost as exc:
                    if attempt == 2:
                        log.warning("a replica was lost twice in one request: %s", exc)
                        raise UserError("error_restarted") from None
                    log.warning("a replica was lost during a request; sending it once more: %s", type(exc).__name__)
                    self.retries += 1
                except Exception as exc:
                    cause = _unwrap(exc)
                    if cause is exc:
                        raise
                    raise cause from None
        finally:
            self.registry.activity.add(-1)

    def run(self, arch: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        sha = self.weights_hash(arch)
        return self._call(lambda: self.model_handle.run.remote(arch, sha, fn, args, kwargs))

    def run_slow(
        self, arch: str, fn: Callable[..., Any], *args: Any, cancel: threading.Event | None = None,
        cancelled: str = "", progress: Progress | None = None, on_preview: Callable | None = None,
        previews: int = 0, **kwargs: Any,
    ) -> Any:
        sha = self.weights_hash(arch)
        flag = cancel if cancel is not None else threading.Event()
        with cancellable(flag, cancelled) as stop_if_cancelled:
            stop_if_cancelled()  # pressed while this run waited in the page's queue

            def submit() -> Any:
                handle = self.slow_handle.options(stream=True)
                return handle.run_slow.remote(arch, sha, fn, args, kwargs, previews if on_preview else 0)

            def consume(stream: Any) -> Any:
                try:
                    for item in stream:
                        if item[0] == "result":
                            return item[1]
                        if item[0] == "progress" and progress is not None:
                            progress(item[1])
                        elif item[0] == "preview" and on_preview is not None:
                            on_preview(*item[1:])
                        stop_if_cancelled()
                except BaseException:
                    stream.cancel()  # Cancel or an error here: the replica's run stops at its next slice
                    raise
                raise RuntimeError("the slow replica's stream ended without a result")

            return self._call(submit, consume)

    def visualize(
        self, session: Session, stage: str, channel: int, *, progress: Progress | None = None,
        on_preview: Callable[[int, int, Image.Image], None] | None = None, previews: int = 8,
    ) -> tuple[Image.Image, dict]:
        """As :meth:`Explorer.visualize`, computed on a slow replica; requests for the same channel
        that arrive together compute it once (the later ones wait, then find it in the cache)."""
        cached = self.cached_visualization(session.arch, stage, channel)
        if cached is not None:
            return cached
        model = self.registry.get(session.arch).model
        key = self.feature_cache.key(model, stage, channel, self.feature_vis)
        with self._vis_locks_lock:
            lock = self._vis_locks.setdefault(key, threading.Lock())
        with lock:
            cached = self.feature_cache.get(key)
            if cached is not None:
                return cached
            result = self.run_slow(
                session.arch, visualize_channel, stage, int(channel), cancel=session.cancel,
                cancelled=tr("featvis_cancelled", stage=stage, channel=channel), progress=progress,
                on_preview=on_preview, previews=previews, **self.feature_vis,
            )
            meta = result.to_json()
            self.feature_cache.put(key, result.image, meta)
        self._step_seconds[(session.arch, stage)] = result.timing_ms["per_step"] / 1000
        return result.image, meta

    def wait_ready(self, arch: str, timeout_s: float = 300) -> None:
        """A replica of each deployment has loaded ``arch`` with the page's weights (else raises
        WeightsMismatchError); every other replica checks its own at its first request."""
        sha = self.weights_hash(arch)
        deadline = time.monotonic() + timeout_s
        for handle in (self.model_handle, self.slow_handle):
            self._call(lambda h=handle: h.check.remote(arch, sha),
                       lambda response: response.result(timeout_s=max(1.0, deadline - time.monotonic())))


class _RemoteBatcher:
    """The /analyze endpoint's batcher on Ray: the photo decoded here, the forward batched with
    other requests' on a model replica (``@serve.batch``)."""

    def __init__(self, explorer: RemoteExplorer) -> None:
        self.explorer = explorer

    def analyze(self, image: ImageSource, arch: str) -> AnalysisReport:
        picture = self.explorer.picture(image, arch)  # a bad image fails here, in its own request
        sha = self.explorer.weights_hash(arch)
        status, value = self.explorer._call(lambda: self.explorer.model_handle.analyze.remote((arch, sha, picture)))
        if status == "error":
            raise value
        return value
