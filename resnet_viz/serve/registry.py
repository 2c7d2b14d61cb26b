"""The models an app serves: loaded lazily per architecture, kept, shared read-only.

Every computation on a model runs inside ``registry.lease(arch)`` (short work) or
``registry.long_lease(arch)`` (long work made of slices), which go through that model's
:class:`~resnet_viz.serve.gate.ModelGate`: one computation at a time per model, whichever queue or
thread the request came from, and a short request never waits for more than one slice of a
long one.

When ImageNet weights are asked for but are neither cached nor downloadable, the registry falls
back to random weights instead of failing, and remembers why, so the app can start anyway and
say so in a banner.
"""

from __future__ import annotations

import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

import torch

from ..model.resnet import ARCHS, ResNet
from ..model.runtime import LAYOUTS
from ..model.weights import WeightsError, imagenet_file, load_model
from .gate import Activity, LongLease, ModelGate

__all__ = ["LoadedModel", "ModelRegistry"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    model: ResNet
    fallback: str | None  # why random weights stand in for ImageNet ones, or None
    cache_dir: Path | None  # where the ImageNet file belongs, for the banner
    gate: ModelGate = field(default_factory=ModelGate, compare=False)


class ModelRegistry:
    """arch -> model, loaded on first use (one load per arch even when requests race)."""

    def __init__(
        self,
        weights: str = "imagenet",
        device: str | torch.device = "auto",
        precision: str = "fp32",
        layout: str = "auto",
    ) -> None:
        if layout not in LAYOUTS:  # fail at start-up, not at the first visitor's request
            raise ValueError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
        self.weights, self.device, self.precision, self.layout = str(weights), device, precision, layout
        self._models: dict[str, LoadedModel] = {}
        self._locks = {arch: threading.Lock() for arch in ARCHS}
        self.activity = Activity()  # whether any of these models is computing (see gate.Activity)

    def get(self, arch: str) -> LoadedModel:
        if arch not in ARCHS:
            raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
        loaded = self._models.get(arch)
        if loaded is not None:
            return loaded
        with self._locks[arch]:
            if arch not in self._models:
                loaded = self._load(arch)
                self._models[arch] = replace(loaded, gate=ModelGate(self.activity))
            return self._models[arch]

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
        loaded = self.get(arch)
        with loaded.gate.short():
            yield loaded.model

    @contextmanager
    def long_lease(self, arch: str) -> Iterator[tuple[ResNet, LongLease]]:
        """The model of ``arch`` for a long computation, which calls ``lease.pause_for_short()``
        between its slices so that short requests go first."""
        loaded = self.get(arch)
        with loaded.gate.long() as lease:
            yield loaded.model, lease

    def loaded(self) -> list[str]:
        return list(self._models)
