"""The CIFAR networks of He et al. 2016: the paper's parameter counts, shapes, shortcuts A/B, plain twins."""

from __future__ import annotations

import math

import pytest
import torch

from resnet_viz import build_cifar_model, forward_taps
from resnet_viz.model.resnet import BasicBlock, ZeroPadShortcut

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# Table 6 of the paper, in millions, as printed (two significant digits).
PAPER_PARAMS = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7}


@pytest.mark.parametrize("depth", list(PAPER_PARAMS))
def test_parameter_counts_match_the_paper(depth):
    model = build_cifar_model(depth)
    digits = 1 if depth == 110 else 2
    assert round(_count(model) / 1e6, digits) == PAPER_PARAMS[depth]
    assert len(list(model.blocks())) == 3 * (depth - 2) // 6
    convs = sum(isinstance(m, torch.nn.Conv2d) for m in model.modules())
    assert convs + 1 == depth  # 6n + 1 weighted conv layers plus the linear head: the "depth"


@pytest.mark.parametrize("depth", [20, 56])
def test_option_a_adds_no_parameters_and_option_b_adds_the_projections(depth):
    plain = build_cifar_model(depth, residual=False)
    a = build_cifar_model(depth, shortcut="A")
    b = build_cifar_model(depth, shortcut="B")
    assert _count(a) == _count(plain)
    assert list(a.state_dict()) == list(plain.state_dict())  # same weights, loadable into each other
    # Two projections, 16 -> 32 and 32 -> 64 channels: a 1x1 conv (no bias) and a BN (weight, bias).
    assert _count(b) - _count(plain) == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)
    assert [i.kind for i in b.blocks()].count("convolution") == 2
    assert [i.kind for i in a.blocks()].count("padding") == 2
    assert {i.kind for i in plain.blocks()} == {"plain"}


