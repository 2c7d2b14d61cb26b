"""The models an app serves: loaded lazily per architecture, kept, shared read-only.

When ImageNet weights are asked for but are neither cached nor downloadable, the registry falls
back to random weights instead of failing, and remembers why, so the app can start anyway and
say so in a banner.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import torch

from .model import ARCHS, ResNet
from .weights import WeightsError, imagenet_file, load_model

__all__ = ["LoadedModel", "ModelRegistry"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadedModel:
    model: ResNet
    fallback: str | None  # why random weights stand in for ImageNet ones, or None
    cache_dir: Path | None  # where the ImageNet file belongs, for the banner


class ModelRegistry:
    """arch -> model, loaded on first use (one load per arch even when requests race)."""

    def __init__(self, weights: str = "imagenet", device: str | torch.device = "auto") -> None:
        self.weights, self.device = str(weights), device
        self._models: dict[str, LoadedModel] = {}
        self._locks = {arch: threading.Lock() for arch in ARCHS}

    def get(self, arch: str) -> LoadedModel:
        if arch not in ARCHS:
            raise ValueError(f"unknown arch {arch!r}; choose one of {', '.join(ARCHS)}")
        loaded = self._models.get(arch)
        if loaded is not None:
            return loaded
        with self._locks[arch]:
            if arch not in self._models:
                self._models[arch] = self._load(arch)
            return self._models[arch]

    def _load(self, arch: str) -> LoadedModel:
        try:
            return LoadedModel(load_model(arch, self.weights, self.device), None, None)
        except WeightsError as exc:
            if self.weights != "imagenet":
                raise  # a path the operator chose: starting with other weights would mislead
            log.warning("%s; serving %s with random weights", exc, arch)
            model = load_model(arch, "random", self.device)
            return LoadedModel(model, str(exc), imagenet_file(arch).path.parent)

    def loaded(self) -> list[str]:
        return list(self._models)
