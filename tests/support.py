"""What the tests share besides fixtures: paths, the example photos, the models and registries
built the way the app builds them (random weights, CPU, one fixed memory layout), and how far
another arithmetic (TF32, bf16, fp16) may move a model's logits."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import torch

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


# How far another arithmetic may move ResNet-50's logits (random weights, the four examples),
# measured by relative_error() against float32. Each is about 3x the largest error of the same
# arithmetic emulated on the CPU, where test_precision.py measures it again on every run and keeps
# at least 2x of room: float32 summed in another order (NCHW vs channels-last) 1.7e-6..1.2e-5;
# TF32 (convolution inputs and weights rounded to a 10-bit mantissa, what cuDNN's TF32 tensor
# cores compute with) 2.1e-3..1.8e-2; CPU autocast bf16 1.9e-2..1.1e-1, fp16 2.7e-3..2.3e-2.
# float32's 1e-3 is far above any reordering and below every TF32 figure, so a parity check that
# left TF32 on would fail it. The depth matters (bf16 moves a random ResNet-18's logits only
# 6e-3..1.1e-2): these bounds are for the tests' random ResNet-50.
LOGIT_TOLERANCE = {"float32": 1e-3, "tf32": 0.06, "bf16": 0.35, "fp16": 0.07}


def relative_error(logits: torch.Tensor, reference: torch.Tensor) -> float:
    """||logits - reference|| / ||reference|| over the whole vector, in float64 on the CPU."""
    a, b = logits.detach().double().cpu(), reference.detach().double().cpu()
    return float((a - b).norm() / b.norm())


def until_snapshot(lab: Any, condition: Callable[[Any], bool], *, timeout: float) -> Any:
    """Poll a degradation lab's snapshot (as the page's timer does) until ``condition(snapshot)``."""
    deadline = time.monotonic() + timeout
    snap = None
    while time.monotonic() < deadline:
        snap = lab.snapshot()
        if snap is not None and condition(snap):
            return snap
        time.sleep(0.05)
    raise AssertionError(f"timed out; last state {snap.state if snap else None!r}")

