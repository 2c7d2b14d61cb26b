"""A trained network for the trust checks: the degradation lab's ResNet, trained on scenes.

There are no ImageNet weights without internet, and the model randomisation test means nothing
on a network that never learned anything. So the trust checks train their own: a CIFAR-family
ResNet (:mod:`resnet_viz.degradation.networks`, the lab's network, built here with this module's own settings
so a change of the lab's defaults cannot change it) on :mod:`~resnet_viz.trust.scenes`, where a
lab grating sits somewhere in a 16x16 scene and the class is its orientation.

``labels="permuted"`` trains the same network on the same scenes with their labels shuffled once
(Adebayo et al. 2018's data randomisation test): it can only memorise, so whatever its maps show
is not what the true-label network learned.

The network gets a ``meta`` like a loaded ImageNet model (class names, preprocessing), so the
attribution methods run on it unchanged, with Grad-CAM at its last stage, C4.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..degradation.networks import CifarResNet, build_cifar_model
from ..model.weights import ModelMeta
from .scenes import CLASSES, SCENE, make_scenes

__all__ = ["LabConfig", "LabNetwork", "SceneTransforms", "load_lab_network", "scene_batch", "train_lab_network"]

Progress = Callable[[float], None]

TRAIN_SEED, TEST_SEED = 2018, 2019  # the scenes' seeds (Adebayo et al. 2018; any fixed pair would do)
MEAN, STD = (0.5, 0.5, 0.5), (0.3, 0.3, 0.3)  # scene colours are uniform in 0..1: mean 0.5, std 0.29


class SceneTransforms(nn.Module):
    """A picture -> the network's (3, 16, 16) input: resize, scale to 0..1, normalise."""

    def __init__(self, size: int = SCENE) -> None:
        super().__init__()
        self.size, self.mean, self.std = size, list(MEAN), list(STD)

    def forward(self, image: Any) -> Tensor:
        import torchvision.transforms.functional as TF

        pixels = TF.to_tensor(TF.resize(image, [self.size, self.size], antialias=True))
        return TF.normalize(pixels, self.mean, self.std)


def normalise(images: Tensor) -> Tensor:
    """uint8 (N, 3, H, W) scenes -> the network's float input."""
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (images.float() / 255 - mean) / std


def scene_batch(n: int, seed: int = TEST_SEED) -> tuple[Tensor, Tensor, Tensor]:
    """``n`` normalised scenes (N, 3, 16, 16), their classes and the gratings' corners."""
    images, labels, corners = make_scenes(n, seed)
    return normalise(images), labels, corners


@dataclass(frozen=True)
class LabConfig:
    """One training run. The defaults train in about a minute on one core (see the README)."""

    labels: str = "true"  # "true", or "permuted": the labels shuffled once, the data randomisation test
    depth: int = 20  # ResNet-20, the smallest of He et al. 2016's CIFAR family
    train_size: int = 2000  # scenes; small enough that permuted labels can be memorised
    test_size: int = 1000
    steps: int = 600
    batch_size: int = 32
    lr: float = 0.05  # cosine-annealed to 0
    momentum: float = 0.9
    weight_decay: float = 1e-4
    seed: int = 0  # initialisation, batch order and the permutation

    def __post_init__(self) -> None:
        if self.labels not in ("true", "permuted"):
            raise ValueError(f"unknown labels {self.labels!r}; choose 'true' or 'permuted'")
        for name in ("train_size", "test_size", "steps", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class LabNetwork:
    """A trained lab network and how well it learned."""

    model: CifarResNet  # eval mode, parameters frozen, with ``meta``
    config: LabConfig
    train_accuracy: float  # on the labels it was trained on (permuted ones for labels="permuted")
    test_accuracy: float  # on fresh scenes with their true labels: chance (0.1) means nothing was learned
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "config": self.config.to_json(),
            "train_accuracy": self.train_accuracy,
            "test_accuracy": self.test_accuracy,
            "seconds": self.seconds,
        }


def _with_meta(model: CifarResNet, config: LabConfig) -> CifarResNet:
    model.meta = ModelMeta(
        arch=f"resnet{config.depth}-scenes",
        weights=f"lab ({config.labels} labels)",
        categories=CLASSES,
        transforms=SceneTransforms(),
    )
    model.requires_grad_(False)
    return model.eval()


def _accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    model.eval()
    with torch.inference_mode():
        return float((model(x).argmax(dim=1) == y).float().mean())


def train_lab_network(config: LabConfig = LabConfig(), *, progress: Progress | None = None,
                      report_every: int = 20) -> LabNetwork:
    """Train the lab network on the scenes. ``progress(fraction)`` is called every
    ``report_every`` steps; it may block (to give the cores to others) or raise to cancel."""
    start = time.perf_counter()
    images, labels, _ = make_scenes(config.train_size, TRAIN_SEED)
    x_train = normalise(images)
    g = torch.Generator().manual_seed(config.seed)
    if config.labels == "permuted":
        labels = labels[torch.randperm(len(labels), generator=g)]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = build_cifar_model(config.depth, num_classes=len(CLASSES))
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    order = torch.empty(0, dtype=torch.long)
    for step in range(config.steps):
        if len(order) < config.batch_size:  # a fresh epoch's shuffle
            order = torch.cat([order, torch.randperm(config.train_size, generator=g)])
        batch, order = order[: config.batch_size], order[config.batch_size :]
        for group in optimizer.param_groups:
            group["lr"] = 0.5 * config.lr * (1 + math.cos(math.pi * step / config.steps))
        model.train()
        loss = F.cross_entropy(model(x_train[batch]), labels[batch])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if progress is not None and (step + 1) % report_every == 0:
            progress((step + 1) / config.steps)
    test_x, test_y, _ = scene_batch(config.test_size, TEST_SEED)
    model = _with_meta(model, config)
    return LabNetwork(
        model=model,
        config=config,
        train_accuracy=_accuracy(model, x_train, labels),
        test_accuracy=_accuracy(model, test_x, test_y),
        seconds=time.perf_counter() - start,
    )


def save_lab_network(network: LabNetwork, path: str | Path) -> None:
    """A checkpoint that :func:`load_lab_network` reads with ``weights_only=True``: the config,
    the accuracies and the state dict in float16 (half the bytes; the maps do not notice)."""
    state = {k: v.half() if v.is_floating_point() else v for k, v in network.model.state_dict().items()}
    torch.save({"lab": network.to_json(), "state_dict": state}, path)


def load_lab_network(path: str | Path) -> LabNetwork:
    """A network saved by :func:`save_lab_network` (e.g. ``assets/trust_lab_true.pt``)."""
    payload = torch.load(Path(path), map_location="cpu", weights_only=True)
    record = payload["lab"]
    config = LabConfig(**record["config"])
    model = build_cifar_model(config.depth, num_classes=len(CLASSES))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()})
    return LabNetwork(
        model=_with_meta(model, config),
        config=config,
        train_accuracy=record["train_accuracy"],
        test_accuracy=record["test_accuracy"],
        seconds=record["seconds"],
    )
