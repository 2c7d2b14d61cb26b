"""Gradient flow: autograd on the real model, the identity Jacobian, the plain twin."""

from __future__ import annotations

import json

import pytest
import torch

from resnet_viz import hook_count
from resnet_viz.model.runtime import image_input
from resnet_viz.probe.gradient_flow import gradient_flow

from .snapshot import model_snapshot

KEYS = {"grad_output_rms", "grad_shortcut_rms", "grad_residual_rms", "grad_input_rms", "plain_grad_input_rms"}


@pytest.fixture(scope="module")
def flow50(resnet50, examples):
    return gradient_flow(resnet50, examples[0])


@pytest.mark.slow
def test_rows_cover_every_block_and_are_json(flow50, resnet50):
    json.dumps(flow50.to_json(), allow_nan=False)
    assert [r["name"] for r in flow50["blocks"]] == [b.name for b in resnet50.blocks()]
    assert all(KEYS <= set(r) for r in flow50["blocks"])
    assert all(r[k] is not None and r[k] >= 0 for r in flow50["blocks"] for k in KEYS)


def test_identity_shortcut_passes_the_gradient_unchanged(flow50):
    identity = [r for r in flow50["blocks"] if r["kind"] == "identity"]
    convolution = [r for r in flow50["blocks"] if r["kind"] == "convolution"]
    assert identity and convolution
    for row in identity:  # H'(x) = F'(x) + 1: the "+ 1" is exact
        assert row["grad_shortcut_rms"] == pytest.approx(row["grad_output_rms"], rel=1e-6)
    assert any(abs(r["grad_shortcut_rms"] / r["grad_output_rms"] - 1) > 0.01 for r in convolution)


@pytest.mark.slow
def test_parts_equal_vector_jacobian_products_by_hand(resnet50, examples, flow50):
    """layer2.0 (convolution) and layer2.1 (identity), recomputed with torch.func.vjp."""
    target = flow50["target"]["index"]
    x = image_input(resnet50, examples[0])
    rows = {r["name"]: r for r in flow50["blocks"]}
    with torch.no_grad():
        h = resnet50.layer1(resnet50.forward_stem(x))
    for i, name in enumerate(["layer2.0", "layer2.1"]):
        block = resnet50.layer2[i]
        inp = h.detach()

        def rest(added, i=i, block=block):  # from block i's addition to the target logit
            out = block.relu_out(added)
            for later in list(resnet50.layer2)[i + 1 :]:
                out = later(out)
            return resnet50.forward_head(resnet50.layer4(resnet50.layer3(out)))[0, target]

        with torch.enable_grad():
            added = (block.residual_path(inp) + block.shortcut_path(inp)).detach().requires_grad_()
            (g_added,) = torch.autograd.grad(rest(added), added)
        _, pull_f = torch.func.vjp(block.residual_path, inp)
        _, pull_s = torch.func.vjp(block.shortcut_path, inp)
        rms = lambda t: t.pow(2).mean().sqrt().item()  # noqa: E731
        assert rows[name]["grad_output_rms"] == pytest.approx(rms(g_added), rel=1e-4)
        assert rows[name]["grad_residual_rms"] == pytest.approx(rms(pull_f(g_added)[0]), rel=1e-4)
        assert rows[name]["grad_shortcut_rms"] == pytest.approx(rms(pull_s(g_added)[0]), rel=1e-4)
        assert rows[name]["grad_input_rms"] == pytest.approx(rms(pull_f(g_added)[0] + pull_s(g_added)[0]), rel=1e-4)
        with torch.no_grad():
            h = block(h)


def test_the_plain_twin_loses_gradient_with_depth(resnet50, examples, flow50):
    rows = flow50["blocks"]
    first = rows[0]
    # Without shortcuts, far less gradient reaches the first block than with them.
    assert first["plain_grad_input_rms"] < 0.1 * first["grad_input_rms"]


@pytest.mark.slow
def test_target_and_model_untouched(resnet18, examples):
    before = model_snapshot(resnet18)
    with torch.no_grad():
        logits = resnet18(image_input(resnet18, examples[1]))[0]
    default = gradient_flow(resnet18, examples[1])
    assert default["target"]["index"] == int(logits.argmax())
    other = gradient_flow(resnet18, examples[1], target=int(logits.argmin()))
    assert other["target"]["index"] == int(logits.argmin())
    assert other["blocks"][0]["grad_input_rms"] != default["blocks"][0]["grad_input_rms"]
    assert model_snapshot(resnet18) == before and hook_count(resnet18) == 0
    with pytest.raises(ValueError, match="unknown target 2000"):
        gradient_flow(resnet18, examples[1], target=2000)


@pytest.mark.slow
def test_the_lab_says_what_the_plain_twin_comparison_shows_and_what_not(registry):
    # The twin keeps the residual network's weights and BN statistics: the page says so, in both
    # languages, right under the chart, and points to the lab's own plain networks for the rest.
    import app
    from resnet_viz.i18n import STRINGS
    from resnet_viz.serve.explorer import Explorer

    demo = app.build_demo("resnet18", explorer=Explorer(registry))
    (note,) = [b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "flow-twin-note"]
    assert '"key": "flow_twin_note"' in note.value
    english = ["same trained weights", "BatchNorm statistics", "prediction means nothing",
               "not a plain network trained without shortcuts", "at initialisation", "Degradation"]
    korean = ["BatchNorm 통계", "예측에는 의미가 없습니다", "초기화 직후", "성능 저하"]
    assert [w for w in english if w not in STRINGS["en"]["flow_twin_note"]] == []
    assert [w for w in korean if w not in STRINGS["ko"]["flow_twin_note"]] == []
