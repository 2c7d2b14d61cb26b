"""Captum attributions: hand-checked Grad-CAM, IG completeness, clear errors, the model untouched."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from resnet_viz import hook_count
from resnet_viz.explain.attribution import LAYER_STAGES, METHODS, attribute
from resnet_viz.model.runtime import image_input, private_copy

from .snapshot import model_snapshot


def _logits(model, path) -> torch.Tensor:
    with torch.no_grad():
        return model(image_input(model, path))[0]


@pytest.mark.slow
def test_gradcam_equals_a_hand_computation_at_two_stages(resnet18, examples):
    target = int(_logits(resnet18, examples[0]).argmax())
    x = image_input(resnet18, examples[0])
    with torch.enable_grad():
        c1 = resnet18.forward_stem(x).detach().requires_grad_()
        c2 = resnet18.layer1(c1)
        c3 = resnet18.layer2(c2)
        c4 = resnet18.layer3(c3)
        c5 = resnet18.layer4(c4)
        score = resnet18.forward_head(c5)[0, target]
        grads = torch.autograd.grad(score, [c3, c5])
    for name, act, grad in zip(["C3", "C5"], [c3, c5], grads):
        cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * act).sum(dim=1, keepdim=True))
        expected = F.interpolate(cam, size=(224, 224), mode="bilinear", align_corners=False)[0, 0].detach()
        result = attribute(resnet18, examples[0], "gradcam", stage=name)
        assert result["target"]["index"] == target and result["stage"] == name and not result["signed"]
        assert result["raw_range"][1] == pytest.approx(expected.max().item(), rel=1e-4)
        np.testing.assert_allclose(result["map"], (expected / expected.max()).numpy(), atol=1e-4)


@pytest.mark.slow
def test_ladder_matches_single_gradcam(resnet18, examples):
    ladder = attribute(resnet18, examples[1], "gradcam_ladder")
    assert list(ladder["maps"]) == list(LAYER_STAGES)
    for name in ("C3", "C5"):
        single = attribute(resnet18, examples[1], "gradcam", stage=name)
        np.testing.assert_allclose(ladder["maps"][name], single["map"], atol=1e-5)
    np.testing.assert_array_equal(ladder["map"], ladder["maps"]["C5"])


def test_ladder_runs_one_forward_and_one_backward(resnet18, examples, monkeypatch):
    import resnet_viz.explain.attribution as attribution_module

    forwards, backwards = [], []
    real_copy = attribution_module.private_copy

    def counting_copy(model):
        view = real_copy(model)
        view.register_forward_pre_hook(lambda m, args: forwards.append(1))
        return view

    real_grad = torch.autograd.grad

    def counting_grad(*args, **kwargs):
        backwards.append(1)
        return real_grad(*args, **kwargs)

    monkeypatch.setattr(attribution_module, "private_copy", counting_copy)
    monkeypatch.setattr(torch.autograd, "grad", counting_grad)
    attribute(resnet18, examples[0], "gradcam_ladder")
    assert (len(forwards), len(backwards)) == (1, 1)


@pytest.mark.slow
def test_target_choice(resnet18, examples):
    logits = _logits(resnet18, examples[0])
    top1, other = int(logits.argmax()), int(logits.argmin())
    default = attribute(resnet18, examples[0], "gradcam", stage="C4")
    assert default["target"]["index"] == top1
    assert default["target"]["label"] == resnet18.meta.categories[top1]
    assert default["target"]["probability"] == pytest.approx(logits.double().softmax(-1)[top1].item(), rel=1e-5)
    chosen = attribute(resnet18, examples[0], "gradcam", stage="C4", target=other)
    assert chosen["target"]["index"] == other
    assert np.abs(chosen["map"] - default["map"]).max() > 0.05
    by_label = attribute(resnet18, examples[0], "saliency", target=resnet18.meta.categories[other])
    assert by_label["target"]["index"] == other


@pytest.mark.slow
def test_integrated_gradients_completeness_on_an_example_photo(resnet18, examples):
    """Captum's axiom: the attributions add up to f(x) - f(baseline), here to within 5% at 32 steps.

    With random weights a ReLU network's input gradients are 'shattered' (Balduzzi et al. 2017),
    so on some photos 32 steps leave a larger error; the smooth-twin test below shows the
    wiring is exact whenever the integrand is smooth.
    """
    chelsea = next(p for p in examples if p.name == "chelsea.png")
    result = attribute(resnet18, chelsea, "integrated_gradients")
    assert result["options"] == {"steps": 32, "baseline": "black", "internal_batch_size": 8}
    target = result["target"]["index"]
    black = torch.zeros(1, 3, 224, 224)
    mean, std = torch.tensor(resnet18.meta.transforms.mean), torch.tensor(resnet18.meta.transforms.std)
    with torch.no_grad():
        f_x = resnet18(image_input(resnet18, chelsea))[0, target]
        f_b = resnet18(((black - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)).contiguous(memory_format=torch.channels_last))[0, target]
    assert result["output_difference"] == pytest.approx((f_x - f_b).item(), rel=1e-4)
    assert abs(result["convergence_delta"]) <= 0.05 * abs(result["output_difference"])
    assert result["signed"] and 0.0 <= result["map"].min() and result["map"].max() <= 1.0


def _smooth_twin(model):
    """Same weights, every ReLU a Softplus: a smooth function, so IG's integral is well resolved."""
    twin = private_copy(model)
    for module in list(twin.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(module, name, nn.Softplus(beta=2.0))
    return twin


@pytest.mark.slow
@pytest.mark.parametrize("baseline", ["black", "blur", "noise"])
def test_integrated_gradients_completeness_on_a_smooth_twin(resnet18, examples, baseline):
    twin = _smooth_twin(resnet18)
    for path in examples if baseline == "black" else examples[:1]:
        result = attribute(twin, path, "integrated_gradients", baseline=baseline)
        assert abs(result["convergence_delta"]) <= 0.01 * abs(result["output_difference"]), path.name


@pytest.mark.slow
def test_occlusion_equals_a_hand_computation(resnet18, examples):
    """With non-overlapping 112 px windows, each quadrant's score is f(x) - f(x with it greyed)."""
    result = attribute(resnet18, examples[0], "occlusion", window=112, stride=112)
    target = result["target"]["index"]
    x = image_input(resnet18, examples[0])
    with torch.no_grad():
        full = resnet18(x)[0, target]
        for top, left in [(0, 0), (112, 112)]:
            patched = x.clone()
            patched[:, :, top : top + 112, left : left + 112] = 0.0
            drop = (full - resnet18(patched)[0, target]).item()
            raw = result["raw_range"]
            scale = max(abs(raw[0]), abs(raw[1]))
            assert result["map"][top + 5, left + 5] == pytest.approx(0.5 + 0.5 * drop / scale, abs=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["guided_gradcam", "guided_backprop", "saliency", "smoothgrad"])
def test_other_methods_return_unit_maps(resnet18, examples, method):
    options = {"samples": 4, "batch_size": 4} if method == "smoothgrad" else {}
    result = attribute(resnet18, examples[2], method, **options)
    assert result["map"].shape == (224, 224) and result["map"].dtype == np.float32
    assert 0.0 <= result["map"].min() and result["map"].max() <= 1.0
    assert result["map"].max() == pytest.approx(1.0) or result["map"].min() == pytest.approx(0.0)
    assert result["raw_range"][0] <= result["raw_range"][1]
    assert result["convergence_delta"] is None and result["timing_ms"] > 0


@pytest.mark.slow
def test_smoothgrad_is_reproducible(resnet18, examples):
    a = attribute(resnet18, examples[0], "smoothgrad", samples=4, batch_size=4)
    b = attribute(resnet18, examples[0], "smoothgrad", samples=4, batch_size=4)
    np.testing.assert_array_equal(a["map"], b["map"])


@pytest.mark.slow
def test_progress_reaches_one(resnet18, examples):
    seen: list[float] = []
    attribute(resnet18, examples[0], "integrated_gradients", steps=8, internal_batch_size=4, progress=seen.append)
    assert len(seen) >= 3 and seen == sorted(seen) and seen[-1] == 1.0


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"method": "lime"}, "unknown method 'lime'; choose one of gradcam, gradcam_ladder"),
        ({"method": "gradcam", "stage": "C1"}, "unknown stage 'C1' for gradcam; choose one of C2, C3, C4, C5"),
        ({"method": "gradcam", "target": 1000}, "unknown target 1000; use a class index 0-999 or an ImageNet label"),
        ({"method": "gradcam", "target": "unicorn"}, "unknown target 'unicorn'"),
        ({"method": "gradcam", "target": "²"}, "unknown target '²'"),  # a digit to str.isdigit, none to int()
        ({"method": "saliency", "steps": 3}, "unknown option(s) steps for saliency; valid options: none"),
        ({"method": "integrated_gradients", "baseline": "white"}, "unknown baseline 'white'; choose one of black, blur, noise"),
        ({"method": "occlusion", "window": 0}, "option window must be a positive integer"),
    ],
)
def test_bad_arguments_name_the_valid_choices(resnet18, examples, kwargs, message):
    with pytest.raises(ValueError) as info:
        attribute(resnet18, examples[0], **kwargs)
    assert message in str(info.value)


