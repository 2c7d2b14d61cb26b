"""The architecture table against independent references: torchvision's own parameter and
operation counts, the paper's Table 1, and receptive fields measured with gradients."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from resnet_viz import build_model, hook_count
from resnet_viz.probe import architecture
from resnet_viz.probe.architecture import architecture_table, architecture_totals

ARCHS = ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


def meta_model(arch: str, **kwargs) -> nn.Module:
    """The architecture without storage: counting shapes needs no numbers, and builds in ms."""
    with torch.device("meta"):
        return build_model(arch, **kwargs).eval()


@pytest.fixture
def empty_cache(monkeypatch):
    monkeypatch.setattr(architecture, "_cache", {})


@pytest.mark.parametrize("arch", ARCHS)
def test_totals_match_torchvision(arch):
    meta = torchvision.models.get_model_weights(arch).DEFAULT.meta
    totals = architecture_totals(architecture_table(meta_model(arch)))
    assert totals["params"] == meta["num_params"]
    assert totals["gflops"] == pytest.approx(meta["_ops"], rel=0.01)


def test_resnet18_is_the_papers_table():
    rows = architecture_table(meta_model("resnet18"))
    assert [r["stage"] for r in rows] == ["C1", "C2", "C3", "C4", "C5", "head"]
    assert [r["layer"] for r in rows] == ["conv1", "conv2_x", "conv3_x", "conv4_x", "conv5_x", "avgpool, fc"]
    assert [r["output_size"] for r in rows] == ["56x56", "56x56", "28x28", "14x14", "7x7", "1x1"]
    assert [r["blocks"] for r in rows] == [0, 2, 2, 2, 2, 0]
    assert [r["channels"] for r in rows] == [64, 64, 128, 256, 512, 1000]
    assert [r["block"] for r in rows] == [
        "7x7, 64, stride 2; 3x3 max pool, stride 2",
        "[3x3, 64; 3x3, 64] x 2",
        "[3x3, 128; 3x3, 128] x 2",
        "[3x3, 256; 3x3, 256] x 2",
        "[3x3, 512; 3x3, 512] x 2",
        "global average pool, 1000-d fc",
    ]
    assert rows[0]["params"] == 64 * 3 * 7 * 7 + 2 * 64  # conv1 + bn1, counted by hand
    assert rows[-1]["params"] == 512 * 1000 + 1000
    assert rows[0]["gflops"] == pytest.approx(112 * 112 * 64 * 3 * 49 / 1e9)
    assert [r["receptive_field"] for r in rows[:5]] == [11, 43, 99, 211, 435]


def test_resnet50_is_the_papers_table():
    rows = architecture_table(meta_model("resnet50"))
    assert [r["block"] for r in rows[1:5]] == [
        "[1x1, 64; 3x3, 64; 1x1, 256] x 3",
        "[1x1, 128; 3x3, 128; 1x1, 512] x 4",
        "[1x1, 256; 3x3, 256; 1x1, 1024] x 6",
        "[1x1, 512; 3x3, 512; 1x1, 2048] x 3",
    ]
    assert [r["channels"] for r in rows] == [64, 256, 512, 1024, 2048, 1000]
    assert [r["output_size"] for r in rows] == ["56x56", "56x56", "28x28", "14x14", "7x7", "1x1"]
    # The stride on the first 1x1 conv (the paper) instead of the 3x3 (v1.5) changes the fields.
    assert architecture_table(meta_model("resnet50"))[2]["receptive_field"] == 91
    assert architecture_table(meta_model("resnet50", stride_in_1x1=True))[2]["receptive_field"] == 99


def test_counting_leaves_a_loaded_model_as_it_was(resnet18, empty_cache):
    state = {k: v.clone() for k, v in resnet18.state_dict().items()}
    rows = architecture_table(resnet18)  # the cache is empty: counted afresh
    assert rows == architecture_table(meta_model("resnet18"), input_size=224)
    assert hook_count(resnet18) == 0
    assert sum(len(m._forward_hooks) for m in resnet18.modules()) == 0
    assert not resnet18.training
    assert all(torch.equal(v, state[k]) for k, v in resnet18.state_dict().items())


def test_output_sizes_follow_the_input_size():
    rows = architecture_table(meta_model("resnet18"), input_size=193)  # 193 -> 97 -> 49 -> 25 -> 13 -> 7
    assert [r["output_size"] for r in rows] == ["49x49", "49x49", "25x25", "13x13", "7x7", "1x1"]
    assert rows[0]["gflops"] == pytest.approx(97 * 97 * 64 * 3 * 49 / 1e9)


def test_a_training_model_keeps_its_mode_and_batchnorm_statistics(empty_cache):
    model = build_model("resnet18").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rows = architecture_table(model)
    assert model.training and hook_count(model) == 0
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert rows == architecture_table(meta_model("resnet18"))


def test_hooks_are_removed_when_the_forward_fails(empty_cache, monkeypatch):
    twin = meta_model("resnet18")

    def broken(x):
        raise RuntimeError("boom")

    twin.layer2.forward = broken
    monkeypatch.setattr(architecture, "meta_twin", lambda model: twin)
    with pytest.raises(RuntimeError, match="boom"):
        architecture_table(meta_model("resnet18"))
    assert hook_count(twin) == 0


def test_results_are_cached_and_copied(empty_cache):
    model = meta_model("resnet34")
    first = architecture_table(model)
    first[0]["params"] = -1
    assert architecture_table(model)[0]["params"] > 0
    assert len(architecture._cache) == 1
    with pytest.raises(ValueError, match="input_size"):
        architecture_table(model, input_size=0)


def measured_receptive_field(arch: str, stage: str, size: int, **kwargs) -> int:
    """Width of the input region that one centre pixel of ``stage`` depends on.

    Positive conv weights and BN biases keep every ReLU open, so every path carries gradient.
    The max pool is swapped for an average pool of the same geometry: a max pool passes gradient
    to one input per window only, an average pool to all of them (its receptive field is the same).
    """
    model = meta_model(arch, **kwargs)
    model.layer3 = model.layer4 = model.fc = nn.Identity()  # unused here: no memory to fill
    model = model.to_empty(device="cpu")
    model.maxpool = nn.AvgPool2d(kernel_size=3, stride=2, padding=1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.fill_(1.0 / module.weight[0].numel())
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.fill_(1.0)
                module.bias.fill_(0.1)
                module.running_mean.zero_()
                module.running_var.fill_(1.0)
    model = model.eval().requires_grad_(False)  # input gradients only
    x = torch.ones(1, 3, size, size, requires_grad=True)
    out = model.forward_stem(x)
    for info in model.stages[1:]:  # C2.. up to the stage asked for
        if info.name > stage:
            break
        out = model.get_submodule(info.module)(out)
    height, width = out.shape[-2:]
    out[0, :, height // 2, width // 2].sum().backward()
    touched = x.grad[0].abs().sum(dim=0) > 0  # (H, W)
    rows = touched.any(dim=1).nonzero().flatten()
    cols = touched.any(dim=0).nonzero().flatten()
    assert rows.min() > 0 and rows.max() < size - 1, "the field reaches the border: use a larger input"
    assert rows.max() - rows.min() == cols.max() - cols.min()
    return int(rows.max() - rows.min() + 1)


@pytest.mark.parametrize(
    "arch, stage, kwargs",
    [
        ("resnet18", "C1", {}),
        ("resnet18", "C2", {}),
        ("resnet18", "C3", {}),
        ("resnet50", "C3", {}),
    ],
)
@pytest.mark.slow
def test_receptive_field_matches_gradients(arch, stage, kwargs):
    # (stride_in_1x1 moves ResNet-50's C3 field from 91 to 99: checked against the table above.)
    computed = {r["stage"]: r["receptive_field"] for r in architecture_table(meta_model(arch, **kwargs))}
    assert measured_receptive_field(arch, stage, size=128, **kwargs) == computed[stage]
