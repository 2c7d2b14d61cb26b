"""The explorer's state shared by every tab: models, visitors' sessions, the shared example, and
the model work the tabs ask for (analysis, explanations, lab measurements).

The tabs (``resnet_viz/ui/``) turn these results into pictures and words; this module knows
nothing about Gradio, so every computation can be tested by calling it directly. Work on a
model goes through two methods, :meth:`Explorer.run` (short work, the registry's ``lease``) and
:meth:`Explorer.run_slow` (slow work under ``long_lease``, stepping aside for short requests
between its batches): the seam a distributed explorer overrides to run the same library functions
on model replicas (:mod:`resnet_viz.serve.ray_app`).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Callable, Iterator, Mapping

import torch
from PIL import Image

from ..exemplars import ExemplarIndex
from ..explain.attribution import attribute as run_attribution
from ..explain.attribution import channel_weights
from ..explain.feature_vis import StepInfo, visualize_channel
from ..explain.methods import method_spec
from ..i18n import UserError, tr
from ..model.preprocess import ImageError, ImageSource, load_image, working_side
from ..probe.analysis import analyze
from ..probe.gradient_flow import gradient_flow
from ..probe.lesion import lesion
from ..trust.report import COMPARABLE_METHODS, trust_report
from .batching import AnalyzeBatcher
from .cancel import cancellable
from .degradation_lab import DegradationLab
from .downloads import DownloadFolders
from .feature_cache import FeatureVisCache
from .memory import IdleTrim
from .registry import ModelRegistry
from .sessions import Analysis, Session, SessionStore, valid_session_id
from .trust_lab import DataRandomisationLab, LabResults

__all__ = ["Explorer", "UserError"]

Progress = Callable[[float], None]

# The app's feature visualisations: 128 px is the recipe's size, 256 steps its default (Olah et al.).
FEATURE_VIS_SETTINGS = {"size": 128, "steps": 256, "seed": 0}
TRUST_SETTINGS = {"steps": "stages", "curve_steps": 28, "road": True, "seed": 0}
COMPARE_ALL_FORWARDS = 1800  # "compare all methods" with TRUST_SETTINGS: 151 s of 84 ms forwards (bench_trust)


class Explorer:
    def __init__(
        self,
        registry: ModelRegistry,
        store: SessionStore | None = None,
        batching: bool = True,
        downloads: DownloadFolders | None = None,
        feature_cache: FeatureVisCache | None = None,
        index: ExemplarIndex | None = None,
        feature_vis: dict[str, int] | None = None,
        degradation: DegradationLab | None = None,
        trust: dict[str, Any] | None = None,
    ) -> None:
        self.registry = registry
        # After a burst of requests, the freed decode buffers and activations go back to the OS.
        self.idle_trim = IdleTrim(registry.activity)
        # The degradation lab's one run per server, held while these models compute. Making it
        # starts nothing: its process comes with the first Start.
        self.degradation = degradation if degradation is not None else DegradationLab(registry.activity)
        # The lab's data randomisation test: the shipped pair compared once, one live training at a time.
        self.data_randomisation = DataRandomisationLab(registry.activity)
        # Feature visualisations computed once per (weights, stage, channel, settings), kept on disk.
        self.feature_cache = feature_cache if feature_cache is not None else FeatureVisCache()
        self.feature_vis = dict(FEATURE_VIS_SETTINGS if feature_vis is None else feature_vis)  # size, steps, seed
        # trust_report's protocol for the page's check (the CLI's defaults; tests make it cheap)
        self.trust_settings = dict(TRUST_SETTINGS if trust is None else trust)
        self.compare_methods = COMPARABLE_METHODS  # the "Compare all methods" table's rows (tests use fewer)
        self.index = index  # dataset exemplars of every channel (python app.py --index INDEX)
        self.store = store if store is not None else SessionStore()
        # /analyze requests that arrive while the model is busy share one forward (see batching.py).
        self.batcher = AnalyzeBatcher(registry.lease, load=self.picture) if batching else None
        # One folder per session that asked for a zip, under a random name; removed with the session.
        self.downloads = downloads if downloads is not None else DownloadFolders()
        self.store.on_remove = self.downloads.remove
        # The example every visitor sees first, analysed once per arch. It lives here, not in the
        # store: each visitor gets a fresh Session around it, so no TTL ever reaches the shared one.
        self._examples: dict[tuple[str, str], Analysis] = {}
        self._examples_lock = threading.Lock()
        # Measured seconds per evaluated image, per (arch, needs a backward), for time estimates;
        # seconds per feature-visualisation step per (arch, stage).
        self._seconds_per_image: dict[tuple[str, bool], float] = {}
        self._step_seconds: dict[tuple[str, str], float] = {}

    # --- sessions ------------------------------------------------------------------------------

    def session(self, session_id: str, lang: str = "en") -> Session:
        session = self.current(session_id)
        if session is None:
            evicted = valid_session_id(session_id) and self.store.evicted(session_id)
            raise UserError("error_evicted" if evicted else "error_first", lang)
        return session

    def current(self, session_id: str) -> Session | None:
        """The visitor's session, or None (never stored for ids no Gradio client makes)."""
        return self.store.get(session_id) if valid_session_id(session_id) else None

    def arm_cancel(self, session_id: str) -> None:
        """A long run was just requested: a Cancel pressed before now belonged to an earlier one.
        Called when the button is pressed, before the run queues, so Cancel stops a waiting run too."""
        session = self.current(session_id)
        if session is not None:
            session.cancel.clear()

    def cancel(self, session_id: str) -> None:
        """Cancel pressed: the visitor's slow run stops at its next batch or step (or at once, if it
        still waits for the model)."""
        session = self.current(session_id)
        if session is not None:
            session.cancel.set()

    def is_current(self, session_id: str, session: Session) -> bool:
        """Whether ``session`` is still what the visitor sees (no newer photo or arch since)."""
        return self.current(session_id) is session

    def _keep(self, session_id: str, analysis: Analysis, lang: str) -> Session:
        """A new session around ``analysis`` for this visitor; refused for ids no client makes."""
        if not valid_session_id(session_id):
            raise UserError("error_session", lang)
        session = Session(analysis)
        self.store.put(session_id, session)
        return session

    def forget(self, session_id: str) -> None:
        """The tab closed or the photo was removed: drop the session's tensors and download folder."""
        if valid_session_id(session_id):
            self.store.drop(session_id)  # the store hands the session to downloads.remove

    def banner(self, arch: str, lang: str) -> str:
        """The warning shown whenever the predictions come from random weights ("" if they do not)."""
        loaded = self.registry.get(arch)
        if loaded.fallback is not None:
            return tr("banner_random", lang, arch=arch)
        if loaded.model.meta.weights == "random":
            return tr("banner_random_chosen", lang, arch=arch)
        return ""

    # --- analysis ------------------------------------------------------------------------------

    def picture(self, image: ImageSource, arch: str) -> Image.Image:
        """The photo decoded for ``arch``'s network: a large one never exists at full size beyond its
        decode buffer (see :func:`resnet_viz.model.preprocess.load_image`). Raises ImageError."""
        return load_image(image, short_side=working_side(self.registry.get(arch).model.meta.transforms))

    def _analysis(self, image: str | None, arch: str, lang: str) -> Analysis:
        """Model. One forward pass; the result keeps its stage tensors for re-rendering."""
        if not image:
            raise UserError("error_first", lang)
        try:
            picture = self.picture(image, arch)  # decoded before taking the model, which others may be waiting for
        except ImageError as exc:  # said in the visitor's language (str() of an ImageError is Pillow's English)
            raise UserError("error_image", lang, reason=exc) from None
        report, input, crop, stages = self.run(arch, analysis_parts, picture)
        return Analysis(arch=arch, report=report, input=input, crop=crop, stages=stages)

    def analyze(self, image: str | None, arch: str, session_id: str, lang: str = "en") -> Session:
        """Model. Analyse the visitor's photo; their session keeps the result for re-rendering."""
        if not valid_session_id(session_id):  # refused before any work
            raise UserError("error_session", lang)
        return self._keep(session_id, self._analysis(image, arch, lang), lang)

    def analyze_example(self, image: str, arch: str, session_id: str, lang: str = "en") -> Session:
        """Model (once per arch). The example every visitor sees first, analysed once and shared."""
        if not valid_session_id(session_id):
            raise UserError("error_session", lang)
        key = (arch, str(image))
        with self._examples_lock:
            if key not in self._examples:
                self._examples[key] = replace(self._analysis(image, arch, lang), shared=True)
            shared = self._examples[key]
        return self._keep(session_id, shared, lang)

    # --- the model work: where it runs --------------------------------------------------------

    def run(self, arch: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Model (short). ``fn(model, *args, **kwargs)`` with ``arch``'s model leased.

        Every short computation goes through here, so an explorer whose models live elsewhere
        (model replicas on Ray Serve) overrides this one method and runs the same ``fn``."""
        with self.registry.lease(arch) as model:
            return fn(model, *args, **kwargs)

    def run_slow(
        self, arch: str, fn: Callable[..., Any], *args: Any, cancel: threading.Event | None = None,
        cancelled: str = "", progress: Progress | None = None, **kwargs: Any,
    ) -> Any:
        """Model (long). ``fn(model, *args, progress=..., **kwargs)`` holding the model batch by
        batch: the callback it gets reports ``progress``, lets short requests go first and raises
        ``Cancelled(cancelled)`` once ``cancel`` is set (also while the run still waits)."""
        with (
            cancellable(cancel if cancel is not None else threading.Event(), cancelled) as stop_if_cancelled,
            self.registry.long_lease(arch) as (model, lease),
        ):

            def between_slices(fraction: float) -> None:
                if progress is not None:
                    progress(fraction)
                stop_if_cancelled()
                lease.pause_for_short()

            stop_if_cancelled()
            return fn(model, *args, progress=between_slices, **kwargs)

    # --- results derived from one analysis, computed once and shared ---------------------------

    def channel_weights(self, session: Session) -> dict[str, torch.Tensor]:
        """Model (once per analysis). Grad-CAM channel weights of every stage for the top-1 class."""

        def compute() -> dict[str, torch.Tensor]:
            return self.run(session.arch, channel_weights, session.analysis.input)[0]

        return session.analysis.derived("channel_weights", compute)

    def ladder(self, session: Session) -> dict[str, Any]:
        """Model (once per analysis). Grad-CAM at C2..C5 for the top-1 class (its C5 map is Grad-CAM C5)."""

        def compute() -> dict[str, Any]:
            return self.run(session.arch, run_attribution, session.analysis.input, "gradcam_ladder")

        return session.analysis.derived("ladder", compute)

    def gradient_flow(self, session: Session) -> dict[str, Any]:
        """Model (once per analysis). Gradient flow for the top-1 class vs the plain twin."""

        def compute() -> dict[str, Any]:
            return self.run(session.arch, gradient_flow, session.analysis.input)

        return session.analysis.derived("gradient_flow", compute)

    # --- explanations --------------------------------------------------------------------------

    def explain(
        self,
        session: Session,
        method: str,
        target: int | str | None = None,
        stage: str = "C5",
        *,
        progress: Progress | None = None,
        **options: Any,
    ) -> dict[str, Any]:
        """Model. ``method``'s attribution for ``target`` (None: the top-1) on the session's photo.

        Slow methods hold the model only batch by batch (short requests go between their batches)
        and stop with :class:`Cancelled` when the visitor presses Cancel (``session.cancel``).
        Grad-CAM for the top-1 at C5 and the ladder come from the shared, once-computed ladder.
        """
        spec = method_spec(method)
        if target is None and not options and spec.all_stages:
            return self.ladder(session)
        x = session.analysis.input
        if spec.cost == "fast":
            return self.run(session.arch, run_attribution, x, method, target=target, stage=stage, progress=progress,
                            **options)
        started = time.perf_counter()
        result = self.run_slow(session.arch, run_attribution, x, method, target=target, stage=stage,
                               cancel=session.cancel, cancelled=tr("cancelled", method=spec.name()), progress=progress,
                               **options)
        images = spec.evaluations(result["options"])
        self._learn(session.arch, spec.backward, (time.perf_counter() - started) / images)
        return result

    @contextmanager
    def _slow_run(
        self, session: Session, cancelled: str, progress: Progress | None
    ) -> Iterator[tuple[torch.nn.Module, Callable[[float], None]]]:
        """The model for a slow run, and the callback to call between its slices: it reports the
        progress, stops the run (``Cancelled(cancelled)``) once Cancel was pressed, and lets short
        requests use the model first."""
        with (
            cancellable(session.cancel, cancelled) as stop_if_cancelled,
            self.registry.long_lease(session.arch) as (model, lease),
        ):

            def between_slices(fraction: float) -> None:
                if progress is not None:
                    progress(fraction)
                stop_if_cancelled()
                lease.pause_for_short()

            stop_if_cancelled()  # pressed while this run waited for the model
            yield model, between_slices

    def expected_seconds(self, session: Session, method: str, **options: Any) -> float:
        """How long ``method`` will take on this server: measured seconds per evaluated image when
        a run of this kind finished before, else estimated from the analysis's own forward time."""
        spec = method_spec(method)
        per_image = self._seconds_per_image.get((session.arch, spec.backward))
        if per_image is None:
            forward_s = session.report["timing_ms"]["forward"] / 1000
            # A batch of 8 costs about 0.6 of 8 single forwards on a CPU; a backward about 2 forwards.
            per_image = forward_s * 0.6 * (3.0 if spec.backward else 1.0)
        return per_image * spec.evaluations(options)

    def _learn(self, arch: str, backward: bool, seconds_per_image: float) -> None:
        key = (arch, backward)
        old = self._seconds_per_image.get(key)
        self._seconds_per_image[key] = seconds_per_image if old is None else 0.5 * old + 0.5 * seconds_per_image

    def trust(self, session: Session, method: str, target: int | None = None, *, progress: Progress | None = None):
        """Model (long). "Can I trust this map?" for ``method``'s map of ``target`` (None: the top-1)
        on the session's photo: the cascading randomisation test, deletion, insertion and ROAD with
        their baselines (:func:`resnet_viz.trust.trust_report`). Like the slow methods it holds the
        model batch by batch and stops when Cancel is pressed. A method with no single map (the
        ladder) is checked as Grad-CAM at the last stage, its headline map."""
        spec = method_spec(method)
        checked = method if spec.comparable else "gradcam"
        what = tr("trust_cancelled", method=spec.name())
        return self.run_slow(session.arch, trust_report, session.analysis.input, [checked], target=target,
                             cancel=session.cancel, cancelled=what, progress=progress, **self.trust_settings)

    def compare_all(self, session: Session, target: int | None = None, *, progress: Progress | None = None):
        """Model (long). The trust report of every method with one map (``compare_methods``, by
        default :data:`~resnet_viz.trust.report.COMPARABLE_METHODS`) for ``target`` on the session's
        photo, the baselines computed once: the "Compare all methods" table. Held and cancelled like
        :meth:`trust`."""
        return self.run_slow(session.arch, trust_report, session.analysis.input, list(self.compare_methods),
                             target=target, cancel=session.cancel, cancelled=tr("trust_compare_cancelled"),
                             progress=progress, **self.trust_settings)

    def expected_compare_seconds(self, session: Session) -> float:
        """About how long :meth:`compare_all` takes here: measured as about 1,800 bare forwards of
        ResNet-50 with the default settings (README, "Can I trust this map?"), so 1,800 times the
        analysis's own forward time."""
        share = len(self.compare_methods) / len(COMPARABLE_METHODS)
        return COMPARE_ALL_FORWARDS * share * session.report["timing_ms"]["forward"] / 1000

    # --- what a channel responds to -----------------------------------------------------------

    def cached_visualization(self, arch: str, stage: str, channel: int) -> tuple[Image.Image, dict] | None:
        """A stored feature visualisation of this channel, or None (reads a file, no model work)."""
        model = self.registry.get(arch).model
        return self.feature_cache.get(self.feature_cache.key(model, stage, channel, self.feature_vis))

    def visualize(
        self, session: Session, stage: str, channel: int, *, progress: Progress | None = None,
        on_preview: Callable[[int, int, Image.Image], None] | None = None, previews: int = 8,
    ) -> tuple[Image.Image, dict]:
        """Model (long). The image ``stage``'s ``channel`` responds to most (Olah et al. 2017), from
        the disk cache or computed step by step: short requests go between steps, Cancel stops it.

        Requests for the same channel that arrive together compute it once: long runs on a model
        take turns, the one computing stores its picture before it gives the model up, and each
        looks in the cache again once the model is its own. ``on_preview(step, steps, image)`` gets
        the image as it is now ``previews`` times during the run (rendering one needs no network)."""
        cached = self.cached_visualization(session.arch, stage, channel)
        if cached is not None:
            return cached
        what = tr("featvis_cancelled", stage=stage, channel=channel)
        with self._slow_run(session, what, progress) as (model, between_steps):
            key = self.feature_cache.key(model, stage, channel, self.feature_vis)
            cached = self.feature_cache.get(key)  # computed by the run this one waited for
            if cached is not None:
                return cached
            every = max(1, self.feature_vis["steps"] // max(previews, 1))

            def preview(info: StepInfo) -> None:
                if on_preview is not None and info.step % every == 0 and info.step < info.steps:
                    on_preview(info.step, info.steps, info.preview())

            result = visualize_channel(model, stage, int(channel), progress=between_steps, on_step=preview,
                                       **self.feature_vis)
            meta = result.to_json()
            self.feature_cache.put(key, result.image, meta)
        self._step_seconds[(session.arch, stage)] = result.timing_ms["per_step"] / 1000
        return result.image, meta

    def expected_visualization_seconds(self, session: Session, stage: str) -> float:
        """Seconds per step measured on this server (by the last visualisation at this stage, or
        else by three steps run now, once per arch and stage), times the number of steps."""
        key = (session.arch, stage)
        if key not in self._step_seconds:
            probe = self.run(session.arch, visualize_channel, stage, 0, **{**self.feature_vis, "steps": 3})
            self._step_seconds[key] = probe.timing_ms["per_step"] / 1000
        return self._step_seconds[key] * self.feature_vis["steps"]

    # --- the residual-learning lab -------------------------------------------------------------

    def close(self) -> None:
        """The app is closing: stop the degradation lab's run (nothing else holds a process)."""
        self.degradation.close()
        self.idle_trim.close()

    def data_randomisation_test(self, session: Session, live: bool, *, progress: Progress | None = None,
                                lang: str = "en") -> LabResults:
        """The lab's data randomisation test: the shipped pair's comparison (cached), or with
        ``live`` a pair trained now (minutes; one per server). Cancel stops it at its next step."""
        with cancellable(session.cancel, tr("datarand_cancelled", lang)) as stop_if_cancelled:

            def step(fraction: float) -> None:
                if progress is not None:
                    progress(fraction)
                stop_if_cancelled()

            stop_if_cancelled()
            if live:
                return self.data_randomisation.train(step, lang)
            return self.data_randomisation.shipped(step)

    def lesion_sweep(self, session: Session) -> dict[str, Any]:
        """Model. Each block's residual branch removed in turn."""
        return self.run(session.arch, lesion, session.analysis.input)

    def scaled(self, session: Session, scales: Mapping[str, float]) -> dict[str, Any]:
        """Model. Top-5 with residual branches scaled (by stage or block), beside the intact top-5."""
        return self.run(session.arch, lesion, session.analysis.input, scales=dict(scales))


def analysis_parts(model: torch.nn.Module, picture: Image.Image) -> tuple[Any, torch.Tensor, Image.Image, dict]:
    """What a session keeps of one forward: the report, the input tensor, the crop, and the C1..C5
    maps in float16 (made where the model runs, so a model replica sends half the bytes)."""
    report, tensors = analyze(model, picture, top_k=5, return_tensors=True)
    return report, tensors.input, tensors.crop, {name: t.to(torch.float16) for name, t in tensors.stages.items()}
