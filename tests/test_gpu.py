"""The GPU path: both memory layouts, the measured choice between them, and opt-in bf16/fp16
autocast, checked against the CPU. These run only where CUDA exists; everything else in the suite
runs on the CPU."""

from __future__ import annotations

import pytest
import torch

import resnet_viz
from resnet_viz.model.runtime import image_input

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.fixture(scope="module")
def cpu_model():
    return resnet_viz.load_model("resnet50", "random", "cpu", layout="nchw")


def _logits(model, path):
    with torch.inference_mode(), resnet_viz.model.runtime.autocast(model):
        return model(image_input(model, path))[0].float().cpu()


@pytest.mark.parametrize("layout", ["nchw", "channels-last", "auto"])
def test_cuda_float32_matches_the_cpu(cpu_model, examples, layout):
    gpu = resnet_viz.load_model("resnet50", "random", "cuda", layout=layout)
    runtime = gpu.meta.runtime
    if layout == "auto":
        assert set(runtime.forward_ms) == {"nchw", "channels-last"} and runtime.chosen_by.startswith("measured")
    else:
        assert runtime.layout == layout and runtime.chosen_by == "asked"
    channels_last = runtime.layout == "channels-last"
    assert gpu.conv1.weight.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert image_input(gpu, examples[0]).is_contiguous() != channels_last
    for path in examples:
        torch.testing.assert_close(_logits(gpu, path), _logits(cpu_model, path), rtol=1e-3, atol=1e-3)
    report = resnet_viz.analyze(gpu, examples[0])
    assert report["device"].startswith("cuda")
    threads = torch.get_num_threads()
    expected = {"device": report["device"], "layout": runtime.layout, "threads": threads, "dtype": "float32"}
    assert report["runtime"] == expected
    assert report["predictions"][0]["index"] == resnet_viz.analyze(cpu_model, examples[0])["predictions"][0]["index"]


@pytest.mark.parametrize("precision,tolerance", [("bf16", 0.1), ("fp16", 0.02)])
def test_autocast_keeps_the_prediction(cpu_model, examples, precision, tolerance):
    gpu = resnet_viz.load_model("resnet50", "random", "cuda", precision=precision)
    assert gpu.meta.runtime.dtype == {"bf16": "bfloat16", "fp16": "float16"}[precision]
    for path in examples:
        reduced, exact = _logits(gpu, path), _logits(cpu_model, path)
        assert int(reduced.argmax()) == int(exact.argmax())
        assert (reduced - exact).abs().max() <= tolerance * exact.abs().max()
    report = resnet_viz.analyze(gpu, examples[0])
    assert all(b["residual_rms"] > 0 for b in report["blocks"])
    # Attributions stay in float32 whatever the inference precision.
    cam = resnet_viz.attribute(gpu, examples[0], "gradcam")
    assert cam["map"].dtype.name == "float32"