def test_stage_table_and_output_shapes():
    model = build_cifar_model(20).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        stages = model.forward_stages(x)
        logits = model(x)
    assert [(s.name, s.module, s.channels, s.stride) for s in model.stages] == [
        ("C1", "relu", 16, 1), ("C2", "layer1", 16, 1), ("C3", "layer2", 32, 2), ("C4", "layer3", 64, 4),
    ]
    for info in model.stages:
        assert stages[info.name].shape == (2, info.channels, 32 // info.stride, 32 // info.stride)
        assert model.stage_modules()[info.name] is model.get_submodule(info.module)
    assert logits.shape == (2, 10)
    torch.testing.assert_close(model.forward_head(stages["C4"]), logits)
    assert [i.stage for i in model.blocks()] == ["C2"] * 3 + ["C3"] * 3 + ["C4"] * 3
    assert all(isinstance(i.module, BasicBlock) for i in model.blocks())


def test_option_a_shortcut_by_hand():
    x = torch.arange(2 * 2 * 4 * 4, dtype=torch.float32).view(2, 2, 4, 4)
    out = ZeroPadShortcut(2, 4, stride=2)(x)
    assert out.shape == (2, 4, 2, 2)
    # Every second pixel of each input channel: rows 0 and 2, columns 0 and 2.
    assert out[0, 0].tolist() == [[0.0, 2.0], [8.0, 10.0]]
    assert out[1, 1].tolist() == [[48.0, 50.0], [56.0, 58.0]]
    assert out[:, 2:].abs().sum() == 0  # the new channels are zeros
    assert sum(p.numel() for p in ZeroPadShortcut(2, 4, 2).parameters()) == 0


def _tap_outputs(model, x):
    seen: dict[str, list[torch.Tensor]] = {}
    taps = {}
    for info in model.blocks():
        taps[f"{info.name}.residual"] = info.module.residual
        taps[f"{info.name}.shortcut"] = info.module.shortcut
        taps[f"{info.name}.out"] = info.module.relu_out
    with forward_taps(taps, lambda name, t: seen.setdefault(name, []).append(t.detach())), torch.no_grad():
        model(x)
    return seen


def test_residual_taps_see_f_and_x_and_their_sum():
    model = build_cifar_model(20).eval()
    seen = _tap_outputs(model, torch.randn(2, 3, 16, 16))
    for info in model.blocks():
        residual, shortcut, out = (seen[f"{info.name}.{k}"] for k in ("residual", "shortcut", "out"))
        assert len(residual) == len(shortcut) == len(out) == 1
        torch.testing.assert_close(out[0], torch.relu(residual[0] + shortcut[0]))


def test_plain_twin_has_no_shortcut_contribution():
    torch.manual_seed(0)
    resnet = build_cifar_model(20).eval()
    plain = build_cifar_model(20, residual=False).eval()
    plain.load_state_dict(resnet.state_dict())  # the very same weights
    x = torch.randn(2, 3, 16, 16)
    seen = _tap_outputs(plain, x)
    for info in plain.blocks():
        assert f"{info.name}.shortcut" not in seen  # the shortcut tap never fires
        torch.testing.assert_close(seen[f"{info.name}.out"][0], torch.relu(seen[f"{info.name}.residual"][0]))
    # The first block sees the same input in both nets, so only the shortcut tells them apart.
    with torch.no_grad():
        stem = resnet.forward_stem(x)
        first = resnet.layer1[0]
        torch.testing.assert_close(plain.layer1[0](stem), first.relu_out(first.residual_path(stem)))
        assert not torch.allclose(resnet.layer1[0](stem), plain.layer1[0](stem))


def test_he_initialisation_by_fan_out():
    # He et al. 2015's normal initialisation in fan-out mode (torchvision's, and the CIFAR nets'):
    # std sqrt(2 / (out_channels x 3 x 3)). A conv of equal widths has fan-in = fan-out, so only the
    # three convs that change width tell the modes apart: there fan-in mode's std differs by sqrt(2)
    # (16 -> 32, 32 -> 64) or 2.3x (the 3 -> 16 stem), far outside the sampling band.
    torch.manual_seed(0)
    model = build_cifar_model(56)
    convs = {name: m.weight for name, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    assert {name for name, w in convs.items() if w.shape[0] != w.shape[1]} == {"conv1", "layer2.0.conv1", "layer3.0.conv1"}
    for name, weight in convs.items():
        out_channels, in_channels, kh, kw = weight.shape
        fan_out, fan_in = out_channels * kh * kw, in_channels * kh * kw
        # A sample std of n normal draws is within 4 standard errors (sigma / sqrt(2n)) of sigma.
        band = 4 / math.sqrt(2 * weight.numel())
        std = weight.std().item()
        assert abs(std / math.sqrt(2 / fan_out) - 1) < band, (name, std)
        assert abs(weight.mean().item()) < 4 * std / math.sqrt(weight.numel()), name
        if fan_in != fan_out:
            assert abs(std / math.sqrt(2 / fan_in) - 1) > band, (name, std)  # fan-in mode would fail here
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 55 and all(torch.all(bn.weight == 1) and torch.all(bn.bias == 0) for bn in bns)


@pytest.mark.parametrize("bad", [21, 0, 7, 56.0, "56", True])
def test_depth_must_be_6n_plus_2(bad):
    with pytest.raises(ValueError, match=repr(bad).replace("(", r"\(")):
        build_cifar_model(bad)


def test_unknown_shortcut_option():
    with pytest.raises(ValueError, match="'C'"):
        build_cifar_model(20, shortcut="C")


def test_plain_block_takes_no_downsample():
    with pytest.raises(ValueError, match="plain block"):
        BasicBlock(16, 32, 2, ZeroPadShortcut(16, 32, 2), plain=True)


def test_names():
    assert build_cifar_model(56).name == "ResNet-56"
    assert build_cifar_model(20, residual=False).name == "plain-20"
