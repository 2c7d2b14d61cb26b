"""The models an app serves: loaded lazily per architecture, kept, shared read-only.

Every computation on a model runs inside ``registry.lease(arch)`` (short work) or
``registry.long_lease(arch)`` (long work made of slices), which go through that model's
:class:`~resnet_viz.serve.gate.ModelGate`: one computation at a time per model, whichever queue or
thread the request came from, and a short request never waits for more than one slice of a
long one.

When ImageNet weights are asked for but are neither cached nor downloadable, the registry falls
back to random weights instead of failing, and remembers why, so the app can start anyway and
say so in a banner.

Cache policy: at most ``max_models`` architectures stay loaded (a ResNet-152 with its timing
buffers costs over 1 GB of RAM, three architectures about 4 GB). Loading one more evicts the
least recently used model that no computation holds; a leased model is never evicted, so while
every loaded model is in use the registry holds one more than the limit until a lease ends.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import torch

from ..model.resnet import ARCHS, ResNet
from ..model.runtime import LAYOUTS
from ..model.weights import WeightsError, imagenet_file, load_model
from .gate import Activity, LongLease, ModelGate

__all__ = ["DEFAULT_MAX_MODELS", "LoadedModel", "ModelRegistry"]

log = logging.getLogger(__name__)

DEFAULT_MAX_MODELS = 2  # the default architecture plus the one a class is comparing it with


@dataclass(frozen=True)
class LoadedModel:
    model: ResNet
    fallback: str | None  # why random weights stand in for ImageNet ones, or None
    cache_dir: Path | None  # where the ImageNet file belongs, for the banner
    gate: ModelGate = field(default_factory=ModelGate, compare=False)


def _check_arch(arch: str) -> None:
    if arch not in ARCHS:
        raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")


class ModelRegistry:
    """arch -> model, loaded on first use (one load per arch even when requests race), at most
    ``max_models`` kept (least recently used evicted first, never one that is leased)."""

    def __init__(
        self,
        weights: str = "imagenet",
        device: str | torch.device = "auto",
        precision: str = "fp32",
        layout: str = "auto",
        max_models: int = DEFAULT_MAX_MODELS,
    ) -> None:
        if layout not in LAYOUTS:  # fail at start-up, not at the first visitor's request
            raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
        if max_models < 1:
            raise ValueError(f"max_models must be at least 1, got {max_models}")
        self.weights, self.device, self.precision, self.layout = str(weights), device, precision, layout
        self.max_models = max_models
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()  # least recently used first
        self._leases: dict[str, int] = {arch: 0 for arch in ARCHS}  # computations holding each model
        self._order = threading.Lock()  # guards _models' order and _leases
        self._locks = {arch: threading.Lock() for arch in ARCHS}
        self.activity = Activity()  # whether any of these models is computing (see gate.Activity)

    def get(self, arch: str) -> LoadedModel:
        _check_arch(arch)
        with self._order:
            loaded = self._models.get(arch)
            if loaded is not None:
                self._models.move_to_end(arch)
                return loaded
        with self._locks[arch]:
            with self._order:
                loaded = self._models.get(arch)
            if loaded is None:
                loaded = replace(self._load(arch), gate=ModelGate(self.activity))
                with self._order:
                    self._models[arch] = loaded
                    self._evict_beyond_limit(keep=arch)
            return loaded

    def _evict_beyond_limit(self, keep: str | None = None) -> None:
        """Drop least recently used, unleased models until ``max_models`` remain (caller holds _order),
        never ``keep`` (the model just loaded for a caller). A caller that still holds an evicted
        model's object keeps it alive until it lets go."""
        for arch in list(self._models):
            if len(self._models) <= self.max_models:
                return
            if self._leases[arch] == 0 and arch != keep:
                del self._models[arch]
                log.info("unloaded %s (keeping at most %d architectures)", arch, self.max_models)

    @contextmanager
    def _held(self, arch: str) -> Iterator[LoadedModel]:
        """The model of ``arch``, marked as leased (not evictable) until the block ends."""
        _check_arch(arch)
        with self._order:
            self._leases[arch] += 1
        try:
            yield self.get(arch)
        finally:
            with self._order:
                self._leases[arch] -= 1
                self._evict_beyond_limit()  # one kept over the limit for this lease goes now

    def _load(self, arch: str) -> LoadedModel:
        try:
            model = load_model(arch, self.weights, self.device, precision=self.precision, layout=self.layout)
            return LoadedModel(model, None, None)
        except WeightsError as exc:
            if self.weights != "imagenet":
                raise  # a path the operator chose: starting with other weights would mislead
            log.warning("%s; serving %s with random weights", exc, arch)
            model = load_model(arch, "random", self.device, precision=self.precision, layout=self.layout)
            return LoadedModel(model, str(exc), imagenet_file(arch).path.parent)

    @contextmanager
    def lease(self, arch: str) -> Iterator[ResNet]:
        """The model of ``arch``, used by this (short) computation alone until the block ends."""
        with self._held(arch) as loaded, loaded.gate.short():
            yield loaded.model

    @contextmanager
    def long_lease(self, arch: str) -> Iterator[tuple[ResNet, LongLease]]:
        """The model of ``arch`` for a long computation, which calls ``lease.pause_for_short()``
        between its slices so that short requests go first."""
        with self._held(arch) as loaded, loaded.gate.long() as lease:
            yield loaded.model, lease

    def loaded(self) -> list[str]:
        """The architectures in memory, least recently used first."""
        with self._order:
            return list(self._models)
