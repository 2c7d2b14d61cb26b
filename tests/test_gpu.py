"""The GPU path: both memory layouts and the measured choice between them, float32 as the app runs
it (TF32 convolutions, torch's default) and without TF32, and opt-in bf16/fp16 autocast, checked
against the CPU and against CUDA float32 with the tolerances of support.LOGIT_TOLERANCE (their
source is written there). These run only where CUDA exists; what can be checked without a GPU
(the autocast plumbing, the TF32 switch, device moves, the layout's timing batch) is checked on
the CPU in test_precision.py and test_layout.py."""

from __future__ import annotations

import pytest
import torch

import resnet_viz
from resnet_viz.model.layout import GPU_TIMING_BATCH
from resnet_viz.model.runtime import autocast, cuda_math, exact_float32, image_input

from .support import LOGIT_TOLERANCE, relative_error

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@pytest.fixture(scope="module")
def cpu_model():
    return resnet_viz.load_model("resnet50", "random", "cpu", layout="nchw")


def _logits(model, path) -> torch.Tensor:
    """The model's 1000 logits for one photo, as float32 on the CPU."""
    with torch.inference_mode(), autocast(model):
        return model(image_input(model, path))[0].float().cpu()


def _errors(model, reference, examples) -> dict[str, float]:
    return {path.name: relative_error(_logits(model, path), _logits(reference, path)) for path in examples}


@pytest.mark.parametrize("layout", ["nchw", "channels-last", "auto"])
def test_cuda_float32_without_tf32_matches_the_cpu(cpu_model, examples, layout):
    with exact_float32():
        gpu = resnet_viz.load_model("resnet50", "random", "cuda", layout=layout)
        errors = _errors(gpu, cpu_model, examples)
        report, on_cpu = resnet_viz.analyze(gpu, examples[0]), resnet_viz.analyze(cpu_model, examples[0])
    runtime = gpu.meta.runtime
    if layout == "auto":
        assert set(runtime.forward_ms) == {"nchw", "channels-last"} and runtime.chosen_by.startswith("measured")
        assert runtime.timed_batch == GPU_TIMING_BATCH
    else:
        assert runtime.layout == layout and runtime.chosen_by == "asked"
    channels_last = runtime.layout == "channels-last"
    assert gpu.conv1.weight.is_contiguous(memory_format=torch.channels_last) == channels_last
    assert image_input(gpu, examples[0]).is_contiguous() != channels_last
    assert max(errors.values()) <= LOGIT_TOLERANCE["float32"], errors
    assert report["device"].startswith("cuda")
    expected = {"device": report["device"], "layout": runtime.layout, "threads": torch.get_num_threads(), "dtype": "float32"}
    assert report["runtime"] == expected
    # The probe's statistics, block by block (not the top-1 label: a random model's top two can nearly tie).
    for key in ("residual_rms", "shortcut_rms", "ratio"):
        ours, theirs = torch.tensor([b[key] for b in report["blocks"]]), torch.tensor([b[key] for b in on_cpu["blocks"]])
        torch.testing.assert_close(ours, theirs, rtol=1e-3, atol=0)


def test_float32_as_the_app_runs_it_is_within_tf32s_error(cpu_model, examples):
    # The app sets none of CUDA's arithmetic switches (test_precision.py checks that it leaves them
    # alone), so it runs torch's defaults: TF32 for convolutions, not for the fc layer's matmul.
    assert cuda_math() == {"tf32_convolutions": True, "tf32_matmul": False, "cudnn_benchmark": False}
    gpu = resnet_viz.load_model("resnet50", "random", "cuda")
    errors = _errors(gpu, cpu_model, examples)
    assert max(errors.values()) <= LOGIT_TOLERANCE["tf32"], errors
    print(f"\nfloat32 as the app runs it ({torch.cuda.get_device_name()}), relative logit error vs the CPU: {errors}")


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_autocast_computes_in_reduced_precision_close_to_float32(examples, precision):
    with exact_float32():
        exact = resnet_viz.load_model("resnet50", "random", "cuda", layout="nchw")
        reference = {path.name: _logits(exact, path) for path in examples}
    gpu = resnet_viz.load_model("resnet50", "random", "cuda", precision=precision)
    assert gpu.meta.runtime.dtype == {"bf16": "bfloat16", "fp16": "float16"}[precision]
    errors = {}
    for path in examples:
        with torch.inference_mode(), autocast(gpu):
            logits = gpu(image_input(gpu, path))
        assert logits.dtype == DTYPES[precision]  # autocast did run: float32 logits would fail here
        errors[path.name] = relative_error(logits[0].float(), reference[path.name])
    assert all(e > 0 for e in errors.values()), errors  # ... and computed in another arithmetic
    assert max(errors.values()) <= LOGIT_TOLERANCE[precision], errors
    print(f"\n{precision} autocast vs CUDA float32 without TF32, relative logit error: {errors}")
    report = resnet_viz.analyze(gpu, examples[0])
    assert report["runtime"]["dtype"] == gpu.meta.runtime.dtype
    assert all(b["residual_rms"] > 0 for b in report["blocks"])
    # Attributions stay in float32 whatever the inference precision.
    cam = resnet_viz.attribute(gpu, examples[0], "gradcam")
    assert cam["map"].dtype.name == "float32"