@pytest.mark.slow
@pytest.mark.parametrize("method", list(METHODS))
def test_the_model_is_left_exactly_as_it_was(resnet18, examples, method):
    before = model_snapshot(resnet18)
    options = {
        "integrated_gradients": {"steps": 4, "internal_batch_size": 4},
        "smoothgrad": {"samples": 2, "batch_size": 2},
        "occlusion": {"window": 112, "stride": 112},
    }.get(method, {})
    attribute(resnet18, examples[0], method, **options)
    assert model_snapshot(resnet18) == before
    assert hook_count(resnet18) == 0


def test_no_hooks_left_after_a_failure_inside_captum(resnet18, examples):
    def explode(module, args, output):
        raise RuntimeError("failure inside the forward")

    handle = resnet18.layer3.register_forward_hook(explode)
    try:
        with pytest.raises(RuntimeError, match="failure inside the forward"):
            attribute(resnet18, examples[0], "guided_gradcam")
    finally:
        handle.remove()
    assert hook_count(resnet18) == 0
    with pytest.raises(ValueError):
        attribute(resnet18, examples[0], "gradcam", target=-1)
    assert hook_count(resnet18) == 0


@pytest.mark.slow
def test_two_threads_explaining_at_once_get_their_own_maps(resnet18, examples):
    alone = {p: attribute(resnet18, p, "guided_gradcam", stage="C4")["map"] for p in examples[:2]}
    results: dict = {}

    def work(path):
        results[path] = attribute(resnet18, path, "guided_gradcam", stage="C4")["map"]

    threads = [threading.Thread(target=work, args=(p,)) for p in examples[:2]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for path in examples[:2]:
        np.testing.assert_allclose(results[path], alone[path], atol=1e-5)
