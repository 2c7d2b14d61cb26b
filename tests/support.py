"""What the tests share besides fixtures: paths, the example photos, and the models and registries
built the way the app builds them (random weights, CPU, one fixed memory layout)."""

from __future__ import annotations

from pathlib import Path

import resnet_viz
from resnet_viz.model.resnet import ResNet
from resnet_viz.serve.registry import ModelRegistry

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
EXAMPLES = sorted(p for p in ASSETS.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})


# The shared test models skip load_model's layout measurement: it costs start-up time, and on a
# busy machine it may pick either layout, whose results differ in the last bits of a float.
# Apps and CLI runs that tests compare with these models are given the same layout.
TEST_LAYOUT = "channels-last"

_models: dict[str, ResNet] = {}


def random_model(arch: str) -> ResNet:
    """One shared, read-only random-weight model per arch, as the app shares its models."""
    if arch not in _models:
        _models[arch] = resnet_viz.load_model(arch, weights="random", device="cpu", layout=TEST_LAYOUT)
    return _models[arch]


def random_registry() -> ModelRegistry:
    """A new model registry as the app builds one (its own gate), with random weights in the tests' layout."""
    return ModelRegistry("random", "cpu", layout=TEST_LAYOUT)
