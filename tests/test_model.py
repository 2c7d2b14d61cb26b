"""The from-scratch ResNet against torchvision: same keys, same numbers, hook-friendly internals."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from resnet_viz import ARCHS, build_model
from resnet_viz.model.resnet import Bottleneck

ALL_ARCHS = list(ARCHS)


def _pair(arch: str, seed: int = 0):
    torch.manual_seed(seed)
    reference = torchvision.models.get_model(arch).eval()
    ours = build_model(arch).eval()
    ours.load_state_dict(reference.state_dict(), strict=True)
    return ours, reference


@pytest.mark.slow
@pytest.mark.parametrize("arch", ALL_ARCHS)
def test_parity_with_torchvision(arch):
    ours, reference = _pair(arch)
    # Randomise BN statistics too, so eval-mode BN is not the identity and a wrong BN would show.
    with torch.no_grad():
        for module in reference.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 2.0)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.1, 0.1)
    ours.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        stages = ours.forward_stages(x)
        c1 = reference.maxpool(reference.relu(reference.bn1(reference.conv1(x))))
        expected = {"C1": c1}
        h = c1
        for name, layer in zip(["C2", "C3", "C4", "C5"], [reference.layer1, reference.layer2, reference.layer3, reference.layer4]):
            expected[name] = h = layer(h)
        logits_ref = reference(x)
        logits = ours(x)
    assert (logits - logits_ref).abs().max().item() <= 1e-4
    assert list(stages) == ["C1", "C2", "C3", "C4", "C5"]
    for name in stages:
        torch.testing.assert_close(stages[name], expected[name], rtol=0, atol=1e-5)
    torch.testing.assert_close(ours.forward_head(stages["C5"]), logits, rtol=0, atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("arch", ALL_ARCHS)
def test_state_dict_keys_and_shapes_match_torchvision_both_ways(arch):
    reference = torchvision.models.get_model(arch)
    ours = build_model(arch)
    ref_state, our_state = reference.state_dict(), ours.state_dict()
    assert list(our_state) == list(ref_state)  # same keys, in the same order
    assert all(our_state[k].shape == ref_state[k].shape for k in ref_state)
    reference.load_state_dict(our_state, strict=True)
    ours.load_state_dict(ref_state, strict=True)


@pytest.mark.slow
@pytest.mark.parametrize("arch,depths", [(a, ARCHS[a].layers) for a in ALL_ARCHS])
def test_stage_depths_and_table(arch, depths):
    model = build_model(arch)
    assert tuple(len(getattr(model, f"layer{i}")) for i in range(1, 5)) == depths
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        stages = model.eval().forward_stages(x)
    for info in model.stages:
        t = stages[info.name]
        assert t.shape[1] == info.channels
        assert 224 // t.shape[-1] == info.stride
        assert model.stage_modules()[info.name] is model.get_submodule(info.module)


def test_unknown_arch_names_the_valid_ones():
    with pytest.raises(ValueError, match="resnet18, resnet34, resnet50, resnet101, resnet152"):
        build_model("resnet42")


def test_block_kinds_follow_the_seed():
    r50 = build_model("resnet50")
    kinds = {b.name: b.kind for b in r50.blocks()}
    # Every stage of ResNet-50 opens with a convolution block (projection shortcut) ...
    assert [kinds[f"layer{i}.0"] for i in range(1, 5)] == ["convolution"] * 4
    # ... followed by identity blocks.
    assert {k for n, k in kinds.items() if not n.endswith(".0")} == {"identity"}
    assert len(kinds) == 16
    # ResNet-18's first stage keeps 64 channels at stride 1, so it needs no projection.
    assert {b.name: b.kind for b in build_model("resnet18").blocks()}["layer1.0"] == "identity"


@pytest.mark.slow
def test_stride_placement():
    v15 = build_model("resnet50")
    v1 = build_model("resnet50", stride_in_1x1=True)
    assert v15.layer2[0].conv1.stride == (1, 1) and v15.layer2[0].conv2.stride == (2, 2)
    assert v1.layer2[0].conv1.stride == (2, 2) and v1.layer2[0].conv2.stride == (1, 1)
    # The projection shortcut uses the block's own stride: 1 in stage 2, 2 afterwards.
    assert v1.layer1[0].downsample[0].stride == (1, 1)
    assert v1.layer3[0].downsample[0].stride == (2, 2)
    # Same parameters either way, so a v1.5 checkpoint loads into the v1 layout (numbers differ).
    v1.load_state_dict(v15.state_dict(), strict=True)
    with torch.no_grad():
        assert v1.eval()(torch.randn(1, 3, 224, 224)).shape == (1, 1000)


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_every_module_runs_once_and_nothing_is_in_place(arch):
    model = build_model(arch).eval()
    calls: dict[str, int] = {}
    handles = [
        m.register_forward_hook(lambda mod, args, out, name=name: calls.__setitem__(name, calls.get(name, 0) + 1))
        for name, m in model.named_modules()
        if name
    ]
    try:
        with torch.no_grad():
            model(torch.randn(1, 3, 64, 64))
    finally:
        for h in handles:
            h.remove()
    assert set(calls.values()) == {1}
    assert all(not getattr(m, "inplace", False) for m in model.modules())


def test_residual_and_shortcut_taps_are_distinct_modules_adding_no_keys():
    model = build_model("resnet50").eval()
    block = model.layer2[0]
    assert isinstance(block, Bottleneck)
    assert block.residual is not block.shortcut
    assert not any(".residual" in k or ".shortcut" in k for k in model.state_dict())
    seen = {}
    hooks = [
        block.residual.register_forward_hook(lambda m, a, o: seen.__setitem__("F", o)),
        block.shortcut.register_forward_hook(lambda m, a, o: seen.__setitem__("s", o)),
        block.register_forward_hook(lambda m, a, o: seen.__setitem__("out", o)),
    ]
    try:
        with torch.no_grad():
            model(torch.randn(1, 3, 96, 96))
    finally:
        for h in hooks:
            h.remove()
    torch.testing.assert_close(seen["out"], torch.relu(seen["F"] + seen["s"]))
