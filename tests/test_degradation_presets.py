"""The lab's two runs: what the controls can reproduce, and the gradient ratio behind the deeper one."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from resnet_viz import DegradationConfig, build_cifar_model
from resnet_viz.degradation import NetworkCurve
from resnet_viz.degradation.data import load_data
from resnet_viz.degradation.presets import PRESETS, first_to_last_ratio, preset_of

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_default_preset_is_the_librarys_default_run():
    assert PRESETS["default"].config == DegradationConfig()


@pytest.mark.parametrize("key", list(PRESETS))
def test_a_preset_differs_from_the_default_only_in_what_the_lab_controls(key):
    # The lab's controls set depths, data and steps: a preset must be reproducible with them, and
    # plain and residual nets keep one schedule (the same lr, milestones and warm-up rule).
    config = PRESETS[key].config
    differs = {f.name for f in dataclasses.fields(config) if getattr(config, f.name) != getattr(DegradationConfig(), f.name)}
    assert differs <= {"depths", "steps", "data"}
    assert preset_of(dataclasses.replace(DegradationConfig(), depths=tuple(reversed(config.depths)), steps=config.steps,
                                         data=config.data)) == key


def test_the_deeper_preset_is_deeper_and_longer_than_the_default():
    default, deeper = PRESETS["default"].config, PRESETS["deeper"].config
    assert max(deeper.depths) == 56 and max(deeper.depths) > max(default.depths)
    assert deeper.steps > default.steps
    assert preset_of(dataclasses.replace(default, steps=default.steps + 1)) is None


def test_first_to_last_ratio():
    net = NetworkCurve("plain-8", 8, False, None, 1, layer_gradients=[30.0, 2.0, 1.0, 3.0])
    assert first_to_last_ratio(net) == 10.0
    assert math.isnan(first_to_last_ratio(dataclasses.replace(net, layer_gradients=[])))


def test_at_initialisation_plain_56s_first_layer_gets_a_thousand_times_its_last_layers_gradient():
    # The deeper preset's explanation, measured the way the run records it (first training batch
    # of the offline data, |dL/dW| of the stem conv over the fc's), on three seeds.
    data = load_data("offline")
    for seed in range(3):
        g = torch.Generator().manual_seed(seed)
        x, y = data.train_batch(torch.randperm(data.train_labels.numel(), generator=g)[:32], g)
        ratios = {}
        for depth in (20, 56):
            for residual in (False, True):
                torch.manual_seed(seed * 1000 + depth)
                model = build_cifar_model(depth, residual=residual)
                F.cross_entropy(model(x), y).backward()
                ratios[model.name] = float(model.conv1.weight.grad.norm() / model.fc.weight.grad.norm())
        assert ratios["plain-56"] > 500, ratios
        assert 2 < ratios["plain-20"] < 30, ratios
        assert ratios["ResNet-56"] < 5 and ratios["ResNet-20"] < 5, ratios
