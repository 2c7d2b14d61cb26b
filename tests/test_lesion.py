"""Lesions: scale 1 is the intact network, the sweep equals lesioning one block alone."""

from __future__ import annotations

import json

import pytest
import torch

from resnet_viz import analyze, hook_count
from resnet_viz.model.runtime import image_input
from resnet_viz.probe.lesion import lesion, resolve_scales

from .snapshot import model_snapshot


@pytest.fixture(scope="module")
def sweep50(resnet50, examples):
    return lesion(resnet50, examples[0])


def test_all_scales_one_is_the_intact_network(resnet50, examples):
    every_block = {b.name: 1.0 for b in resnet50.blocks()}
    result = lesion(resnet50, examples[0], scales=every_block)
    intact = analyze(resnet50, examples[0])["predictions"]
    assert [p["index"] for p in result["predictions"]] == [p["index"] for p in intact]
    for ours, theirs in zip(result["predictions"], intact):
        assert ours["probability"] == pytest.approx(theirs["probability"], rel=1e-5)
    assert result["predictions"] == result["intact_predictions"]
    assert result["kl_divergence"] == pytest.approx(0.0, abs=1e-9)


def test_removing_a_block_changes_the_logits(resnet50, examples):
    result = lesion(resnet50, examples[0], scales={"layer3.2": 0.0})
    assert result["kl_divergence"] > 1e-6
    assert result["predictions"][0]["logit"] != result["intact_predictions"][0]["logit"]


@pytest.mark.slow
def test_sweep_rows_equal_lesioning_each_block_alone(resnet50, examples, sweep50):
    json.dumps(sweep50.to_json(), allow_nan=False)
    rows = sweep50["blocks"]
    assert [r["name"] for r in rows] == [b.name for b in resnet50.blocks()]
    intact_top1 = sweep50["intact"]["index"]
    for row in rows[::3] + [rows[-1]]:
        alone = lesion(resnet50, examples[0], scales={row["name"]: 0.0}, top_k=1000)
        assert row["kl_divergence"] == pytest.approx(alone["kl_divergence"], rel=1e-4, abs=1e-9)
        assert row["top1_index"] == alone["predictions"][0]["index"]
        assert row["top1_probability"] == pytest.approx(alone["predictions"][0]["probability"], rel=1e-4)
        intact_class = next(p for p in alone["predictions"] if p["index"] == intact_top1)
        assert row["intact_class_probability"] == pytest.approx(intact_class["probability"], rel=1e-4)
        assert row["top1_changed"] == (row["top1_index"] != intact_top1)


def test_a_lesioned_identity_block_passes_its_input_through(resnet18, examples):
    """The definition, checked by hand: removing layer2.1's branch makes layer2's output layer2.0's output."""
    x = image_input(resnet18, examples[0])
    with torch.no_grad():
        h = resnet18.layer2[0](resnet18.layer1(resnet18.forward_stem(x)))
        expected = resnet18.forward_head(resnet18.layer4(resnet18.layer3(h)))[0].double()
    result = lesion(resnet18, examples[0], scales={"layer2.1": 0.0}, top_k=3)
    top = expected.softmax(-1).topk(3)
    assert [p["index"] for p in result["predictions"]] == top.indices.tolist()
    for p, value in zip(result["predictions"], top.values.tolist()):
        assert p["probability"] == pytest.approx(value, rel=1e-5)


def test_stage_scales_expand_to_their_blocks(resnet50):
    resolved = resolve_scales(resnet50, {"C3": 0.5, "layer4.0": 0.0})
    assert resolved == {"layer2.0": 0.5, "layer2.1": 0.5, "layer2.2": 0.5, "layer2.3": 0.5, "layer4.0": 0.0}


@pytest.mark.parametrize(
    "scales,message",
    [
        ({"layer9.0": 0.5}, "unknown block 'layer9.0'; use a stage (C2, C3, C4, C5) or a block layer1.0 ... layer4.2"),
        ({"layer1.0": 1.5}, "scale for 'layer1.0' must be a number in [0, 1], got 1.5"),
        ({"C1": 0.5}, "unknown block 'C1'"),
    ],
)
def test_bad_scales(resnet50, examples, scales, message):
    with pytest.raises(ValueError) as info:
        lesion(resnet50, examples[0], scales=scales)
    assert message in str(info.value)


@pytest.mark.slow
def test_model_untouched(resnet18, examples):
    before = model_snapshot(resnet18)
    lesion(resnet18, examples[0])
    lesion(resnet18, examples[0], scales={"C4": 0.3})
    assert model_snapshot(resnet18) == before and hook_count(resnet18) == 0
