"""analyze(): one forward pass, numbers that match a hand computation, no hooks left behind."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping

import pytest
import torch

from resnet_viz import analyze, analyze_batch, hook_count, load_image, preprocess

BLOCK_KEYS = {"name", "stage", "kind", "residual_rms", "shortcut_rms", "ratio", "cosine", "output_rms"}


def _without_timing(report: dict) -> dict:
    return {k: v for k, v in report.items() if k != "timing_ms"}


def _input(model, path) -> torch.Tensor:
    return preprocess(model.meta.transforms, load_image(path)).unsqueeze(0)


@pytest.mark.slow
def test_schema_and_json(resnet50, examples):
    report = analyze(resnet50, examples[0], top_k=5)
    json.loads(json.dumps(report.to_json(), allow_nan=False))  # strict JSON: no NaN or inf
    assert set(report) == {"arch", "weights", "device", "runtime", "image", "predictions", "stages", "blocks", "timing_ms"}
    assert (report["arch"], report["weights"], report["device"]) == ("resnet50", "random", "cpu")
    assert [p["rank"] for p in report["predictions"]] == [1, 2, 3, 4, 5]
    probs = [p["probability"] for p in report["predictions"]]
    assert probs == sorted(probs, reverse=True)
    assert [s["name"] for s in report["stages"]] == ["C1", "C2", "C3", "C4", "C5"]
    assert [(s["channels"], s["height"], s["stride"]) for s in report["stages"]] == [
        (64, 56, 4), (256, 56, 4), (512, 28, 8), (1024, 14, 16), (2048, 7, 32)
    ]
    assert [b["name"] for b in report["blocks"]] == [b.name for b in resnet50.blocks()]
    assert all(set(b) == BLOCK_KEYS for b in report["blocks"])
    assert set(report["timing_ms"]) == {"preprocess", "forward", "total"}


@pytest.mark.slow
def test_predictions_equal_a_plain_forward(resnet50, examples):
    report = analyze(resnet50, examples[1], top_k=3)
    with torch.no_grad():
        logits = resnet50(_input(resnet50, examples[1]))[0]
    probs = logits.double().softmax(-1)
    top = probs.topk(3)
    assert [p["index"] for p in report["predictions"]] == top.indices.tolist()
    for p, value in zip(report["predictions"], top.values.tolist()):
        assert p["probability"] == pytest.approx(value, rel=1e-5)
        assert p["logit"] == pytest.approx(logits[p["index"]].item(), rel=1e-5, abs=1e-5)
        assert p["label"] == resnet50.meta.categories[p["index"]]


def _by_hand(block, x):
    f = torch.relu(block.bn1(block.conv1(x)))
    f = torch.relu(block.bn2(block.conv2(f)))
    f = block.bn3(block.conv3(f))
    s = x if block.downsample is None else block.downsample[1](block.downsample[0](x))
    out = torch.relu(f + s)
    rms = lambda t: t.pow(2).mean().sqrt().item()  # noqa: E731
    return {
        "residual_rms": rms(f),
        "shortcut_rms": rms(s),
        "ratio": rms(f) / rms(s),
        "cosine": ((f * s).sum() / (f.norm() * s.norm())).item(),
        "output_rms": rms(out),
    }, out


@pytest.mark.slow
def test_block_numbers_equal_a_hand_computation(resnet50, examples):
    report = analyze(resnet50, examples[2])
    blocks = {b["name"]: b for b in report["blocks"]}
    with torch.no_grad():
        x = resnet50.layer1(resnet50.forward_stem(_input(resnet50, examples[2])))
        conv_expected, x = _by_hand(resnet50.layer2[0], x)  # convolution block (projection, stride 2)
        identity_expected, _ = _by_hand(resnet50.layer2[1], x)  # identity block
    assert blocks["layer2.0"]["kind"] == "convolution" and blocks["layer2.1"]["kind"] == "identity"
    for name, expected in [("layer2.0", conv_expected), ("layer2.1", identity_expected)]:
        for key, value in expected.items():
            assert blocks[name][key] == pytest.approx(value, rel=1e-4, abs=1e-6), (name, key)


@pytest.mark.slow
def test_stage_numbers_and_tensors_come_from_the_same_pass(resnet18, examples):
    report, tensors = analyze(resnet18, examples[0], return_tensors=True)
    with torch.no_grad():
        stages = resnet18.forward_stages(_input(resnet18, examples[0]))
        logits = resnet18(_input(resnet18, examples[0]))[0]
    torch.testing.assert_close(tensors.logits, logits)
    assert torch.equal(tensors.input, _input(resnet18, examples[0])[0])
    assert tensors.crop.size == (224, 224)
    for row in report["stages"]:
        t = stages[row["name"]][0]
        torch.testing.assert_close(tensors.stages[row["name"]], t)
        assert row["mean"] == pytest.approx(t.mean().item(), rel=1e-5)
        assert row["max"] == pytest.approx(t.max().item(), rel=1e-6)
        assert row["zero_fraction"] == pytest.approx((t == 0).float().mean().item(), abs=1e-7)
        assert 0 < row["zero_fraction"] < 1


@pytest.mark.slow
def test_one_forward_per_call_and_no_hooks_left(resnet18, examples):
    forwards = []
    handle = resnet18.register_forward_pre_hook(lambda m, args: forwards.append(args[0].shape[0]))
    try:
        analyze(resnet18, examples[0])
        analyze_batch(resnet18, examples[:3])
    finally:
        handle.remove()
    assert forwards == [1, 3]
    assert hook_count(resnet18) == 0


def test_no_hooks_left_after_an_exception_mid_forward(resnet18, examples):
    def explode(module, args, output):
        raise RuntimeError("boom in layer3")

    handle = resnet18.layer3.register_forward_hook(explode)
    try:
        with pytest.raises(RuntimeError, match="boom in layer3"):
            analyze(resnet18, examples[0])
    finally:
        handle.remove()
    assert hook_count(resnet18) == 0
    analyze(resnet18, examples[0])  # and the model still works


@pytest.mark.slow
def test_batch_equals_one_by_one(resnet18, examples):
    together = analyze_batch(resnet18, examples, top_k=3)
    for path, report in zip(examples, together):
        alone = analyze(resnet18, path, top_k=3)
        assert _close(report, alone)


def _close(a: dict, b: dict) -> bool:
    """Equal up to float rounding (batched convolutions may sum in another order)."""
    if isinstance(a, Mapping):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a if k != "timing_ms")
    if isinstance(a, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return a == pytest.approx(b, rel=1e-4, abs=1e-6)
    return a == b


@pytest.mark.slow
def test_concurrent_threads_never_mix_results(resnet18, examples):
    alone = {str(p): _without_timing(analyze(resnet18, p)) for p in examples}
    results: list[tuple[str, dict]] = []
    errors: list[BaseException] = []

    def worker(path):
        try:
            for _ in range(3):
                results.append((str(path), _without_timing(analyze(resnet18, path))))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(p,)) for p in examples * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == len(examples) * 2 * 3
    for path, report in results:
        assert _close(report, alone[path]), path
    assert hook_count(resnet18) == 0


def test_bad_top_k(resnet18, examples):
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        analyze(resnet18, examples[0], top_k=0)
